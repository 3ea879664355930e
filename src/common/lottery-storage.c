/* lottery-storage.c: bets.csv, appended batch by batch, read back as a
 * stream.
 *
 * A batch arrives here already formatted as rows and is written under
 * the storage lock with a single write loop, so the rows of one batch
 * are contiguous in the file and never interleave with another
 * agency's. If the write fails half way, the file is cut back to where
 * the batch began: a batch is stored whole or not at all.
 */
#include "config.h"

#include "lottery-storage.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <inttypes.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _LotteryStorage
{
  GObject parent_instance;

  GMutex  lock;   /* guards fd and size */
  char   *path;
  int     fd;
  guint64 size;   /* bytes in the file; where the next batch begins */
  gboolean broken; /* a partial batch could not be cut back */
};

G_DEFINE_FINAL_TYPE (LotteryStorage, lottery_storage, G_TYPE_OBJECT)

static void
lottery_storage_finalize (GObject *object)
{
  LotteryStorage *self = LOTTERY_STORAGE (object);

  if (self->fd >= 0)
    g_close (self->fd, NULL);
  g_free (self->path);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (lottery_storage_parent_class)->finalize (object);
}

static void
lottery_storage_class_init (LotteryStorageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_storage_finalize;
}

static void
lottery_storage_init (LotteryStorage *self)
{
  g_mutex_init (&self->lock);
  self->fd = -1;
}

/* A file that does not end with a line end holds the start of a row
 * whose write was cut short (a crash, a full disk): appending to it
 * would glue the next row onto it. Cut it back to the last whole row. */
static gboolean
cut_partial_row (LotteryStorage *self,
                 GError        **error)
{
  char buf[4096];
  guint64 end = self->size;
  guint64 keep = 0;
  int fd;

  if (self->size == 0)
    return TRUE;

  fd = g_open (self->path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    goto failed;

  while (end > 0)
    {
      gsize n = (gsize) MIN (end, sizeof buf);
      ssize_t got = pread (fd, buf, n, (off_t) (end - n));
      const char *nl;

      if (got != (ssize_t) n)
        {
          g_close (fd, NULL);
          goto failed;
        }
      if (end == self->size && buf[n - 1] == '\n')
        {
          keep = self->size;
          break;
        }
      nl = memrchr (buf, '\n', n);
      if (nl != NULL)
        {
          keep = end - n + (guint64) (nl - buf) + 1;
          break;
        }
      end -= n;
    }
  g_close (fd, NULL);

  if (keep == self->size)
    return TRUE;
  if (ftruncate (self->fd, (off_t) keep) != 0)
    goto failed;

  lottery_log (G_LOG_LEVEL_INFO, "recover", "success",
               "truncated_bytes: %" G_GUINT64_FORMAT, self->size - keep);
  self->size = keep;
  return TRUE;

failed:
  {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 _("Cannot check the end of storage %s: %s"), self->path,
                 g_strerror (saved));
    return FALSE;
  }
}

LotteryStorage *
lottery_storage_open (const char *path,
                      GError    **error)
{
  g_autoptr(LotteryStorage) self = NULL;
  struct stat st;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  fd = g_open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot open storage %s: %s"), path, g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      g_close (fd, NULL);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot stat storage %s: %s"), path, g_strerror (saved));
      return NULL;
    }

  self = g_object_new (LOTTERY_TYPE_STORAGE, NULL);
  self->path = g_strdup (path);
  self->fd = fd;
  self->size = (guint64) st.st_size;

  if (!cut_partial_row (self, error))
    return NULL;

  return g_steal_pointer (&self);
}

const char *
lottery_storage_get_path (LotteryStorage *self)
{
  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), NULL);

  return self->path;
}

guint64
lottery_storage_get_size (LotteryStorage *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->size;
}

/* Appends @rows (whole CSV rows) as one unit. */
gboolean
lottery_storage_append (LotteryStorage *self,
                        const char     *rows,
                        gsize           len,
                        GError        **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  gsize done = 0;

  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), FALSE);

  locker = g_mutex_locker_new (&self->lock);
  if (self->fd < 0)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("Storage %s is closed"), self->path);
  if (self->broken)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("Storage %s ends with a partial batch; refusing "
                           "to append after it"), self->path);

  while (done < len)
    {
      ssize_t n = write (self->fd, rows + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : ENOSPC;

          /* Take back the part that did get written. If even that
           * fails, the file no longer ends at a batch boundary, and no
           * later batch may be acknowledged after it. */
          if (done > 0 && ftruncate (self->fd, (off_t) self->size) != 0)
            {
              self->broken = TRUE;
              g_critical ("Cannot cut %s back to %" G_GUINT64_FORMAT
                          " bytes: %s", self->path, self->size,
                          g_strerror (errno));
            }
          return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                               _("Cannot write to %s: %s"), self->path,
                               g_strerror (saved));
        }
      done += (gsize) n;
    }

  self->size += len;
  return TRUE;
}

gboolean
lottery_storage_close (LotteryStorage *self,
                       GError        **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  int fd = self->fd;

  if (fd < 0)
    return TRUE;
  self->fd = -1;

  return g_close (fd, error);
}

