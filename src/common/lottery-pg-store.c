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
 * docs/storage.md.
 */
#include "config.h"

#include "lottery-pg-store.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <glib/gi18n-lib.h>
#include <libpq-fe.h>
#include <string.h>

/* Groups queued for the database thread before append () waits. */
#define QUEUE_MAX 256
/* Groups stored in one transaction at most. */
#define ROUND_MAX 64

typedef struct
{
  guint64             ticket;
  char               *rows;
  LotteryStoreRecord *records;
  guint               n_records;
} Group;

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
  GQueue    queue;     /* Group */
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
group_free (Group *group)
{
  g_free (group->rows);
  g_free (group->records);
  g_free (group);
}

static void
lottery_pg_store_finalize (GObject *object)
{
  LotteryPgStore *self = LOTTERY_PG_STORE (object);

  lottery_store_close (LOTTERY_STORE (self), NULL);
  g_queue_clear_full (&self->queue, (GDestroyNotify) group_free);
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

/* libpq's messages end with a line end; ours do not. */
static char *
pg_message (const char *message)
{
  return g_strstrip (g_strdup (message != NULL ? message : ""));
}

static gboolean
fail_pg (PGconn     *conn,
         GError    **error,
         int         code,
         const char *what)
{
  g_autofree char *message = pg_message (PQerrorMessage (conn));

  return lottery_store_fail (error, code, "%s: %s", what, message);
}

/* Runs @sql (no parameters, any number of statements); FALSE with
 * @error unless it succeeded. */
static gboolean
exec_ok (PGconn     *conn,
         const char *sql,
         GError    **error)
{
  PGresult *result = PQexec (conn, sql);
  ExecStatusType status = PQresultStatus (result);
  gboolean ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;

  if (!ok)
    {
      g_autofree char *message = pg_message (PQresultErrorMessage (result));

      lottery_store_fail (error, PQstatus (conn) == CONNECTION_OK
                                   ? LOTTERY_STORE_ERROR_IO
                                   : LOTTERY_STORE_ERROR_UNAVAILABLE,
                          N_("The database refused “%.60s…”: %s"), sql,
                          message);
    }
  PQclear (result);

  return ok;
}

/* One row of one column, or NULL with @error. */
static PGresult *
query (PGconn      *conn,
       const char  *sql,
       int          n_params,
       const char **params,
       GError     **error)
{
  PGresult *result = PQexecParams (conn, sql, n_params, NULL, params, NULL,
                                   NULL, 0);

  if (PQresultStatus (result) != PGRES_TUPLES_OK &&
      PQresultStatus (result) != PGRES_COMMAND_OK)
    {
      g_autofree char *message = pg_message (PQresultErrorMessage (result));

      lottery_store_fail (error, PQstatus (conn) == CONNECTION_OK
                                   ? LOTTERY_STORE_ERROR_IO
                                   : LOTTERY_STORE_ERROR_UNAVAILABLE,
                          N_("The database refused a query: %s"), message);
      PQclear (result);
      return NULL;
    }

  return result;
}

/* The server's notices are not the lottery's log. */
static void
ignore_notice (void       *arg,
               const char *message)
{
}

/* query () of a statement whose result is not needed. */
static gboolean
command (PGconn      *conn,
         const char  *sql,
         int          n_params,
         const char **params,
         GError     **error)
{
  PGresult *result = query (conn, sql, n_params, params, error);

  PQclear (result);

  return result != NULL;
}

static PGconn *
connect_db (LotteryPgStore *self,
            GError        **error)
{
  PGconn *conn = PQconnectdb (self->dsn);

  PQsetNoticeProcessor (conn, ignore_notice, NULL);

  if (PQstatus (conn) != CONNECTION_OK)
    {
      g_autofree char *message = pg_message (PQerrorMessage (conn));

      lottery_store_fail (error, LOTTERY_STORE_ERROR_UNAVAILABLE,
                          N_("Cannot connect to the database (storage.dsn "
                            "%s): %s"), self->location, message);
      PQfinish (conn);
      return NULL;
    }

  return conn;
}

static const char schema_v1[] =
  "CREATE TABLE lottery ("
  "  id serial PRIMARY KEY, name text NOT NULL UNIQUE,"
  "  agencies integer NOT NULL, created timestamptz NOT NULL DEFAULT now(),"
  "  drawn timestamptz);"
  "CREATE TABLE lottery_agency ("
  "  lottery integer NOT NULL REFERENCES lottery, agency integer NOT NULL,"
  "  last_batch integer NOT NULL DEFAULT 0,"
  "  bets_stored bigint NOT NULL DEFAULT 0,"
  "  bets_claimed bigint NOT NULL DEFAULT 0,"
  "  finished boolean NOT NULL DEFAULT false,"
  "  lease_holder text, lease_expires timestamptz,"
  "  PRIMARY KEY (lottery, agency));"
  "CREATE TABLE lottery_record ("
  "  id bigserial PRIMARY KEY, lottery integer NOT NULL REFERENCES lottery,"
  "  kind char(1) NOT NULL, agency integer NOT NULL,"
  "  sequence integer NOT NULL, stored integer NOT NULL,"
  "  claimed integer NOT NULL);"
  "CREATE TABLE lottery_bet ("
  "  id bigserial PRIMARY KEY, lottery integer NOT NULL,"
  "  agency integer NOT NULL, batch integer NOT NULL,"
  "  first_name text NOT NULL, last_name text NOT NULL,"
  "  document text NOT NULL, birthdate text NOT NULL,"
  "  number integer NOT NULL);"
  "CREATE TABLE lottery_winner ("
  "  lottery integer NOT NULL REFERENCES lottery,"
  "  bet bigint NOT NULL, agency integer NOT NULL, document text NOT NULL,"
  "  PRIMARY KEY (lottery, bet));";

/* Creates or migrates the schema and the lottery's rows, in one
 * transaction; the advisory lock keeps two servers starting together
 * from both creating it. */
static gboolean
migrate (LotteryPgStore *self,
         PGconn         *conn,
         GError        **error)
{
  g_autofree char *agencies = g_strdup_printf ("%u", self->agencies);
  const char *params[2] = { self->name, agencies };
  PGresult *result;
  int version = 0;

  if (!exec_ok (conn, "BEGIN; SELECT pg_advisory_xact_lock(7574001);"
                      "CREATE TABLE IF NOT EXISTS lottery_schema "
                      "(version integer NOT NULL)", error))
    return FALSE;
  result = query (conn, "SELECT max(version) FROM lottery_schema", 0, NULL,
                  error);
  if (result == NULL)
    goto fail;
  if (!PQgetisnull (result, 0, 0))
    version = atoi (PQgetvalue (result, 0, 0));
  PQclear (result);

  if (version > LOTTERY_PG_SCHEMA_VERSION)
    {
      lottery_store_fail (error, LOTTERY_STORE_ERROR_MISMATCH,
                          N_("The database %s has schema version %d, newer "
                            "than this lottery-server’s %d: upgrade the "
                            "server"), self->location, version,
                          LOTTERY_PG_SCHEMA_VERSION);
      goto fail;
    }
  if (version < 1 &&
      !(exec_ok (conn, schema_v1, error) &&
        exec_ok (conn, "INSERT INTO lottery_schema VALUES (1)", error)))
    goto fail;

  if (!command (conn, "INSERT INTO lottery (name, agencies) "
                      "VALUES ($1, $2::integer) ON CONFLICT (name) DO NOTHING",
                2, params, error))
    goto fail;
  result = query (conn, "SELECT id, agencies FROM lottery WHERE name = $1",
                  1, params, error);
  if (result == NULL)
    goto fail;
  self->lottery_id = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
  if ((guint) atoi (PQgetvalue (result, 0, 1)) != self->agencies)
    {
      lottery_store_fail (error, LOTTERY_STORE_ERROR_MISMATCH,
                          N_("The lottery “%s” in %s has %s agencies, but "
                            "lottery.agencies is %u"), self->name,
                          self->location, PQgetvalue (result, 0, 1),
                          self->agencies);
      PQclear (result);
      goto fail;
    }
  PQclear (result);
  if (!command (conn, "INSERT INTO lottery_agency (lottery, agency) "
                      "SELECT l.id, g FROM lottery l, "
                      "generate_series(1, l.agencies) g WHERE l.name = $1 "
                      "ON CONFLICT DO NOTHING", 1, params, error))
    goto fail;

  return exec_ok (conn, "COMMIT", error);

fail:
  PQclear (PQexec (conn, "ROLLBACK"));
  return FALSE;
}

/* Replays the records in the order stored, streamed. */
static gboolean
replay (LotteryPgStore         *self,
        PGconn                 *conn,
        LotteryStoreRecordFunc  func,
        gpointer                user_data,
        GError                **error)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT kind, agency, sequence, stored, claimed FROM lottery_record "
    "WHERE lottery = %" G_GINT64_FORMAT " ORDER BY id", self->lottery_id);
  PGresult *result;
  gboolean go_on = TRUE;
  gboolean ok = TRUE;

  if (!PQsendQuery (conn, sql) || !PQsetSingleRowMode (conn))
    return fail_pg (conn, error, LOTTERY_STORE_ERROR_UNAVAILABLE,
                    _("Cannot read the lottery’s records"));

  while ((result = PQgetResult (conn)) != NULL)
    {
      if (PQresultStatus (result) == PGRES_SINGLE_TUPLE && go_on)
        {
          LotteryStoreRecord record = { 0, };

          record.type = PQgetvalue (result, 0, 0)[0];
          record.agency = (guint32) atol (PQgetvalue (result, 0, 1));
          record.sequence = (guint32) atol (PQgetvalue (result, 0, 2));
          record.count = (guint32) atol (PQgetvalue (result, 0, 3));
          record.claimed = (guint32) atol (PQgetvalue (result, 0, 4));
          go_on = func (&record, user_data);
        }
      else if (PQresultStatus (result) != PGRES_SINGLE_TUPLE &&
               PQresultStatus (result) != PGRES_TUPLES_OK && ok)
        ok = fail_pg (conn, error, LOTTERY_STORE_ERROR_IO,
                      _("Cannot read the lottery’s records"));
      PQclear (result);
    }

  return ok;
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

  conn = connect_db (self, error);
  if (conn == NULL)
    return FALSE;
  if (!migrate (self, conn, error) ||
      (func != NULL && !replay (self, conn, func, user_data, error)))
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

