/* lottery-winners.h: the draw's outcome inside LotteryState: whether and
 * when it was made or why it failed, each agency's winners packed, and
 * the winners queries parked until then. Not a public type: only
 * LotteryState creates one and calls it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LotteryWinners LotteryWinners;

LotteryWinners *lottery_winners_new              (guint            agencies,
                                                  GMutex          *lock);
void            lottery_winners_free             (LotteryWinners  *self);

gboolean        lottery_winners_get_done_locked  (LotteryWinners  *self,
                                                  gint64          *draw_time);
void            lottery_winners_complete_locked  (LotteryWinners  *self,
                                                  GPtrArray       *winners,
                                                  GQueue          *parked);
void            lottery_winners_answer           (LotteryWinners  *self,
                                                  GQueue          *parked);
void            lottery_winners_fail             (LotteryWinners  *self,
                                                  const GError    *error);
gboolean        lottery_winners_wait             (LotteryWinners  *self,
                                                  gint64           end_time);
void            lottery_winners_cancel_parked    (LotteryWinners  *self,
                                                  const GError    *error);

void            lottery_winners_query            (LotteryWinners  *self,
                                                  GTask           *task,
                                                  guint            agency,
                                                  GCancellable    *cancellable,
                                                  gulong           handler);
void            lottery_winners_withdraw         (LotteryWinners  *self,
                                                  GTask           *task,
                                                  GCancellable    *cancellable);

guint           lottery_winners_count_packed     (GBytes          *packed);
GStrv           lottery_winners_unpack           (GBytes          *packed,
                                                  guint            n);

G_END_DECLS
