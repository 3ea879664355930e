/* lottery-file-store.c: LotteryFileStore: the lottery in bets.csv,
 * appended batch by batch, with its journal beside it.
 *
 * Owns the two files (through a LotteryJournal: lottery-journal.c opens
 * and recovers them, lottery-journal-record.c lays out the journal's
 * records) and, with
 * LOTTERY_FILE_STORE_SYNC, a LotterySyncer (lottery-syncer.c: group
 * commit on its own thread). Appends run on the caller's thread (the
 * batch workers, and the main thread for a FINISH); reading back runs
 * on the caller's thread too (the draw's worker) over its own
 * descriptor.
 *
 * Locks: `lock` guards the journal's descriptors and sizes, how much of
 * the journal is written and `broken`. It is held for one group's two
 * writes (rows, then records), so a batch's rows are contiguous and
 * never interleave with another agency's; it is taken before the
 * syncer's lock, never after, and never held during fdatasync ().
 */
#include "config.h"

#include "lottery-file-store.h"
#include "lottery-journal.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-syncer.h"

#include <glib/gi18n-lib.h>

#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct _LotteryFileStore
{
  GObject parent_instance;

  char           *path;           /* bets.csv (owned), for messages */
  gboolean        sync;           /* LOTTERY_FILE_STORE_SYNC */
  LotterySyncer  *syncer;         /* (owned) with sync, once recovered */

  GMutex          lock;           /* guards everything below */
  LotteryJournal  journal;        /* both files, their sizes */
  guint64         journal_written; /* journal bytes in the file, without
                                    * sync (with it, the syncer writes) */
  gboolean        broken;         /* the files no longer end at a batch
                                   * boundary, or were replaced */
  GError         *broken_error;   /* why, if not a partial batch */
};

static void lottery_file_store_iface_init (LotteryStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LotteryFileStore, lottery_file_store,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LOTTERY_TYPE_STORE,
                                                      lottery_file_store_iface_init))

static void
lottery_file_store_finalize (GObject *object)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (object);

  g_clear_pointer (&self->syncer, lottery_syncer_free);
  lottery_journal_clear (&self->journal);
  g_free (self->path);
  g_clear_error (&self->broken_error);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (lottery_file_store_parent_class)->finalize (object);
}

static void
lottery_file_store_class_init (LotteryFileStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_file_store_finalize;
}

static void
lottery_file_store_init (LotteryFileStore *self)
{
  g_mutex_init (&self->lock);
}

typedef struct
{
  LotteryStoreRecordFunc func;
  gpointer               user_data;
  guint                  agencies;
  guint8                *finished; /* [agencies + 1] */
  guint                  n_finished;
} Replay;

/* Counts the agencies that finished on the way to @func. */
static gboolean
replay_record (const LotteryStoreRecord *record,
               gpointer                  user_data)
{
  Replay *replay = user_data;

  if (record->type == LOTTERY_STORE_RECORD_FINISH &&
      record->agency >= 1 && record->agency <= replay->agencies &&
      !replay->finished[record->agency])
    {
      replay->finished[record->agency] = 1;
      replay->n_finished++;
    }

  return replay->func == NULL || replay->func (record, replay->user_data);
}

static gboolean
check_paths (gconstpointer   user_data,
             GError        **error)
{
  return lottery_journal_check_paths (user_data, error);
}

/* Opens (creating if needed) bets.csv and its journal, cuts back what
 * a crash left half written, then replays the journal. No other thread
 * may use the store before this returns, so it takes no lock: @func
 * (which takes the state's lock) runs with none held. */
