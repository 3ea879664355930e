/* lottery-error.h: the LOTTERY_ERROR domain.
 *
 * The numeric codes travel on the wire in ERROR replies, so they are
 * append-only: never renumber or reuse one.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LOTTERY_ERROR (lottery_error_quark ())

typedef enum
{
  LOTTERY_ERROR_FAILED = 0,           /* anything else */
  LOTTERY_ERROR_PROTOCOL = 1,         /* malformed or oversized message */
  LOTTERY_ERROR_VERSION = 2,          /* unsupported protocol version */
  LOTTERY_ERROR_UNKNOWN_AGENCY = 3,   /* agency id outside 1..N */
  LOTTERY_ERROR_OUT_OF_ORDER = 4,     /* message not valid now, sequence gap */
  LOTTERY_ERROR_INVALID_BET = 5,      /* a bet failed validation */
  LOTTERY_ERROR_ALREADY_FINISHED = 6, /* agency already said it finished */
  LOTTERY_ERROR_DRAW_DONE = 7,        /* bets after the draw */
  LOTTERY_ERROR_STORAGE = 8,          /* the server could not store */
  LOTTERY_ERROR_AGENCY_BUSY = 9,      /* agency has another live connection */
  LOTTERY_ERROR_SHUTTING_DOWN = 10,   /* server is stopping */
  LOTTERY_ERROR_CONFIG = 11,          /* local: bad configuration */
  LOTTERY_ERROR_BETS_FILE = 12,       /* local: bad bets file row */
  LOTTERY_ERROR_AUTH = 13,            /* wrong or missing agency token */
  LOTTERY_ERROR_SERVER_FULL = 14,     /* max_connections reached; retry */
  LOTTERY_ERROR_TIMEOUT = 15,         /* message not finished in time */
  LOTTERY_ERROR_UNAVAILABLE = 16,     /* the server cannot store now (disk
                                       * full, database down); retry */
} LotteryError;

GQuark      lottery_error_quark    (void);

gboolean    lottery_fail           (GError     **error,
                                    LotteryError code,
                                    const char  *format,
                                    ...) G_GNUC_PRINTF (3, 4);

gboolean    lottery_fail_valist    (GError     **error,
                                    GQuark       domain,
                                    int          code,
                                    const char  *format,
                                    va_list      args) G_GNUC_PRINTF (4, 0);

const char *lottery_error_code_name (int code);
guint16     lottery_error_to_wire_code (const GError *error);

GError     *lottery_error_new_valist (GQuark      domain,
                                      int         code,
                                      const char *format,
                                      va_list     args) G_GNUC_PRINTF (3, 0);
void        lottery_error_set       (GError    **error,
                                     GQuark      domain,
                                     int         code,
                                     const char *format,
                                     ...) G_GNUC_PRINTF (4, 5);
const char *lottery_error_get_untranslated (const GError *error);
void        lottery_error_untranslate_line (GString      *line);

G_END_DECLS
