/* lottery-deadlines.h: the clocks of one connection, and what is late. */
#pragma once

#include <gio/gio.h>

#include "lottery-frame-io.h"

G_BEGIN_DECLS

/* What the connection is waiting for; each has its own deadline. */
typedef enum
{
  LOTTERY_WAIT_REPLIES_ONLY, /* TLS handshake or closing: only unread answers */
  LOTTERY_WAIT_HELLO,        /* a stranger: HELLO within io_timeout */
  LOTTERY_WAIT_AUTH,         /* CHALLENGE sent: AUTH within io_timeout */
  LOTTERY_WAIT_AGENCY,       /* an agency: idle_timeout of silence */
} LotteryWait;

typedef enum
{
  LOTTERY_LATE_NONE,     /* nothing is late */
  LOTTERY_LATE_UNREAD,   /* the peer does not read its answers: close now */
  LOTTERY_LATE_MESSAGE,  /* the peer is late: answer the error, close */
} LotteryLate;

typedef struct _LotteryDeadlines LotteryDeadlines;

LotteryDeadlines *lottery_deadlines_new   (void);
void              lottery_deadlines_free  (LotteryDeadlines *self);
void              lottery_deadlines_set   (LotteryDeadlines *self,
                                           guint             io_timeout_s,
                                           guint             idle_timeout_s);
guint             lottery_deadlines_get_io_seconds (LotteryDeadlines *self);
LotteryLate       lottery_deadlines_check (LotteryDeadlines *self,
                                           LotteryFrameIO   *io,
                                           gint64            now,
                                           LotteryWait       wait,
                                           gboolean          owed,
                                           GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryDeadlines, lottery_deadlines_free)

G_END_DECLS