static gboolean
lottery_file_store_recover (LotteryStore           *store,
                            LotteryStoreRecordFunc  func,
                            gpointer                user_data,
                            GCancellable           *cancellable,
                            GError                **error)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (store);
  g_autofree guint8 *finished = NULL;
  Replay replay = { func, user_data, self->journal.agencies, NULL, 0 };
  guint64 good, data_end;

  g_return_val_if_fail (self->journal.fd < 0, FALSE);

  if (!lottery_journal_open (&self->journal, self->sync, error))
    {
      lottery_journal_close (&self->journal, NULL);
      return FALSE;
    }

  self->journal_written = self->journal.size;
  replay.finished = finished = g_new0 (guint8, replay.agencies + 1);
  if (!lottery_journal_scan (&self->journal, self->journal.size, G_MAXUINT64,
                             replay_record, &replay, &good, &data_end, error))
    return FALSE;
  if (replay.agencies > 0 && replay.n_finished == replay.agencies)
    {
      g_autofree char *lottery = lottery_journal_describe (&self->journal);

      /* Carrying on is right after a crash during or after the draw;
       * it is wrong for an operator who meant a new lottery. */
      lottery_log (G_LOG_LEVEL_WARNING, "lottery_drawn", "success",
                   "storage: %s | agencies: %u | lottery: %s", self->path,
                   replay.agencies, lottery);
    }
  if (self->sync)
    {
      self->syncer = lottery_syncer_new (self->path, self->journal.data_fd,
                                         self->journal.fd, self->journal.size);
      lottery_syncer_set_check (self->syncer, check_paths, &self->journal);
    }

  return TRUE;
}

/* Called with the lock held: the paths must still name the files
 * written. A replaced file stops the store for good, loudly. */
static gboolean
check_paths_locked (LotteryFileStore *self,
                    GError          **error)
{
  g_autoptr(GError) local_error = NULL;

  if (self->broken_error == NULL &&
      lottery_journal_check_paths (&self->journal, &local_error))
    return TRUE;
  if (self->broken_error == NULL)
    {
      {
        g_autofree char *reason = lottery_log_error_value (local_error);

        lottery_log (LOTTERY_LOG_ERROR, "storage", "fail", "file: %s | error: %s",
                     self->path, reason);
      }
      self->broken = TRUE;
      self->broken_error = g_steal_pointer (&local_error);
    }
  g_propagate_error (error, g_error_copy (self->broken_error));

  return FALSE;
}

/* Called with the lock held: takes back a write that went half way. */
static void
cut_back (LotteryFileStore *self)
{
  /* With sync the journal is the syncer's alone (it may be writing
   * right now), and this append wrote nothing to it. */
  if (ftruncate (self->journal.data_fd, (off_t) self->journal.data_size) != 0 ||
      (!self->sync &&
       ftruncate (self->journal.fd, (off_t) self->journal_written) != 0))
    {
      /* No later batch may be acknowledged after a partial one. */
      self->broken = TRUE;
      g_critical ("Cannot cut %s back to %" G_GUINT64_FORMAT " bytes: %s",
                  self->path, self->journal.data_size, g_strerror (errno));
    }
}

/* Writes the rows, then their journal records, as one unit: on failure
 * neither file keeps any of it. With sync, the records wait in the
 * syncer for the sync of their rows. */
static gboolean
lottery_file_store_append (LotteryStore       *store,
                           const char         *rows,
                           LotteryStoreRecord *records,
                           guint               n_records,
                           guint64            *ticket,
                           GError            **error)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (store);
  g_autoptr(GMutexLocker) locker = NULL;
  g_autofree guint8 *journal = NULL;
  guint8 stack_journal[LOTTERY_JOURNAL_RECORD_SIZE * 16];
  guint8 *out = stack_journal;
  gsize len = 0, records_len = (gsize) n_records * LOTTERY_JOURNAL_RECORD_SIZE;
  guint64 end;
  guint i;
  int saved;

  if (records_len > sizeof stack_journal)
    out = journal = g_malloc (records_len);
  for (i = 0; i < n_records; i++)
    len += records[i].end;

  locker = g_mutex_locker_new (&self->lock);
  if (self->journal.data_fd < 0)
    return lottery_store_fail (error, LOTTERY_STORE_ERROR_CLOSED,
                               N_("Storage %s is closed"), self->path);
  if (self->broken_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->broken_error));
      return FALSE;
    }
  if (self->syncer != NULL && !lottery_syncer_check (self->syncer, error))
    return FALSE;
  if (self->broken)
    return lottery_store_fail (error, LOTTERY_STORE_ERROR_BROKEN,
                               N_("Storage %s ends with a partial batch; "
                                  "refusing to append after it"), self->path);

  end = self->journal.data_size;
  for (i = 0; i < n_records; i++)
    {
      end += records[i].end;
      records[i].end = end;
      lottery_journal_encode (out + (gsize) i * LOTTERY_JOURNAL_RECORD_SIZE,
                              &records[i]);
    }

  if (!lottery_fd_write_all (self->journal.data_fd, rows, len, &saved) ||
      (!self->sync &&
       !lottery_fd_write_all (self->journal.fd, out, records_len, &saved)))
    {
      cut_back (self);
      /* Cut back, nothing kept: a full disk is worth a retry. */
      if (saved == ENOSPC || saved == EDQUOT || saved == EFBIG)
        return lottery_fail_errno (error, LOTTERY_STORE_ERROR,
                                   LOTTERY_STORE_ERROR_NO_SPACE, saved,
                                   N_("Cannot write to %s (try again): "),
                                   self->path);
      return lottery_fail_errno (error, LOTTERY_STORE_ERROR,
                                 LOTTERY_STORE_ERROR_IO, saved,
                                 N_("Cannot write to %s: "), self->path);
    }

  self->journal.data_size += len;
  self->journal.size += records_len;
  if (self->sync)
    lottery_syncer_hold (self->syncer, out, records_len, self->journal.size);
  else
    self->journal_written += records_len;
  if (ticket != NULL)
    *ticket = self->journal.size;

  return TRUE;
}

