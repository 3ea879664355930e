/* lottery-status-reply.h: the server's answer to a STATUS request. */
#pragma once

#include <glib.h>

#include "lottery-state.h"

G_BEGIN_DECLS

GBytes *lottery_status_reply_new (LotteryState *state);

G_END_DECLS
