/* lottery-error.c: the LOTTERY_ERROR domain.
 *
 * Messages are translated for the person at the terminal, but log lines
 * are read by programs and never translated. So an error made by
 * lottery_fail () carries, as extended-error private data copied with
 * it, its message in C (the msgid, formatted with the same arguments)
 * beside the translated one, and lottery_log_full () shows the C text
 * wherever a live error's translated text appears in a line. Any thread.
 */
#include "config.h"

#include "lottery-error.h"
#include "lottery-store.h"

#include <glib/gi18n-lib.h>
#include <string.h>

typedef struct
{
  char *translated; /* the message as lottery_fail () made it */
  char *untranslated;
} LotteryErrorPrivate;

/* Live errors whose two texts differ; only under a translation. */
static GMutex live_lock;
static GHashTable *live;   /* (element-type LotteryErrorPrivate) set */
/* Their count, plus 1 << 30 once an error of another domain was kept:
 * zero means no line needs looking at. */
static gint n_live;

static void
live_add (LotteryErrorPrivate *priv)
{
  g_mutex_lock (&live_lock);
  if (live == NULL)
    live = g_hash_table_new (NULL, NULL);
  g_hash_table_add (live, priv);
  g_atomic_int_set (&n_live, (gint) g_hash_table_size (live) |
                              (g_atomic_int_get (&n_live) & (1 << 30)));
  g_mutex_unlock (&live_lock);
}

static void
lottery_error_private_init (LotteryErrorPrivate *priv)
{
  priv->translated = NULL;
  priv->untranslated = NULL;
}

static void
lottery_error_private_copy (const LotteryErrorPrivate *src,
                            LotteryErrorPrivate       *dest)
{
  dest->translated = g_strdup (src->translated);
  dest->untranslated = g_strdup (src->untranslated);
  if (dest->untranslated != NULL)
    live_add (dest);
}

static void
lottery_error_private_clear (LotteryErrorPrivate *priv)
{
  if (priv->untranslated != NULL)
    {
      g_mutex_lock (&live_lock);
      g_hash_table_remove (live, priv);
      g_atomic_int_set (&n_live, (gint) g_hash_table_size (live) |
                                  (g_atomic_int_get (&n_live) & (1 << 30)));
      g_mutex_unlock (&live_lock);
    }
  g_clear_pointer (&priv->translated, g_free);
  g_clear_pointer (&priv->untranslated, g_free);
}

/* Registered by hand rather than with G_DEFINE_EXTENDED_ERROR's quark,
 * to keep the domain's name; the accessor is the macro's. */
static inline LotteryErrorPrivate *
lottery_error_get_private (const GError *error)
{
  const gsize sa = 2 * sizeof (gsize);
  const gsize as = (sizeof (LotteryErrorPrivate) + (sa - 1)) & -sa;

  return (LotteryErrorPrivate *) (((guint8 *) error) - as);
}

static void
error_init (GError *error)
{
  lottery_error_private_init (lottery_error_get_private (error));
}

static void
error_copy (const GError *src,
            GError       *dest)
{
  lottery_error_private_copy (lottery_error_get_private (src),
                              lottery_error_get_private (dest));
}

static void
error_clear (GError *error)
{
  lottery_error_private_clear (lottery_error_get_private (error));
}

GQuark
lottery_error_quark (void)
{
  static GQuark quark;
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      quark = g_error_domain_register_static ("lottery-error-quark",
                                              sizeof (LotteryErrorPrivate),
                                              error_init, error_copy,
                                              error_clear);
      g_once_init_leave (&initialized, 1);
    }

  return quark;
}

/* translation -> msgid of the project's catalog in use, from its .mo
 * file (format: GNU gettext manual, "The Format of GNU MO Files"). */
static GHashTable *
load_reverse_catalog (void)
{
  GHashTable *reverse = g_hash_table_new_full (g_str_hash, g_str_equal,
                                               g_free, g_free);
  const char *dir = bindtextdomain (GETTEXT_PACKAGE, NULL);
  const char * const *names = g_get_language_names_with_category ("LC_MESSAGES");
  g_autofree char *contents = NULL;
  gsize len = 0;
  guint i;

  for (i = 0; dir != NULL && names[i] != NULL && contents == NULL; i++)
    {
      g_autofree char *path = NULL;

      if (strcmp (names[i], "C") == 0 || strcmp (names[i], "POSIX") == 0)
        break;
      path = g_build_filename (dir, names[i], "LC_MESSAGES",
                               GETTEXT_PACKAGE ".mo", NULL);
      if (!g_file_get_contents (path, &contents, &len, NULL))
        g_clear_pointer (&contents, g_free);
    }

  if (contents != NULL && len >= 20)
    {
      const guint32 *header = (const guint32 *) (gconstpointer) contents;
      gboolean swap = header[0] == 0xde120495;
#define WORD(w) (swap ? GUINT32_SWAP_LE_BE (w) : (w))
      guint32 n = WORD (header[2]);
      guint32 originals = WORD (header[3]);
      guint32 translations = WORD (header[4]);

      if ((header[0] == 0x950412de || swap) &&
          originals <= len && translations <= len &&
          n <= (len - MAX (originals, translations)) / 8)
        for (i = 0; i < n; i++)
          {
            const guint32 *o = (const guint32 *) (gconstpointer)
              (contents + originals + 8 * i);
            const guint32 *t = (const guint32 *) (gconstpointer)
              (contents + translations + 8 * i);
            guint32 olen = WORD (o[0]), ooff = WORD (o[1]);
            guint32 tlen = WORD (t[0]), toff = WORD (t[1]);

            if (olen == 0 || ooff > len || olen > len - ooff ||
                toff > len || tlen > len - toff)
              continue;
            /* strndup stops at the first NUL: the singular of plurals. */
            g_hash_table_replace (reverse,
                                  g_strndup (contents + toff, tlen),
                                  g_strndup (contents + ooff, olen));
          }
#undef WORD
    }

  return reverse;
}

