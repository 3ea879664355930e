/* lottery-file.c: bounded reads of operator-given files, and a JSON
 * checker that runs before json-glib.
 *
 * The checker walks the bytes once with an explicit stack, so it never
 * recurses; it refuses what json-glib would crash on (deep nesting) or
 * silently get wrong (\u0000 cuts a string short), and words the common
 * syntax mistakes itself, with file:line:column and a hint. Any thread.
 */
#include "config.h"

#include "lottery-file.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads all of @path into @buffer (at least @max_size + 1 bytes), at
 * most @max_size bytes, and sets @len. Regular files, pipes and FIFOs
 * are read (a pipe ends when its writer closes); devices such as
 * /dev/zero, directories and sockets are refused before any read, and
 * so is anything longer than @max_size, without reading more than one
 * byte past it. For a secret, @buffer may be on the caller's stack, to
 * be wiped there. Errors are LOTTERY_CONFIG_ERROR and name @path. */
gboolean
lottery_file_read_into (const char  *path,
                        char        *buffer,
                        gsize        max_size,
                        gsize       *len,
                        GError     **error)
{
  struct stat st;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (buffer != NULL, FALSE);

  *len = 0;
  /* O_NONBLOCK: opening a FIFO without a writer must not hang here. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved_errno = errno;

      return lottery_fail_errno (error, LOTTERY_CONFIG_ERROR,
                                 LOTTERY_CONFIG_ERROR_INVALID, saved_errno,
                                 "%s: ", path);
    }
  if (fstat (fd, &st) != 0 || !(S_ISREG (st.st_mode) || S_ISFIFO (st.st_mode)))
    {
      g_close (fd, NULL);
      return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                  N_("%s: not a regular file (a device, "
                                     "directory or socket); give the path of "
                                     "a file"), path);
    }
  /* Blocking from here on: a pipe's reader waits for its writer. */
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK);

  /* One byte more than allowed tells a file that grew, or an endless
   * pipe, from one exactly at the limit. */
  while (*len <= max_size &&
         !(S_ISREG (st.st_mode) && (guint64) st.st_size > max_size))
    {
      ssize_t n = read (fd, buffer + *len, max_size + 1 - *len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          g_close (fd, NULL);
          return lottery_fail_errno (error, LOTTERY_CONFIG_ERROR,
                                     LOTTERY_CONFIG_ERROR_INVALID, saved_errno,
                                     "%s: ", path);
        }
      if (n == 0)
        break;
      *len += (gsize) n;
    }
  g_close (fd, NULL);

  if ((*len > max_size || (S_ISREG (st.st_mode) &&
                           (guint64) st.st_size > max_size)) &&
      max_size % 1024 == 0)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: larger than %u KiB, the most this "
                                   "file may hold"), path,
                                (guint) (max_size / 1024));
  if (*len > max_size || (S_ISREG (st.st_mode) &&
                          (guint64) st.st_size > max_size))
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: larger than %u bytes, the most this "
                                   "file may hold"), path, (guint) max_size);

  return TRUE;
}

/* lottery_file_read_into () a buffer of its own. */
GBytes *
lottery_file_read_bounded (const char  *path,
                           gsize        max_size,
                           GError     **error)
{
  g_autofree char *buffer = g_malloc (max_size + 1);
  gsize len;

  if (!lottery_file_read_into (path, buffer, max_size, &len, error))
    return NULL;

  return g_bytes_new_take (g_realloc (g_steal_pointer (&buffer), len + 1),
                           len);
}

typedef struct
{
  char   close;      /* '}' or ']' */
  gsize  open_pos;   /* of the bracket, for "opened at line N" */
  gsize  key_start;  /* last member name read at this level (objects) */
  gsize  key_len;
} Level;

typedef struct
{
  const char *path;
  const char *data;
  gsize       len;
  gsize       pos;
  Level      *stack;
  guint       depth;
} Scanner;

static void
position (const Scanner *s,
          gsize          pos,
          guint         *line,
          guint         *column)
{
  gsize i;

  *line = 1;
  *column = 1;
  for (i = 0; i < pos && i < s->len; i++)
    {
      if (s->data[i] == '\n')
        {
          (*line)++;
          *column = 1;
        }
      /* Columns count characters, not the bytes of UTF-8 sequences. */
      else if (((guchar) s->data[i] & 0xC0) != 0x80)
        (*column)++;
    }
}

