/* lottery-pg-store.c: LotteryPgStore, the lottery's bets in PostgreSQL,
 * shared by every server started with the same storage.dsn and
 * lottery.name.
 *
 * Threads: recover () runs on the caller's thread and then hands its
 * connection to the `lottery-db` thread, which alone writes: it takes
 * the queued jobs in order (append () only queues groups, bounded, so no
 * batch worker waits on the network; claim_async () and release () queue
 * leases behind them), stores the groups in one transaction per round,
 * completes the sync requests after COMMIT, and renews the leases. When
 * the database cannot be reached it fails what is queued as
 * `unavailable`, connects again with a growing pause, and logs the
 * outage once. The `lottery-listen` thread (lottery-pg-listener.c)
 * learns of the draw. load_bets () and draw () (lottery-pg-read.c) open
 * a connection of their own on the calling worker. `lock` guards the
 * queue, the tickets, the sync requests and their outcomes, and the
 * agencies whose groups failed (`poisoned`); it is never held while the
 * database is talked to. `conn`, `down` and the pauses are the database thread's.
 *
 * Schema (one version table, everything under a named lottery): see
 * docs/storage.md. The database calls and the schema are in
 * lottery-pg-db.c, the writer's round in lottery-pg-round.c.
 */
#include "config.h"

#include "lottery-pg-store.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-pg-store-private.h"
#include "lottery-pg-db.h"
#include "lottery-pg-lease.h"
#include "lottery-pg-listener.h"

#include <glib/gi18n-lib.h>
#include <string.h>
#include <unistd.h>


static void lottery_pg_store_iface_init (LotteryStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LotteryPgStore, lottery_pg_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LOTTERY_TYPE_STORE,
                                                      lottery_pg_store_iface_init))

static void
lottery_pg_store_finalize (GObject *object)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (object);

  lottery_store_close (LOTTERY_STORE (self), NULL);
  g_queue_clear_full (&self->queue, (GDestroyNotify) lottery_pg_group_free);
  g_hash_table_unref (self->failed);
  g_hash_table_unref (self->poisoned);
  g_hash_table_unref (self->held);
  g_hash_table_unref (self->unreleased);
  g_clear_error (&self->error);
  g_free (self->holder);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->queue_cond);
  g_cond_clear (&self->space_cond);
  g_free (self->dsn);
  g_free (self->name);
  g_free (self->location);

  G_OBJECT_CLASS (lottery_pg_store_parent_class)->finalize (object);
}

static void
lottery_pg_store_class_init (LotteryPgStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_pg_store_finalize;
}

static void
lottery_pg_store_init (LotteryPgStore *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->queue_cond);
  g_cond_init (&self->space_cond);
  g_queue_init (&self->queue);
  g_queue_init (&self->requests);
  self->failed = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                        (GDestroyNotify) g_error_free);
  self->poisoned = g_hash_table_new (NULL, NULL);
  self->held = g_hash_table_new (NULL, NULL);
  self->unreleased = g_hash_table_new (NULL, NULL);
}

/* The DSN without its password, for logs and messages. */
char *
lottery_pg_store_redact_dsn (const char *dsn)
{
  PQconninfoOption *options = PQconninfoParse (dsn, NULL);
  GString *out;

  /* A bare word is a database's name, as libpq takes it. */
  if (options == NULL && strpbrk (dsn, "= ") == NULL && strstr (dsn, "://") == NULL)
    return g_strdup_printf ("dbname=%s", dsn);
  if (options == NULL)
    return g_strdup (_("(unparsable connection string)"));

  out = g_string_new (NULL);
  for (PQconninfoOption *o = options; o->keyword != NULL; o++)
    {
      if (o->val == NULL || o->val[0] == '\0' ||
          strcmp (o->keyword, "password") == 0)
        continue;
      g_string_append_printf (out, "%s%s=%s", out->len > 0 ? " " : "",
                              o->keyword, o->val);
    }
  PQconninfoFree (options);

  return g_string_free (out, FALSE);
}


/* What the listener's thread holds of the store: never a strong
 * reference, which could make it the thread that finalizes the store. */
struct _LotteryPgLink
{
  GWeakRef      store;
  GMainContext *context; /* recover ()'s: where the signals are emitted */
};

