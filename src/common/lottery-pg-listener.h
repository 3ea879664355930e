/* lottery-pg-listener.h: the PostgreSQL store's watch for the draw,
 * which any server of the lottery may make. Private to the store's
 * units. */
#pragma once

#include <glib.h>

#include "lottery-store.h"

G_BEGIN_DECLS

typedef struct _LotteryPgListener LotteryPgListener;

/* Both called on the listener's thread: the lottery is drawn (once),
 * and every agency's row (@view, transfer full, @n_agencies of them). */
typedef void (*LotteryPgDrawnFunc) (gpointer            user_data);
typedef void (*LotteryPgViewFunc)  (LotteryStoreAgency *view,
                                    guint               n_agencies,
                                    gpointer            user_data);

LotteryPgListener *lottery_pg_listener_start (const char         *dsn,
                                              gint64              lottery_id,
                                              guint               n_agencies,
                                              LotteryPgDrawnFunc  drawn_func,
                                              LotteryPgViewFunc   view_func,
                                              gpointer            user_data);
void               lottery_pg_listener_stop  (LotteryPgListener *listener);

G_END_DECLS
