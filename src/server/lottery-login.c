/* lottery-login.c: who is on a connection. Answers HELLO with WELCOME
 * (open mode) or with a CHALLENGE, and AUTH with WELCOME once the proof
 * holds; claims the agency in LotteryState only then. Owns the nonce of
 * the CHALLENGE in flight. Main context; no I/O: the caller sends the
 * reply and logs a refusal.
 *
 * An agency that proved who it is while an old connection still holds
 * it (a network cut the server has not noticed yet) takes over: the
 * holder is asked to close, and the login waits until it is done, its
 * batch in flight stored and counted, before it claims the agency and
 * welcomes. Without tokens anyone could say HELLO for any agency, so
 * there is no takeover: a busy agency is refused, and retries.
 */
#include "config.h"

#include "lottery-login.h"
#include "lottery-error.h"
#include "lottery-log.h"

struct _LotteryLogin
{
  LotteryState *state;      /* (owned) */
  LotteryAuth  *auth;       /* (owned) (nullable): NULL, open mode */
  char         *peer;       /* (owned): for the log */
  guint32       agency;     /* asked for, then claimed */
  gboolean      finished;   /* the claimed agency had sent FINISH */
  guint8        nonce[LOTTERY_AUTH_NONCE_LEN];
  LotteryLoginResumeFunc resume_func;
  gpointer      resume_data;
  gulong        released_id; /* while WAITING for the old connection */
};

/* Returns: (transfer full): a login for one connection; with @auth
 * (nullable), every agency must prove that it holds its token. */
LotteryLogin *
lottery_login_new (LotteryState *state,
                   LotteryAuth  *auth,
                   const char   *peer)
{
  LotteryLogin *login = g_new0 (LotteryLogin, 1);

  login->state = g_object_ref (state);
  login->auth = auth != NULL ? g_object_ref (auth) : NULL;
  login->peer = g_strdup (peer);

  return login;
}

void
lottery_login_free (LotteryLogin *login)
{
  lottery_auth_wipe (login->nonce, sizeof login->nonce);
  g_clear_signal_handler (&login->released_id, login->state);
  g_object_unref (login->state);
  g_clear_object (&login->auth);
  g_free (login->peer);
  g_free (login);
}

/* Claims login->agency and writes the WELCOME. */
static LotteryLoginResult
welcome (LotteryLogin  *login,
         guint8        *reply,
         gsize         *reply_len,
         GError       **error)
{
  guint32 last_sequence;
  guint64 consumed, stored;
  guint8 flags = 0;

  if (!lottery_state_claim_agency (login->state, login->agency,
                                   &last_sequence, &consumed, &stored,
                                   &login->finished, error))
    return LOTTERY_LOGIN_REFUSED;

  if (login->finished)
    flags |= LOTTERY_WELCOME_FINISHED;
  if (lottery_state_get_draw_done (login->state))
    flags |= LOTTERY_WELCOME_DRAW_DONE;
  lottery_log (G_LOG_LEVEL_INFO, "hello", "success",
               "agency: %u | ip: %s | last_batch: %u", login->agency,
               login->peer, last_sequence);
  *reply_len = lottery_message_encode_welcome (reply, last_sequence, flags,
                                               consumed, stored);

  return LOTTERY_LOGIN_WELCOMED;
}

/* A HELLO of @agency (its version already checked). With tokens,
 * before anything is claimed (so that not even "busy" is told to a
 * stranger), the agency must answer a fresh nonce with proof that it
 * holds its token: a connection that never answers holds nothing.
 * @reply (LOTTERY_FRAME_MAX bytes) gets the frame to send. */
