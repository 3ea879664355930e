/* lottery-pg-lease.h: the PostgreSQL store's leases: one live session
 * per agency across every server of a lottery. Private to the store's
 * units. */
#pragma once

#include <libpq-fe.h>

#include "lottery-store.h"

G_BEGIN_DECLS

/* How long a lease lasts without being renewed, and how often a server
 * renews the ones it holds. */
#define LOTTERY_PG_LEASE_SECONDS 10
#define LOTTERY_PG_LEASE_RENEW_USEC (3 * G_USEC_PER_SEC)

gboolean lottery_pg_lease_claim   (PGconn              *conn,
                                   gint64               lottery_id,
                                   guint                agency,
                                   const char          *holder,
                                   LotteryStoreAgency  *position,
                                   GError             **error);
gboolean lottery_pg_lease_release (PGconn              *conn,
                                   gint64               lottery_id,
                                   guint                agency,
                                   const char          *holder,
                                   GError             **error);
gboolean lottery_pg_lease_renew   (PGconn              *conn,
                                   gint64               lottery_id,
                                   const char          *holder,
                                   GHashTable          *agencies,
                                   GError             **error);

G_END_DECLS
