/* lottery-login.c: who is on a connection. Answers HELLO with WELCOME
 * (open mode) or with a CHALLENGE, and AUTH with WELCOME once the proof
 * holds; claims the agency in LotteryState only then. Sends its answers
 * and refusals through the connection's LotteryReplyOrder and logs the
 * refusals; tells its owner (LotteryDispatch) what follows through one
 * callback (LotteryLoginEvent), before a CHALLENGE or WELCOME goes out
 * and after an ERROR is queued. Owns the nonce of the CHALLENGE in flight and the
 * wait for an agency's old connection. Runs on the main context.
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

#include <glib/gi18n.h>

typedef enum
{
  RESULT_CHALLENGED, /* the reply is a CHALLENGE: AUTH comes next */
  RESULT_WELCOMED,   /* the reply is a WELCOME: the agency is claimed */
  RESULT_REFUSED,    /* the error says why; nothing is claimed */
  RESULT_WAITING,    /* no reply yet: the agency's old connection is
                      * closing; released_cb () goes on once it is done */
} Result;

/* A claim of the agency in a shared store, in flight. Outlives a login
 * stopped meanwhile (login set to NULL): then it gives back what it
 * got. */
typedef struct
{
  LotteryLogin *login;      /* (nullable): NULL once stopped */
  LotteryState *state;      /* (owned) */
  guint32       agency;
} StoreClaim;

struct _LotteryLogin
{
  LotteryState *state;      /* (owned) */
  LotteryStore *store;      /* (owned) */
  StoreClaim   *claim;      /* (nullable): while WAITING for the store */
  LotteryAuth  *auth;       /* (owned) (nullable): NULL, open mode */
  LotteryReplyOrder *answers; /* (owned): where replies go */
  char         *peer;       /* (owned): for the log */
  guint32       agency;     /* asked for, then claimed */
  gboolean      finished;   /* the claimed agency had sent FINISH */
  guint8        nonce[LOTTERY_AUTH_NONCE_LEN];
  LotteryLoginFunc func;
  gpointer      func_data;
  gulong        released_id; /* while WAITING for the old connection */
  gboolean      stopped;    /* the connection is closing */
};

/* Returns: (transfer full): a login for one connection, whose replies
 * go through @answers and whose events go to @func; with @auth
 * (nullable), every agency must prove that it holds its token. */
LotteryLogin *
lottery_login_new (LotteryState      *state,
                   LotteryStore      *store,
                   LotteryAuth       *auth,
                   LotteryReplyOrder *answers,
                   const char        *peer,
                   LotteryLoginFunc   func,
                   gpointer           user_data)
{
  LotteryLogin *login = g_new0 (LotteryLogin, 1);

  login->state = g_object_ref (state);
  login->store = g_object_ref (store);
  login->auth = auth != NULL ? g_object_ref (auth) : NULL;
  login->answers = g_object_ref (answers);
  login->peer = g_strdup (peer);
  login->func = func;
  login->func_data = user_data;

  return login;
}

void
lottery_login_free (LotteryLogin *login)
{
  lottery_auth_wipe (login->nonce, sizeof login->nonce);
  g_clear_signal_handler (&login->released_id, login->state);
  if (login->claim != NULL)
    login->claim->login = NULL;
  g_object_unref (login->state);
  g_object_unref (login->store);
  g_clear_object (&login->auth);
  g_object_unref (login->answers);
  g_free (login->peer);
  g_free (login);
}

static void answer (LotteryLogin *login,
                    Result        result,
                    const guint8 *reply,
                    gsize         reply_len,
                    const GError *error);

/* Writes the WELCOME of the claimed login->agency. */
static Result
write_welcome (LotteryLogin  *login,
               guint32        last_sequence,
               guint64        consumed,
               guint64        stored,
               guint8        *reply,
               gsize         *reply_len)
{
  guint8 flags = 0;

  if (login->finished)
    flags |= LOTTERY_WELCOME_FINISHED;
  if (lottery_state_get_draw_done (login->state))
    flags |= LOTTERY_WELCOME_DRAW_DONE;
  lottery_log (G_LOG_LEVEL_INFO, "hello", "success",
               "agency: %u | ip: %s | last_batch: %u", login->agency,
               login->peer, last_sequence);
  *reply_len = lottery_message_encode_welcome (reply, last_sequence, flags,
                                               consumed, stored);

  return RESULT_WELCOMED;
}

/* The shared store answered the claim: where the agency stands there is
 * where it stands. */
