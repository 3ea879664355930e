/* lottery-reply-order.h: one connection's answers in the order of its
 * requests, with those that wait for the disk. */
#pragma once

#include <gio/gio.h>

#include "lottery-batch-job.h"
#include "lottery-frame-io.h"
#include "lottery-store.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_REPLY_ORDER (lottery_reply_order_get_type ())
G_DECLARE_FINAL_TYPE (LotteryReplyOrder, lottery_reply_order, LOTTERY, REPLY_ORDER, GObject)

LotteryReplyOrder *lottery_reply_order_new            (LotteryFrameIO      *io,
                                                       LotteryStore        *storage);
void               lottery_reply_order_send           (LotteryReplyOrder   *self,
                                                       const guint8        *frame,
                                                       gsize                len);
void               lottery_reply_order_send_error     (LotteryReplyOrder   *self,
                                                       const GError        *error,
                                                       guint32              sequence);
void               lottery_reply_order_error_in_order (LotteryReplyOrder   *self,
                                                       const GError        *error,
                                                       guint32              sequence,
                                                       gboolean             hold);
void               lottery_reply_order_release_held   (LotteryReplyOrder   *self);
void               lottery_reply_order_wait_for_disk  (LotteryReplyOrder   *self,
                                                       guint64              ticket,
                                                       GAsyncReadyCallback  callback,
                                                       gpointer             user_data);
guint              lottery_reply_order_get_waiting    (LotteryReplyOrder   *self);
void               lottery_reply_order_refuse_batch   (LotteryReplyOrder   *self,
                                                       guint                agency,
                                                       guint32              sequence,
                                                       guint                count,
                                                       const GError        *error);
gboolean           lottery_reply_order_answer_batches (LotteryReplyOrder   *self,
                                                       guint                agency,
                                                       LotteryBatchJob     *job);

G_END_DECLS