LotteryLoginResult
lottery_login_hello (LotteryLogin  *login,
                     guint32        agency,
                     guint8        *reply,
                     gsize         *reply_len,
                     GError       **error)
{
  login->agency = agency;
  if (login->auth == NULL)
    return welcome (login, reply, reply_len, error);

  if (!lottery_auth_check_agency (login->auth, agency, error) ||
      !lottery_auth_random (login->nonce, sizeof login->nonce, error))
    return LOTTERY_LOGIN_REFUSED;

  lottery_log (G_LOG_LEVEL_DEBUG, "hello", "in_progress",
               "agency: %u | ip: %s | challenge: sent", agency, login->peer);
  *reply_len = lottery_message_encode_challenge (reply, login->nonce);

  return LOTTERY_LOGIN_CHALLENGED;
}

static void
released_cb (LotteryState *state,
             guint         agency,
             gpointer      user_data)
{
  LotteryLogin *login = user_data;
  g_autoptr(GError) error = NULL;
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  LotteryLoginResult result;

  if (agency != login->agency)
    return;
  g_clear_signal_handler (&login->released_id, login->state);
  /* Another connection of the agency may have been quicker: busy. */
  result = welcome (login, reply, &reply_len, &error);
  if (result == LOTTERY_LOGIN_WELCOMED)
    lottery_log (G_LOG_LEVEL_INFO, "takeover", "success",
                 "agency: %u | ip: %s", login->agency, login->peer);
  login->resume_func (result, reply, reply_len, error, login->resume_data);
}

/* Claims the agency, or, held by an old connection, has that one
 * closed and waits for it (WAITING). */
static LotteryLoginResult
welcome_or_take_over (LotteryLogin  *login,
                      guint8        *reply,
                      gsize         *reply_len,
                      GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  LotteryLoginResult result = welcome (login, reply, reply_len,
                                       &local_error);

  if (result == LOTTERY_LOGIN_WELCOMED || login->resume_func == NULL ||
      !g_error_matches (local_error, LOTTERY_ERROR,
                        LOTTERY_ERROR_AGENCY_BUSY))
    {
      if (local_error != NULL)
        g_propagate_error (error, g_steal_pointer (&local_error));
      return result;
    }

  lottery_log (G_LOG_LEVEL_INFO, "takeover", "in_progress",
               "agency: %u | ip: %s", login->agency, login->peer);
  /* Connected first: the old connection may be done at once. */
  login->released_id = g_signal_connect (login->state, "agency-released",
                                         G_CALLBACK (released_cb), login);
  lottery_state_request_takeover (login->state, login->agency);

  return LOTTERY_LOGIN_WAITING;
}

/* The AUTH answering the CHALLENGE; @proof is LOTTERY_AUTH_PROOF_LEN
 * bytes. With a resume function set, a busy agency is taken over
 * (WAITING). */
LotteryLoginResult
lottery_login_auth (LotteryLogin  *login,
                    const guint8  *proof,
                    guint8        *reply,
                    gsize         *reply_len,
                    GError       **error)
{
  gboolean ok;

  g_return_val_if_fail (login->auth != NULL, LOTTERY_LOGIN_REFUSED);

  ok = lottery_auth_verify (login->auth, login->agency, login->nonce, proof,
                            error);
  /* A nonce is good for one answer, right or wrong. */
  lottery_auth_wipe (login->nonce, sizeof login->nonce);
  if (!ok)
    return LOTTERY_LOGIN_REFUSED;

  lottery_log (G_LOG_LEVEL_DEBUG, "auth", "success", "agency: %u | ip: %s",
               login->agency, login->peer);
  return welcome_or_take_over (login, reply, reply_len, error);
}

/* Where a WAITING login's result goes; without one, a busy agency is
 * refused. */
void
lottery_login_set_resume_func (LotteryLogin           *login,
                               LotteryLoginResumeFunc  func,
                               gpointer                user_data)
{
  login->resume_func = func;
  login->resume_data = user_data;
}

/* The agency the last HELLO asked for (claimed, once WELCOMED). */
guint32
lottery_login_get_agency (LotteryLogin *login)
{
  return login->agency;
}

/* Once WELCOMED: had the agency already sent FINISH? */
gboolean
lottery_login_get_finished (LotteryLogin *login)
{
  return login->finished;
}
