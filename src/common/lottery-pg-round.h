/* lottery-pg-round.h: the PostgreSQL store's queued group and the round
 * that stores several of them in one transaction. Private to the
 * store's units. */
#pragma once

#include <libpq-fe.h>

#include "lottery-store.h"

G_BEGIN_DECLS

/* What one append () queued: its rows and records, copied. */
typedef struct
{
  guint64             ticket;
  char               *rows;     /* (owned) */
  LotteryStoreRecord *records;  /* (owned) */
  guint               n_records;
} LotteryPgGroup;

void     lottery_pg_group_free  (LotteryPgGroup  *group);
gboolean lottery_pg_round_store (PGconn          *conn,
                                 gint64           lottery_id,
                                 GPtrArray       *round,
                                 GError         **error);

G_END_DECLS
