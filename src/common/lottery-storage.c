/* lottery-storage.c: bets.csv, appended batch by batch, its journal,
 * and bets.csv read back as a stream.
 *
 * bets.csv keeps the course's six columns, so it cannot say which batch
 * a row came from. Beside it, bets.csv.journal holds one fixed-size
 * record per batch (agency, sequence number, bets, and where the batch
 * ends in bets.csv) and one per agency that finished. A restarted
 * server replays the journal to learn where every agency left off, and
 * cuts bets.csv back to the end of the last journaled batch: rows of a
 * batch whose record never made it are not kept, so every row belongs
 * to a batch that was written whole and acknowledged at most once.
 *
 * Appends take the lock only to write; durability is a separate step,
 * lottery_storage_sync (), which does group commit: while one thread
 * runs fdatasync(), batches from other agencies are written behind it,
 * and the next fdatasync() covers all of them. With
 * LOTTERY_STORAGE_SYNC, journal records are held in memory until the
 * sync that covers their rows: bets.csv is synced first, then the
 * records are written and the journal synced, so a record on disk never
 * points at rows that are not.
 */
#include "config.h"

#include "lottery-storage.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A journal record on disk, 32 bytes, integers big-endian:
 *   0  "LJ"   magic
 *   2  u8     type: 'B' batch, 'F' finish, 'A' adopted rows
 *   3  u8     0
 *   4  u32    agency
 *   8  u32    sequence (batch) or last sequence (finish)
 *  12  u32    bets stored by the batch (0 for a refused batch)
 *  16  u64    size of bets.csv once the batch is in
 *  24  u32    0
 *  28  u32    FNV-1a of bytes 0..27
 * The checksum tells a whole record from one torn by a crash or a
 * block of zeros left by a power cut. */
#define RECORD_SIZE 32
#define RECORD_MAGIC_0 'L'
#define RECORD_MAGIC_1 'J'

struct _LotteryStorage
{
  GObject parent_instance;

  GMutex   lock;          /* guards everything below */
  GCond    synced_cond;   /* signalled when a sync ends */
  char    *path;
  char    *journal_path;
  int      fd;            /* bets.csv, O_APPEND */
  int      journal_fd;    /* bets.csv.journal, O_APPEND */
  guint64  size;          /* bytes in bets.csv */
  guint64  journal_size;  /* journal bytes, written or held: tickets */
  guint64  journal_written; /* journal bytes in the file */
  GByteArray *held;       /* records waiting for their rows' sync */
  guint64  synced;        /* journal bytes known to be on disk */
  gboolean syncing;       /* a thread is in fdatasync() */
  guint64  syncs;         /* fdatasync () rounds so far */
  GThread *syncer;        /* runs lottery_storage_sync_async () requests */
  GQueue   requests;      /* GTask *, in the order they were made */
  GCond    requests_cond; /* signalled on a new request or on stopping */
  gboolean stopping;      /* the syncer should exit once idle */
  gboolean sync;          /* LOTTERY_STORAGE_SYNC */
  gboolean broken;        /* the files no longer end at a batch boundary */
};

G_DEFINE_FINAL_TYPE (LotteryStorage, lottery_storage, G_TYPE_OBJECT)

static gpointer syncer_thread (gpointer user_data);

/* The syncer finishes what was asked of it, then exits; no request is
 * taken once it is stopping. */
static void
stop_syncer (LotteryStorage *self)
{
  GThread *syncer;

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_signal (&self->requests_cond);
  syncer = g_steal_pointer (&self->syncer);
  g_mutex_unlock (&self->lock);

  if (syncer == NULL)
    return;
  /* A request's task holds a reference, so the last one can only be
   * dropped here if the owner never called lottery_storage_close (). */
  if (syncer == g_thread_self ())
    {
      g_critical ("LotteryStorage finalized by its own syncer thread; call "
                  "lottery_storage_close () first");
      g_thread_unref (syncer);
      return;
    }
  g_thread_join (syncer);
}

