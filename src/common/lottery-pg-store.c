/* lottery-pg-store.c: LotteryPgStore, the lottery's bets in PostgreSQL.
 *
 * Threads: recover () runs on the caller's thread and then hands its
 * connection to the `lottery-db` thread, which alone writes: it takes
 * the queued groups (append () only queues them, bounded, so no batch
 * worker waits on the network), stores them in one transaction per
 * round, and completes the sync requests after COMMIT. load_bets () opens
 * a connection of its own on the calling worker. `lock` guards the
 * queue, the tickets, the sync requests and `error`; it is never held
 * while the database is talked to.
 *
 * Schema (one version table, everything under a named lottery): see
 * docs/storage.md. The database calls and the schema are in
 * lottery-pg-db.c, the writer's round in lottery-pg-round.c.
 */
#include "config.h"

#include "lottery-pg-store.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-pg-db.h"
#include "lottery-pg-round.h"

#include <glib/gi18n-lib.h>
#include <string.h>

/* Groups queued for the database thread before append () waits. */
#define QUEUE_MAX 256
/* Groups stored in one transaction at most. */
#define ROUND_MAX 64

typedef struct
{
  GTask   *task;
  guint64  ticket;
} SyncRequest;

struct _LotteryPgStore
{
  GObject   parent_instance;

  char     *dsn;
  char     *name;
  char     *location;
  guint     agencies;
  gint64    lottery_id;
  PGconn   *conn;      /* the database thread's, once started */
  GThread  *thread;

  GMutex    lock;
  GCond     queue_cond;
  GCond     space_cond;
  GQueue    queue;     /* LotteryPgGroup */
  GQueue    requests;  /* SyncRequest, in the order made */
  guint64   next_ticket;
  guint64   committed; /* every group up to here is committed */
  guint64   sync_count;
  GError   *error;     /* a failed round: nothing more is taken */
  gboolean  stopping;
  gboolean  closed;
};

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
  g_clear_error (&self->error);
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
}

/* The DSN without its password, for logs and messages. */
char *
lottery_pg_store_redact_dsn (const char *dsn)
{
  PQconninfoOption *options = PQconninfoParse (dsn, NULL);
  GString *out;

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

static gpointer db_thread (gpointer data);

static gboolean
lottery_pg_store_recover (LotteryStore           *store,
                          LotteryStoreRecordFunc  func,
                          gpointer                user_data,
                          GCancellable           *cancellable,
                          GError                **error)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
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
  self->thread = g_thread_new ("lottery-db", db_thread, self);

  return TRUE;
}

/* Under the lock: the requests at the front that are settled, in order;
 * their tasks are returned by the caller without the lock. */
static GPtrArray *
take_settled_locked (LotteryPgStore *self)
{
  GPtrArray *settled = g_ptr_array_new ();
  SyncRequest *request;

  while ((request = g_queue_peek_head (&self->requests)) != NULL &&
         (request->ticket <= self->committed || self->error != NULL ||
          self->closed))
    g_ptr_array_add (settled, g_queue_pop_head (&self->requests));

  return settled;
}