static void
store_claimed_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  StoreClaim *claim = user_data;
  LotteryStore *store = LOTTERY_STORE (source);
  LotteryLogin *login = claim->login;
  g_autoptr(GError) error = NULL;
  LotteryStoreAgency position = { 0, };
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  Result outcome = RESULT_REFUSED;
  gboolean ok;

  ok = lottery_store_claim_finish (store, result, &position, &error);
  /* The connection went meanwhile (lottery_login_stop () let go of the
   * claim): give back what it got. */
  if (login == NULL)
    {
      if (ok)
        lottery_store_release (store, claim->agency);
      lottery_state_release_agency (claim->state, claim->agency);
      g_object_unref (claim->state);
      g_free (claim);
      return;
    }

  login->claim = NULL;
  if (ok)
    {
      lottery_state_set_agency_position (login->state, login->agency,
                                         position.last_sequence,
                                         position.consumed, position.stored,
                                         position.finished);
      login->finished = position.finished;
      outcome = write_welcome (login, position.last_sequence,
                               position.consumed, position.stored, reply,
                               &reply_len);
    }
  else
    lottery_state_release_agency (login->state, login->agency);
  g_object_unref (claim->state);
  g_free (claim);

  answer (login, outcome, reply, reply_len, error);
  login->func (LOTTERY_LOGIN_RESUMED, login->func_data);
}

/* Claims login->agency and writes the WELCOME; with a shared store, the
 * agency is claimed there too, and the WELCOME waits for it (WAITING). */
static Result
welcome (LotteryLogin  *login,
         guint8        *reply,
         gsize         *reply_len,
         GError       **error)
{
  guint32 last_sequence;
  guint64 consumed, stored;

  if (!lottery_state_claim_agency (login->state, login->agency,
                                   &last_sequence, &consumed, &stored,
                                   &login->finished, error))
    return RESULT_REFUSED;

  if (lottery_store_is_shared (login->store))
    {
      StoreClaim *claim = g_new0 (StoreClaim, 1);

      claim->login = login;
      claim->state = g_object_ref (login->state);
      claim->agency = login->agency;
      login->claim = claim;
      lottery_store_claim_async (login->store, login->agency, NULL,
                                 store_claimed_cb, claim);
      return RESULT_WAITING;
    }

  return write_welcome (login, last_sequence, consumed, stored, reply,
                        reply_len);
}

/* A HELLO of @agency (its version already checked). With tokens,
 * before anything is claimed (so that not even "busy" is told to a
 * stranger), the agency must answer a fresh nonce with proof that it
 * holds its token: a connection that never answers holds nothing.
 * @reply (LOTTERY_FRAME_MAX bytes) gets the frame to send. */
static Result
hello (LotteryLogin  *login,
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
    return RESULT_REFUSED;

  lottery_log (G_LOG_LEVEL_DEBUG, "hello", "in_progress",
               "agency: %u | ip: %s | challenge: sent", agency, login->peer);
  *reply_len = lottery_message_encode_challenge (reply, login->nonce);

  return RESULT_CHALLENGED;
}

/* Tells the connection, then sends what a step answered; a refusal is
 * logged with the agency asked for and the peer. */
static void
answer (LotteryLogin *login,
        Result        result,
        const guint8 *reply,
        gsize         reply_len,
        const GError *error)
{
  g_autofree char *reason = NULL;

  switch (result)
    {
    case RESULT_REFUSED:
      reason = lottery_log_error_value (error);
      lottery_log (LOTTERY_LOG_ERROR, "hello", "fail",
                   "agency: %u | ip: %s | error: %s", login->agency,
                   login->peer, reason);
      lottery_reply_order_send_error (login->answers, error, 0);
      login->func (LOTTERY_LOGIN_REFUSED, login->func_data);
      return;

    case RESULT_CHALLENGED:
      login->func (LOTTERY_LOGIN_CHALLENGED, login->func_data);
      break;

    case RESULT_WELCOMED:
      login->func (LOTTERY_LOGIN_WELCOMED, login->func_data);
      break;

    case RESULT_WAITING:
      return;
    }
  lottery_reply_order_send (login->answers, reply, reply_len);
}

/* A takeover waited for the agency's old connection; if this one closed
 * meanwhile, the agency it was given goes back. */