static void
lottery_storage_finalize (GObject *object)
{
  LotteryStorage *self = LOTTERY_STORAGE (object);

  stop_syncer (self);
  g_clear_pointer (&self->held, g_byte_array_unref);
  if (self->fd >= 0)
    g_close (self->fd, NULL);
  if (self->journal_fd >= 0)
    g_close (self->journal_fd, NULL);
  g_free (self->path);
  g_free (self->journal_path);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->synced_cond);
  g_cond_clear (&self->requests_cond);

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
  g_cond_init (&self->synced_cond);
  g_cond_init (&self->requests_cond);
  g_queue_init (&self->requests);
  self->held = g_byte_array_new ();
  self->fd = -1;
  self->journal_fd = -1;
}

static gboolean fail_errno (GError     **error,
                            int          saved,
                            const char  *format,
                            ...) G_GNUC_PRINTF (3, 4);

/* @format takes the path and then the errno text. */
static gboolean
fail_errno (GError    **error,
            int         saved,
            const char *format,
            ...)
{
  va_list args;

  if (error == NULL)
    return FALSE;
  va_start (args, format);
  *error = lottery_error_new_valist (G_IO_ERROR, g_io_error_from_errno (saved),
                                     format, args);
  va_end (args);

  return FALSE;
}

static guint32
fnv1a (const guint8 *p,
       gsize         len)
{
  guint32 h = 2166136261u;

  while (len-- > 0)
    h = (h ^ *p++) * 16777619u;

  return h;
}

static void
put_u32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

static guint32
get_u32 (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_BE (v);
}

static void
encode_record (guint8                     *p,
               const LotteryStorageRecord *record)
{
  guint64 end = GUINT64_TO_BE (record->end);

  memset (p, 0, RECORD_SIZE);
  p[0] = RECORD_MAGIC_0;
  p[1] = RECORD_MAGIC_1;
  p[2] = (guint8) record->type;
  put_u32 (p + 4, record->agency);
  put_u32 (p + 8, record->sequence);
  put_u32 (p + 12, record->count);
  memcpy (p + 16, &end, 8);
  put_u32 (p + 28, fnv1a (p, 28));
}

static gboolean
decode_record (const guint8         *p,
               LotteryStorageRecord *record)
{
  guint64 end;

  if (p[0] != RECORD_MAGIC_0 || p[1] != RECORD_MAGIC_1 ||
      (p[2] != LOTTERY_STORAGE_RECORD_BATCH &&
       p[2] != LOTTERY_STORAGE_RECORD_FINISH &&
       p[2] != LOTTERY_STORAGE_RECORD_ADOPTED) ||
      get_u32 (p + 28) != fnv1a (p, 28))
    return FALSE;

  record->type = (LotteryStorageRecordType) p[2];
  record->agency = get_u32 (p + 4);
  record->sequence = get_u32 (p + 8);
  record->count = get_u32 (p + 12);
  memcpy (&end, p + 16, 8);
  record->end = GUINT64_FROM_BE (end);

  return TRUE;
}

static gboolean
write_all (int         fd,
           const void *data,
           gsize       len,
           int        *saved_errno)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = write (fd, (const char *) data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *saved_errno = n < 0 ? errno : ENOSPC;
          return FALSE;
        }
      done += (gsize) n;
    }

  return TRUE;
}

/* Reads the journal's first @limit bytes record by record, stopping at
 * the first record that is not whole and consistent: torn, out of order,
 * or past the end of bets.csv (or @max_end). @good gets how many bytes
 * were good and @data_end where the last good batch ends in bets.csv.
 * Fails only on a read error: damage is not an error, it is cut. */
