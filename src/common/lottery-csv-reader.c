/* lottery-csv-reader.c: streaming line reader and CSV field splitter.
 *
 * Agencies' files and bets.csv can be far larger than memory, so they
 * are read in large blocks and handed out a line at a time, pointing
 * into the block: no copy and no allocation per row. No valid field
 * holds a line break (names reject control characters), so a record is
 * always one physical line.
 */
#include "config.h"

#include "lottery-csv-reader.h"
#include "lottery-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_SIZE (256 * 1024)

struct _LotteryCsvReader
{
  GInputStream *stream;
  char         *name;
  char         *buf;
  gsize         start;    /* first byte not yet handed out */
  gsize         end;      /* one past the last byte read */
  guint64       consumed; /* file offset of buf[0] */
  guint64       line_number;
  gboolean      eof;
  gboolean      skipping; /* in a line too long to hold: dropping it */
};

LotteryCsvReader *
lottery_csv_reader_new (GInputStream *stream,
                        const char   *name)
{
  LotteryCsvReader *reader;

  g_return_val_if_fail (G_IS_INPUT_STREAM (stream), NULL);

  reader = g_new0 (LotteryCsvReader, 1);
  reader->stream = g_object_ref (stream);
  reader->name = g_strdup (name != NULL ? name : "<stream>");
  reader->buf = g_malloc (BLOCK_SIZE);

  return reader;
}

LotteryCsvReader *
lottery_csv_reader_new_for_path (const char *path,
                                 GError    **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) stream = NULL;
  g_autoptr(GError) local_error = NULL;

  stream = g_file_read (file, NULL, &local_error);
  if (stream == NULL)
    {
      lottery_fail_wrap (error, local_error->domain, local_error->code,
                         local_error, N_("Cannot open %s: "), path);
      return NULL;
    }

  return lottery_csv_reader_new (G_INPUT_STREAM (stream), path);
}

/* Opens @path, which must be a regular file: one that can be read again
 * from the start (lottery_csv_reader_rewind ()). A FIFO, a pipe or a
 * device is refused with G_IO_ERROR_NOT_REGULAR_FILE, without waiting
 * for a FIFO's writer: the open does not block. */
LotteryCsvReader *
lottery_csv_reader_new_for_regular_file (const char *path,
                                         GError    **error)
{
  g_autoptr(GInputStream) stream = NULL;
  struct stat st;
  int saved_errno;
  int fd;

  fd = g_open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0)
    {
      saved_errno = errno;
      /* Ours, not GIO's: the log keeps the path and the C errno text. */
      lottery_fail_errno (error, LOTTERY_BETS_FILE_ERROR,
                          LOTTERY_BETS_FILE_ERROR_UNREADABLE, saved_errno,
                          N_("Cannot open %s: "), path);
      return NULL;
    }
  if (fstat (fd, &st) == 0 && S_ISDIR (st.st_mode))
    {
      close (fd);
      lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                         N_("%s is a directory, not a bets file"), path);
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) ||
      fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK) != 0)
    {
      close (fd);
      lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                         N_("%s is not a regular file (a pipe, a FIFO or a "
                            "device?): it could not be read again after a "
                            "reconnection; save it to a file first"), path);
      return NULL;
    }

  stream = g_unix_input_stream_new (fd, TRUE);
  return lottery_csv_reader_new (stream, path);
}

/* Back to the first line of a reader made by
 * lottery_csv_reader_new_for_regular_file (). */
gboolean
lottery_csv_reader_rewind (LotteryCsvReader *reader,
                           GError          **error)
{
  int fd;

  g_return_val_if_fail (G_IS_UNIX_INPUT_STREAM (reader->stream), FALSE);

  fd = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (reader->stream));
  if (lseek (fd, 0, SEEK_SET) != 0)
    {
      int saved_errno = errno;

      lottery_fail_errno (error, G_IO_ERROR,
                          g_io_error_from_errno (saved_errno), saved_errno,
                          N_("Cannot read %s: "), reader->name);
      return FALSE;
    }

  reader->start = reader->end = 0;
  reader->consumed = reader->line_number = 0;
  reader->eof = reader->skipping = FALSE;
  return TRUE;
}

void
lottery_csv_reader_free (LotteryCsvReader *reader)
{
  if (reader == NULL)
    return;

  g_clear_object (&reader->stream);
  g_free (reader->name);
  g_free (reader->buf);
  g_free (reader);
}

const char *
lottery_csv_reader_get_name (LotteryCsvReader *reader)
{
  return reader->name;
}

/* The number of the line last returned, from 1. */
guint64
lottery_csv_reader_get_line_number (LotteryCsvReader *reader)
{
  return reader->line_number;
}

/* Offset in the stream just past the line last returned. */
guint64
lottery_csv_reader_get_offset (LotteryCsvReader *reader)
{
  return reader->consumed + reader->start;
}

