/* lottery-dispatch.h: the units that answer a connection's frames, and
 * which of them answers a frame in the connection's protocol phase. */
#pragma once

#include <gio/gio.h>

#include "lottery-auth.h"
#include "lottery-frame-io.h"
#include "lottery-reply-order.h"
#include "lottery-state.h"
#include "lottery-store.h"

G_BEGIN_DECLS

/* What the connection expects now, besides PING and STATUS (which any
 * phase answers); a view of its state, as LotteryWait is. */
typedef enum
{
  LOTTERY_EXPECT_NOTHING, /* TLS, closing or closed: no frames are read */
  LOTTERY_EXPECT_HELLO,   /* HELLO */
  LOTTERY_EXPECT_AUTH,    /* CHALLENGE sent: AUTH */
  LOTTERY_EXPECT_UPLOAD,  /* batches, then FINISH */
  LOTTERY_EXPECT_QUERIES, /* finished: QUERY (a BATCH or FINISH is refused) */
} LotteryExpect;

/* What the answering units tell the connection. */
typedef enum
{
  LOTTERY_DISPATCH_CHALLENGED,  /* a CHALLENGE goes out: AUTH comes next */
  LOTTERY_DISPATCH_AUTH,        /* an AUTH goes to the login, which may
                                 * welcome at once */
  LOTTERY_DISPATCH_WELCOMED,    /* the agency is claimed: batches next */
  LOTTERY_DISPATCH_WELCOMED_FINISHED, /* ... and had sent FINISH */
  LOTTERY_DISPATCH_RESUMED,     /* the login's wait for a takeover ended */
  LOTTERY_DISPATCH_CLOSE,       /* refused, or a malformed batch: close
                                 * once the reply is out */
  LOTTERY_DISPATCH_WORK_DONE,   /* a batch job, a FINISH or a query ended */
  LOTTERY_DISPATCH_QUERY_FAILED, /* with the error to answer, then close */
  LOTTERY_DISPATCH_FINISHED,    /* FINISH accepted */
  LOTTERY_DISPATCH_DRAW_DUE,    /* FINISH accepted, the last one */
} LotteryDispatchEvent;

typedef void (*LotteryDispatchFunc) (LotteryDispatchEvent  event,
                                     const GError         *error,
                                     gpointer              user_data);

typedef struct _LotteryDispatch LotteryDispatch;

LotteryDispatch *lottery_dispatch_new          (LotteryState         *state,
                                                LotteryStore         *storage,
                                                LotteryFrameIO       *io,
                                                LotteryReplyOrder    *answers,
                                                const char           *peer,
                                                LotteryDispatchFunc   func,
                                                gpointer              user_data);
void             lottery_dispatch_free         (LotteryDispatch      *self);
void             lottery_dispatch_start_login  (LotteryDispatch      *self,
                                                LotteryAuth          *auth);
gboolean         lottery_dispatch_frame        (LotteryDispatch      *self,
                                                LotteryExpect         expect,
                                                GBytes               *frame,
                                                GError              **error);
guint            lottery_dispatch_get_agency   (LotteryDispatch      *self);
gboolean         lottery_dispatch_is_busy      (LotteryDispatch      *self);
gboolean         lottery_dispatch_is_parked    (LotteryDispatch      *self);
gboolean         lottery_dispatch_is_holding   (LotteryDispatch      *self);
void             lottery_dispatch_stop_login   (LotteryDispatch      *self);
void             lottery_dispatch_stop_queries (LotteryDispatch      *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryDispatch, lottery_dispatch_free)

G_END_DECLS