static gboolean
scan_journal (LotteryStorage          *self,
              guint64                  limit,
              guint64                  max_end,
              LotteryStorageRecordFunc func,
              gpointer                 user_data,
              guint64                 *good,
              guint64                 *data_end,
              GError                 **error)
{
  guint8 buf[RECORD_SIZE * 256];
  guint64 offset = 0;
  guint64 end = 0;

  while (offset + RECORD_SIZE <= limit)
    {
      gsize want = (gsize) MIN (sizeof buf, (limit - offset) / RECORD_SIZE *
                                            RECORD_SIZE);
      ssize_t got = pread (self->journal_fd, buf, want, (off_t) offset);
      gsize i;

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        return fail_errno (error, errno, _("Cannot read journal %s: %s"),
                           self->journal_path, g_strerror (errno));
      if (got < RECORD_SIZE)
        break;
      for (i = 0; i + RECORD_SIZE <= (gsize) got; i += RECORD_SIZE)
        {
          LotteryStorageRecord record;

          if (!decode_record (buf + i, &record) || record.end < end ||
              record.end > MIN (self->size, max_end))
            goto done;
          if (func != NULL && !func (&record, user_data))
            goto done;
          end = record.end;
          offset += RECORD_SIZE;
        }
    }

done:
  *good = offset;
  *data_end = end;
  return TRUE;
}

/* Does bets.csv have a line end just before @end? After a power cut
 * the file's length can be on disk before its last block. */
static gboolean
ends_a_row (LotteryStorage *self,
            guint64         end,
            gboolean       *ends,
            GError        **error)
{
  char c = 0;
  ssize_t got;

  *ends = TRUE;
  if (end == 0)
    return TRUE;
  do
    got = pread (self->fd, &c, 1, (off_t) (end - 1));
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return fail_errno (error, errno, _("Cannot read storage %s: %s"),
                       self->path, g_strerror (errno));
  *ends = got == 1 && c == '\n';

  return TRUE;
}

/* Finds how much of the journal and bets.csv to keep, and cuts the
 * rest: a batch whose rows are not all there, or whose record is
 * missing, is not part of the lottery. */
static gboolean
recover (LotteryStorage *self,
         GError        **error)
{
  guint64 good, data_end;
  gboolean ends;

  if (!scan_journal (self, self->journal_size, G_MAXUINT64, NULL, NULL,
                     &good, &data_end, error) ||
      !ends_a_row (self, data_end, &ends, error))
    return FALSE;
  /* Walk back over records whose last row is not on disk. */
  while (!ends)
    {
      if (!scan_journal (self, good, data_end - 1, NULL, NULL, &good,
                         &data_end, error) ||
          !ends_a_row (self, data_end, &ends, error))
        return FALSE;
    }

  if (good < self->journal_size)
    {
      if (ftruncate (self->journal_fd, (off_t) good) != 0)
        return fail_errno (error, errno, _("Cannot cut journal %s: %s"),
                           self->journal_path, g_strerror (errno));
      lottery_log (G_LOG_LEVEL_INFO, "recover_journal", "success",
                   "truncated_bytes: %" G_GUINT64_FORMAT,
                   self->journal_size - good);
      self->journal_size = good;
    }

  if (data_end < self->size)
    {
      if (ftruncate (self->fd, (off_t) data_end) != 0)
        return fail_errno (error, errno, _("Cannot cut storage %s: %s"),
                           self->path, g_strerror (errno));
      lottery_log (G_LOG_LEVEL_INFO, "recover", "success",
                   "truncated_bytes: %" G_GUINT64_FORMAT,
                   self->size - data_end);
      self->size = data_end;
    }

  return TRUE;
}

/* A bets.csv that ends in the middle of a row (a write cut short)
 * cannot be appended to: the next row would be glued onto it. */
static guint64
last_row_end (LotteryStorage *self)
{
  char buf[4096];
  guint64 end = self->size;

  while (end > 0)
    {
      gsize n = (gsize) MIN (end, sizeof buf);
      const char *nl;

      if (pread (self->fd, buf, n, (off_t) (end - n)) != (ssize_t) n)
        break;
      nl = memrchr (buf, '\n', n);
      if (nl != NULL)
        {
          end = end - n + (guint64) (nl - buf) + 1;
          break;
        }
      end -= n;
    }

  return end;
}