/* Appends @len bytes of bets.csv rows to @data, each row prefixed with
 * @prefix (the table's own columns). A line end inside quotes belongs
 * to the field. */
static void
append_prefixed_rows (GString    *data,
                      const char *prefix,
                      const char *rows,
                      gsize       len)
{
  gboolean quoted = FALSE;
  gsize start = 0;

  for (gsize i = 0; i < len; i++)
    {
      if (rows[i] == '"')
        quoted = !quoted;
      else if (rows[i] == '\n' && !quoted)
        {
          g_string_append (data, prefix);
          g_string_append_len (data, rows + start, i + 1 - start);
          start = i + 1;
        }
    }
  if (start < len)
    {
      g_string_append (data, prefix);
      g_string_append_len (data, rows + start, len - start);
    }
}

/* COPY … FROM STDIN of @data, whole. */
static gboolean
copy_in (PGconn     *conn,
         const char *sql,
         GString    *data,
         GError    **error)
{
  PGresult *result = PQexec (conn, sql);
  gboolean ok = PQresultStatus (result) == PGRES_COPY_IN;

  PQclear (result);
  if (!ok)
    return fail_pg (conn, error, LOTTERY_STORE_ERROR_IO,
                    _("Cannot store a batch"));
  if (PQputCopyData (conn, data->str, (int) data->len) != 1 ||
      PQputCopyEnd (conn, NULL) != 1)
    ok = FALSE;
  while ((result = PQgetResult (conn)) != NULL)
    {
      if (PQresultStatus (result) != PGRES_COMMAND_OK)
        ok = FALSE;
      PQclear (result);
    }

  return ok || fail_pg (conn, error, LOTTERY_STORE_ERROR_IO,
                        _("Cannot store a batch"));
}

