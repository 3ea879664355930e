/* lottery-log.c: the TP0 log lines, through GLib's structured logging. */
#include "config.h"

#include "lottery-log.h"
#include "lottery-error.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int threshold = G_LOG_LEVEL_INFO;

/* GLib levels are bits where a lower bit is more severe. */
static int
severity (GLogLevelFlags level)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return 3;
  if (level & G_LOG_LEVEL_WARNING)
    return 2;
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return 1;
  return 0;
}

void
lottery_log_set_threshold (GLogLevelFlags level)
{
  g_atomic_int_set (&threshold, (int) level);
}

/* Debug lines also show when G_MESSAGES_DEBUG asks for them. */
gboolean
lottery_log_enabled (GLogLevelFlags level)
{
  if (severity (level) >= severity ((GLogLevelFlags) g_atomic_int_get (&threshold)))
    return TRUE;
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return !g_log_writer_default_would_drop (level, NULL);

  return FALSE;
}

void
lottery_log_init (GLogLevelFlags level)
{
  lottery_log_set_threshold (level);
  g_log_set_writer_func (lottery_log_writer, NULL, NULL);
}

gboolean
lottery_log_level_parse (const char     *name,
                         GLogLevelFlags *level)
{
  if (g_ascii_strcasecmp (name, "DEBUG") == 0)
    *level = G_LOG_LEVEL_DEBUG;
  else if (g_ascii_strcasecmp (name, "INFO") == 0)
    *level = G_LOG_LEVEL_INFO;
  else if (g_ascii_strcasecmp (name, "WARNING") == 0)
    *level = G_LOG_LEVEL_WARNING;
  else if (g_ascii_strcasecmp (name, "ERROR") == 0)
    *level = LOTTERY_LOG_ERROR;
  else
    return FALSE;

  return TRUE;
}

const char *
lottery_log_level_to_string (GLogLevelFlags level)
{
  switch (severity (level))
    {
    case 0: return "DEBUG";
    case 1: return "INFO";
    case 2: return "WARNING";
    default: return "ERROR";
    }
}

/* The timestamp changes once a second; format it once a second. */
static gsize
format_timestamp (char *out)
{
  static GMutex lock;
  static time_t cached_time = (time_t) -1;
  static char cached[32];
  time_t now = time (NULL);
  gsize len;

  g_mutex_lock (&lock);
  if (now != cached_time)
    {
      struct tm tm;

      localtime_r (&now, &tm);
      strftime (cached, sizeof cached, "%Y-%m-%d %H:%M:%S", &tm);
      cached_time = now;
    }
  len = strlen (cached);
  memcpy (out, cached, len);
  g_mutex_unlock (&lock);

  return len;
}

/* A copy of @text fit to be a log value: the line stays one line and
 * its `|` separators stay unambiguous. Unlike lottery_printable (), it
 * keeps the whole text: for messages and paths, not untrusted bytes. */
char *
lottery_log_value (const char *text)
{
  return g_strdelimit (g_strdup (text != NULL ? text : ""), "|\n\r", '/');
}

/* @error's text fit to be a log value, never translated: the `error:`
 * value of every log line (lottery_error_get_untranslated ()). */
char *
lottery_log_error_value (const GError *error)
{
  return lottery_log_value (error != NULL
                            ? lottery_error_get_untranslated (error) : "");
}

/* One record, one line: line breaks inside the message become spaces. */
char *
lottery_log_format_line (GLogLevelFlags level,
                         const char    *message)
{
  gsize mlen = strlen (message);
  char *line = g_malloc (32 + 10 + mlen + 2);
  char *p = line;
  const char *name = lottery_log_level_to_string (level);
  gsize nlen = strlen (name);
  gsize i;

  p += format_timestamp (p);
  *p++ = ' ';
  memcpy (p, name, nlen);
  p += nlen;
  /* Python's %(levelname)-8s and a space. */
  for (i = nlen; i < 9; i++)
    *p++ = ' ';
  for (i = 0; i < mlen; i++)
    *p++ = (message[i] == '\n' || message[i] == '\r') ? ' ' : message[i];
  *p++ = '\n';
  *p = '\0';

  return line;
}

/* Writes all of @data to @fd, unbuffered, retrying after signals; gives
 * up silently on errors (a closed terminal or log pipe must not stop
 * the program). For log lines and terminal output. */
void
lottery_write_all (int         fd,
                   const char *data,
                   gsize       len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      data += n;
      len -= (gsize) n;
    }
}

/* "result:" of a record that did not come through lottery_log (). */
static const char *
level_result (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "error";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "critical";
  if (level & G_LOG_LEVEL_WARNING)
    return "warning";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "message";
  if (level & G_LOG_LEVEL_INFO)
    return "info";
  return "debug";
}

/* GLib's, GIO's and GApplication's own messages (and any g_warning ())
 * in the line format too, so every line parses the same way:
 *   action: glib | result: warning | domain: GLib-GIO | message: … */
static char *
format_foreign (const char *domain,
                const char *message,
                GLogLevelFlags level)
{
  g_autofree char *shown_domain = lottery_log_value (domain != NULL
                                                     ? domain : "none");
  g_autofree char *shown = lottery_log_value (message);

  return g_strdup_printf ("action: glib | result: %s | domain: %s | "
                          "message: %s", level_result (level), shown_domain,
                          shown);
}

GLogWriterOutput
lottery_log_writer (GLogLevelFlags   log_level,
                    const GLogField *fields,
                    gsize            n_fields,
                    gpointer         user_data)
{
  g_autofree char *line = NULL;
  g_autofree char *foreign = NULL;
  const char *message = NULL;
  const char *domain = NULL;
  gboolean ours = FALSE;
  gsize i;

  if (!lottery_log_enabled (log_level))
    return G_LOG_WRITER_HANDLED;

  for (i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "LOTTERY_ACTION") == 0)
        ours = TRUE;
    }
  if (!ours)
    message = foreign = format_foreign (domain, message, log_level);
  if (message == NULL)
    return G_LOG_WRITER_UNHANDLED;

  line = lottery_log_format_line (log_level, message);
  lottery_write_all (STDOUT_FILENO, line, strlen (line));

  return G_LOG_WRITER_HANDLED;
}

void
lottery_log_full (const char     *domain,
                  GLogLevelFlags  level,
                  const char     *action,
                  const char     *result,
                  const char     *format,
                  ...)
{
  g_autoptr(GString) message = g_string_sized_new (128);
  GLogField fields[] = {
    { "GLIB_DOMAIN", domain, -1 },
    { "MESSAGE", NULL, -1 },
    { "LOTTERY_ACTION", action, -1 },
    { "LOTTERY_RESULT", result, -1 },
    { "PRIORITY", NULL, -1 },
  };

  g_string_append_printf (message, "action: %s | result: %s", action, result);
  if (format != NULL)
    {
      va_list args;

      g_string_append (message, " | ");
      va_start (args, format);
      g_string_append_vprintf (message, format, args);
      va_end (args);
    }

  fields[1].value = message->str;
  switch (severity (level))
    {
    case 0: fields[4].value = "7"; break;
    case 1: fields[4].value = "6"; break;
    case 2: fields[4].value = "4"; break;
    default: fields[4].value = "3"; break;
    }

  g_log_structured_array (level, fields, G_N_ELEMENTS (fields));
}