/* bets.csv has rows but there is no journal (it was written by other
 * means, or the journal was removed): keep its whole rows, record them
 * as adopted, and start every agency from its first batch. */
static gboolean
adopt (LotteryStorage *self,
       GError        **error)
{
  LotteryStorageRecord record = { LOTTERY_STORAGE_RECORD_ADOPTED, 0, 0, 0, 0 };
  guint8 buf[RECORD_SIZE];
  int saved = 0;

  record.end = last_row_end (self);
  if (record.end < self->size)
    {
      if (ftruncate (self->fd, (off_t) record.end) != 0)
        return fail_errno (error, errno, _("Cannot cut storage %s: %s"),
                           self->path, g_strerror (errno));
      lottery_log (G_LOG_LEVEL_INFO, "recover", "success",
                   "truncated_bytes: %" G_GUINT64_FORMAT,
                   self->size - record.end);
      self->size = record.end;
    }

  g_warning ("%s holds %" G_GUINT64_FORMAT " bytes of bets but %s is "
             "missing: they are kept, and every agency starts from its "
             "first batch", self->path, self->size, self->journal_path);
  encode_record (buf, &record);
  if (self->sync && fdatasync (self->fd) != 0)
    return fail_errno (error, errno, _("Cannot sync storage %s: %s"),
                       self->path, g_strerror (errno));
  if (!write_all (self->journal_fd, buf, RECORD_SIZE, &saved))
    goto failed;
  if (self->sync && fdatasync (self->journal_fd) != 0)
    {
      saved = errno;
      goto failed;
    }
  self->journal_size = RECORD_SIZE;
  return TRUE;

failed:
  /* Leave no half record behind. */
  if (ftruncate (self->journal_fd, 0) != 0)
    g_warning ("Cannot cut journal %s: %s", self->journal_path,
               g_strerror (errno));
  return fail_errno (error, saved, _("Cannot write journal %s: %s"),
                     self->journal_path, g_strerror (saved));
}

static int
open_file (const char *path,
           int         flags,
           guint64    *size,
           gboolean   *created,
           GError    **error)
{
  struct stat st = { 0 };
  int fd;

  errno = 0;
  *created = !g_file_test (path, G_FILE_TEST_EXISTS);
  /* Names, documents and birth dates: not for every user to read. */
  fd = g_open (path, flags | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    {
      fail_errno (error, errno, _("Cannot open storage %s: %s"), path,
                  g_strerror (errno));
      return -1;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      int saved = errno;

      if (saved == 0 || S_ISDIR (st.st_mode))
        saved = EISDIR;
      g_close (fd, NULL);
      fail_errno (error, saved, _("Cannot use storage %s: %s"), path,
                  g_strerror (saved));
      return -1;
    }
  *size = (guint64) st.st_size;

  return fd;
}

/* A new file's name is only durable once its directory is synced. */
static void
sync_directory (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd >= 0)
    {
      fsync (fd);
      g_close (fd, NULL);
    }
}

/**
 * lottery_storage_open_full:
 * @path: bets.csv; the journal is @path with ".journal" appended
 * @flags: #LotteryStorageFlags
 * @func: (nullable): called for every journal record kept, in order
 *
 * Opens (creating if needed) bets.csv and its journal, cuts back what a
 * crash left half written, then replays the journal through @func so
 * the caller can rebuild where each agency left off.
 */