/* What a round does to one agency's row. */
typedef struct
{
  guint32  last;     /* the last batch stored, checked and advanced */
  guint64  stored;
  guint64  claimed;
  gboolean finished;
} AgencyDelta;

/* The agencies' rows of the round locked (in agency order, so that two
 * servers' rounds cannot deadlock), each with its last stored batch. */
static GHashTable *
lock_agencies (LotteryPgStore *self,
               GPtrArray      *round,
               GError        **error)
{
  g_autoptr(GHashTable) agencies =
    g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr(GString) sql = g_string_new (NULL);
  PGresult *result;

  g_string_printf (sql, "SELECT agency, last_batch FROM lottery_agency WHERE "
                   "lottery = %" G_GINT64_FORMAT " AND agency IN (",
                   self->lottery_id);
  for (guint i = 0; i < round->len; i++)
    {
      Group *group = g_ptr_array_index (round, i);

      for (guint j = 0; j < group->n_records; j++)
        {
          guint32 agency = group->records[j].agency;

          if (g_hash_table_contains (agencies, GUINT_TO_POINTER (agency)))
            continue;
          g_hash_table_insert (agencies, GUINT_TO_POINTER (agency),
                               g_new0 (AgencyDelta, 1));
          g_string_append_printf (sql, "%s%u",
                                  g_hash_table_size (agencies) > 1 ? "," : "",
                                  agency);
        }
    }
  g_string_append (sql, ") ORDER BY agency FOR UPDATE");

  result = query (self->conn, sql->str, 0, NULL, error);
  if (result == NULL)
    return NULL;
  if ((guint) PQntuples (result) != g_hash_table_size (agencies))
    {
      PQclear (result);
      lottery_store_fail (error, LOTTERY_STORE_ERROR_IO,
                          N_("An agency of the round has no row in the "
                            "database"));
      return NULL;
    }
  for (int row = 0; row < PQntuples (result); row++)
    {
      AgencyDelta *delta = g_hash_table_lookup (
        agencies, GUINT_TO_POINTER (atol (PQgetvalue (result, row, 0))));

      delta->last = (guint32) atol (PQgetvalue (result, row, 1));
    }
  PQclear (result);

  return g_steal_pointer (&agencies);
}