/* What stands at @pos, for "found …". */
static char *
describe_found (const Scanner *s,
                gsize          pos)
{
  guchar c;

  if (pos >= s->len)
    return g_strdup (_("the end of the file"));
  c = (guchar) s->data[pos];
  if (c >= 0x21 && c < 0x7F)
    return g_strdup_printf ("‘%c’", c);
  return g_strdup_printf (_("byte 0x%02X"), c);
}

/* "file:line:col: message", always one line. */
static gboolean G_GNUC_PRINTF (4, 5)
scan_fail (const Scanner *s,
           gsize          pos,
           GError       **error,
           const char    *format,
           ...)
{
  guint line, column;
  va_list args;

  if (error == NULL)
    return FALSE;
  position (s, pos, &line, &column);
  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_CONFIG_ERROR,
                       LOTTERY_CONFIG_ERROR_INVALID, format, args);
  va_end (args);
  /* The place is no words: the same in both texts. */
  lottery_error_prefix (error, "%s:%u:%u: ", s->path, line, column);

  return FALSE;
}

/* The dotted name of the member being read ("storage.path"). */
static char *
current_key (const Scanner *s)
{
  GString *key = g_string_new (NULL);
  guint i;

  for (i = 0; i < s->depth; i++)
    {
      if (s->stack[i].close != '}' || s->stack[i].key_len == 0)
        continue;
      if (key->len > 0)
        g_string_append_c (key, '.');
      g_string_append_len (key, s->data + s->stack[i].key_start,
                           (gssize) s->stack[i].key_len);
    }

  return g_string_free (key, FALSE);
}

static void
skip_space (Scanner *s)
{
  while (s->pos < s->len &&
         (s->data[s->pos] == ' ' || s->data[s->pos] == '\t' ||
          s->data[s->pos] == '\n' || s->data[s->pos] == '\r'))
    s->pos++;
}

/* A string from its opening quote; leaves pos after the closing one. */
static gboolean
scan_string (Scanner *s,
             GError **error)
{
  gsize start = s->pos++;

  while (s->pos < s->len)
    {
      guchar c = (guchar) s->data[s->pos];

      if (c == '"')
        {
          s->pos++;
          return TRUE;
        }
      if (c < 0x20)
        return scan_fail (s, s->pos, error,
                          N_("a line break or control character inside a "
                            "string (write it as an escape such as \\n, or "
                            "close the string with \")"));
      if (c == '\\')
        {
          char e = s->pos + 1 < s->len ? s->data[s->pos + 1] : '\0';

          if (e == 'u')
            {
              if (s->pos + 6 > s->len ||
                  !g_ascii_isxdigit (s->data[s->pos + 2]) ||
                  !g_ascii_isxdigit (s->data[s->pos + 3]) ||
                  !g_ascii_isxdigit (s->data[s->pos + 4]) ||
                  !g_ascii_isxdigit (s->data[s->pos + 5]))
                return scan_fail (s, s->pos, error,
                                  N_("\\u must be followed by four hex "
                                    "digits"));
              if (strncmp (s->data + s->pos + 2, "0000", 4) == 0)
                {
                  g_autofree char *key = current_key (s);

                  return scan_fail (s, s->pos, error,
                                    N_("%s holds \\u0000, a NUL character, "
                                      "which would cut the text short; "
                                      "remove it"),
                                    *key != '\0' ? key : _("a string"));
                }
              s->pos += 6;
              continue;
            }
          if (e == '\0' || strchr ("\"\\/bfnrt", e) == NULL)
            return scan_fail (s, s->pos, error,
                              N_("unknown escape in a string; a backslash "
                                "is written \\\\"));
          s->pos += 2;
          continue;
        }
      s->pos++;
    }

  return scan_fail (s, start, error,
                    N_("a string that never ends: the closing \" is "
                      "missing"));
}

