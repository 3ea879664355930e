/* lottery-error.c: the LOTTERY_ERROR domain. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-store.h"

G_DEFINE_QUARK (lottery-error-quark, lottery_error)

/* Sets @error and returns FALSE, so failures stay on one line:
 * `return lottery_fail (error, LOTTERY_ERROR_PROTOCOL, "…");` */
gboolean
lottery_fail (GError     **error,
              LotteryError code,
              const char  *format,
              ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_ERROR, code, format, args);
  va_end (args);

  return FALSE;
}

/* The same for any domain (each has its own lottery_fail ()). */
gboolean
lottery_fail_valist (GError    **error,
                     GQuark      domain,
                     int         code,
                     const char *format,
                     va_list     args)
{
  if (error != NULL)
    *error = g_error_new_valist (domain, code, format, args);

  return FALSE;
}

/* Stable, untranslated names for log lines and the README's code table. */
const char *
lottery_error_code_name (int code)
{
  static const char * const names[] = {
    "failed", "protocol", "version", "unknown_agency", "out_of_order",
    "invalid_bet", "already_finished", "draw_done", "storage",
    "agency_busy", "shutting_down", "config", "bets_file", "auth",
    "server_full", "timeout",
  };

  if (code < 0 || code >= (int) G_N_ELEMENTS (names))
    return "unknown";

  return names[code];
}

/* The one place a local error becomes a wire code for an ERROR reply:
 * LOTTERY_ERROR codes travel as they are, a store's errors as
 * "storage", anything else as "failed". */
guint16
lottery_error_to_wire_code (const GError *error)
{
  if (error->domain == LOTTERY_ERROR)
    return (guint16) error->code;
  if (error->domain == LOTTERY_STORE_ERROR)
    return LOTTERY_ERROR_STORAGE;

  return LOTTERY_ERROR_FAILED;
}
