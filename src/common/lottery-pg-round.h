/* lottery-pg-round.h: the PostgreSQL store's queued group and the round
 * that stores several of them in one transaction. Private to the
 * store's units. */
#pragma once

#include <libpq-fe.h>

#include "lottery-store.h"

G_BEGIN_DECLS

typedef enum
{
  LOTTERY_PG_JOB_GROUP,   /* what one append () queued */
  LOTTERY_PG_JOB_CLAIM,   /* an agency's lease to take */
  LOTTERY_PG_JOB_RELEASE, /* an agency's lease to give back */
} LotteryPgJobKind;

/* One job of the database thread, in the order queued: a group (its
 * rows and records, copied), or a lease to take or give back. */
typedef struct
{
  LotteryPgJobKind    kind;
  guint64             ticket;   /* group */
  char               *rows;     /* (owned) group */
  LotteryStoreRecord *records;  /* (owned) group */
  guint               n_records;
  guint32             agency;   /* claim, release */
  GTask              *task;     /* (owned) (nullable) claim */
} LotteryPgGroup;

void     lottery_pg_group_free  (LotteryPgGroup  *group);
gboolean lottery_pg_round_store (PGconn          *conn,
                                 gint64           lottery_id,
                                 GPtrArray       *round,
                                 GError         **error);

G_END_DECLS