LotteryStorage *
lottery_storage_open_full (const char               *path,
                           LotteryStorageFlags       flags,
                           LotteryStorageRecordFunc  func,
                           gpointer                  user_data,
                           GError                  **error)
{
  g_autoptr(LotteryStorage) self = NULL;
  gboolean created, journal_created;
  guint64 good, data_end;

  g_return_val_if_fail (path != NULL, NULL);

  self = g_object_new (LOTTERY_TYPE_STORAGE, NULL);
  self->path = g_strdup (path);
  self->journal_path = g_strconcat (path, ".journal", NULL);
  self->sync = (flags & LOTTERY_STORAGE_SYNC) != 0;

  self->fd = open_file (path, O_RDWR, &self->size, &created, error);
  if (self->fd < 0)
    return NULL;
  self->journal_fd = open_file (self->journal_path, O_RDWR,
                                &self->journal_size, &journal_created, error);
  if (self->journal_fd < 0)
    return NULL;
  if (self->sync && (created || journal_created))
    sync_directory (path);

  /* A journal without its bets.csv is most likely an old lottery's:
   * replaying it against a new file would skip or finish agencies. */
  if (created && self->journal_size > 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s is missing but its journal %s is not: restore "
                     "%s, or move the journal away too to start a new "
                     "lottery"), path, self->journal_path, path);
      g_unlink (path);
      return NULL;
    }

  if (journal_created && self->size > 0)
    {
      if (!adopt (self, error))
        return NULL;
    }
  else if (!recover (self, error))
    return NULL;

  self->synced = self->journal_written = self->journal_size;
  if (func != NULL &&
      !scan_journal (self, self->journal_size, G_MAXUINT64, func, user_data,
                     &good, &data_end, error))
    return NULL;
  if (self->sync)
    self->syncer = g_thread_new ("lottery-sync", syncer_thread, self);

  return g_steal_pointer (&self);
}

LotteryStorage *
lottery_storage_open (const char *path,
                      GError    **error)
{
  return lottery_storage_open_full (path, LOTTERY_STORAGE_NONE, NULL, NULL,
                                    error);
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
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), 0);

  locker = g_mutex_locker_new (&self->lock);
  return self->size;
}

/* Called with the lock held: takes back a write that went half way. */
static void
cut_back (LotteryStorage *self)
{
  /* With sync the journal is the syncer's alone (it may be writing
   * right now), and this append wrote nothing to it. */
  if (ftruncate (self->fd, (off_t) self->size) != 0 ||
      (!self->sync &&
       ftruncate (self->journal_fd, (off_t) self->journal_written) != 0))
    {
      /* No later batch may be acknowledged after a partial one. */
      self->broken = TRUE;
      g_critical ("Cannot cut %s back to %" G_GUINT64_FORMAT " bytes: %s",
                  self->path, self->size, g_strerror (errno));
    }
}

/**
 * lottery_storage_append:
 * @rows: the rows of every batch in @records, one after the other
 * @records: what to journal; each batch's @end holds, on entry, the
 *   length of its rows in @rows (0 for a refused batch or a finish)
 * @ticket: (out) (optional): pass it to lottery_storage_sync ()
 *
 * Writes the rows, then their journal records, as one unit: on failure
 * neither file keeps any of it. The rows are in bets.csv when this
 * returns, but on disk only after lottery_storage_sync ().
 */
