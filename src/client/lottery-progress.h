/* lottery-progress.h: the upload's progress line on a terminal. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LotteryProgress LotteryProgress;

LotteryProgress *lottery_progress_new          (int               fd,
                                                const char       *bets_file);
void             lottery_progress_free         (LotteryProgress  *progress);
void             lottery_progress_update       (LotteryProgress  *progress,
                                                guint64           done,
                                                guint64           read,
                                                guint64           offset,
                                                gboolean          read_all);
void             lottery_progress_show_waiting (LotteryProgress  *progress,
                                                guint64           done);
void             lottery_progress_redraw       (LotteryProgress  *progress);
void             lottery_progress_clear        (LotteryProgress  *progress);
char            *lottery_progress_format       (LotteryProgress  *progress,
                                                guint64           done,
                                                guint64           read,
                                                guint64           offset,
                                                gboolean          read_all,
                                                gint64            elapsed);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryProgress, lottery_progress_free)

G_END_DECLS