static void
link_clear (gpointer data)
{
  LotteryPgLink *link = data;

  g_weak_ref_clear (&link->store);
  g_main_context_unref (link->context);
}

/* Something for the main context: the signal to emit and its view. */
typedef struct
{
  LotteryPgLink      *link;  /* (owned) */
  LotteryStoreAgency *view;  /* (owned) (nullable): NULL for ::drawn */
  guint               n_agencies;
} Delivery;

static void
delivery_free (gpointer data)
{
  Delivery *delivery = data;

  g_atomic_rc_box_release_full (delivery->link, link_clear);
  g_free (delivery->view);
  g_free (delivery);
}

static gboolean
deliver (gpointer data)
{
  Delivery *delivery = data;
  g_autoptr(GObject) self = g_weak_ref_get (&delivery->link->store);

  if (self == NULL)
    return G_SOURCE_REMOVE;
  if (delivery->view == NULL)
    g_signal_emit_by_name (self, "drawn");
  else
    g_signal_emit_by_name (self, "agencies-read", delivery->view,
                           delivery->n_agencies);

  return G_SOURCE_REMOVE;
}

/* From the listener's thread to the main context, always through a
 * source of its own (g_main_context_invoke () would run it here when
 * the context is free, off the main thread). */
static void
send_to_main (LotteryPgLink      *link,
              LotteryStoreAgency *view,
              guint               n_agencies)
{
  Delivery *delivery = g_new0 (Delivery, 1);
  GSource *source = g_idle_source_new ();

  delivery->link = g_atomic_rc_box_acquire (link);
  delivery->view = view;
  delivery->n_agencies = n_agencies;
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver, delivery, delivery_free);
  g_source_set_static_name (source, "lottery-pg-listener");
  g_source_attach (source, link->context);
  g_source_unref (source);
}

static void
drawn_read (gpointer user_data)
{
  send_to_main (user_data, NULL, 0);
}

static void
view_read (LotteryStoreAgency *view,
           guint               n_agencies,
           gpointer            user_data)
{
  send_to_main (user_data, view, n_agencies);
}

static gboolean
lottery_pg_store_recover (LotteryStore           *store,
                          LotteryStoreRecordFunc  func,
                          gpointer                user_data,
                          GCancellable           *cancellable,
                          GError                **error)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  PGconn *conn;

  g_return_val_if_fail (self->conn == NULL, FALSE);

  conn = lottery_pg_connect (self->dsn, self->location, error);
  if (conn == NULL)
    return FALSE;
  if (!lottery_pg_migrate (conn, self->name, self->agencies, self->location,
                           &self->lottery_id, error) ||
      (func != NULL && !lottery_pg_replay (conn, self->lottery_id, func,
                                           user_data, error)))
    {
      PQfinish (conn);
      return FALSE;
    }

  {
    g_autofree char *where = lottery_log_value (self->location);

    lottery_log (G_LOG_LEVEL_INFO, "database", "success",
                 "dsn: %s | schema_version: %d", where,
                 LOTTERY_PG_SCHEMA_VERSION);
  }
  self->conn = conn;
  self->renew_at = g_get_monotonic_time () + LOTTERY_PG_LEASE_RENEW_USEC;
  self->thread = g_thread_new ("lottery-db", lottery_pg_writer_thread,
                               self);
  self->link = g_atomic_rc_box_new0 (LotteryPgLink);
  g_weak_ref_init (&self->link->store, self);
  self->link->context = g_main_context_ref (context);
  self->listener = lottery_pg_listener_start (self->dsn, self->lottery_id,
                                              self->agencies, drawn_read,
                                              view_read, self->link);

  return TRUE;
}

/* What append (), a claim and an unsettled sync get once the store is
 * closing or closed. */
static GError *
closed_error (LotteryPgStore *self)
{
  return lottery_error_new (LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CLOSED,
                            N_("The database store %s is closed"),
                            self->location);
}

/* Under the lock: the requests at the front that are settled, in order;
 * their tasks are returned by the caller without the lock. */
static GPtrArray *
take_settled_locked (LotteryPgStore *self)
{
  GPtrArray *settled = g_ptr_array_new ();
  SyncRequest *request;

  while ((request = g_queue_peek_head (&self->requests)) != NULL &&
         (request->ticket <= self->decided || self->closed))
    g_ptr_array_add (settled, g_queue_pop_head (&self->requests));

  return settled;
}

