/* lottery-login.h: who is on a connection: HELLO, and with tokens the
 * CHALLENGE and AUTH, until the agency is claimed. */
#pragma once

#include <glib.h>

#include "lottery-auth.h"
#include "lottery-protocol.h"
#include "lottery-state.h"

G_BEGIN_DECLS

typedef enum
{
  LOTTERY_LOGIN_CHALLENGED, /* the reply is a CHALLENGE: AUTH comes next */
  LOTTERY_LOGIN_WELCOMED,   /* the reply is a WELCOME: the agency is claimed */
  LOTTERY_LOGIN_REFUSED,    /* the error says why; nothing is claimed */
  LOTTERY_LOGIN_WAITING,    /* no reply yet: the agency's old connection
                             * is closing; the resume function gets the
                             * result once it is done */
} LotteryLoginResult;

/* A login that was WAITING goes on: @result is WELCOMED (the agency is
 * claimed), or REFUSED. */
typedef void (*LotteryLoginResumeFunc) (LotteryLoginResult  result,
                                        const guint8       *reply,
                                        gsize               reply_len,
                                        const GError       *error,
                                        gpointer            user_data);

typedef struct _LotteryLogin LotteryLogin;

LotteryLogin      *lottery_login_new          (LotteryState  *state,
                                               LotteryAuth   *auth,
                                               const char    *peer);
void               lottery_login_free         (LotteryLogin  *login);
LotteryLoginResult lottery_login_hello        (LotteryLogin  *login,
                                               guint32        agency,
                                               guint8        *reply,
                                               gsize         *reply_len,
                                               GError       **error);
LotteryLoginResult lottery_login_auth         (LotteryLogin  *login,
                                               const guint8  *proof,
                                               guint8        *reply,
                                               gsize         *reply_len,
                                               GError       **error);
void               lottery_login_set_resume_func (LotteryLogin           *login,
                                                  LotteryLoginResumeFunc  func,
                                                  gpointer                user_data);
guint32            lottery_login_get_agency   (LotteryLogin  *login);
gboolean           lottery_login_get_finished (LotteryLogin  *login);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryLogin, lottery_login_free)

G_END_DECLS
