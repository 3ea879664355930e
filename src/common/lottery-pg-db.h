/* lottery-pg-db.h: the PostgreSQL store's database calls: libpq results
 * and errors as GErrors (LOTTERY_STORE_ERROR), connecting, the schema
 * and its migration, the records replayed at recovery. Private to the
 * store's units. */
#pragma once

#include <libpq-fe.h>

#include "lottery-store.h"

G_BEGIN_DECLS

/* The schema version this build writes; a database of a higher one is
 * refused. */
#define LOTTERY_PG_SCHEMA_VERSION 1

/* The channel on which a draw is announced, the lottery's id as payload. */
#define LOTTERY_PG_DRAWN_CHANNEL "lottery_drawn"

gboolean  lottery_pg_fail    (PGconn                 *conn,
                              GError                **error,
                              int                     code,
                              const char             *what);
gboolean  lottery_pg_exec    (PGconn                 *conn,
                              const char             *sql,
                              GError                **error);
PGresult *lottery_pg_query   (PGconn                 *conn,
                              const char             *sql,
                              int                     n_params,
                              const char            **params,
                              GError                **error);
gboolean  lottery_pg_command (PGconn                 *conn,
                              const char             *sql,
                              int                     n_params,
                              const char            **params,
                              GError                **error);
PGconn   *lottery_pg_connect (const char             *dsn,
                              const char             *location,
                              GError                **error);
gboolean  lottery_pg_migrate (PGconn                 *conn,
                              const char             *name,
                              guint                   n_agencies,
                              const char             *location,
                              gint64                 *lottery_id,
                              GError                **error);
gboolean  lottery_pg_replay  (PGconn                 *conn,
                              gint64                  lottery_id,
                              LotteryStoreRecordFunc  func,
                              gpointer                user_data,
                              GError                **error);
gboolean  lottery_pg_draw_if_done (PGconn            *conn,
                                   gint64             lottery_id,
                                   gboolean           all_done,
                                   gboolean          *drawn,
                                   GError           **error);

G_END_DECLS
