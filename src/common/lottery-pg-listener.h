/* lottery-pg-listener.h: the PostgreSQL store's watch for the draw,
 * which any server of the lottery may make. Private to the store's
 * units. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LotteryPgListener LotteryPgListener;

LotteryPgListener *lottery_pg_listener_start (const char     *dsn,
                                              gint64          lottery_id,
                                              GMainContext   *context,
                                              GSourceFunc     drawn_func,
                                              gpointer        user_data,
                                              GDestroyNotify  notify);
void               lottery_pg_listener_stop  (LotteryPgListener *listener);

G_END_DECLS
