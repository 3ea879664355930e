/* lottery-dispatch.c: the units that answer one connection's frames
 * (LotteryLogin, LotteryUpload, LotteryQueries), and which of them
 * answers a frame in the protocol phase the connection is in; a frame
 * that does not decode, or one not expected now, comes back as the
 * error to answer before closing. Owns those units and tells the
 * connection what they decided and when their work ends, through one
 * callback (LotteryDispatchEvent); owns no state of the connection,
 * which says what it expects (LotteryExpect). Runs on the main context;
 * only the upload's batch job runs in a worker thread.
 */
#include "config.h"

#include "lottery-dispatch.h"
#include "lottery-error.h"
#include "lottery-login.h"
#include "lottery-protocol.h"
#include "lottery-queries.h"
#include "lottery-upload.h"

#include <glib/gi18n.h>

struct _LotteryDispatch
{
  LotteryState      *state;   /* (owned) */
  LotteryStore      *storage; /* (owned) */
  LotteryReplyOrder *answers; /* (owned) */
  LotteryLogin      *login;   /* (owned) (nullable): from start_login () */
  LotteryUpload     *upload;  /* (owned): batches and FINISH */
  LotteryQueries    *queries; /* (owned): STATUS and QUERY */
  char              *peer;    /* (owned) */
  LotteryDispatchFunc func;
  gpointer           user_data;
};

static void
tell (LotteryDispatch      *self,
      LotteryDispatchEvent  event,
      const GError         *error)
{
  self->func (event, error, self->user_data);
}

static void
work_done_cb (LotteryDispatch *self)
{
  tell (self, LOTTERY_DISPATCH_WORK_DONE, NULL);
}

static void
query_failed_cb (LotteryDispatch *self,
                 const GError    *error)
{
  tell (self, LOTTERY_DISPATCH_QUERY_FAILED, error);
}

static void
malformed_cb (LotteryDispatch *self)
{
  tell (self, LOTTERY_DISPATCH_CLOSE, NULL);
}

static void
upload_finished_cb (LotteryDispatch *self,
                    gboolean         draw_due)
{
  tell (self, draw_due ? LOTTERY_DISPATCH_DRAW_DUE : LOTTERY_DISPATCH_FINISHED,
        NULL);
}

/* Returns: (transfer full): the answering units of one connection,
 * whose replies go through @answers and whose events go to @func. */
LotteryDispatch *
lottery_dispatch_new (LotteryState        *state,
                      LotteryStore        *storage,
                      LotteryFrameIO      *io,
                      LotteryReplyOrder   *answers,
                      const char          *peer,
                      LotteryDispatchFunc  func,
                      gpointer             user_data)
{
  LotteryDispatch *self = g_new0 (LotteryDispatch, 1);

  self->state = g_object_ref (state);
  self->storage = g_object_ref (storage);
  self->answers = g_object_ref (answers);
  self->peer = g_strdup (peer);
  self->func = func;
  self->user_data = user_data;
  self->upload = lottery_upload_new (state, storage, io, answers);
  self->queries = lottery_queries_new (state, io, answers, peer);
  g_signal_connect_swapped (self->queries, "done",
                            G_CALLBACK (work_done_cb), self);
  g_signal_connect_swapped (self->queries, "failed",
                            G_CALLBACK (query_failed_cb), self);
  g_signal_connect_swapped (self->upload, "idle",
                            G_CALLBACK (work_done_cb), self);
  g_signal_connect_swapped (self->upload, "malformed",
                            G_CALLBACK (malformed_cb), self);
  g_signal_connect_swapped (self->upload, "finished",
                            G_CALLBACK (upload_finished_cb), self);

  return self;
}

void
lottery_dispatch_free (LotteryDispatch *self)
{
  /* A batch job may hold the upload a while longer. */
  g_signal_handlers_disconnect_by_data (self->upload, self);
  g_signal_handlers_disconnect_by_data (self->queries, self);
  g_object_unref (self->upload);
  g_object_unref (self->queries);
  g_object_unref (self->answers);
  g_clear_pointer (&self->login, lottery_login_free);
  g_object_unref (self->state);
  g_object_unref (self->storage);
  g_free (self->peer);
  g_free (self);
}

/* What the login decided (see LotteryLoginEvent): WELCOMED gives the
 * units the agency they answer for. */
static void
login_cb (LotteryLoginEvent event,
          gpointer          user_data)
{
  LotteryDispatch *self = user_data;
  guint32 agency = lottery_login_get_agency (self->login);

  switch (event)
    {
    case LOTTERY_LOGIN_CHALLENGED:
      tell (self, LOTTERY_DISPATCH_CHALLENGED, NULL);
      return;

    case LOTTERY_LOGIN_WELCOMED:
      lottery_upload_set_agency (self->upload, agency);
      lottery_queries_set_agency (self->queries, agency);
      tell (self, lottery_login_get_finished (self->login)
                    ? LOTTERY_DISPATCH_WELCOMED_FINISHED
                    : LOTTERY_DISPATCH_WELCOMED, NULL);
      return;

    case LOTTERY_LOGIN_REFUSED:
      tell (self, LOTTERY_DISPATCH_CLOSE, NULL);
      return;

    case LOTTERY_LOGIN_RESUMED:
      tell (self, LOTTERY_DISPATCH_RESUMED, NULL);
      return;
    }
}

