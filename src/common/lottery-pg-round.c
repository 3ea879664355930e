/* lottery-pg-round.c: one round of the PostgreSQL store's writer: the
 * queued groups stored in one transaction (agencies' rows locked, batch
 * numbers checked, bets and records each in one COPY, the agencies'
 * counters advanced, COMMIT).
 *
 * Threads: runs on the `lottery-db` thread only, on its connection;
 * no state of its own and no lock taken.
 */
#include "config.h"

#include "lottery-pg-round.h"
#include "lottery-error.h"
#include "lottery-pg-db.h"

#include <glib/gi18n-lib.h>

void
lottery_pg_group_free (LotteryPgGroup *group)
{
  g_free (group->rows);
  g_free (group->records);
  g_clear_object (&group->task);
  g_free (group);
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
    return lottery_pg_fail (conn, error, LOTTERY_STORE_ERROR_IO,
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

  return ok || lottery_pg_fail (conn, error, LOTTERY_STORE_ERROR_IO,
                                _("Cannot store a batch"));
}

/* What a round does to one agency's row. */
typedef struct
{
  guint32  last;     /* the last batch stored, checked and advanced */
  gboolean done;     /* had finished before the round */
  guint64  stored;
  guint64  claimed;
  gboolean finished;
} AgencyDelta;

/* The agencies' rows of the round locked (in agency order, so that two
 * servers' rounds cannot deadlock), each with its last stored batch. */
static GHashTable *
lock_agencies (PGconn     *conn,
               gint64      lottery_id,
               GPtrArray  *round,
               GError    **error)
{
  g_autoptr(GHashTable) agencies =
    g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr(GString) sql = g_string_new (NULL);
  PGresult *result;

  g_string_printf (sql, "SELECT agency, last_batch, finished FROM "
                   "lottery_agency WHERE "
                   "lottery = %" G_GINT64_FORMAT " AND agency IN (",
                   lottery_id);
  for (guint i = 0; i < round->len; i++)
    {
      LotteryPgGroup *group = g_ptr_array_index (round, i);

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

  result = lottery_pg_query (conn, sql->str, 0, NULL, error);
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
      delta->done = PQgetvalue (result, row, 2)[0] == 't';
    }
  PQclear (result);

  return g_steal_pointer (&agencies);
}

/* One round (LotteryPgGroup) of lottery @lottery_id in one transaction:
 * the agencies' rows locked, every batch number checked against the last
 * one stored, the rows and the records each in one COPY, the counters
 * advanced, COMMIT. FALSE with @error after a ROLLBACK. */
gboolean
lottery_pg_round_store (PGconn     *conn,
                        gint64      lottery_id,
                        GPtrArray  *round,
                        GError    **error)
{
  g_autoptr(GHashTable) agencies = NULL;
  g_autoptr(GString) rows = g_string_new (NULL);
  g_autoptr(GString) records = g_string_new (NULL);
  g_autoptr(GString) update = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  gboolean finishes = FALSE;

  /* Read committed whatever the database's default: the draw's count
   * must see finishes committed while it waited for the lottery's row. */
  if (!lottery_pg_exec (conn, "BEGIN ISOLATION LEVEL READ COMMITTED", error))
    return FALSE;
  agencies = lock_agencies (conn, lottery_id, round, error);
  if (agencies == NULL)
    goto fail;

  for (guint i = 0; i < round->len; i++)
    {
      LotteryPgGroup *group = g_ptr_array_index (round, i);
      gsize offset = 0;

      for (guint j = 0; j < group->n_records; j++)
        {
          const LotteryStoreRecord *record = &group->records[j];
          AgencyDelta *delta = g_hash_table_lookup (
            agencies, GUINT_TO_POINTER (record->agency));

          /* Another server may have finished it after this one's
           * lease ran out: nothing more of it is taken. */
          if (delta->done)
            {
              lottery_fail (error, LOTTERY_ERROR_ALREADY_FINISHED,
                            N_("Agency %u has already finished"),
                            record->agency);
              goto fail;
            }

          g_string_append_printf (records, "%" G_GINT64_FORMAT ",%u,%u,%u,%u,%c\n",
                                  lottery_id, record->agency,
                                  record->sequence, record->count,
                                  record->claimed, (char) record->type);
          if (record->type != LOTTERY_STORE_RECORD_BATCH)
            {
              delta->finished = TRUE;
              finishes = TRUE;
              continue;
            }
          if (record->sequence != delta->last + 1)
            {
              lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                            N_("Batch %u of agency %u does not follow the "
                              "last one stored, %u"),
                            record->sequence, record->agency, delta->last);
              goto fail;
            }
          delta->last = record->sequence;
          delta->stored += record->count;
          delta->claimed += record->claimed;
          if (record->end > 0)
            {
              g_autofree char *prefix = g_strdup_printf (
                "%" G_GINT64_FORMAT ",%u,", lottery_id, record->sequence);

              append_prefixed_rows (rows, prefix, group->rows + offset,
                                    record->end);
            }
          offset += record->end;
        }
    }

  if (rows->len > 0 &&
      !copy_in (conn, "COPY lottery_bet (lottery, batch, agency, "
                      "first_name, last_name, document, birthdate, "
                      "number) FROM STDIN (FORMAT csv)", rows, error))
    goto fail;
  if (!copy_in (conn, "COPY lottery_record (lottery, agency, sequence, "
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
                          " AND a.agency = v.agency", lottery_id);
  if (!lottery_pg_command (conn, update->str, 0, NULL, error))
    goto fail;
  if (finishes && !lottery_pg_draw_if_done (conn, lottery_id, FALSE, NULL,
                                            error))
    goto fail;

  return lottery_pg_exec (conn, "COMMIT", error);

fail:
  PQclear (PQexec (conn, "ROLLBACK"));
  return FALSE;
}
