/* lottery-status-view.h: the server's status, fetched and shown. */
#pragma once

#include <gio/gio.h>

#include "lottery-protocol.h"

G_BEGIN_DECLS

typedef struct
{
  guint     agencies;
  GArray   *entries;   /* LotteryStatusEntry, agency id - 1 */
  gboolean  draw_done;
  gint64    draw_time; /* seconds since the epoch, once drawn */
  gboolean  started;   /* a frame was added */
  gboolean  complete;  /* the last frame was added */
} LotteryStatusView;

LotteryStatusView *lottery_status_view_new          (void);
void               lottery_status_view_free         (LotteryStatusView       *view);
gboolean           lottery_status_view_add_reply    (LotteryStatusView       *view,
                                                     const LotteryMessage    *message,
                                                     GError                 **error);
LotteryStatusView *lottery_status_view_fetch        (const char              *address,
                                                     GTlsDatabase            *ca,
                                                     GCancellable            *cancellable,
                                                     GError                 **error);
char              *lottery_status_view_format_table (const LotteryStatusView *view);
char              *lottery_status_view_format_json  (const LotteryStatusView *view);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryStatusView, lottery_status_view_free)

G_END_DECLS