/* One round in one transaction: the agencies' rows locked, every batch
 * number checked against the last one stored, the rows and the records
 * each in one COPY, the counters advanced, COMMIT. */
static gboolean
store_round (LotteryPgStore *self,
             GPtrArray      *round,
             GError        **error)
{
  g_autoptr(GHashTable) agencies = NULL;
  g_autoptr(GString) rows = g_string_new (NULL);
  g_autoptr(GString) records = g_string_new (NULL);
  g_autoptr(GString) update = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;

  if (!exec_ok (self->conn, "BEGIN", error))
    return FALSE;
  agencies = lock_agencies (self, round, error);
  if (agencies == NULL)
    goto fail;

  for (guint i = 0; i < round->len; i++)
    {
      Group *group = g_ptr_array_index (round, i);
      gsize offset = 0;

      for (guint j = 0; j < group->n_records; j++)
        {
          const LotteryStoreRecord *record = &group->records[j];
          AgencyDelta *delta = g_hash_table_lookup (
            agencies, GUINT_TO_POINTER (record->agency));

          g_string_append_printf (records, "%" G_GINT64_FORMAT ",%u,%u,%u,%u,%c\n",
                                  self->lottery_id, record->agency,
                                  record->sequence, record->count,
                                  record->claimed, (char) record->type);
          if (record->type != LOTTERY_STORE_RECORD_BATCH)
            {
              delta->finished = TRUE;
              continue;
            }
          if (record->sequence != delta->last + 1)
            {
              lottery_store_fail (error, LOTTERY_STORE_ERROR_IO,
                                  N_("Batch %u of agency %u does not follow "
                                    "the last one stored, %u"),
                                  record->sequence, record->agency,
                                  delta->last);
              goto fail;
            }
          delta->last = record->sequence;
          delta->stored += record->count;
          delta->claimed += record->claimed;
          if (record->end > 0)
            {
              g_autofree char *prefix = g_strdup_printf (
                "%" G_GINT64_FORMAT ",%u,", self->lottery_id, record->sequence);

              append_prefixed_rows (rows, prefix, group->rows + offset,
                                    record->end);
            }
          offset += record->end;
        }
    }

  if (rows->len > 0 &&
      !copy_in (self->conn, "COPY lottery_bet (lottery, batch, agency, "
                            "first_name, last_name, document, birthdate, "
                            "number) FROM STDIN (FORMAT csv)", rows, error))
    goto fail;
  if (!copy_in (self->conn, "COPY lottery_record (lottery, agency, sequence, "
                            "stored, claimed, kind) FROM STDIN (FORMAT csv)",
                records, error))
    goto fail;

  g_string_append (update, "UPDATE lottery_agency a SET last_batch = v.last, "
                           "bets_stored = a.bets_stored + v.stored, "
                           "bets_claimed = a.bets_claimed + v.claimed, "
                           "finished = a.finished OR v.finished FROM (VALUES ");
  g_hash_table_iter_init (&iter, agencies);
  for (guint n = 0; g_hash_table_iter_next (&iter, &key, &value); n++)
    {
      AgencyDelta *delta = value;

      g_string_append_printf (update, "%s(%u, %u, %" G_GUINT64_FORMAT ", %"
                              G_GUINT64_FORMAT ", %s)", n > 0 ? ", " : "",
                              GPOINTER_TO_UINT (key), delta->last,
                              delta->stored, delta->claimed,
                              delta->finished ? "true" : "false");
    }
  g_string_append_printf (update, ") AS v (agency, last, stored, claimed, "
                          "finished) WHERE a.lottery = %" G_GINT64_FORMAT
                          " AND a.agency = v.agency", self->lottery_id);
  if (!command (self->conn, update->str, 0, NULL, error))
    goto fail;

  return exec_ok (self->conn, "COMMIT", error);

fail:
  PQclear (PQexec (self->conn, "ROLLBACK"));
  return FALSE;
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
        g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
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
      last = ((Group *) g_ptr_array_index (round, round->len - 1))->ticket;
      if (self->error != NULL)
        {
          g_mutex_unlock (&self->lock);
          continue;
        }
      g_mutex_unlock (&self->lock);

      if (store_round (self, round, &error))
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
  Group *group;
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

  group = g_new0 (Group, 1);
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

  conn = connect_db (self, error);
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
      fail_pg (conn, error, LOTTERY_STORE_ERROR_IO, _("Cannot read the bets"));
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
        ok = fail_pg (conn, error, LOTTERY_STORE_ERROR_IO,
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

  conn = connect_db (self, error);
  if (conn == NULL)
    return NULL;

  if (!exec_ok (conn, "BEGIN", error) ||
      (result = query (conn, "SELECT drawn IS NULL FROM lottery WHERE id = $1 "
                             "FOR UPDATE", 1, params, error)) == NULL)
    goto fail;
  undrawn = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  if (undrawn &&
      !(command (conn, "INSERT INTO lottery_winner (lottery, bet, agency, "
                       "document) SELECT lottery, id, agency, document "
                       "FROM lottery_bet WHERE lottery = $1 AND number = "
                       G_STRINGIFY (LOTTERY_WINNING_NUMBER),
                 1, params, error) &&
        command (conn, "UPDATE lottery SET drawn = now() WHERE id = $1",
                 1, params, error)))
    goto fail;
  if (!exec_ok (conn, "COMMIT", error))
    goto fail;

  result = query (conn, "SELECT agency, document FROM lottery_winner "
                        "WHERE lottery = $1 ORDER BY bet", 1, params, error);
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