static void
return_settled (LotteryPgStore *self,
                GPtrArray      *settled);

/* Completes, in order, the sync requests that are settled. Any thread;
 * not under the lock. */
void
lottery_pg_store_settle (LotteryPgStore *self)
{
  GPtrArray *settled;

  g_mutex_lock (&self->lock);
  settled = take_settled_locked (self);
  g_mutex_unlock (&self->lock);
  return_settled (self, settled);
}

static void
return_settled (LotteryPgStore *self,
                GPtrArray      *settled)
{
  for (guint i = 0; i < settled->len; i++)
    {
      SyncRequest *request = g_ptr_array_index (settled, i);
      gint64 ticket = (gint64) request->ticket;
      gpointer key = NULL, value = NULL;
      GError *error = NULL;

      g_mutex_lock (&self->lock);
      if (g_hash_table_steal_extended (self->failed, &ticket, &key, &value))
        {
          g_free (key);
          error = value;
        }
      else if (request->ticket > self->decided)
        error = closed_error (self);
      g_mutex_unlock (&self->lock);

      if (error != NULL)
        g_task_return_error (request->task, error);
      else
        g_task_return_boolean (request->task, TRUE);
      g_object_unref (request->task);
      g_free (request);
    }
  g_ptr_array_unref (settled);
}


/* Under the lock: queues @job for the database thread. */
static void
push_job_locked (LotteryPgStore *self,
                 LotteryPgGroup *job)
{
  g_queue_push_tail (&self->queue, job);
  g_cond_signal (&self->queue_cond);
}

static gboolean
lottery_pg_store_append (LotteryStore       *store,
                         const char         *rows,
                         LotteryStoreRecord *records,
                         guint               n_records,
                         guint64            *ticket,
                         GError            **error)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  LotteryPgGroup *group;
  gboolean may_wait;
  gsize len = 0;

  for (guint i = 0; i < n_records; i++)
    if (records[i].type == LOTTERY_STORE_RECORD_BATCH)
      len += records[i].end;

  /* Batch workers wait for room; the main thread (a FINISH, one record)
   * never waits on the database. */
  may_wait = self->link == NULL ||
             !g_main_context_is_owner (self->link->context);
  g_mutex_lock (&self->lock);
  while (may_wait && g_queue_get_length (&self->queue) >= QUEUE_MAX &&
         !self->stopping)
    g_cond_wait (&self->space_cond, &self->lock);
  if (self->closed || self->stopping || self->thread == NULL)
    {
      g_mutex_unlock (&self->lock);
      g_propagate_error (error, closed_error (self));
      return FALSE;
    }

  group = g_new0 (LotteryPgGroup, 1);
  group->kind = LOTTERY_PG_JOB_GROUP;
  group->rows = g_strndup (rows != NULL ? rows : "", len);
  group->records = g_memdup2 (records, sizeof *records * n_records);
  group->n_records = n_records;
  group->ticket = ++self->next_ticket;
  if (ticket != NULL)
    *ticket = group->ticket;
  push_job_locked (self, group);
  g_mutex_unlock (&self->lock);

  return TRUE;
}

/* Queues a lease job; FALSE once the store is closing. */
static gboolean
queue_lease (LotteryPgStore   *self,
             LotteryPgJobKind  kind,
             guint             agency,
             GTask            *task)
{
  LotteryPgGroup *job;

  g_mutex_lock (&self->lock);
  if (self->closed || self->stopping || self->thread == NULL)
    {
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  job = g_new0 (LotteryPgGroup, 1);
  job->kind = kind;
  job->agency = agency;
  job->task = task != NULL ? g_object_ref (task) : NULL;
  push_job_locked (self, job);
  g_mutex_unlock (&self->lock);

  return TRUE;
}

static void
lottery_pg_store_claim_async (LotteryStore        *store,
                              guint                agency,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, lottery_pg_store_claim_async);
  if (!queue_lease (self, LOTTERY_PG_JOB_CLAIM, agency, task))
    g_task_return_error (task, closed_error (self));
}

