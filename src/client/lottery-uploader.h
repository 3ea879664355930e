/* lottery-uploader.h: an agency's session with the central server. */
#pragma once

#include <gio/gio.h>

#include "lottery-bet.h"
#include "lottery-progress.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_UPLOADER (lottery_uploader_get_type ())
G_DECLARE_FINAL_TYPE (LotteryUploader, lottery_uploader, LOTTERY, UPLOADER, GObject)

LotteryUploader *lottery_uploader_new              (guint              agency,
                                                    const char        *address,
                                                    guint              batch_max_amount);
void             lottery_uploader_set_bets_file    (LotteryUploader   *self,
                                                    const char        *path);
void             lottery_uploader_set_single_bet   (LotteryUploader   *self,
                                                    const LotteryBet  *bet);
void             lottery_uploader_set_progress     (LotteryUploader   *self,
                                                    LotteryProgress   *progress);
void             lottery_uploader_set_token        (LotteryUploader   *self,
                                                    const guint8      *token);
void             lottery_uploader_set_tls_database (LotteryUploader   *self,
                                                    GTlsDatabase      *database);
void             lottery_uploader_set_timeout      (LotteryUploader   *self,
                                                    guint              timeout_s);
gboolean         lottery_uploader_run              (LotteryUploader   *self,
                                                    GCancellable      *cancellable,
                                                    GError           **error);
gboolean         lottery_uploader_ping             (LotteryUploader   *self,
                                                    GCancellable      *cancellable,
                                                    GError           **error);
const char * const *lottery_uploader_get_winners   (LotteryUploader   *self);
guint64          lottery_uploader_get_rejected_rows (LotteryUploader  *self);
guint64          lottery_uploader_get_rejected_batches (LotteryUploader *self);

G_END_DECLS