gboolean
lottery_storage_append (LotteryStorage       *self,
                        const char           *rows,
                        LotteryStorageRecord *records,
                        guint                 n_records,
                        guint64              *ticket,
                        GError              **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  g_autofree guint8 *journal = NULL;
  guint8 stack_journal[RECORD_SIZE * 16];
  guint8 *out = stack_journal;
  gsize len = 0;
  guint64 end;
  guint i;
  int saved;

  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), FALSE);
  g_return_val_if_fail (records != NULL || n_records == 0, FALSE);

  if (n_records > G_N_ELEMENTS (stack_journal) / RECORD_SIZE)
    out = journal = g_malloc ((gsize) n_records * RECORD_SIZE);
  for (i = 0; i < n_records; i++)
    len += records[i].end;

  locker = g_mutex_locker_new (&self->lock);
  if (self->fd < 0)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("Storage %s is closed"), self->path);
  if (self->broken)
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("Storage %s ends with a partial batch; refusing "
                           "to append after it"), self->path);

  end = self->size;
  for (i = 0; i < n_records; i++)
    {
      end += records[i].end;
      records[i].end = end;
      encode_record (out + (gsize) i * RECORD_SIZE, &records[i]);
    }

  /* With sync, the records wait for the sync of their rows. */
  if (!write_all (self->fd, rows, len, &saved) ||
      (!self->sync &&
       !write_all (self->journal_fd, out, (gsize) n_records * RECORD_SIZE,
                   &saved)))
    {
      cut_back (self);
      return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                           _("Cannot write to %s: %s"), self->path,
                           g_strerror (saved));
    }

  if (self->sync)
    g_byte_array_append (self->held, out, n_records * RECORD_SIZE);
  else
    self->journal_written += (guint64) n_records * RECORD_SIZE;
  self->size += len;
  self->journal_size += (guint64) n_records * RECORD_SIZE;
  if (ticket != NULL)
    *ticket = self->journal_size;

  return TRUE;
}

/* Called with the lock held; may drop it while fdatasync () runs. One
 * thread at a time syncs everything written so far; others wait for it
 * (or run the next one), so the cost of a sync is shared. */
static gboolean
sync_locked (LotteryStorage *self,
             guint64         ticket)
{
  while (self->synced < ticket)
    {
      GByteArray *held;
      guint64 goal;
      int data_fd, journal_fd;
      int saved = 0;

      if (self->broken || self->fd < 0)
        return FALSE;
      if (self->syncing)
        {
          g_cond_wait (&self->synced_cond, &self->lock);
          continue;
        }

      self->syncing = TRUE;
      goal = self->journal_size;
      held = g_steal_pointer (&self->held);
      self->held = g_byte_array_new ();
      data_fd = self->fd;
      journal_fd = self->journal_fd;
      g_mutex_unlock (&self->lock);

      /* Rows first, then their records: a journal record on disk must
       * never point at rows that are not. Only this thread writes the
       * journal while it syncs. */
      if (fdatasync (data_fd) != 0 ||
          !write_all (journal_fd, held->data, held->len, &saved) ||
          fdatasync (journal_fd) != 0)
        saved = saved != 0 ? saved : errno;

      g_mutex_lock (&self->lock);
      self->syncing = FALSE;
      self->syncs++;
      if (saved == 0)
        self->journal_written += held->len;
      g_byte_array_unref (held);
      if (saved != 0)
        {
          /* After a failed fdatasync () the kernel may have dropped the
           * pages: nothing written since the last good sync can be
           * vouched for. Only a restart (and its recovery) may go on. */
          self->broken = TRUE;
          g_critical ("Cannot sync %s: %s", self->path, g_strerror (saved));
        }
      else
        self->synced = goal;
      g_cond_broadcast (&self->synced_cond);
    }

  return TRUE;
}

/**
 * lottery_storage_sync:
 * @ticket: from lottery_storage_append ()
 *
 * With %LOTTERY_STORAGE_SYNC, blocks until everything appended up to
 * @ticket is on disk; otherwise returns at once.
 */
gboolean
lottery_storage_sync (LotteryStorage *self,
                      guint64         ticket,
                      GError        **error)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), FALSE);

  if (!self->sync)
    return TRUE;

  locker = g_mutex_locker_new (&self->lock);
  if (!sync_locked (self, ticket))
    return lottery_fail (error, LOTTERY_ERROR_STORAGE,
                         _("Storage %s could not be synced"), self->path);

  return TRUE;
}

/* The syncer thread: completes queued sync requests in the order they
 * came, each round with one sync covering all of them. */
