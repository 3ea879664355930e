/* lottery-upload.h: one agency's batches and its FINISH, each answered
 * once on disk. */
#pragma once

#include <gio/gio.h>

#include "lottery-frame-io.h"
#include "lottery-protocol.h"
#include "lottery-reply-order.h"
#include "lottery-state.h"
#include "lottery-store.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_UPLOAD (lottery_upload_get_type ())
G_DECLARE_FINAL_TYPE (LotteryUpload, lottery_upload, LOTTERY, UPLOAD, GObject)

LotteryUpload *lottery_upload_new           (LotteryState         *state,
                                             LotteryStore         *storage,
                                             LotteryFrameIO       *io,
                                             LotteryReplyOrder    *answers);
void           lottery_upload_set_agency    (LotteryUpload        *self,
                                             guint                 agency);
gboolean       lottery_upload_is_busy       (LotteryUpload        *self);
void           lottery_upload_start_batches (LotteryUpload        *self,
                                             GBytes               *first,
                                             const LotteryMessage *message);
void           lottery_upload_finish        (LotteryUpload        *self,
                                             const LotteryMessage *message);

G_END_DECLS