static void
lottery_file_store_sync_async (LotteryStore        *store,
                               guint64              ticket,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (store);
  g_autoptr(GTask) task = NULL;

  if (self->syncer != NULL)
    {
      lottery_syncer_sync_async (self->syncer, self,
                                 lottery_file_store_sync_async, ticket,
                                 cancellable, callback, user_data);
      return;
    }

  /* Without sync there is nothing to wait for, but a batch written to
   * a file the path no longer names must not be acknowledged. */
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lottery_file_store_sync_async);
  if (ticket > 0)
    {
      g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
      GError *error = NULL;

      if (self->journal.data_fd >= 0 && !check_paths_locked (self, &error))
        {
          g_task_return_error (task, error);
          return;
        }
    }
  g_task_return_boolean (task, TRUE);
}

static gboolean
lottery_file_store_sync_finish (LotteryStore  *store,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, store), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Reads back the file this store writes, through its own descriptor,
 * never whatever the path names now. */
static gboolean
lottery_file_store_load_bets (LotteryStore  *store,
                              gboolean       winners_only,
                              LotteryBetFunc func,
                              gpointer       user_data,
                              GCancellable  *cancellable,
                              GError       **error)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  g_autoptr(GInputStream) stream = NULL;
  g_autofree char *fd_path = NULL;
  struct stat st;
  int fd;

  if (self->journal.data_fd < 0)
    return lottery_store_fail (error, LOTTERY_STORE_ERROR_CLOSED,
                               N_("Storage %s is closed"), self->path);
  if (!check_paths_locked (self, error))
    return FALSE;

  /* A descriptor of its own, for its own offset: appends move the
   * store's to the end. */
  fd_path = g_strdup_printf ("/proc/self/fd/%d", self->journal.data_fd);
  fd = g_open (fd_path, O_RDONLY | O_CLOEXEC, 0);
  if (fd >= 0 && (fstat (fd, &st) != 0 || st.st_ino != self->journal.data_ino ||
                  st.st_dev != self->journal.data_dev))
    {
      g_close (fd, NULL);
      fd = -1;
      errno = ESTALE;
    }
  if (fd < 0)
    {
      int saved = errno;

      return lottery_fail_errno (error, LOTTERY_STORE_ERROR,
                                 LOTTERY_STORE_ERROR_IO, saved,
                                 N_("Cannot read storage %s back: "),
                                 self->path);
    }
  g_clear_pointer (&locker, g_mutex_locker_free);

  stream = g_unix_input_stream_new (fd, TRUE);
  return lottery_bet_rows_read_stream (stream, self->path, winners_only, func,
                                       user_data, cancellable, error);
}

static const char *
lottery_file_store_get_location (LotteryStore *store)
{
  return LOTTERY_FILE_STORE (store)->path;
}

static guint64
lottery_file_store_get_sync_count (LotteryStore *store)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (store);

  return self->syncer != NULL ? lottery_syncer_get_count (self->syncer) : 0;
}

