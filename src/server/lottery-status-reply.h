/* lottery-status-reply.h: the server's answer to a STATUS request. */
#pragma once

#include <glib.h>

#include "lottery-state.h"

G_BEGIN_DECLS

typedef struct _LotteryStatusReply LotteryStatusReply;

LotteryStatusReply *lottery_status_reply_start (LotteryState       *state);
gsize               lottery_status_reply_next  (guint8             *frame,
                                                gboolean           *done,
                                                gpointer            reply);
void                lottery_status_reply_free  (LotteryStatusReply *reply);
guint               lottery_status_reply_get_sent (LotteryStatusReply *reply);
GBytes             *lottery_status_reply_new   (LotteryState       *state);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryStatusReply, lottery_status_reply_free)

G_END_DECLS
