/* lottery-pg-read.c: reading the PostgreSQL store's lottery back: every
 * bet streamed in the order stored, and the draw's winners (drawing
 * first if no round has).
 *
 * Threads: the calling worker (the draw's, an export's), each call on a
 * connection of its own; touches only the store's settings, which do
 * not change after lottery_pg_store_new ().
 */
#include "config.h"

#include "lottery-pg-store-private.h"
#include "lottery-error.h"
#include "lottery-pg-db.h"

#include <glib/gi18n-lib.h>
#include <stdlib.h>
#include <string.h>

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

gboolean
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
 * the winners written. Normally the round that stored the last FINISH,
 * on whichever server, has drawn already. */
GPtrArray *
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

  conn = lottery_pg_connect (self->dsn, self->location, error);
  if (conn == NULL)
    return NULL;

  if (!lottery_pg_exec (conn, "BEGIN ISOLATION LEVEL READ COMMITTED", error) ||
      !lottery_pg_draw_if_done (conn, self->lottery_id, TRUE, NULL, error) ||
      !lottery_pg_exec (conn, "COMMIT", error))
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
