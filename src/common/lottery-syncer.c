/* lottery-syncer.c: group commit: makes bets.csv and its journal
 * durable, many batches per fdatasync ().
 *
 * Owns the journal records that wait for their rows' sync ("held"),
 * how much of the journal is known to be on disk, and the syncer
 * thread ("lottery-sync"), which completes asynchronous sync requests
 * in the order they came, each round with one sync covering all of
 * them. Blocking syncs run on their caller's thread. While one thread
 * runs fdatasync (), batches from other agencies are written behind it,
 * and the next fdatasync () covers all of them.
 *
 * Locks: `lock` guards every field below it; it is never held during
 * fdatasync () or a journal write. The file store calls in with its own
 * lock held (store lock, then this one); this unit never takes the
 * store's lock. The two descriptors are borrowed: the store closes them
 * only after lottery_syncer_close ().
 */
#include "config.h"

#include "lottery-syncer.h"
#include "lottery-journal.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-metrics.h"
#include "lottery-store.h"

#include <glib/gi18n-lib.h>

#include <errno.h>
#include <unistd.h>

struct _LotterySyncer
{
  char       *path;        /* bets.csv, for messages (owned) */
  int         data_fd;     /* bets.csv (borrowed) */
  int         journal_fd;  /* its journal (borrowed) */
  LotterySyncerCheckFunc check; /* before each round, or NULL */
  gconstpointer check_data;

  GMutex      lock;        /* guards everything below */
  GCond       synced_cond; /* signalled when a sync ends */
  GCond       requests_cond; /* signalled on a new request or on stopping */
  GByteArray *held;        /* records waiting for their rows' sync */
  guint64     held_upto;   /* the ticket of the last record held */
  guint64     synced;      /* journal bytes known to be on disk */
  gboolean    syncing;     /* a thread is in fdatasync () */
  guint64     syncs;       /* fdatasync () rounds so far */
  GThread    *thread;      /* runs lottery_syncer_sync_async () requests */
  GQueue      requests;    /* GTask * (owned), in the order they were made */
  gboolean    stopping;    /* the thread should exit once idle */
  gboolean    closed;      /* the descriptors are no longer ours */
  gboolean    broken;      /* a sync failed: nothing more is vouched for */
  GError     *broken_error; /* why, for every later request */
};

static gpointer syncer_thread (gpointer user_data);

/* @synced: journal bytes already on disk, the first ticket. Starts the
 * syncer thread. */
LotterySyncer *
lottery_syncer_new (const char *path,
                    int         data_fd,
                    int         journal_fd,
                    guint64     synced)
{
  LotterySyncer *self = g_new0 (LotterySyncer, 1);

  self->path = g_strdup (path);
  self->data_fd = data_fd;
  self->journal_fd = journal_fd;
  g_mutex_init (&self->lock);
  g_cond_init (&self->synced_cond);
  g_cond_init (&self->requests_cond);
  g_queue_init (&self->requests);
  self->held = g_byte_array_new ();
  self->held_upto = self->synced = synced;
  self->thread = g_thread_new ("lottery-sync", syncer_thread, self);

  return self;
}

/* The thread finishes what was asked of it, then exits; no request is
 * taken once it is stopping. */
static void
stop_thread (LotterySyncer *self)
{
  GThread *thread;

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_signal (&self->requests_cond);
  thread = g_steal_pointer (&self->thread);
  g_mutex_unlock (&self->lock);

  if (thread == NULL)
    return;
  /* A request's task holds a reference to the store, so the last one
   * can only be dropped here if the store was never closed. */
  if (thread == g_thread_self ())
    {
      g_critical ("LotteryFileStore finalized by its own syncer thread; "
                  "call lottery_store_close () first");
      g_thread_unref (thread);
      return;
    }
  g_thread_join (thread);
}

void
lottery_syncer_free (LotterySyncer *self)
{
  if (self == NULL)
    return;

  stop_thread (self);
  g_clear_pointer (&self->held, g_byte_array_unref);
  g_clear_error (&self->broken_error);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->synced_cond);
  g_cond_clear (&self->requests_cond);
  g_free (self->path);
  g_free (self);
}

