/* lottery-pg-db.c: talking to the lottery's PostgreSQL database: libpq's
 * results and errors as GErrors, connecting, creating or migrating the
 * schema and the lottery's rows, and replaying the records at recovery.
 *
 * Threads: no state of its own; each call runs on the caller's thread
 * with the connection it is given (recover ()'s, the `lottery-db`
 * thread's, or a worker's own for load_bets () and the draw).
 */
#include "config.h"

#include "lottery-pg-db.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>

/* libpq's messages end with a line end; ours do not. */
static char *
pg_message (const char *message)
{
  return g_strstrip (g_strdup (message != NULL ? message : ""));
}

/* A failed result's message, or the connection's when the result has
 * none (the connection was lost). */
static char *
result_message (PGconn         *conn,
                const PGresult *result)
{
  const char *message = PQresultErrorMessage (result);

  if (message == NULL || message[0] == '\0')
    message = PQerrorMessage (conn);

  return pg_message (message);
}

/* Fails with @what and the connection's last error. */
gboolean
lottery_pg_fail (PGconn     *conn,
                 GError    **error,
                 int         code,
                 const char *what)
{
  g_autofree char *message = pg_message (PQerrorMessage (conn));

  return lottery_store_fail (error, code, "%s: %s", what, message);
}

/* Runs @sql (no parameters, any number of statements); FALSE with
 * @error unless it succeeded. */