/* With @auth (nullable), a HELLO is answered with a CHALLENGE. */
void
lottery_dispatch_start_login (LotteryDispatch *self,
                              LotteryAuth     *auth)
{
  g_return_if_fail (self->login == NULL);

  self->login = lottery_login_new (self->state, self->storage, auth,
                                   self->answers, self->peer, login_cb, self);
}

/* The agency asked for, then claimed (0 before any HELLO). */
guint
lottery_dispatch_get_agency (LotteryDispatch *self)
{
  return self->login != NULL ? lottery_login_get_agency (self->login) : 0;
}

/* A batch job, a FINISH or a query is in flight, or the login waits
 * for a takeover (reading pauses until it is decided). */
gboolean
lottery_dispatch_is_busy (LotteryDispatch *self)
{
  return lottery_queries_is_parked (self->queries) ||
         lottery_upload_is_busy (self->upload) ||
         (self->login != NULL && lottery_login_is_waiting (self->login));
}

/* A QUERY is parked until the draw. */
gboolean
lottery_dispatch_is_parked (LotteryDispatch *self)
{
  return lottery_queries_is_parked (self->queries);
}

/* A STATUS waits for its turn: read no further meanwhile. */
gboolean
lottery_dispatch_is_holding (LotteryDispatch *self)
{
  return lottery_queries_is_holding (self->queries);
}

/* The connection is closing: the login starts nothing more. */
void
lottery_dispatch_stop_login (LotteryDispatch *self)
{
  if (self->login != NULL)
    lottery_login_stop (self->login);
}

/* The socket is closed: a parked query is withdrawn, a waiting STATUS
 * is dropped. */
void
lottery_dispatch_stop_queries (LotteryDispatch *self)
{
  lottery_queries_stop (self->queries);
}

/* Hands @frame to the unit that answers it when the connection expects
 * @expect.
 *
 * Returns: FALSE with @error (the reply to send before closing) if
 * @frame does not decode or is not expected now */
gboolean
lottery_dispatch_frame (LotteryDispatch  *self,
                        LotteryExpect     expect,
                        GBytes           *frame,
                        GError          **error)
{
  g_autoptr(GError) refusal = NULL;
  LotteryMessage message;
  gsize len;
  const guint8 *body = g_bytes_get_data (frame, &len);
  guint8 reply[LOTTERY_FRAME_MAX];

  if (!lottery_message_decode (body, len, &message, error))
    return FALSE;

  /* PING works at any time, without a HELLO: it is the health check. */
  if (message.type == LOTTERY_MESSAGE_PING)
    {
      lottery_reply_order_send (self->answers, reply,
                  lottery_message_encode_empty (reply, LOTTERY_MESSAGE_PONG));
      return TRUE;
    }
  /* STATUS too: counts only, for operators and health checks. */
  if (message.type == LOTTERY_MESSAGE_STATUS)
    {
      lottery_queries_status (self->queries);
      return TRUE;
    }

  switch (expect)
    {
    case LOTTERY_EXPECT_HELLO:
      if (message.type == LOTTERY_MESSAGE_HELLO)
        {
          lottery_login_hello (self->login, &message);
          return TRUE;
        }
      break;

    case LOTTERY_EXPECT_AUTH:
      if (message.type == LOTTERY_MESSAGE_AUTH)
        {
          tell (self, LOTTERY_DISPATCH_AUTH, NULL);
          lottery_login_auth (self->login, &message);
          return TRUE;
        }
      break;

    case LOTTERY_EXPECT_UPLOAD:
      if (message.type == LOTTERY_MESSAGE_BATCH)
        {
          lottery_upload_start_batches (self->upload, frame, &message);
          return TRUE;
        }
      if (message.type == LOTTERY_MESSAGE_FINISH)
        {
          lottery_upload_finish (self->upload, &message);
          return TRUE;
        }
      break;

    case LOTTERY_EXPECT_QUERIES:
      if (message.type == LOTTERY_MESSAGE_QUERY)
        {
          lottery_queries_winners (self->queries);
          return TRUE;
        }
      if (message.type == LOTTERY_MESSAGE_FINISH)
        {
          /* The state names the problem: already finished. */
          lottery_upload_finish (self->upload, &message);
          return TRUE;
        }
      if (message.type == LOTTERY_MESSAGE_BATCH)
        {
          gboolean drawn = lottery_state_get_draw_done (self->state);

          lottery_fail (&refusal,
                        drawn ? LOTTERY_ERROR_DRAW_DONE
                              : LOTTERY_ERROR_ALREADY_FINISHED,
                        drawn ? _("The draw has already taken place")
                              : _("Agency %u has already finished"),
                        lottery_dispatch_get_agency (self));
          lottery_reply_order_refuse_batch (self->answers,
                                            lottery_dispatch_get_agency (self),
                                            message.batch.sequence,
                                            message.batch.count, refusal);
          return TRUE;
        }
      break;

    case LOTTERY_EXPECT_NOTHING:
      /* No frames are read in these states. */
      g_return_val_if_reached (TRUE);
    }

  return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                       N_("%s is not expected now"),
                       lottery_message_type_name (message.type));
}