static gboolean
lottery_pg_store_claim_finish (LotteryStore        *store,
                               GAsyncResult        *result,
                               LotteryStoreAgency  *position,
                               GError             **error)
{
  g_autofree LotteryStoreAgency *read = NULL;

  g_return_val_if_fail (g_task_is_valid (result, store), FALSE);

  read = g_task_propagate_pointer (G_TASK (result), error);
  if (read == NULL)
    return FALSE;
  *position = *read;

  return TRUE;
}

static void
lottery_pg_store_release (LotteryStore *store,
                          guint         agency)
{
  queue_lease (LOTTERY_PG_STORE (store), LOTTERY_PG_JOB_RELEASE, agency, NULL);
}

static void
lottery_pg_store_sync_async (LotteryStore        *store,
                             guint64              ticket,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  SyncRequest *request = g_new0 (SyncRequest, 1);
  GPtrArray *settled;

  request->task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (request->task, lottery_pg_store_sync_async);
  request->ticket = ticket;

  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->requests, request);
  settled = take_settled_locked (self);
  g_mutex_unlock (&self->lock);
  return_settled (self, settled);
}

static gboolean
lottery_pg_store_sync_finish (LotteryStore  *store,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, store), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static const char *
lottery_pg_store_get_location (LotteryStore *store)
{
  return LOTTERY_PG_STORE (store)->location;
}

static guint64
lottery_pg_store_get_sync_count (LotteryStore *store)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  guint64 count;

  g_mutex_lock (&self->lock);
  count = self->sync_count;
  g_mutex_unlock (&self->lock);

  return count;
}

/* Stores what is queued, stops the database thread and disconnects. */
static gboolean
lottery_pg_store_close (LotteryStore *store,
                        GError      **error)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  GPtrArray *settled;
  gboolean ok;

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_broadcast (&self->queue_cond);
  g_cond_broadcast (&self->space_cond);
  g_mutex_unlock (&self->lock);

  if (self->thread != NULL)
    g_thread_join (g_steal_pointer (&self->thread));
  g_clear_pointer (&self->listener, lottery_pg_listener_stop);
  if (self->link != NULL)
    g_atomic_rc_box_release_full (g_steal_pointer (&self->link), link_clear);
  g_clear_pointer (&self->conn, PQfinish);

  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  ok = self->error == NULL;
  if (!ok)
    g_propagate_error (error, g_error_copy (self->error));
  settled = take_settled_locked (self);
  g_mutex_unlock (&self->lock);
  return_settled (self, settled);

  return ok;
}

static void
lottery_pg_store_iface_init (LotteryStoreInterface *iface)
{
  iface->recover = lottery_pg_store_recover;
  iface->append = lottery_pg_store_append;
  iface->sync_async = lottery_pg_store_sync_async;
  iface->sync_finish = lottery_pg_store_sync_finish;
  iface->load_bets = lottery_pg_store_load_bets;
  iface->draw = lottery_pg_store_draw;
  iface->get_location = lottery_pg_store_get_location;
  iface->get_sync_count = lottery_pg_store_get_sync_count;
  iface->close = lottery_pg_store_close;
  iface->claim_async = lottery_pg_store_claim_async;
  iface->claim_finish = lottery_pg_store_claim_finish;
  iface->release = lottery_pg_store_release;
}

/**
 * lottery_pg_store_new:
 * @dsn: a libpq connection string
 * @lottery_name: which lottery of the database (lottery.name)
 * @agencies: lottery.agencies, checked against the lottery's
 *
 * Nothing is connected until lottery_store_recover ().
 */
LotteryStore *
lottery_pg_store_new (const char *dsn,
                      const char *lottery_name,
                      guint       agencies)
{
  LotteryPgStore *self;
  g_autofree char *redacted = NULL;

  g_return_val_if_fail (dsn != NULL, NULL);
  g_return_val_if_fail (lottery_name != NULL, NULL);

  self = g_object_new (LOTTERY_TYPE_PG_STORE, NULL);
  self->dsn = g_strdup (dsn);
  self->name = g_strdup (lottery_name);
  self->agencies = agencies;
  self->holder = g_strdup_printf ("%s/%d/%08x", g_get_host_name (),
                                  (int) getpid (), g_random_int ());
  redacted = lottery_pg_store_redact_dsn (dsn);
  self->location = g_strdup_printf ("postgresql:%s (lottery %s)", redacted,
                                    lottery_name);

  return LOTTERY_STORE (self);
}
