/* lottery-poller.h: one epoll set for the reads of every connection. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LotteryPoller LotteryPoller;
typedef struct _LotteryPollerWatch LotteryPollerWatch;

/* Called on the poller's main context once the watched descriptor is
 * readable (or hung up, or in error) after lottery_poller_watch_arm (). */
typedef void (*LotteryPollerFunc) (gpointer user_data);

LotteryPoller      *lottery_poller_get_default    (void);
LotteryPollerWatch *lottery_poller_watch_new      (LotteryPoller      *self,
                                                   int                 fd,
                                                   LotteryPollerFunc   func,
                                                   gpointer            user_data);
gboolean            lottery_poller_watch_arm      (LotteryPollerWatch *watch,
                                                   GError            **error);
void                lottery_poller_watch_free     (LotteryPollerWatch *watch);

G_END_DECLS