/* The msgid @format was translated from, or @format itself. */
static const char *
untranslate_format (const char *format)
{
  static GHashTable *reverse;
  const char *original;

  if (g_once_init_enter (&reverse))
    g_once_init_leave (&reverse, load_reverse_catalog ());
  original = g_hash_table_lookup (reverse, format);

  return original != NULL ? original : format;
}

/* Errors of other domains (G_IO_ERROR with the project's words) have
 * no private data: their two texts are remembered here instead, the
 * last few only, as they are logged soon after they are made. */
#define N_RECENT 32
static char *recent[N_RECENT][2];
static guint recent_next;

static void
remember_recent (const char *translated,
                 const char *untranslated)
{
  g_mutex_lock (&live_lock);
  g_free (recent[recent_next][0]);
  g_free (recent[recent_next][1]);
  recent[recent_next][0] = g_strdup (translated);
  recent[recent_next][1] = g_strdup (untranslated);
  recent_next = (recent_next + 1) % N_RECENT;
  g_atomic_int_set (&n_live, g_atomic_int_get (&n_live) | (1 << 30));
  g_mutex_unlock (&live_lock);
}

/* Like g_error_new_valist (); under a translation the error also keeps
 * its message in C, for log lines (see lottery_error_untranslate_line ()). */
GError *
lottery_error_new_valist (GQuark      domain,
                          int         code,
                          const char *format,
                          va_list     args)
{
  const char *original = untranslate_format (format);
  GError *error;
  GString *untranslated;
  va_list copy;

  va_copy (copy, args);
  error = g_error_new_valist (domain, code, format, copy);
  va_end (copy);
  if (original == format || strcmp (original, format) == 0)
    return error;

  untranslated = g_string_new (NULL);
  g_string_append_vprintf (untranslated, original, args);
  /* An argument may be a live error's translated message. */
  lottery_error_untranslate_line (untranslated);
  if (domain == LOTTERY_ERROR)
    {
      LotteryErrorPrivate *priv = lottery_error_get_private (error);

      priv->untranslated = g_string_free (untranslated, FALSE);
      priv->translated = g_strdup (error->message);
      live_add (priv);
    }
  else
    {
      remember_recent (error->message, untranslated->str);
      g_string_free (untranslated, TRUE);
    }

  return error;
}

/* g_set_error () that keeps the message in C for log lines. */
void
lottery_error_set (GError    **error,
                   GQuark      domain,
                   int         code,
                   const char *format,
                   ...)
{
  va_list args;

  if (error == NULL)
    return;

  va_start (args, format);
  *error = lottery_error_new_valist (domain, code, format, args);
  va_end (args);
}

/* Sets @error and returns FALSE, so failures stay on one line:
 * `return lottery_fail (error, LOTTERY_ERROR_PROTOCOL, _("…"), …);` */
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
    *error = lottery_error_new_valist (domain, code, format, args);

  return FALSE;
}

/* @error's message in C, for a log line: the msgid of a LOTTERY_ERROR
 * made by lottery_fail (); other errors' messages as they are (GLib
 * translates its own when it makes them). */
const char *
lottery_error_get_untranslated (const GError *error)
{
  LotteryErrorPrivate *priv;

  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain != LOTTERY_ERROR)
    return error->message;
  priv = lottery_error_get_private (error);
  if (priv->untranslated == NULL || strcmp (priv->translated,
                                            error->message) != 0)
    return error->message;

  return priv->untranslated;
}

static void
replace_text (GString    *line,
              const char *translated,
              const char *untranslated)
{
  if (*translated != '\0' && strstr (line->str, translated) != NULL)
    g_string_replace (line, translated, untranslated, 0);
}

/* Replaces, in @line, the translated text of every live error with its
 * C text. Costs nothing when no translation is in use. */
void
lottery_error_untranslate_line (GString *line)
{
  GHashTableIter iter;
  gpointer key;
  guint i;

  if (g_atomic_int_get (&n_live) == 0)
    return;

  g_mutex_lock (&live_lock);
  if (live != NULL)
    {
      g_hash_table_iter_init (&iter, live);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        replace_text (line, ((LotteryErrorPrivate *) key)->translated,
                      ((LotteryErrorPrivate *) key)->untranslated);
    }
  for (i = 0; i < N_RECENT; i++)
    if (recent[i][0] != NULL)
      replace_text (line, recent[i][0], recent[i][1]);
  g_mutex_unlock (&live_lock);
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

  if (code < 0 || code >= (int) G_N_ELEMENTS (names))
    return "unknown";

  return names[code];
}

/* The one place a local error becomes a wire code for an ERROR reply:
 * LOTTERY_ERROR codes travel as they are; a store's transient failure
 * (nothing lost, the same batch may succeed later) as "unavailable",
 * which clients retry, its other errors as "storage", which they do
 * not; anything else as "failed". */
guint16
lottery_error_to_wire_code (const GError *error)
{
  if (error->domain == LOTTERY_ERROR)
    return (guint16) error->code;
  if (g_error_matches (error, LOTTERY_STORE_ERROR,
                       LOTTERY_STORE_ERROR_NO_SPACE))
    return LOTTERY_ERROR_UNAVAILABLE;
  if (error->domain == LOTTERY_STORE_ERROR)
    return LOTTERY_ERROR_STORAGE;

  return LOTTERY_ERROR_FAILED;
}