/* true, false, null or a number; json-glib checks a number's digits. */
static gboolean
scan_bare (Scanner *s,
           GError **error)
{
  gsize start = s->pos;
  g_autofree char *word = NULL;

  while (s->pos < s->len &&
         (g_ascii_isalnum (s->data[s->pos]) || s->data[s->pos] == '-' ||
          s->data[s->pos] == '+' || s->data[s->pos] == '.' ||
          s->data[s->pos] == '_'))
    s->pos++;
  word = g_strndup (s->data + start, s->pos - start);

  if (strcmp (word, "true") == 0 || strcmp (word, "false") == 0 ||
      strcmp (word, "null") == 0 ||
      (word[0] == '-' || g_ascii_isdigit (word[0])))
    return TRUE;
  if (*word == '\0')
    {
      g_autofree char *found = describe_found (s, start);

      return scan_fail (s, start, error,
                        N_("expected a value (a string, number, object, "
                          "array, true, false or null), found %s"), found);
    }

  return scan_fail (s, start, error,
                    N_("expected a value, found the word “%s”; text must "
                      "be in double quotes"), word);
}

/* Checks @data (the whole of file @path) is one JSON value nested at
 * most @max_depth deep, without \u0000 or NUL bytes, and explains the
 * first mistake in the project's words. */
gboolean
lottery_json_check (const char  *path,
                    const char  *data,
                    gsize        len,
                    guint        max_depth,
                    GError     **error)
{
  g_autofree Level *stack = g_new0 (Level, max_depth);
  Scanner s = { path, data, len, 0, stack, 0 };
  enum { VALUE, FIRST_VALUE, KEY, FIRST_KEY, COLON, AFTER } expect = VALUE;
  gsize comma_pos = 0;

  skip_space (&s);
  if (s.pos == len)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: the file is empty; it must hold a "
                                   "JSON object, {…}"), path);

  for (;;)
    {
      char c;

      skip_space (&s);
      if (s.pos == len)
        break;
      c = data[s.pos];

      /* An empty object or array closes at once. */
      if ((expect == FIRST_VALUE && c == ']') ||
          (expect == FIRST_KEY && c == '}'))
        {
          s.depth--;
          s.pos++;
          expect = AFTER;
          continue;
        }

      switch (expect)
        {
        case FIRST_VALUE:
        case VALUE:
          if (expect == VALUE && s.depth > 0 && c == s.stack[s.depth - 1].close &&
              comma_pos > 0)
            return scan_fail (&s, comma_pos, error,
                              N_("a comma before ‘%c’: JSON allows no comma "
                                "after the last element (remove it)"), c);
          if (c == '{' || c == '[')
            {
              if (s.depth == max_depth)
                return scan_fail (&s, s.pos, error,
                                  N_("nested more than %u levels deep"),
                                  max_depth);
              s.stack[s.depth].close = c == '{' ? '}' : ']';
              s.stack[s.depth].open_pos = s.pos;
              s.stack[s.depth].key_len = 0;
              s.depth++;
              s.pos++;
              expect = c == '{' ? FIRST_KEY : FIRST_VALUE;
              comma_pos = 0;
              continue;
            }
          if (c == '"')
            {
              if (!scan_string (&s, error))
                return FALSE;
            }
          else if (!scan_bare (&s, error))
            return FALSE;
          expect = AFTER;
          continue;

        case FIRST_KEY:
        case KEY:
          if (c == '}' && expect == KEY)
            return scan_fail (&s, comma_pos, error,
                              N_("a comma before ‘}’: JSON allows no comma "
                                "after the last member (remove it)"));
          if (c != '"')
            {
              g_autofree char *found = describe_found (&s, s.pos);

              return scan_fail (&s, s.pos, error,
                                N_("expected a member name in double quotes, "
                                  "found %s"), found);
            }
          s.stack[s.depth - 1].key_start = s.pos + 1;
          s.stack[s.depth - 1].key_len = 0;
          if (!scan_string (&s, error))
            return FALSE;
          s.stack[s.depth - 1].key_len =
            s.pos - 1 - s.stack[s.depth - 1].key_start;
          expect = COLON;
          continue;

        case COLON:
          if (c != ':')
            {
              g_autofree char *found = describe_found (&s, s.pos);
              g_autofree char *key = current_key (&s);

              return scan_fail (&s, s.pos, error,
                                N_("expected ‘:’ after the member name “%s”, "
                                  "found %s"), key, found);
            }
          s.pos++;
          expect = VALUE;
          comma_pos = 0;
          continue;

        case AFTER:
          if (s.depth == 0)
            {
              g_autofree char *found = describe_found (&s, s.pos);

              return scan_fail (&s, s.pos, error,
                                N_("expected the end of the file after the "
                                  "top-level value, found %s (is a ‘{’ "
                                  "missing at the start?)"), found);
            }
          if (c == ',')
            {
              comma_pos = s.pos++;
              expect = s.stack[s.depth - 1].close == '}' ? KEY : VALUE;
              continue;
            }
          if (c == s.stack[s.depth - 1].close)
            {
              s.depth--;
              s.pos++;
              continue;
            }
          {
            g_autofree char *found = describe_found (&s, s.pos);
            guint line, column;

            position (&s, s.stack[s.depth - 1].open_pos, &line, &column);
            return scan_fail (&s, s.pos, error,
                              N_("expected ‘,’ or ‘%c’ (closing the ‘%c’ of "
                                "line %u), found %s; is a comma or a "
                                "closing bracket missing?"),
                              s.stack[s.depth - 1].close,
                              s.stack[s.depth - 1].close == '}' ? '{' : '[',
                              line, found);
          }
        }
    }

  if (s.depth > 0)
    {
      guint line, column;

      position (&s, s.stack[s.depth - 1].open_pos, &line, &column);
      return scan_fail (&s, len, error,
                        N_("the file ends inside the ‘%c’ opened at line %u: "
                          "a closing ‘%c’ is missing"),
                        s.stack[s.depth - 1].close == '}' ? '{' : '[', line,
                        s.stack[s.depth - 1].close);
    }
  if (expect != AFTER)
    {
      g_autofree char *found = describe_found (&s, s.pos);

      return scan_fail (&s, s.pos, error,
                        N_("expected a value (a string, number, object, "
                          "array, true, false or null), found %s"), found);
    }

  return TRUE;
}