static gboolean
fill (LotteryCsvReader *reader,
      GCancellable     *cancellable,
      GError          **error)
{
  gssize n;

  if (reader->start > 0)
    {
      memmove (reader->buf, reader->buf + reader->start,
               reader->end - reader->start);
      reader->consumed += reader->start;
      reader->end -= reader->start;
      reader->start = 0;
    }

  n = g_input_stream_read (reader->stream, reader->buf + reader->end,
                           BLOCK_SIZE - reader->end, cancellable, error);
  if (n < 0)
    {
      lottery_error_prefix (error, N_("Cannot read %s: "), reader->name);
      return FALSE;
    }
  if (n == 0)
    reader->eof = TRUE;
  reader->end += (gsize) n;

  return TRUE;
}

/* Hands out the next line without its LF or CRLF; the pointer is valid
 * until the next call. Returns FALSE at the end (with @error unset) or
 * on an error. A line longer than a block is
 * LOTTERY_BETS_FILE_ERROR_INVALID_ROW:
 * it is dropped as it is read (memory stays constant) and counted, so
 * the caller may report it and go on with the next line. Other errors
 * are read errors. */
gboolean
lottery_csv_reader_next_line (LotteryCsvReader *reader,
                              const char      **line,
                              gsize            *len,
                              GCancellable     *cancellable,
                              GError          **error)
{
  for (;;)
    {
      char *begin = reader->buf + reader->start;
      gsize avail = reader->end - reader->start;
      char *nl = avail > 0 ? memchr (begin, '\n', avail) : NULL;
      gsize n;

      if (nl == NULL && !reader->eof)
        {
          if (reader->start == 0 && reader->end == BLOCK_SIZE)
            {
              /* Too long to hand out: drop it up to its end. */
              reader->consumed += reader->end;
              reader->end = 0;
              reader->skipping = TRUE;
            }
          if (!fill (reader, cancellable, error))
            return FALSE;
          continue;
        }

      if (nl == NULL && avail == 0 && !reader->skipping)
        return FALSE;

      n = nl != NULL ? (gsize) (nl - begin) : avail;
      reader->start += nl != NULL ? n + 1 : n;
      reader->line_number++;

      if (reader->skipping)
        {
          reader->skipping = FALSE;
          return lottery_bets_file_fail (
            error, LOTTERY_BETS_FILE_ERROR_INVALID_ROW,
            N_("%s:%" PRIu64 ": line longer than %d bytes"), reader->name,
            reader->line_number, BLOCK_SIZE - 1);
        }

      if (n > 0 && begin[n - 1] == '\r')
        n--;
      /* A UTF-8 byte order mark is not part of the first field. */
      if (reader->line_number == 1 && reader->consumed == 0 && n >= 3 &&
          memcmp (begin, "\xef\xbb\xbf", 3) == 0)
        {
          begin += 3;
          n -= 3;
        }

      *line = begin;
      *len = n;
      return TRUE;
    }
}

static int G_GNUC_PRINTF (2, 3)
split_fail (GError    **error,
            const char *format,
            ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET,
                       format, args);
  va_end (args);

  return -1;
}

/* Splits one CSV record into at most @max_fields fields. Quoted fields
 * may hold commas and doubled quotes; a quoted field with doubled
 * quotes is unescaped into @scratch (which must hold @len bytes), other
 * fields point into @line. Returns the number of fields, or -1 if
 * there are more than @max_fields or a quote is malformed. */
int
lottery_csv_split (const char      *line,
                   gsize            len,
                   LotteryCsvField *fields,
                   guint            max_fields,
                   char            *scratch,
                   GError         **error)
{
  const char *p = line;
  const char *end = line + len;
  /* Most rows hold no quote at all: one search tells, and spares a
   * search per field. */
  gboolean has_quote = memchr (line, '"', len) != NULL;
  guint n = 0;

  for (;;)
    {
      if (n == max_fields)
        return split_fail (error,
                             N_("more than %u fields"), max_fields - 1);

      if (p < end && *p == '"')
        {
          const char *q = ++p;
          char *out = NULL;

          for (;;)
            {
              const char *quote = memchr (q, '"', end - q);

              if (quote == NULL)
                return split_fail (error,
                                     N_("field %u has an unterminated quote"),
                                     n + 1);
              if (quote + 1 < end && quote[1] == '"')
                {
                  /* Doubled quote: switch to the unescaped copy. */
                  if (out == NULL)
                    {
                      out = scratch;
                      fields[n].data = scratch;
                    }
                  memcpy (out, q, quote + 1 - q);
                  out += quote + 1 - q;
                  q = quote + 2;
                  continue;
                }
              if (out != NULL)
                {
                  memcpy (out, q, quote - q);
                  out += quote - q;
                  fields[n].len = out - fields[n].data;
                  scratch = out;
                }
              else
                {
                  fields[n].data = p;
                  fields[n].len = quote - p;
                }
              p = quote + 1;
              break;
            }

          n++;
          if (p == end)
            return (int) n;
          if (*p != ',')
            return split_fail (error,
                                 N_("field %u has text after its closing quote"),
                                 n);
          p++;
        }
      else
        {
          const char *stop = memchr (p, ',', end - p);

          if (stop == NULL)
            stop = end;
          if (has_quote && memchr (p, '"', stop - p) != NULL)
            return split_fail (error,
                               N_("field %u has a quote but is not quoted"),
                               n + 1);
          fields[n].data = p;
          fields[n].len = stop - p;
          n++;
          if (stop == end)
            return (int) n;
          p = stop + 1;
        }
    }
}
