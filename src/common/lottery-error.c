/* lottery-error.c: errors that carry their message twice.
 *
 * Messages are translated for the person at the terminal, but log lines
 * are read by programs and never translated. The constructors here take
 * the msgid and format it twice: translated into error->message, and as
 * it is into the error's private data (an extended error domain, so the
 * C text is copied and freed with the error). Errors of domains that are
 * not ours (GIO, GLib, TLS) cannot carry it: under a translation their
 * log text is a stable name of their domain and code instead. Any
 * thread; no global state but the C locale for strerror_l ().
 */
#include "config.h"

#include "lottery-error.h"
#include "lottery-store.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <errno.h>
#include <locale.h>
#include <string.h>

typedef struct
{
  char *untranslated; /* (owned) (nullable): the message in C */
} LotteryErrorPrivate;

typedef LotteryErrorPrivate LotteryStoreErrorPrivate;

static void
lottery_error_private_init (LotteryErrorPrivate *priv)
{
  priv->untranslated = NULL;
}

static void
lottery_error_private_copy (const LotteryErrorPrivate *src,
                            LotteryErrorPrivate       *dest)
{
  dest->untranslated = g_strdup (src->untranslated);
}

static void
lottery_error_private_clear (LotteryErrorPrivate *priv)
{
  g_clear_pointer (&priv->untranslated, g_free);
}

G_DEFINE_EXTENDED_ERROR (LotteryError, lottery_error)

/* The store's domain has the same two texts. */
#define lottery_store_error_private_init lottery_error_private_init
#define lottery_store_error_private_copy lottery_error_private_copy
#define lottery_store_error_private_clear lottery_error_private_clear

G_DEFINE_EXTENDED_ERROR (LotteryStoreError, lottery_store_error)

/* So do the local domains, which are never sent. */
typedef LotteryErrorPrivate LotteryConfigErrorPrivate;
typedef LotteryErrorPrivate LotteryBetsFileErrorPrivate;

#define lottery_config_error_private_init lottery_error_private_init
#define lottery_config_error_private_copy lottery_error_private_copy
#define lottery_config_error_private_clear lottery_error_private_clear

G_DEFINE_EXTENDED_ERROR (LotteryConfigError, lottery_config_error)

#define lottery_bets_file_error_private_init lottery_error_private_init
#define lottery_bets_file_error_private_copy lottery_error_private_copy
#define lottery_bets_file_error_private_clear lottery_error_private_clear

G_DEFINE_EXTENDED_ERROR (LotteryBetsFileError, lottery_bets_file_error)

/* The private data of an error of one of our domains, or NULL. */
static LotteryErrorPrivate *
get_private (const GError *error)
{
  if (error->domain == LOTTERY_ERROR)
    return lottery_error_get_private (error);
  if (error->domain == LOTTERY_STORE_ERROR)
    return lottery_store_error_get_private (error);
  if (error->domain == LOTTERY_CONFIG_ERROR)
    return lottery_config_error_get_private (error);
  if (error->domain == LOTTERY_BETS_FILE_ERROR)
    return lottery_bets_file_error_get_private (error);

  return NULL;
}

/* The translation of @format; "" is no msgid (it is the catalog's
 * header). */
static const char *
translate (const char *format)
{
  return *format != '\0' ? g_dgettext (GETTEXT_PACKAGE, format) : format;
}

/* An error of @domain: @format translated then @tail for its message
 * and, in our domains, @format then @c_tail for its C text, both
 * formatted with @args. */
static GError *
error_new_valist (GQuark      domain,
                  int         code,
                  const char *tail,
                  const char *c_tail,
                  const char *format,
                  va_list     args)
{
  g_autofree char *translated = NULL;
  g_autofree char *untranslated = NULL;
  GError *error;
  LotteryErrorPrivate *priv;
  va_list copy;

  va_copy (copy, args);
  translated = g_strdup_vprintf (translate (format), copy);
  va_end (copy);
  if (tail != NULL)
    {
      char *whole = g_strconcat (translated, tail, NULL);

      g_free (translated);
      translated = whole;
    }
  error = g_error_new_literal (domain, code, translated);
  priv = get_private (error);
  if (priv != NULL)
    {
      untranslated = g_strdup_vprintf (format, args);
      priv->untranslated = g_strconcat (untranslated, c_tail, NULL);
    }

  return error;
}

/* Sets @error (if not NULL) to an error of @domain whose message is
 * @format translated, and whose C text is @format, both formatted with
 * @args. Returns FALSE, so failures stay on one line. */