/* Call before the first sync. */
void
lottery_syncer_set_check (LotterySyncer          *self,
                          LotterySyncerCheckFunc  func,
                          gconstpointer           user_data)
{
  self->check = func;
  self->check_data = user_data;
}

/* Keeps @len bytes of journal records until the sync that covers their
 * rows, which are already written; @ticket counts them in. Call in the
 * order the rows were written. */
void
lottery_syncer_hold (LotterySyncer *self,
                     const guint8  *records,
                     gsize          len,
                     guint64        ticket)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  g_byte_array_append (self->held, records, (guint) len);
  self->held_upto = ticket;
}

gboolean
lottery_syncer_is_broken (LotterySyncer *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->broken;
}

/* Called with the lock held. */
static gboolean
fail_broken (LotterySyncer *self,
             GError       **error)
{
  if (self->broken_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->broken_error));
      return FALSE;
    }
  return lottery_store_fail (error, LOTTERY_STORE_ERROR_BROKEN,
                             N_("Storage %s could not be synced"), self->path);
}

/* FALSE, with why, once a sync failed for good. */
gboolean
lottery_syncer_check (LotterySyncer *self,
                      GError       **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return !self->broken || fail_broken (self, error);
}

/* A full disk (or a file size limit) while writing journal records
 * leaves nothing broken: the rows are synced, the half-written records
 * are cut off, and they wait for the next round. */
static gboolean
is_no_space (int saved)
{
  return saved == ENOSPC || saved == EDQUOT || saved == EFBIG;
}

/* Called with the lock held; drops it while fdatasync () runs. One
 * thread at a time syncs everything written so far; others wait for it
 * (or run the next one), so the cost of a sync is shared. */
static gboolean
sync_locked (LotterySyncer *self,
             guint64        ticket,
             GError       **error)
{
  while (self->synced < ticket)
    {
      g_autoptr(GError) check_error = NULL;
      GByteArray *held;
      guint64 goal;
      int saved = 0;
      gboolean rows_synced = FALSE, no_space = FALSE;
      gint64 started;

      if (self->broken || self->closed)
        return fail_broken (self, error);
      if (self->syncing)
        {
          g_cond_wait (&self->synced_cond, &self->lock);
          continue;
        }

      self->syncing = TRUE;
      goal = self->held_upto;
      held = g_steal_pointer (&self->held);
      self->held = g_byte_array_new ();
      g_mutex_unlock (&self->lock);

      /* Rows first, then their records: a journal record on disk must
       * never point at rows that are not. Only this thread writes the
       * journal while it syncs. */
      started = g_get_monotonic_time ();
      if (self->check == NULL || self->check (self->check_data, &check_error))
        {
          if (fdatasync (self->data_fd) != 0)
            saved = errno;
          else
            rows_synced = TRUE;
        }
      if (rows_synced &&
          !lottery_fd_write_all (self->journal_fd, held->data, held->len,
                                 &saved))
        /* Only this thread writes the journal: cut what went half way. */
        no_space = is_no_space (saved) &&
                   ftruncate (self->journal_fd, (off_t) self->synced) == 0;
      else if (rows_synced && fdatasync (self->journal_fd) != 0)
        saved = errno;
      lottery_metrics_observe_sync (lottery_metrics_get_default (),
                                    g_get_monotonic_time () - started);

      g_mutex_lock (&self->lock);
      self->syncing = FALSE;
      self->syncs++;
      if (no_space)
        {
          /* Back in front of what was held since, in order. */
          g_byte_array_prepend (self->held, held->data, held->len);
          g_byte_array_unref (held);
          g_cond_broadcast (&self->synced_cond);
          if (saved == EFBIG)
            return lottery_fail_errno (error, LOTTERY_STORE_ERROR,
                                       LOTTERY_STORE_ERROR_NO_SPACE, saved,
                                       N_("Cannot write journal of %s (try "
                                          "again): "), self->path);
          return lottery_store_fail (error, LOTTERY_STORE_ERROR_NO_SPACE,
                                     N_("No space left on the server’s disk "
                                        "for %s; try again"), self->path);
        }
      g_byte_array_unref (held);
      if (check_error != NULL || saved != 0)
        {
          /* After a failed fdatasync () the kernel may have dropped the
           * pages: nothing written since the last good sync can be
           * vouched for. Only a restart (and its recovery) may go on. */
          self->broken = TRUE;
          if (check_error == NULL)
            lottery_fail_errno (&check_error, LOTTERY_STORE_ERROR,
                                LOTTERY_STORE_ERROR_BROKEN, saved,
                                N_("Cannot sync %s: "), self->path);
          {
            g_autofree char *reason = lottery_log_error_value (check_error);

            lottery_log (LOTTERY_LOG_ERROR, "storage", "fail",
                         "file: %s | synced: %s | error: %s", self->path,
                         rows_synced ? "rows" : "no",
                         reason);
          }
          self->broken_error = g_steal_pointer (&check_error);
        }
      else
        self->synced = goal;
      g_cond_broadcast (&self->synced_cond);
    }

  return TRUE;
}

