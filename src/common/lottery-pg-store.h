/* lottery-pg-store.h: LotteryPgStore, the LotteryStore kept in a
 * PostgreSQL database (libpq), under a named lottery. */
#pragma once

#include "lottery-store.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_PG_STORE (lottery_pg_store_get_type ())
G_DECLARE_FINAL_TYPE (LotteryPgStore, lottery_pg_store, LOTTERY, PG_STORE, GObject)

LotteryStore *lottery_pg_store_new        (const char *dsn,
                                           const char *lottery_name,
                                           guint       agencies);
char         *lottery_pg_store_redact_dsn (const char *dsn);

G_END_DECLS
