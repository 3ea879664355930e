/* lottery-server-text.c: text from a server, made safe to show.
 *
 * Whatever a server sends (ERROR texts, winner documents) may reach a
 * log line or a terminal: it must not move the cursor, retitle the
 * window, forge a log field or carry invalid UTF-8. Any thread.
 */
#include "config.h"

#include "lottery-server-text.h"

/* @len bytes from a server as valid UTF-8 (invalid bytes become
 * U+FFFD), with control and format characters (escapes, bidi
 * overrides) as '?' and '|', which separates log fields, as '/'. */
char *
lottery_server_text (const char *data,
                     gsize       len)
{
  g_autofree char *valid = g_utf8_make_valid (data, (gssize) len);
  GString *out = g_string_sized_new (len);
  const char *p;

  for (p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      GUnicodeType type = g_unichar_type (c);

      if (type == G_UNICODE_CONTROL || type == G_UNICODE_FORMAT ||
          type == G_UNICODE_LINE_SEPARATOR ||
          type == G_UNICODE_PARAGRAPH_SEPARATOR)
        g_string_append_c (out, '?');
      else if (c == '|')
        g_string_append_c (out, '/');
      else
        g_string_append_unichar (out, c);
    }

  return g_string_free (out, FALSE);
}