gboolean
lottery_fail_valist (GError    **error,
                     GQuark      domain,
                     int         code,
                     const char *format,
                     va_list     args)
{
  if (error != NULL)
    g_propagate_error (error, error_new_valist (domain, code, NULL, NULL,
                                                format, args));

  return FALSE;
}

/* g_error_new () with a msgid. */
GError *
lottery_error_new (GQuark      domain,
                   int         code,
                   const char *format,
                   ...)
{
  GError *error;
  va_list args;

  va_start (args, format);
  error = error_new_valist (domain, code, NULL, NULL, format, args);
  va_end (args);

  return error;
}

/* g_set_error () with a msgid: `lottery_error_set (error, G_IO_ERROR,
 * G_IO_ERROR_FAILED, N_("…"), …)`. */
void
lottery_error_set (GError    **error,
                   GQuark      domain,
                   int         code,
                   const char *format,
                   ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, domain, code, format, args);
  va_end (args);
}

/* `return lottery_fail (error, LOTTERY_ERROR_PROTOCOL, N_("…"), …);` */
gboolean
lottery_fail (GError     **error,
              LotteryError code,
              const char  *format,
              ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_ERROR, (int) code, format, args);
  va_end (args);

  return FALSE;
}

/* `return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
 * N_("…"), …);` */
gboolean
lottery_config_fail (GError            **error,
                     LotteryConfigError  code,
                     const char         *format,
                     ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_CONFIG_ERROR, (int) code, format, args);
  va_end (args);

  return FALSE;
}

/* lottery_fail () for LOTTERY_BETS_FILE_ERROR. */
gboolean
lottery_bets_file_fail (GError              **error,
                        LotteryBetsFileError  code,
                        const char           *format,
                        ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_BETS_FILE_ERROR, (int) code, format,
                       args);
  va_end (args);

  return FALSE;
}

/* An error of @domain saying @format (a prefix, such as "Cannot open
 * %s: ") followed by @cause, each text after its kind: the translated
 * prefix and message, or the C prefix and @cause's C text. @cause is
 * not taken. Returns FALSE. */
gboolean
lottery_fail_wrap (GError       **error,
                   GQuark         domain,
                   int            code,
                   const GError  *cause,
                   const char    *format,
                   ...)
{
  va_list args;

  g_return_val_if_fail (cause != NULL, FALSE);

  if (error == NULL)
    return FALSE;
  va_start (args, format);
  g_propagate_error (error, error_new_valist (
    domain, code, cause->message, lottery_error_get_untranslated (cause),
    format, args));
  va_end (args);

  return FALSE;
}

/* @cause's two texts in an error of @domain and @code. @cause is not
 * taken. Returns FALSE. */
gboolean
lottery_fail_as (GError       **error,
                 GQuark         domain,
                 int            code,
                 const GError  *cause)
{
  return lottery_fail_wrap (error, domain, code, cause, "%s", "");
}

/* The text of @errnum in C, whatever the locale (strerror_l () in the
 * C locale: no translation, thread-safe). */
const char *
lottery_strerror_c (int errnum)
{
  static locale_t c_locale;
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      c_locale = newlocale (LC_ALL_MASK, "C", (locale_t) 0);
      g_once_init_leave (&initialized, 1);
    }

  return c_locale != (locale_t) 0 ? strerror_l (errnum, c_locale)
                                  : "unknown error";
}

/* An error of @domain saying @format (a prefix) then the text of
 * @errnum: g_strerror () in the message, the C text in the log. */
gboolean
lottery_fail_errno (GError     **error,
                    GQuark       domain,
                    int          code,
                    int          errnum,
                    const char  *format,
                    ...)
{
  va_list args;

  if (error == NULL)
    return FALSE;
  va_start (args, format);
  g_propagate_error (error, error_new_valist (
    domain, code, g_strerror (errnum), lottery_strerror_c (errnum), format,
    args));
  va_end (args);

  return FALSE;
}

/* g_prefix_error () with a msgid, for both texts. An error of another
 * domain keeps its domain and code (callers match on them), so only its
 * message gets the prefix. */
void
lottery_error_prefix (GError    **error,
                      const char *format,
                      ...)
{
  GError *old;
  va_list args;

  if (error == NULL || *error == NULL)
    return;

  old = *error;
  va_start (args, format);
  *error = error_new_valist (old->domain, old->code, old->message,
                             lottery_error_get_untranslated (old), format,
                             args);
  va_end (args);
  g_error_free (old);
}