/* Blocks until everything held up to @ticket is on disk. */
gboolean
lottery_syncer_sync (LotterySyncer *self,
                     guint64        ticket,
                     GError       **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return sync_locked (self, ticket, error);
}

static gpointer
syncer_thread (gpointer user_data)
{
  LotterySyncer *self = user_data;

  g_mutex_lock (&self->lock);
  for (;;)
    {
      g_autoptr(GError) round_error = NULL;
      GQueue done = G_QUEUE_INIT;
      guint64 goal = 0, synced;
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
      sync_locked (self, goal, &round_error);
      synced = self->synced;
      g_mutex_unlock (&self->lock);

      /* What was on disk before a failed round still is. */
      while ((task = g_queue_pop_head (&done)) != NULL)
        {
          if (*(guint64 *) g_task_get_task_data (task) <= synced)
            g_task_return_boolean (task, TRUE);
          else
            g_task_return_error (task, g_error_copy (round_error));
          g_object_unref (task);
        }

      g_mutex_lock (&self->lock);
    }
  g_mutex_unlock (&self->lock);

  return NULL;
}

/* Like lottery_syncer_sync (), without blocking: the task (of
 * @source_object) completes on the syncer thread's next round, in the
 * order requests were made. Once closed, only what is already on disk
 * can be vouched for. */
void
lottery_syncer_sync_async (LotterySyncer       *self,
                           gpointer             source_object,
                           gpointer             source_tag,
                           guint64              ticket,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (source_object, cancellable, callback,
                                      user_data);
  g_autoptr(GMutexLocker) locker = NULL;

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, g_memdup2 (&ticket, sizeof ticket), g_free);

  locker = g_mutex_locker_new (&self->lock);
  if (!self->stopping)
    {
      g_queue_push_tail (&self->requests, g_steal_pointer (&task));
      g_cond_signal (&self->requests_cond);
      return;
    }
  if (ticket > self->synced)
    {
      g_clear_pointer (&locker, g_mutex_locker_free);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               _("Storage %s is closed"), self->path);
      return;
    }
  g_clear_pointer (&locker, g_mutex_locker_free);
  g_task_return_boolean (task, TRUE);
}

guint64
lottery_syncer_get_count (LotterySyncer *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->syncs;
}

/* Answers every request made so far, syncs what is still held up to
 * @ticket, waits for a blocking sync in flight, and gives the
 * descriptors back: later syncs fail. */
gboolean
lottery_syncer_close (LotterySyncer *self,
                      guint64        ticket,
                      GError       **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  gboolean ok = TRUE;

  stop_thread (self);

  locker = g_mutex_locker_new (&self->lock);
  if (!self->closed && !sync_locked (self, ticket, error))
    ok = FALSE;
  while (self->syncing)
    g_cond_wait (&self->synced_cond, &self->lock);
  self->closed = TRUE;

  return ok;
}