static gboolean
row_error (LotteryCsvReader *reader,
           GError          **error,
           const char       *what)
{
  return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                       _("%s:%" PRIu64 ": %s"),
                       lottery_csv_reader_get_name (reader),
                       lottery_csv_reader_get_line_number (reader), what);
}

/* Is the last field of @line the winning number? The number is always
 * last and never quoted, so this needs no CSV parsing; it reads the
 * digits as the full parser would, leading zeros included. */
static gboolean
ends_with_winning_number (const char *line,
                          gsize       len)
{
  const char *comma = memrchr (line, ',', len);
  const char *p;
  guint64 v = 0;

  if (comma == NULL || comma + 1 == line + len ||
      (gsize) (line + len - comma - 1) > LOTTERY_NUMBER_MAX_DIGITS)
    return FALSE;
  for (p = comma + 1; p < line + len; p++)
    {
      if (*p < '0' || *p > '9')
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
    }

  return v == LOTTERY_WINNING_NUMBER;
}

/* Parses and validates one bets.csv row (without its line end) into
 * @bet: six fields, the agency first. */
gboolean
lottery_storage_parse_row (const char *line,
                           gsize       len,
                           LotteryBet *bet,
                           GError    **error)
{
  char scratch[LOTTERY_BET_ROW_MAX];
  LotteryCsvField fields[7];
  const char *values[LOTTERY_BET_N_FIELDS];
  gsize lens[LOTTERY_BET_N_FIELDS];
  guint64 agency;
  int n, i;

  if (len > sizeof scratch)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE, _("row is too long"));

  n = lottery_csv_split (line, len, fields, G_N_ELEMENTS (fields), scratch,
                         error);
  if (n < 0)
    return FALSE;
  if (n != 6)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("row does not have 6 fields"));
  if (fields[0].len == 0 || fields[0].len > 9 ||
      !lottery_all_digits (fields[0].data, fields[0].len) ||
      (agency = g_ascii_strtoull (fields[0].data, NULL, 10)) == 0)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("agency is not a number"));

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    {
      values[i] = fields[i + 1].data;
      lens[i] = fields[i + 1].len;
    }
  memset (bet, 0, sizeof *bet);
  if (!lottery_bet_set_fields (bet, values, lens, error))
    return FALSE;
  bet->agency = (guint32) agency;

  return TRUE;
}

/* Streams bets.csv back (the original load_bets ()): each row is parsed
 * and validated again, so a damaged file is reported, not guessed at.
 * With @winners_only, rows whose number is not the winning one are
 * skipped before they are parsed; that is what makes the draw fast. */
gboolean
lottery_storage_load_bets (const char    *path,
                           gboolean       winners_only,
                           LotteryBetFunc func,
                           gpointer       user_data,
                           GCancellable  *cancellable,
                           GError       **error)
{
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *line;
  gsize len;

  reader = lottery_csv_reader_new_for_path (path, error);
  if (reader == NULL)
    return FALSE;

  while (lottery_csv_reader_next_line (reader, &line, &len, cancellable,
                                       &local_error))
    {
      LotteryBet bet;

      if (len == 0)
        continue;
      if (winners_only && !ends_with_winning_number (line, len))
        continue;
      if (!lottery_storage_parse_row (line, len, &bet, &local_error))
        return row_error (reader, error, local_error->message);
      if (!func (&bet, user_data))
        return TRUE;
    }

  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  return TRUE;
}

typedef struct
{
  GPtrArray *winners;
  guint      n_agencies;
  guint64    foreign;
} DrawData;

static gboolean
collect_winner (const LotteryBet *bet,
                gpointer          user_data)
{
  DrawData *data = user_data;

  if (!lottery_bet_has_won (bet))
    return TRUE;
  if (bet->agency > data->n_agencies)
    {
      data->foreign++;
      return TRUE;
    }

  g_ptr_array_add (g_ptr_array_index (data->winners, bet->agency - 1),
                   g_strdup (bet->document));
  return TRUE;
}

/* The draw: for each agency 1..@n_agencies (index 0..n-1), a GPtrArray
 * of its winners' documents, in the order they were stored. */
GPtrArray *
lottery_storage_draw (const char   *path,
                      guint         n_agencies,
                      GCancellable *cancellable,
                      GError      **error)
{
  g_autoptr(GPtrArray) winners = NULL;
  DrawData data;
  guint i;

  winners = g_ptr_array_new_full (n_agencies, (GDestroyNotify) g_ptr_array_unref);
  for (i = 0; i < n_agencies; i++)
    g_ptr_array_add (winners, g_ptr_array_new_with_free_func (g_free));

  data.winners = winners;
  data.n_agencies = n_agencies;
  data.foreign = 0;

  if (!lottery_storage_load_bets (path, TRUE, collect_winner, &data,
                                  cancellable, error))
    return NULL;

  if (data.foreign > 0)
    g_warning ("%s holds %" G_GUINT64_FORMAT " winning bets of agencies above "
               "%u; they are not part of this draw", path, data.foreign,
               n_agencies);

  return g_steal_pointer (&winners);
}