/* Loads @path into @parser after a bounded read and lottery_json_check ().
 * Errors are LOTTERY_CONFIG_ERROR, one line, naming @path. */
gboolean
lottery_json_load_file (JsonParser  *parser,
                        const char  *path,
                        gsize        max_size,
                        GError     **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *data;
  gsize len;

  g_return_val_if_fail (JSON_IS_PARSER (parser), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  bytes = lottery_file_read_bounded (path, max_size, error);
  if (bytes == NULL)
    return FALSE;
  data = g_bytes_get_data (bytes, &len);
  if (len > 0 && memchr (data, '\0', len) != NULL)
    {
      Scanner s = { path, data, len, 0, NULL, 0 };

      return scan_fail (&s, (gsize) ((const char *) memchr (data, '\0', len) -
                                     data),
                        error, N_("a NUL byte; this is not a text file"));
    }
  if (!g_utf8_validate (data, (gssize) len, NULL))
    {
      const char *end;
      Scanner s = { path, data, len, 0, NULL, 0 };

      g_utf8_validate (data, (gssize) len, &end);
      return scan_fail (&s, (gsize) (end - data), error,
                        N_("not valid UTF-8; save the file as UTF-8"));
    }
  if (!lottery_json_check (path, data, len, LOTTERY_JSON_MAX_DEPTH, error))
    return FALSE;

  /* What the check lets through and json-glib still refuses: a number
   * such as 1e or 1.5.5, a lone surrogate in \u escapes. Its message
   * ("<data>:1:21: Parse error: …", translated by json-glib) gives the
   * place; the words are ours. */
  if (!json_parser_load_from_data (parser, data, (gssize) len, &local_error))
    {
      const char *p = strchr (local_error->message, ':');
      guint line = 0, column = 0;

      if (p != NULL && sscanf (p, ":%u:%u:", &line, &column) == 2)
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s:%u:%u: not valid JSON here: a "
                                       "malformed number (such as 1e or "
                                       "1.5.5) or \\u escape"), path, line,
                                    column);
      return lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                                LOTTERY_CONFIG_ERROR_INVALID, local_error,
                                N_("%s: not valid JSON: "), path);
    }

  return TRUE;
}
