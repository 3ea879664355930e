/* lottery-login.h: who is on a connection: HELLO, and with tokens the
 * CHALLENGE and AUTH, until the agency is claimed. */
#pragma once

#include <glib.h>

#include "lottery-auth.h"
#include "lottery-protocol.h"
#include "lottery-reply-order.h"
#include "lottery-state.h"
#include "lottery-store.h"

G_BEGIN_DECLS

/* What the login tells its connection, which changes its state. */
typedef enum
{
  LOTTERY_LOGIN_CHALLENGED, /* a CHALLENGE goes out next: AUTH comes next */
  LOTTERY_LOGIN_WELCOMED,   /* the agency (get_agency (), get_finished ())
                             * is this connection's; its WELCOME goes out
                             * next */
  LOTTERY_LOGIN_REFUSED,    /* the ERROR is queued: close after it */
  LOTTERY_LOGIN_RESUMED,    /* a login that waited for the agency's old
                             * connection has answered (after WELCOMED or
                             * REFUSED) */
} LotteryLoginEvent;

typedef void (*LotteryLoginFunc) (LotteryLoginEvent event,
                                  gpointer          user_data);

typedef struct _LotteryLogin LotteryLogin;

LotteryLogin *lottery_login_new          (LotteryState         *state,
                                          LotteryStore         *store,
                                          LotteryAuth          *auth,
                                          LotteryReplyOrder    *answers,
                                          const char           *peer,
                                          LotteryLoginFunc      func,
                                          gpointer              user_data);
void          lottery_login_free         (LotteryLogin         *login);
void          lottery_login_hello        (LotteryLogin         *login,
                                          const LotteryMessage *message);
void          lottery_login_auth         (LotteryLogin         *login,
                                          const LotteryMessage *message);
void          lottery_login_stop         (LotteryLogin         *login);
gboolean      lottery_login_is_waiting   (LotteryLogin         *login);
guint32       lottery_login_get_agency   (LotteryLogin         *login);
gboolean      lottery_login_get_finished (LotteryLogin         *login);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryLogin, lottery_login_free)

G_END_DECLS