static gpointer
syncer_thread (gpointer user_data)
{
  LotteryStorage *self = user_data;

  g_mutex_lock (&self->lock);
  for (;;)
    {
      GQueue done = G_QUEUE_INIT;
      guint64 goal = 0;
      gboolean ok;
      GList *l;
      GTask *task;

      while (g_queue_is_empty (&self->requests) && !self->stopping)
        g_cond_wait (&self->requests_cond, &self->lock);
      if (g_queue_is_empty (&self->requests))
        break;

      /* Only the requests taken now are answered by this round: one
       * that comes while fdatasync () runs may be for rows written after
       * it started. */
      done = self->requests;
      g_queue_init (&self->requests);
      for (l = done.head; l != NULL; l = l->next)
        goal = MAX (goal, *(guint64 *) g_task_get_task_data (l->data));
      ok = sync_locked (self, goal);
      g_mutex_unlock (&self->lock);

      while ((task = g_queue_pop_head (&done)) != NULL)
        {
          if (ok)
            g_task_return_boolean (task, TRUE);
          else
            g_task_return_new_error (task, LOTTERY_ERROR, LOTTERY_ERROR_STORAGE,
                                     _("Storage %s could not be synced"),
                                     self->path);
          g_object_unref (task);
        }

      g_mutex_lock (&self->lock);
    }
  g_mutex_unlock (&self->lock);

  return NULL;
}

/**
 * lottery_storage_sync_async:
 * @ticket: from lottery_storage_append (), or 0 for nothing to sync
 *
 * Like lottery_storage_sync (), without blocking: @callback runs (in
 * the thread-default main context) once @ticket is on disk. Requests
 * complete in the order they were made, also those with nothing to
 * sync, so a connection's replies keep their order. Without
 * %LOTTERY_STORAGE_SYNC, completes at once.
 */
void
lottery_storage_sync_async (LotteryStorage      *self,
                            guint64              ticket,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_if_fail (LOTTERY_IS_STORAGE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lottery_storage_sync_async);
  g_task_set_task_data (task, g_memdup2 (&ticket, sizeof ticket), g_free);

  locker = g_mutex_locker_new (&self->lock);
  if (self->sync && !self->stopping)
    {
      g_queue_push_tail (&self->requests, g_steal_pointer (&task));
      g_cond_signal (&self->requests_cond);
      return;
    }
  /* Without sync there is nothing to wait for; once closed, only what
   * is already on disk can be vouched for. */
  if (self->sync && ticket > self->synced)
    {
      g_clear_pointer (&locker, g_mutex_locker_free);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("Storage %s is closed"), self->path);
      return;
    }
  g_clear_pointer (&locker, g_mutex_locker_free);
  g_task_return_boolean (task, TRUE);
}

gboolean
lottery_storage_sync_finish (LotteryStorage  *self,
                             GAsyncResult    *result,
                             GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* How many fdatasync () rounds ran: with group commit, far fewer than
 * batches. */
guint64
lottery_storage_get_sync_count (LotteryStorage *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), 0);

  locker = g_mutex_locker_new (&self->lock);
  return self->syncs;
}

gboolean
lottery_storage_close (LotteryStorage *self,
                       GError        **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  gboolean ok = TRUE;

  g_return_val_if_fail (LOTTERY_IS_STORAGE (self), FALSE);

  stop_syncer (self);

  locker = g_mutex_locker_new (&self->lock);
  /* Records still held go to disk with their rows. */
  if (self->sync && self->fd >= 0 && !sync_locked (self, self->journal_size))
    ok = lottery_fail (error, LOTTERY_ERROR_STORAGE,
                       _("Storage %s could not be synced"), self->path);
  /* A blocking sync in flight uses the descriptors. */
  while (self->syncing)
    g_cond_wait (&self->synced_cond, &self->lock);
  if (self->fd >= 0)
    {
      if (!g_close (self->fd, ok ? error : NULL))
        ok = FALSE;
      self->fd = -1;
    }
  if (self->journal_fd >= 0)
    {
      if (!g_close (self->journal_fd, ok ? error : NULL))
        ok = FALSE;
      self->journal_fd = -1;
    }

  return ok;
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