static void
return_settled (LotteryPgStore *self,
                GPtrArray      *settled)
{
  for (guint i = 0; i < settled->len; i++)
    {
      SyncRequest *request = g_ptr_array_index (settled, i);
      GError *error = NULL;

      g_mutex_lock (&self->lock);
      if (request->ticket > self->committed)
        error = self->error != NULL
                  ? g_error_copy (self->error)
                  : lottery_error_new (LOTTERY_STORE_ERROR,
                                       LOTTERY_STORE_ERROR_CLOSED,
                                       N_("The database store %s is closed"),
                                       self->location);
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

static gpointer
db_thread (gpointer data)
{
  LotteryPgStore *self = data;

  for (;;)
    {
      g_autoptr(GPtrArray) round =
        g_ptr_array_new_with_free_func ((GDestroyNotify) lottery_pg_group_free);
      g_autoptr(GError) error = NULL;
      guint64 last;

      g_mutex_lock (&self->lock);
      while (g_queue_is_empty (&self->queue) && !self->stopping)
        g_cond_wait (&self->queue_cond, &self->lock);
      if (g_queue_is_empty (&self->queue))
        {
          g_mutex_unlock (&self->lock);
          break;
        }
      while (round->len < ROUND_MAX && !g_queue_is_empty (&self->queue))
        g_ptr_array_add (round, g_queue_pop_head (&self->queue));
      g_cond_broadcast (&self->space_cond);
      last = ((LotteryPgGroup *) g_ptr_array_index (round,
                                                    round->len - 1))->ticket;
      if (self->error != NULL)
        {
          g_mutex_unlock (&self->lock);
          continue;
        }
      g_mutex_unlock (&self->lock);

      if (lottery_pg_round_store (self->conn, self->lottery_id, round,
                                  &error))
        {
          g_mutex_lock (&self->lock);
          self->committed = last;
          self->sync_count++;
        }
      else
        {
          g_autofree char *message = lottery_log_error_value (error);

          g_autofree char *where = lottery_log_value (self->location);

          lottery_log (LOTTERY_LOG_ERROR, "database", "fail", "dsn: %s | "
                       "error: %s", where, message);
          g_mutex_lock (&self->lock);
          /* As the file store after a failed sync: what the state
           * counted was not stored, so nothing more is taken until a
           * restart replays what the database holds. */
          if (self->error == NULL)
            lottery_fail_as (&self->error, LOTTERY_STORE_ERROR,
                             LOTTERY_STORE_ERROR_BROKEN, error);
        }
      {
        GPtrArray *settled = take_settled_locked (self);

        g_mutex_unlock (&self->lock);
        return_settled (self, settled);
      }
    }

  return NULL;
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
  gsize len = 0;

  for (guint i = 0; i < n_records; i++)
    if (records[i].type == LOTTERY_STORE_RECORD_BATCH)
      len += records[i].end;

  g_mutex_lock (&self->lock);
  while (g_queue_get_length (&self->queue) >= QUEUE_MAX && !self->stopping &&
         self->error == NULL)
    g_cond_wait (&self->space_cond, &self->lock);
  if (self->closed || self->stopping || self->thread == NULL)
    {
      g_mutex_unlock (&self->lock);
      return lottery_store_fail (error, LOTTERY_STORE_ERROR_CLOSED,
                                 N_("The database store %s is closed"),
                                 self->location);
    }
  if (self->error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->error));
      g_mutex_unlock (&self->lock);
      return FALSE;
    }

  group = g_new0 (LotteryPgGroup, 1);
  group->rows = g_strndup (rows != NULL ? rows : "", len);
  group->records = g_memdup2 (records, sizeof *records * n_records);
  group->n_records = n_records;
  group->ticket = ++self->next_ticket;
  g_queue_push_tail (&self->queue, group);
  g_cond_signal (&self->queue_cond);
  g_mutex_unlock (&self->lock);

  if (ticket != NULL)
    *ticket = group->ticket;

  return TRUE;
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

static gboolean
copy_field (char       *out,
            gsize       size,
            guint8     *out_len,
            const char *value)
{
  gsize len = strlen (value);

  if (len >= size)
    return FALSE;
  memcpy (out, value, len + 1);
  if (out_len != NULL)
    *out_len = (guint8) len;

  return TRUE;
}

static gboolean
lottery_pg_store_load_bets (LotteryStore  *store,
                            gboolean       winners_only,
                            LotteryBetFunc func,
                            gpointer       user_data,
                            GCancellable  *cancellable,
                            GError       **error)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  g_autofree char *sql = NULL;
  PGresult *result;
  PGconn *conn;
  gboolean go_on = TRUE;
  gboolean ok = TRUE;

  conn = lottery_pg_connect (self->dsn, self->location, error);
  if (conn == NULL)
    return FALSE;

  sql = g_strdup_printf ("SELECT agency, first_name, last_name, document, "
                         "birthdate, number FROM lottery_bet WHERE lottery = "
                         "%" G_GINT64_FORMAT "%s ORDER BY id", self->lottery_id,
                         winners_only ? " AND number = "
                                        G_STRINGIFY (LOTTERY_WINNING_NUMBER)
                                      : "");
  if (!PQsendQuery (conn, sql) || !PQsetSingleRowMode (conn))
    {
      lottery_pg_fail (conn, error, LOTTERY_STORE_ERROR_IO,
                       _("Cannot read the bets"));
      PQfinish (conn);
      return FALSE;
    }

  while ((result = PQgetResult (conn)) != NULL)
    {
      if (PQresultStatus (result) == PGRES_SINGLE_TUPLE && go_on && ok)
        {
          LotteryBet bet = { 0, };

          bet.agency = (guint32) atol (PQgetvalue (result, 0, 0));
          bet.number = (guint32) atol (PQgetvalue (result, 0, 5));
          if (!copy_field (bet.first_name, sizeof bet.first_name,
                           &bet.first_name_len, PQgetvalue (result, 0, 1)) ||
              !copy_field (bet.last_name, sizeof bet.last_name,
                           &bet.last_name_len, PQgetvalue (result, 0, 2)) ||
              !copy_field (bet.document, sizeof bet.document,
                           &bet.document_len, PQgetvalue (result, 0, 3)) ||
              !copy_field (bet.birthdate, sizeof bet.birthdate, NULL,
                           PQgetvalue (result, 0, 4)))
            ok = lottery_store_fail (error, LOTTERY_STORE_ERROR_CORRUPT,
                                     N_("A bet of agency %u in %s has a field "
                                       "too long"), bet.agency,
                                     self->location);
          else
            go_on = func (&bet, user_data) &&
                    !g_cancellable_is_cancelled (cancellable);
        }
      else if (PQresultStatus (result) != PGRES_SINGLE_TUPLE &&
               PQresultStatus (result) != PGRES_TUPLES_OK && ok)
        ok = lottery_pg_fail (conn, error, LOTTERY_STORE_ERROR_IO,
                              _("Cannot read the bets"));
      PQclear (result);
    }
  PQfinish (conn);

  return ok && !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* The draw, once: the first call writes the winners and the time drawn
 * in one transaction (the lottery's row locked, so two draws at once
 * wait for each other and the second finds it done); every call reads
 * the winners written. */
static GPtrArray *
lottery_pg_store_draw (LotteryStore *store,
                       guint         n_agencies,
                       GCancellable *cancellable,
                       GError      **error)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (store);
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT,
                                              self->lottery_id);
  const char *params[1] = { lottery };
  g_autoptr(GPtrArray) winners = NULL;
  PGresult *result;
  PGconn *conn;
  gboolean undrawn;

  conn = lottery_pg_connect (self->dsn, self->location, error);
  if (conn == NULL)
    return NULL;

  if (!lottery_pg_exec (conn, "BEGIN", error) ||
      (result = lottery_pg_query (conn, "SELECT drawn IS NULL FROM lottery "
                                        "WHERE id = $1 FOR UPDATE",
                                  1, params, error)) == NULL)
    goto fail;
  undrawn = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  if (undrawn &&
      !(lottery_pg_command (conn, "INSERT INTO lottery_winner (lottery, bet, "
                                  "agency, document) SELECT lottery, id, "
                                  "agency, document FROM lottery_bet "
                                  "WHERE lottery = $1 AND number = "
                                  G_STRINGIFY (LOTTERY_WINNING_NUMBER),
                            1, params, error) &&
        lottery_pg_command (conn, "UPDATE lottery SET drawn = now() "
                                  "WHERE id = $1", 1, params, error)))
    goto fail;
  if (!lottery_pg_exec (conn, "COMMIT", error))
    goto fail;

  result = lottery_pg_query (conn, "SELECT agency, document FROM "
                                   "lottery_winner WHERE lottery = $1 "
                                   "ORDER BY bet", 1, params, error);
  if (result == NULL)
    goto fail;
  winners = g_ptr_array_new_full (n_agencies, (GDestroyNotify) g_ptr_array_unref);
  for (guint i = 0; i < n_agencies; i++)
    g_ptr_array_add (winners, g_ptr_array_new_with_free_func (g_free));
  for (int row = 0; row < PQntuples (result); row++)
    {
      guint agency = (guint) atol (PQgetvalue (result, row, 0));

      if (agency >= 1 && agency <= n_agencies)
        g_ptr_array_add (g_ptr_array_index (winners, agency - 1),
                         g_strdup (PQgetvalue (result, row, 1)));
    }
  PQclear (result);
  PQfinish (conn);

  return g_steal_pointer (&winners);

fail:
  PQclear (PQexec (conn, "ROLLBACK"));
  PQfinish (conn);
  return NULL;
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
  redacted = lottery_pg_store_redact_dsn (dsn);
  self->location = g_strdup_printf ("postgresql:%s (lottery %s)", redacted,
                                    lottery_name);

  return LOTTERY_STORE (self);
}
