/* lottery-metrics.h: the server's counters and histograms, in the
 * Prometheus text format. */
#pragma once

#include <glib-object.h>

#include "lottery-state.h"

G_BEGIN_DECLS

/* How a batch was answered. */
typedef enum
{
  LOTTERY_BATCH_ACKED,   /* stored and acknowledged */
  LOTTERY_BATCH_INVALID, /* a bad bet or a malformed batch */
  LOTTERY_BATCH_REFUSED, /* out of order, not allowed now, or not stored */
  LOTTERY_BATCH_N_RESULTS
} LotteryBatchResult;

#define LOTTERY_TYPE_METRICS (lottery_metrics_get_type ())
G_DECLARE_FINAL_TYPE (LotteryMetrics, lottery_metrics, LOTTERY, METRICS, GObject)

LotteryMetrics    *lottery_metrics_new                (void);
LotteryMetrics    *lottery_metrics_get_default        (void);
LotteryBatchResult lottery_metrics_classify_batch     (const GError   *error);
void               lottery_metrics_count_batch        (LotteryMetrics *self,
                                                       LotteryBatchResult result,
                                                       gint64          arrived);
void               lottery_metrics_count_connection   (LotteryMetrics *self,
                                                       gint            delta);
void               lottery_metrics_count_refused      (LotteryMetrics *self);
void               lottery_metrics_add_bytes_received (LotteryMetrics *self,
                                                       guint64         bytes);
void               lottery_metrics_observe_sync       (LotteryMetrics *self,
                                                       gint64          usec);
char              *lottery_metrics_render             (LotteryMetrics *self,
                                                       LotteryState   *state);

G_END_DECLS