static void
released_cb (LotteryState *state,
             guint         agency,
             gpointer      user_data)
{
  LotteryLogin *login = user_data;
  g_autoptr(GError) error = NULL;
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  Result result;

  if (agency != login->agency)
    return;
  g_clear_signal_handler (&login->released_id, login->state);
  /* Another connection of the agency may have been quicker: busy. */
  result = welcome (login, reply, &reply_len, &error);
  if (result == RESULT_WAITING)
    return;
  if (result == RESULT_WELCOMED)
    lottery_log (G_LOG_LEVEL_INFO, "takeover", "success",
                 "agency: %u | ip: %s", login->agency, login->peer);
  if (login->stopped)
    {
      if (result == RESULT_WELCOMED)
        lottery_state_release_agency (login->state, login->agency);
      return;
    }
  answer (login, result, reply, reply_len, error);
  login->func (LOTTERY_LOGIN_RESUMED, login->func_data);
}

/* Claims the agency, or, held by an old connection, has that one
 * closed and waits for it (WAITING). */
static Result
welcome_or_take_over (LotteryLogin  *login,
                      guint8        *reply,
                      gsize         *reply_len,
                      GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  Result result = welcome (login, reply, reply_len,
                                       &local_error);

  if (result == RESULT_WELCOMED ||
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

  return RESULT_WAITING;
}

/* The AUTH answering the CHALLENGE; @proof is LOTTERY_AUTH_PROOF_LEN
 * bytes. A busy agency is taken over (WAITING). */
static Result
auth (LotteryLogin  *login,
      const guint8  *proof,
      guint8        *reply,
      gsize         *reply_len,
      GError       **error)
{
  gboolean ok;

  g_return_val_if_fail (login->auth != NULL, RESULT_REFUSED);

  ok = lottery_auth_verify (login->auth, login->agency, login->nonce, proof,
                            error);
  /* A nonce is good for one answer, right or wrong. */
  lottery_auth_wipe (login->nonce, sizeof login->nonce);
  if (!ok)
    return RESULT_REFUSED;

  lottery_log (G_LOG_LEVEL_DEBUG, "auth", "success", "agency: %u | ip: %s",
               login->agency, login->peer);
  return welcome_or_take_over (login, reply, reply_len, error);
}

/* A HELLO frame: refused (its version), or answered. */
void
lottery_login_hello (LotteryLogin         *login,
                     const LotteryMessage *message)
{
  g_autoptr(GError) error = NULL;
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  Result result;

  g_return_if_fail (!lottery_login_is_waiting (login));

  if (message->hello.version != LOTTERY_PROTOCOL_VERSION)
    {
      g_autofree char *reason = NULL;

      lottery_fail (&error, LOTTERY_ERROR_VERSION,
                    N_("Protocol version %u is not supported; this server "
                      "speaks version %d"),
                    message->hello.version, LOTTERY_PROTOCOL_VERSION);
      /* No agency asked for yet, and nothing in flight before a HELLO:
       * the ERROR goes out in order, held behind nothing. */
      reason = lottery_log_error_value (error);
      lottery_log (LOTTERY_LOG_ERROR, "hello", "fail", "ip: %s | error: %s",
                   login->peer, reason);
      lottery_reply_order_error_in_order (login->answers, error, 0, FALSE);
      login->func (LOTTERY_LOGIN_REFUSED, login->func_data);
      return;
    }

  result = hello (login, message->hello.agency, reply, &reply_len, &error);
  answer (login, result, reply, reply_len, error);
}

/* An AUTH frame, in answer to the CHALLENGE. */
void
lottery_login_auth (LotteryLogin         *login,
                    const LotteryMessage *message)
{
  g_autoptr(GError) error = NULL;
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  Result result;

  /* The connection handles nothing while a takeover waits; a second
   * AUTH would wait twice. */
  g_return_if_fail (!lottery_login_is_waiting (login));

  result = auth (login, message->auth.proof, reply, &reply_len, &error);
  answer (login, result, reply, reply_len, error);
}

/* The connection is closing: a login still waiting for the agency's
 * old connection answers nothing, and gives back the agency if it gets
 * it. */
void
lottery_login_stop (LotteryLogin *login)
{
  login->stopped = TRUE;
  /* Nothing was claimed yet: stop waiting, so that the connection owes
   * nothing and can be done. A claim in the shared store goes on alone
   * and gives the agency back when it returns. */
  g_clear_signal_handler (&login->released_id, login->state);
  if (login->claim != NULL)
    g_steal_pointer (&login->claim)->login = NULL;
}

/* Waiting for the agency's old connection: no other frame of this
 * connection may be handled until the takeover is decided. */
gboolean
lottery_login_is_waiting (LotteryLogin *login)
{
  return login->released_id != 0 || login->claim != NULL;
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
