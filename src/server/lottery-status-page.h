/* lottery-status-page.h: the status view and the status page of the
 * HTTP port, from the state. */
#pragma once

#include <glib.h>

#include "lottery-state.h"
#include "lottery-status-view.h"

G_BEGIN_DECLS

LotteryStatusView *lottery_status_page_fetch_view (LotteryState      *state);
char              *lottery_status_page_render     (LotteryStatusView *view,
                                                   const guint64     *history,
                                                   guint              history_len,
                                                   guint              history_max);

G_END_DECLS