gboolean
lottery_pg_exec (PGconn     *conn,
                 const char *sql,
                 GError    **error)
{
  PGresult *result = PQexec (conn, sql);
  ExecStatusType status = PQresultStatus (result);
  gboolean ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;

  if (!ok)
    {
      g_autofree char *message = result_message (conn, result);

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
PGresult *
lottery_pg_query (PGconn      *conn,
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
      g_autofree char *message = result_message (conn, result);

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

/* lottery_pg_query () of a statement whose result is not needed. */
gboolean
lottery_pg_command (PGconn      *conn,
                    const char  *sql,
                    int          n_params,
                    const char **params,
                    GError     **error)
{
  PGresult *result = lottery_pg_query (conn, sql, n_params, params, error);

  PQclear (result);

  return result != NULL;
}

/* A connection to @dsn, or NULL with @error naming @location (the
 * DSN without its password). */
PGconn *
lottery_pg_connect (const char *dsn,
                    const char *location,
                    GError    **error)
{
  /* Defaults the DSN may override: a database that stops answering
   * (a network cut drops packets) is noticed in seconds, not when TCP
   * gives up, so batches fail as `unavailable` and leases run out. A
   * PGCONNECT_TIMEOUT of the environment is left to apply. */
  const char *keywords[8];
  const char *values[8];
  PGconn *conn;
  guint n = 0;

#define DEFAULT(key, value) (keywords[n] = (key), values[n++] = (value))
  if (g_getenv ("PGCONNECT_TIMEOUT") == NULL)
    DEFAULT ("connect_timeout", "5");
  DEFAULT ("keepalives_idle", "5");
  DEFAULT ("keepalives_interval", "2");
  DEFAULT ("keepalives_count", "3");
  DEFAULT ("tcp_user_timeout", "10000");
  DEFAULT ("dbname", dsn);
#undef DEFAULT
  keywords[n] = values[n] = NULL;
  conn = PQconnectdbParams (keywords, values, 1);

  PQsetNoticeProcessor (conn, ignore_notice, NULL);

  if (PQstatus (conn) != CONNECTION_OK)
    {
      g_autofree char *message = pg_message (PQerrorMessage (conn));

      lottery_store_fail (error, LOTTERY_STORE_ERROR_UNAVAILABLE,
                          N_("Cannot connect to the database (storage.dsn "
                            "%s): %s"), location, message);
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
 * from both creating it. Sets @lottery_id to the lottery's row. */
gboolean
lottery_pg_migrate (PGconn     *conn,
                    const char *name,
                    guint       n_agencies,
                    const char *location,
                    gint64     *lottery_id,
                    GError    **error)
{
  g_autofree char *agencies = g_strdup_printf ("%u", n_agencies);
  const char *params[2] = { name, agencies };
  PGresult *result;
  int version = 0;

  if (!lottery_pg_exec (conn, "BEGIN; SELECT pg_advisory_xact_lock(7574001);"
                              "CREATE TABLE IF NOT EXISTS lottery_schema "
                              "(version integer NOT NULL)", error))
    return FALSE;
  result = lottery_pg_query (conn, "SELECT max(version) FROM lottery_schema",
                             0, NULL, error);
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
                            "server"), location, version,
                          LOTTERY_PG_SCHEMA_VERSION);
      goto fail;
    }
  if (version < 1 &&
      !(lottery_pg_exec (conn, schema_v1, error) &&
        lottery_pg_exec (conn, "INSERT INTO lottery_schema VALUES (1)",
                         error)))
    goto fail;

  if (!lottery_pg_command (conn, "INSERT INTO lottery (name, agencies) "
                                 "VALUES ($1, $2::integer) "
                                 "ON CONFLICT (name) DO NOTHING",
                           2, params, error))
    goto fail;
  result = lottery_pg_query (conn, "SELECT id, agencies FROM lottery "
                                   "WHERE name = $1", 1, params, error);
  if (result == NULL)
    goto fail;
  *lottery_id = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10);
  if ((guint) atoi (PQgetvalue (result, 0, 1)) != n_agencies)
    {
      lottery_store_fail (error, LOTTERY_STORE_ERROR_MISMATCH,
                          N_("The lottery “%s” in %s has %s agencies, but "
                            "lottery.agencies is %u"), name,
                          location, PQgetvalue (result, 0, 1),
                          n_agencies);
      PQclear (result);
      goto fail;
    }
  PQclear (result);
  if (!lottery_pg_command (conn, "INSERT INTO lottery_agency (lottery, agency) "
                                 "SELECT l.id, g FROM lottery l, "
                                 "generate_series(1, l.agencies) g "
                                 "WHERE l.name = $1 ON CONFLICT DO NOTHING",
                           1, params, error))
    goto fail;

  return lottery_pg_exec (conn, "COMMIT", error);

fail:
  PQclear (PQexec (conn, "ROLLBACK"));
  return FALSE;
}

/* Replays the records of lottery @lottery_id in the order stored,
 * streamed. */
gboolean
lottery_pg_replay (PGconn                 *conn,
                   gint64                  lottery_id,
                   LotteryStoreRecordFunc  func,
                   gpointer                user_data,
                   GError                **error)
{
  g_autofree char *sql = g_strdup_printf (
    "SELECT kind, agency, sequence, stored, claimed FROM lottery_record "
    "WHERE lottery = %" G_GINT64_FORMAT " ORDER BY id", lottery_id);
  PGresult *result;
  gboolean go_on = TRUE;
  gboolean ok = TRUE;

  if (!PQsendQuery (conn, sql) || !PQsetSingleRowMode (conn))
    return lottery_pg_fail (conn, error, LOTTERY_STORE_ERROR_UNAVAILABLE,
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
        ok = lottery_pg_fail (conn, error, LOTTERY_STORE_ERROR_IO,
                              _("Cannot read the lottery’s records"));
      PQclear (result);
    }

  return ok;
}

/* Inside a transaction: the winners of lottery @lottery_id written and
 * the lottery marked drawn, and every server listening told at COMMIT.
 * The caller holds the lottery's row (FOR UPDATE) and found it undrawn. */
static gboolean
write_draw (PGconn      *conn,
            const char **params,
            GError     **error)
{
  return lottery_pg_command (conn, "INSERT INTO lottery_winner (lottery, bet, "
                                   "agency, document) SELECT lottery, id, "
                                   "agency, document FROM lottery_bet "
                                   "WHERE lottery = $1 AND number = "
                                   G_STRINGIFY (LOTTERY_WINNING_NUMBER),
                             1, params, error) &&
         lottery_pg_command (conn, "UPDATE lottery SET drawn = now() "
                                   "WHERE id = $1", 1, params, error) &&
         lottery_pg_command (conn, "SELECT pg_notify('"
                                   LOTTERY_PG_DRAWN_CHANNEL "', $1)",
                             1, params, error);
}

/* Inside a transaction: locks lottery @lottery_id's row (so that two
 * servers storing the last two finishes at once take turns, and the
 * second sees the first's), and draws unless it is drawn or @all_done
 * is FALSE and an agency has not finished. Sets @drawn (nullable) to
 * whether the lottery is drawn now. */
gboolean
lottery_pg_draw_if_done (PGconn    *conn,
                         gint64     lottery_id,
                         gboolean   all_done,
                         gboolean  *drawn,
                         GError   **error)
{
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT, lottery_id);
  const char *params[1] = { lottery };
  PGresult *result;
  gboolean undrawn;
  gboolean due = all_done;

  if (drawn != NULL)
    *drawn = FALSE;
  /* NO KEY UPDATE: the round's rows hold KEY SHARE locks on the
   * lottery's row (their foreign keys), which FOR UPDATE would wait
   * for, deadlocking two servers' rounds. */
  result = lottery_pg_query (conn, "SELECT drawn IS NULL FROM lottery "
                                   "WHERE id = $1 FOR NO KEY UPDATE", 1,
                             params, error);
  if (result == NULL)
    return FALSE;
  undrawn = PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);
  if (!undrawn)
    {
      if (drawn != NULL)
        *drawn = TRUE;
      return TRUE;
    }

  if (!due)
    {
      /* A new statement, so a new snapshot: a finish committed by the
       * server that held the row before is seen. */
      result = lottery_pg_query (conn, "SELECT count(*) FROM lottery_agency "
                                       "WHERE lottery = $1 AND NOT finished",
                                 1, params, error);
      if (result == NULL)
        return FALSE;
      due = g_ascii_strtoll (PQgetvalue (result, 0, 0), NULL, 10) == 0;
      PQclear (result);
    }
  if (!due)
    return TRUE;
  if (!write_draw (conn, params, error))
    return FALSE;
  if (drawn != NULL)
    *drawn = TRUE;

  return TRUE;
}