/* The name of @code in @domain: the nick of GIO's enums, else the
 * number. */
static char *
code_name (GQuark domain,
           int    code)
{
  GType type = G_TYPE_INVALID;
  g_autoptr(GEnumClass) klass = NULL;
  GEnumValue *value;

  if (domain == G_IO_ERROR)
    type = G_TYPE_IO_ERROR_ENUM;
  else if (domain == G_TLS_ERROR)
    type = G_TYPE_TLS_ERROR;
  else if (domain == G_RESOLVER_ERROR)
    type = G_TYPE_RESOLVER_ERROR;
  if (type != G_TYPE_INVALID)
    {
      klass = g_type_class_ref (type);
      value = g_enum_get_value (klass, code);
      if (value != NULL)
        return g_strdup (value->value_nick);
    }

  return g_strdup_printf ("%d", code);
}

/* Whether no message of this process can be translated: the first
 * language of LC_MESSAGES is C or POSIX, so GLib's, the C library's
 * and our own texts are all their msgids. */
static gboolean
messages_untranslated (void)
{
  const char *first = g_get_language_names_with_category ("LC_MESSAGES")[0];

  return strcmp (first, "C") == 0 || strcmp (first, "POSIX") == 0 ||
         g_str_has_prefix (first, "C.");
}

/* @error's message for a log line, never translated: the C text of an
 * error made here (for our domains). An error of another domain (GIO,
 * GLib, TLS) carries only its message, which GLib or the C library
 * translate: it is shown as it is when no translation is in use, else
 * as "<domain> <code>", such as "g-io-error-quark connection-refused".
 * The string lives as long as @error (names are interned). */
const char *
lottery_error_get_untranslated (const GError *error)
{
  LotteryErrorPrivate *priv;
  g_autofree char *code = NULL;
  g_autofree char *name = NULL;

  g_return_val_if_fail (error != NULL, NULL);

  priv = get_private (error);
  if (priv != NULL && priv->untranslated != NULL)
    return priv->untranslated;
  if (priv != NULL || messages_untranslated ())
    return error->message;

  code = code_name (error->domain, error->code);
  name = g_strdup_printf ("%s %s", g_quark_to_string (error->domain), code);

  return g_intern_string (name);
}

/* Stable, untranslated names for log lines and the README's code table. */
const char *
lottery_error_code_name (int code)
{
  static const char * const names[] = {
    "failed", "protocol", "version", "unknown_agency", "out_of_order",
    "invalid_bet", "already_finished", "draw_done", "storage",
    "agency_busy", "shutting_down", "config", "bets_file", "auth",
    "server_full", "timeout", "unavailable",
  };

  G_STATIC_ASSERT (G_N_ELEMENTS (names) == LOTTERY_WIRE_N_CODES);

  if (code < 0 || code >= (int) G_N_ELEMENTS (names))
    return "unknown";

  return names[code];
}

/* Whether @code, read from an ERROR reply, is one this build knows; a
 * newer server's code is taken as "failed". */
gboolean
lottery_wire_code_is_known (guint code)
{
  return code < LOTTERY_WIRE_N_CODES;
}

/* The one place a local error becomes a wire code for an ERROR reply:
 * LOTTERY_ERROR codes are the wire codes of the same name; a store's
 * transient failure (nothing lost, the same batch may succeed later) as
 * "unavailable", which clients retry, its other errors as "storage",
 * which they do not; anything else, LOTTERY_CONFIG_ERROR and
 * LOTTERY_BETS_FILE_ERROR included (never sent; the reserved wire codes
 * 11 and 12 are not used for them), as "failed". */
guint16
lottery_error_to_wire_code (const GError *error)
{
  if (error->domain == LOTTERY_ERROR && error->code >= 0 &&
      lottery_wire_code_is_known ((guint) error->code) &&
      error->code != LOTTERY_WIRE_CONFIG &&
      error->code != LOTTERY_WIRE_BETS_FILE)
    return (guint16) error->code;
  if (g_error_matches (error, LOTTERY_STORE_ERROR,
                       LOTTERY_STORE_ERROR_NO_SPACE) ||
      g_error_matches (error, LOTTERY_STORE_ERROR,
                       LOTTERY_STORE_ERROR_UNAVAILABLE))
    return LOTTERY_WIRE_UNAVAILABLE;
  if (error->domain == LOTTERY_STORE_ERROR)
    return LOTTERY_WIRE_STORAGE;

  return LOTTERY_WIRE_FAILED;
}
