/* lottery-queries.h: one connection's answers to STATUS and QUERY. */
#pragma once

#include <gio/gio.h>

#include "lottery-frame-io.h"
#include "lottery-reply-order.h"
#include "lottery-state.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_QUERIES (lottery_queries_get_type ())
G_DECLARE_FINAL_TYPE (LotteryQueries, lottery_queries, LOTTERY, QUERIES, GObject)

LotteryQueries *lottery_queries_new            (LotteryState      *state,
                                                LotteryFrameIO    *io,
                                                LotteryReplyOrder *answers,
                                                const char        *peer);
void            lottery_queries_set_agency     (LotteryQueries    *self,
                                                guint              agency);
void            lottery_queries_status         (LotteryQueries    *self);
void            lottery_queries_winners        (LotteryQueries    *self);
gboolean        lottery_queries_is_parked      (LotteryQueries    *self);
gboolean        lottery_queries_is_holding     (LotteryQueries    *self);
void            lottery_queries_stop           (LotteryQueries    *self);

G_END_DECLS
