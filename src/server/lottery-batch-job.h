/* lottery-batch-job.h: one group of an agency's batches, checked,
 * formatted and stored in a worker thread. */
#pragma once

#include <gio/gio.h>

#include "lottery-protocol.h"
#include "lottery-state.h"
#include "lottery-store.h"

G_BEGIN_DECLS

/* Batches stored by one job. */
#define LOTTERY_BATCH_JOB_MAX 16

typedef struct _LotteryBatchJob LotteryBatchJob;

LotteryBatchJob *lottery_batch_job_new          (LotteryState         *state,
                                                 LotteryStore         *storage,
                                                 guint                 agency);
void             lottery_batch_job_free         (LotteryBatchJob      *job);
gboolean         lottery_batch_job_add          (LotteryBatchJob      *job,
                                                 GBytes               *frame,
                                                 const LotteryMessage *message);
guint            lottery_batch_job_get_n_batches (LotteryBatchJob     *job);
void             lottery_batch_job_run          (LotteryBatchJob      *job);
void             lottery_batch_job_run_async    (LotteryBatchJob      *job,
                                                 gpointer              source_object,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
LotteryBatchJob *lottery_batch_job_run_finish   (GAsyncResult         *result);
guint64          lottery_batch_job_get_ticket   (LotteryBatchJob      *job);
gint64           lottery_batch_job_get_arrived  (LotteryBatchJob      *job);
void             lottery_batch_job_fail_stored  (LotteryBatchJob      *job,
                                                 const GError         *error);
const GError    *lottery_batch_job_get_result   (LotteryBatchJob      *job,
                                                 guint                 index,
                                                 guint32              *sequence,
                                                 guint                *count);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryBatchJob, lottery_batch_job_free)

G_END_DECLS