static gboolean
lottery_file_store_close (LotteryStore *store,
                          GError      **error)
{
  LotteryFileStore *self = LOTTERY_FILE_STORE (store);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  gboolean ok = TRUE;

  /* Records still held go to disk with their rows. */
  if (self->syncer != NULL &&
      !lottery_syncer_close (self->syncer, self->journal.size, error))
    ok = FALSE;
  if (!lottery_journal_close (&self->journal, ok ? error : NULL))
    ok = FALSE;

  return ok;
}

static void
lottery_file_store_iface_init (LotteryStoreInterface *iface)
{
  iface->recover = lottery_file_store_recover;
  iface->append = lottery_file_store_append;
  iface->sync_async = lottery_file_store_sync_async;
  iface->sync_finish = lottery_file_store_sync_finish;
  iface->load_bets = lottery_file_store_load_bets;
  iface->get_location = lottery_file_store_get_location;
  iface->get_sync_count = lottery_file_store_get_sync_count;
  iface->close = lottery_file_store_close;
}

/**
 * lottery_file_store_new:
 * @path: bets.csv; the journal is @path with ".journal" appended
 *
 * Returns: (transfer full): a store that touches no file until
 *   lottery_store_recover ().
 */
LotteryStore *
lottery_file_store_new (const char           *path,
                        LotteryFileStoreFlags flags)
{
  LotteryFileStore *self;

  g_return_val_if_fail (path != NULL, NULL);

  self = g_object_new (LOTTERY_TYPE_FILE_STORE, NULL);
  self->path = g_strdup (path);
  self->sync = (flags & LOTTERY_FILE_STORE_SYNC) != 0;
  lottery_journal_init (&self->journal, path);
  self->journal.adopt = (flags & LOTTERY_FILE_STORE_ADOPT) != 0;

  return LOTTERY_STORE (self);
}

/**
 * lottery_file_store_open_full:
 * @func: (nullable): called for every journal record kept, in order
 *
 * lottery_file_store_new () and lottery_store_recover () in one call.
 *
 * Returns: (transfer full): the store, or %NULL with @error set
 */
LotteryStore *
lottery_file_store_open_full (const char             *path,
                              LotteryFileStoreFlags   flags,
                              LotteryStoreRecordFunc  func,
                              gpointer                user_data,
                              GError                **error)
{
  return lottery_file_store_open_lottery (path, flags, 0, func, user_data,
                                          error);
}

/**
 * lottery_file_store_open_lottery:
 * @agencies: lottery.agencies: recorded in a new journal, and the files
 *   are refused if they were recorded with another count
 *
 * lottery_file_store_open_full () for the server.
 */
LotteryStore *
lottery_file_store_open_lottery (const char             *path,
                                 LotteryFileStoreFlags   flags,
                                 guint                   agencies,
                                 LotteryStoreRecordFunc  func,
                                 gpointer                user_data,
                                 GError                **error)
{
  g_autoptr(LotteryStore) store = lottery_file_store_new (path, flags);

  LOTTERY_FILE_STORE (store)->journal.agencies = agencies;
  if (!lottery_store_recover (store, func, user_data, NULL, error))
    return NULL;

  return g_steal_pointer (&store);
}

LotteryStore *
lottery_file_store_open (const char *path,
                         GError    **error)
{
  return lottery_file_store_open_full (path, LOTTERY_FILE_STORE_NONE, NULL,
                                       NULL, error);
}

const char *
lottery_file_store_get_path (LotteryFileStore *self)
{
  g_return_val_if_fail (LOTTERY_IS_FILE_STORE (self), NULL);

  return self->path;
}

/* Bytes in bets.csv. */
guint64
lottery_file_store_get_size (LotteryFileStore *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_FILE_STORE (self), 0);

  locker = g_mutex_locker_new (&self->lock);
  return self->journal.data_size;
}

/* With LOTTERY_FILE_STORE_SYNC, blocks until everything appended up to
 * @ticket is on disk; otherwise returns at once. */
gboolean
lottery_file_store_sync (LotteryFileStore *self,
                         guint64           ticket,
                         GError          **error)
{
  g_return_val_if_fail (LOTTERY_IS_FILE_STORE (self), FALSE);

  if (self->syncer == NULL)
    return TRUE;

  return lottery_syncer_sync (self->syncer, ticket, error);
}
