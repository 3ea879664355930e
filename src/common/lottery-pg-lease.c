/* lottery-pg-lease.c: the PostgreSQL store's leases. An agency's row
 * names the server holding its session (`lease_holder`) and until when
 * (`lease_expires`, the database's clock, so the servers' clocks do not
 * matter). A server takes a lease that is free, its own or expired,
 * renews every lease it holds every few seconds, and gives one back when
 * the agency's connection closes; a server that dies stops renewing, and
 * its agencies are free again LOTTERY_PG_LEASE_SECONDS later.
 *
 * Threads: the `lottery-db` thread only, on its connection; no state of
 * its own.
 */
#include "config.h"

#include "lottery-pg-lease.h"
#include "lottery-error.h"
#include "lottery-pg-db.h"

#include <glib/gi18n-lib.h>

#define LEASE_INTERVAL "interval '" G_STRINGIFY (LOTTERY_PG_LEASE_SECONDS) " seconds'"

/* Takes @agency's lease for @holder and reads where the agency stands;
 * LOTTERY_ERROR_AGENCY_BUSY when another server's lease is live. */
gboolean
lottery_pg_lease_claim (PGconn              *conn,
                        gint64               lottery_id,
                        guint                agency,
                        const char          *holder,
                        LotteryStoreAgency  *position,
                        GError             **error)
{
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT, lottery_id);
  g_autofree char *id = g_strdup_printf ("%u", agency);
  const char *params[3] = { lottery, id, holder };
  PGresult *result;

  result = lottery_pg_query (conn, "UPDATE lottery_agency SET lease_holder = $3, "
                                   "lease_expires = now() + " LEASE_INTERVAL
                                   " WHERE lottery = $1 AND agency = $2 AND "
                                   "(lease_holder IS NULL OR lease_holder = $3 "
                                   "OR lease_expires < now()) RETURNING "
                                   "last_batch, bets_claimed, bets_stored, "
                                   "finished", 3, params, error);
  if (result == NULL)
    return FALSE;
  if (PQntuples (result) != 1)
    {
      PQclear (result);
      return lottery_fail (error, LOTTERY_ERROR_AGENCY_BUSY,
                           N_("Agency %u has a live connection on another "
                             "server"), agency);
    }

  position->last_sequence = (guint32) g_ascii_strtoull (PQgetvalue (result, 0, 0),
                                                        NULL, 10);
  position->consumed = g_ascii_strtoull (PQgetvalue (result, 0, 1), NULL, 10);
  position->stored = g_ascii_strtoull (PQgetvalue (result, 0, 2), NULL, 10);
  position->finished = PQgetvalue (result, 0, 3)[0] == 't';
  PQclear (result);

  return TRUE;
}

/* Gives back @agency's lease if @holder holds it; agency 0: every lease
 * @holder holds (at shutdown). */
gboolean
lottery_pg_lease_release (PGconn      *conn,
                          gint64       lottery_id,
                          guint        agency,
                          const char  *holder,
                          GError     **error)
{
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT, lottery_id);
  g_autofree char *id = g_strdup_printf ("%u", agency);
  const char *params[3] = { lottery, holder, id };

  return lottery_pg_command (conn, "UPDATE lottery_agency SET lease_holder = "
                                   "NULL, lease_expires = NULL WHERE lottery = "
                                   "$1 AND lease_holder = $2 AND ($3 = '0' OR "
                                   "agency = $3::integer)", 3, params, error);
}

/* Renews @holder's leases of @agencies (a set of agency ids), in agency
 * order, as a round locks them. */
gboolean
lottery_pg_lease_renew (PGconn      *conn,
                        gint64       lottery_id,
                        const char  *holder,
                        GHashTable  *agencies,
                        GError     **error)
{
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT, lottery_id);
  g_autoptr(GString) list = g_string_new ("{");
  const char *params[3] = { lottery, holder, NULL };
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, agencies);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_string_append_printf (list, "%s%u", list->len > 1 ? "," : "",
                            GPOINTER_TO_UINT (key));
  g_string_append_c (list, '}');
  params[2] = list->str;

  return lottery_pg_command (conn, "UPDATE lottery_agency SET lease_expires = "
                                   "now() + " LEASE_INTERVAL " WHERE (lottery, "
                                   "agency) IN (SELECT lottery, agency FROM "
                                   "lottery_agency WHERE lottery = $1 AND "
                                   "lease_holder = $2 AND agency = ANY "
                                   "($3::integer[]) ORDER BY agency FOR "
                                   "UPDATE)", 3, params, error);
}
