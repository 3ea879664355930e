/* lottery-connection.c: the server's side of one agency connection:
 * the protocol's state machine (HELLO, AUTH, batches, FINISH, queries),
 * and the decision that the connection is over and its agency free
 * again.
 *
 * Owns its LotteryFrameIO, LotteryTransport (the socket, its peer, the
 * way through the server's LotteryTlsGate), LotteryReplyOrder,
 * LotteryDeadlines and LotteryDispatch (the units answering frames:
 * login, upload, queries; it says "challenged", "welcomed", "close
 * after this reply" or "work done" through dispatch_cb ()); uses the
 * server's state and storage. Runs on the main context; only the batch
 * job runs in a worker thread.
 */
#include "config.h"

#include "lottery-connection.h"
#include "lottery-deadlines.h"
#include "lottery-dispatch.h"
#include "lottery-error.h"
#include "lottery-frame-io.h"
#include "lottery-log.h"
#include "lottery-reply-order.h"
#include "lottery-transport.h"

#define MAX_SYNCING 16 /* groups written, waiting for the disk */

/* The life of a connection; see docs/design.md. Only ever moves down,
 * except AUTH back to HELLO, and only close_now () and settle () move
 * it past FINISHED. */
typedef enum
{
  CONN_TLS,      /* the TLS gate has the socket */
  CONN_HELLO,    /* waiting for HELLO */
  CONN_AUTH,     /* CHALLENGE sent, waiting for AUTH */
  CONN_UPLOAD,   /* batches, then FINISH */
  CONN_FINISHED, /* queries */
  CONN_CLOSING,  /* no more frames; answers owed go out, then close */
  CONN_CLOSED,   /* socket closed; waiting for the work in flight */
  CONN_DONE,     /* agency released, ::closed emitted */
} ConnState;

struct _LotteryConnection
{
  GObject parent_instance;

  LotteryFrameIO    *io;         /* (owned) */
  LotteryTransport  *transport;  /* (owned): the socket, peer, TLS */
  LotteryReplyOrder *answers;    /* (owned): in order, with the disk */
  LotteryDispatch   *dispatch;   /* (owned): login, upload, queries */
  GCancellable      *cancellable; /* (owned): cancelled by close_now () */
  LotteryState      *state;      /* (owned) */
  LotteryStore      *storage;    /* (owned) */
  LotteryAuth       *auth;       /* (owned) (nullable): NULL, open mode */
  const char        *peer;       /* the transport's */

  ConnState          conn_state;
  guint              id;         /* agency id once HELLO is accepted */

  gboolean           io_closed;  /* the frame I/O emitted ::closed: the
                                  * socket is gone, no write in flight */

  LotteryDeadlines  *deadlines;  /* (owned) */
};

enum
{
  SIGNAL_DRAW_DUE,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryConnection, lottery_connection, G_TYPE_OBJECT)

static void settle (LotteryConnection *self);
static void close_now (LotteryConnection *self);
static void begin_closing (LotteryConnection *self);
static void handle_frame (LotteryConnection *self, GBytes *frame);

static void
lottery_connection_finalize (GObject *object)
{
  LotteryConnection *self = LOTTERY_CONNECTION (object);

  g_clear_pointer (&self->dispatch, lottery_dispatch_free);
  g_clear_object (&self->answers);
  g_clear_pointer (&self->transport, lottery_transport_free);
  g_clear_object (&self->io);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->state);
  g_clear_object (&self->storage);
  g_clear_object (&self->auth);
  g_clear_pointer (&self->deadlines, lottery_deadlines_free);

  G_OBJECT_CLASS (lottery_connection_parent_class)->finalize (object);
}

static void
lottery_connection_class_init (LotteryConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_connection_finalize;

  /**
   * LotteryConnection::draw-due:
   *
   * This connection's FINISH was the last one: the draw should run.
   */
  signals[SIGNAL_DRAW_DUE] =
    g_signal_new ("draw-due", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * LotteryConnection::closed:
   *
   * The socket is closed and nothing of this connection is in flight
   * any more; its agency, if it had one, is free. Emitted once.
   */
  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
lottery_connection_init (LotteryConnection *self)
{
  self->cancellable = g_cancellable_new ();
  self->conn_state = CONN_HELLO;
  self->deadlines = lottery_deadlines_new ();
}

static void
io_frame_cb (LotteryFrameIO *io,
             GBytes         *frame,
             gpointer        user_data)
{
  /* Handling may close the connection, and the server let go of it. */
  g_autoptr(LotteryConnection) self = g_object_ref (user_data);

  handle_frame (self, frame);
  settle (self);
}

static void fail_and_close (LotteryConnection *self,
                            const char        *action,
                            const GError      *error);

static void
io_bad_frame_cb (LotteryFrameIO *io,
                 const GError   *error,
                 gpointer        user_data)
{
  g_autoptr(LotteryConnection) self = g_object_ref (user_data);

  fail_and_close (self, "receive_message", error);
}

static void
io_failed_cb (LotteryFrameIO *io,
              const char     *action,
              const GError   *error,
              gpointer        user_data)
{
  LotteryConnection *self = user_data;
  g_autofree char *reason = lottery_log_error_value (error);

  lottery_log (G_LOG_LEVEL_DEBUG, action, "fail",
               "agency: %u | ip: %s | error: %s", self->id, self->peer,
               reason);
}

static void
io_eof_cb (LotteryFrameIO *io,
           guint64         discarded,
           gpointer        user_data)
{
  g_autoptr(LotteryConnection) self = g_object_ref (user_data);

  /* A client without a token leaves after the CHALLENGE: say so, or the
   * refusal leaves no trace. */
  if (self->conn_state == CONN_AUTH)
    lottery_log (LOTTERY_LOG_ERROR, "hello", "fail",
                 "agency: %u | ip: %s | error: no AUTH after the "
                 "CHALLENGE (no token?)",
                 lottery_dispatch_get_agency (self->dispatch), self->peer);
  /* A probe that connects and leaves is not an error. */
  if (discarded > 0)
    lottery_log (G_LOG_LEVEL_DEBUG, "receive_message", "fail",
                 "agency: %u | ip: %s | discarded_bytes: %" G_GUINT64_FORMAT,
                 self->id, self->peer, discarded);
  /* A query parked until the draw is withdrawn at once, so that the
   * agency can reconnect. */
  if (lottery_dispatch_is_parked (self->dispatch))
    {
      close_now (self);
      return;
    }
  /* Replies still owed go out before the socket closes. */
  begin_closing (self);
}

static void
io_closed_cb (LotteryFrameIO *io,
              gpointer        user_data)
{
  LotteryConnection *self = user_data;

  self->io_closed = TRUE;
  close_now (self);
}

/* Work in flight, or a login waiting for a takeover. */
static gboolean
is_busy (LotteryConnection *self)
{
  return lottery_dispatch_is_busy (self->dispatch);
}

static void dispatch_cb (LotteryDispatchEvent  event,
                         const GError         *error,
                         gpointer              user_data);

/* @stream is what the agency speaks over: @connection itself, or a
 * GTlsServerConnection over it (its handshake not yet done: set a
 * gate). @connection gives the peer's address and the socket (see
 * LotteryTransport).
 *
 * Returns: (transfer full): the connection, not yet started */
LotteryConnection *
lottery_connection_new (GIOStream         *stream,
                        GSocketConnection *connection,
                        LotteryState      *state,
                        LotteryStore      *storage)
{
  LotteryConnection *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);

  self = g_object_new (LOTTERY_TYPE_CONNECTION, NULL);
  self->state = g_object_ref (state);
  self->storage = g_object_ref (storage);
  self->io = lottery_frame_io_new (stream, connection);
  self->transport = lottery_transport_new (stream, connection, self->io);
  self->peer = lottery_transport_get_peer (self->transport);
  self->answers = lottery_reply_order_new (self->io, storage);
  self->dispatch = lottery_dispatch_new (state, storage, self->io,
                                         self->answers, self->peer,
                                         dispatch_cb, self);
  g_signal_connect_object (self->answers, "released",
                           G_CALLBACK (settle), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->io, "frame", G_CALLBACK (io_frame_cb), self,
                           0);
  g_signal_connect_object (self->io, "bad-frame",
                           G_CALLBACK (io_bad_frame_cb), self, 0);
  g_signal_connect_object (self->io, "failed", G_CALLBACK (io_failed_cb),
                           self, 0);
  g_signal_connect_object (self->io, "eof", G_CALLBACK (io_eof_cb), self, 0);
  g_signal_connect_object (self->io, "closed", G_CALLBACK (io_closed_cb),
                           self, 0);

  return self;
}

/* With @auth, a HELLO is answered with a CHALLENGE, and the agency is
 * claimed only once its AUTH proves that it holds the agency's token.
 * Call before lottery_connection_start (). */
void
lottery_connection_set_auth (LotteryConnection *self,
                             LotteryAuth       *auth)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));
  g_return_if_fail (auth == NULL || LOTTERY_IS_AUTH (auth));

  g_set_object (&self->auth, auth);
}

/* Over TLS, the handshake goes through @gate, which the server owns.
 * Call before lottery_connection_start (). */
void
lottery_connection_set_tls_gate (LotteryConnection *self,
                                 LotteryTlsGate    *gate)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  lottery_transport_set_gate (self->transport, gate);
}

/* Returns: (transfer none): the peer's address, for the log. */
const char *
lottery_connection_get_peer (LotteryConnection *self)
{
  g_return_val_if_fail (LOTTERY_IS_CONNECTION (self), NULL);

  return self->peer;
}

/* The one place that decides what comes next once something changed:
 * whether frames may be handed up, whether a closing connection may
 * close its socket, and whether a closed one is done, which releases
 * the agency and emits ::closed exactly once, whatever order a read
 * error, a write error, a timeout and a close came in. */
static void
settle (LotteryConnection *self)
{
  gboolean owed = is_busy (self) ||
                  lottery_reply_order_get_waiting (self->answers) > 0;

  switch (self->conn_state)
    {
    case CONN_TLS:
      return;

    case CONN_HELLO:
    case CONN_AUTH:
    case CONN_UPLOAD:
    case CONN_FINISHED:
      lottery_frame_io_set_paused (
        self->io, is_busy (self) ||
                  lottery_dispatch_is_holding (self->dispatch) ||
                  lottery_reply_order_get_waiting (self->answers) >= MAX_SYNCING);
      return;

    case CONN_CLOSING:
      lottery_frame_io_stop_reading (self->io);
      /* Not while answers are still to come. */
      if (!owed)
        lottery_frame_io_close_after_flush (self->io);
      return;

    case CONN_CLOSED:
      if (owed || lottery_transport_is_admitting (self->transport) ||
          !self->io_closed)
        return;
      /* Only now may another connection speak for this agency: a batch
       * still being stored must be counted before a resume is offered. */
      if (self->id != 0)
        {
          lottery_store_release (self->storage, self->id);
          lottery_state_release_agency (self->state, self->id);
        }
      self->conn_state = CONN_DONE;
      g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
      return;

    case CONN_DONE:
      return;
    }
}

/* Moves to protocol state @next, unless the connection is closing. */
static void
advance (LotteryConnection *self,
         ConnState          next)
{
  if (self->conn_state < CONN_CLOSING)
    self->conn_state = next;
}

/* No more frames are handled: answers still owed go out, then the
 * socket closes (settle ()). */
static void
begin_closing (LotteryConnection *self)
{
  if (self->conn_state < CONN_CLOSING)
    self->conn_state = CONN_CLOSING;
  lottery_dispatch_stop_login (self->dispatch);
  settle (self);
}

/* Closes the socket once (later, if the TLS gate still has it); every
 * later call only settles again. */
static void
close_now (LotteryConnection *connection)
{
  /* Held until the end: settle () may emit ::closed, and the server let
   * go of the connection. */
  g_autoptr(LotteryConnection) self = g_object_ref (connection);

  if (self->conn_state >= CONN_CLOSED)
    {
      settle (self);
      return;
    }

  self->conn_state = CONN_CLOSED;
  lottery_dispatch_stop_login (self->dispatch);
  g_cancellable_cancel (self->cancellable);
  lottery_dispatch_stop_queries (self->dispatch);
  if (self->id != 0)
    lottery_log (G_LOG_LEVEL_INFO, "close_connection", "success",
                 "agency: %u | ip: %s", self->id, self->peer);
  else
    lottery_log (G_LOG_LEVEL_DEBUG, "close_connection", "success",
                 "ip: %s", self->peer);

  /* A handshake thread may still be using the socket: it is closed when
   * the gate returns it. */
  lottery_transport_close (self->transport);
  settle (self);
}

/* Stops the connection now, discarding frames not yet handled (a batch
 * half received is never stored). A batch already being stored finishes
 * first, whole. */
void
lottery_connection_close (LotteryConnection *self)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  close_now (self);
}

/* The server is stopping. A query parked until the draw stays, so that
 * the state's lottery_state_cancel_queries () answers it with ERROR
 * shutting_down before the socket closes; anything else closes now. */
void
lottery_connection_shut_down (LotteryConnection *self)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  if (lottery_dispatch_is_parked (self->dispatch))
    begin_closing (self);
  else
    close_now (self);
}

/* Replies with @error, then closes once the reply is out. */
static void
fail_and_close (LotteryConnection *self,
                const char        *action,
                const GError      *error)
{
  g_autofree char *reason = lottery_log_error_value (error);

  if (self->id != 0)
    lottery_log (LOTTERY_LOG_ERROR, action, "fail",
                 "agency: %u | ip: %s | error: %s", self->id, self->peer,
                 reason);
  else
    lottery_log (LOTTERY_LOG_ERROR, action, "fail", "ip: %s | error: %s",
                 self->peer, reason);

  lottery_reply_order_error_in_order (self->answers, error, 0, is_busy (self));
  begin_closing (self);
}

/* ---- dispatch ---- */

/* What the answering units decided, or that their work ended: a
 * CHALLENGE or a WELCOME is sent in the state it leads to; WELCOMED
 * makes this connection the agency's. */
static void
dispatch_cb (LotteryDispatchEvent  event,
             const GError         *error,
             gpointer              user_data)
{
  LotteryConnection *self = user_data;
  guint32 agency = lottery_dispatch_get_agency (self->dispatch);
  g_autofree char *takeover = NULL;

  switch (event)
    {
    case LOTTERY_DISPATCH_CHALLENGED:
      advance (self, CONN_AUTH);
      return;

    case LOTTERY_DISPATCH_AUTH:
      /* The CHALLENGE is answered: no longer waiting for AUTH. */
      advance (self, CONN_HELLO);
      return;

    case LOTTERY_DISPATCH_WELCOMED:
    case LOTTERY_DISPATCH_WELCOMED_FINISHED:
      /* The agency proving itself on a new connection closes this one. */
      takeover = g_strdup_printf ("takeover::%u", agency);
      g_signal_connect_object (self->state, takeover,
                               G_CALLBACK (lottery_connection_close), self,
                               G_CONNECT_SWAPPED);
      self->id = agency;
      advance (self, event == LOTTERY_DISPATCH_WELCOMED_FINISHED
                       ? CONN_FINISHED : CONN_UPLOAD);
      return;

    case LOTTERY_DISPATCH_RESUMED:
      settle (self);
      return;

    case LOTTERY_DISPATCH_CLOSE:
      begin_closing (self);
      return;

    case LOTTERY_DISPATCH_WORK_DONE:
      lottery_reply_order_release_held (self->answers);
      settle (self);
      return;

    case LOTTERY_DISPATCH_QUERY_FAILED:
      fail_and_close (self, "consulta_ganadores", error);
      return;

    case LOTTERY_DISPATCH_FINISHED:
    case LOTTERY_DISPATCH_DRAW_DUE:
      advance (self, CONN_FINISHED);
      if (event == LOTTERY_DISPATCH_DRAW_DUE)
        g_signal_emit (self, signals[SIGNAL_DRAW_DUE], 0);
      return;
    }
}

/* What the connection expects in each state: a view of it for the
 * dispatch, as waiting_for () is for its clocks. No frames are read
 * in the others. */
static const LotteryExpect expecting[CONN_DONE + 1] = {
  [CONN_HELLO] = LOTTERY_EXPECT_HELLO,
  [CONN_AUTH] = LOTTERY_EXPECT_AUTH,
  [CONN_UPLOAD] = LOTTERY_EXPECT_UPLOAD,
  [CONN_FINISHED] = LOTTERY_EXPECT_QUERIES,
};

static void
handle_frame (LotteryConnection *self,
              GBytes            *frame)
{
  g_autoptr(GError) error = NULL;

  if (!lottery_dispatch_frame (self->dispatch, expecting[self->conn_state],
                               frame, &error))
    fail_and_close (self, "receive_message", error);
}

/* ---- TLS ---- */

static void
admitted_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(LotteryConnection) self = user_data;
  g_autoptr(GError) error = NULL;

  switch (lottery_transport_admit_finish (self->transport, result,
                                          self->conn_state >= CONN_CLOSED,
                                          &error))
    {
    case LOTTERY_ADMIT_STOPPED:
      settle (self);
      return;

    case LOTTERY_ADMIT_IN_CLEAR:
      fail_and_close (self, "tls_handshake", error);
      return;

    case LOTTERY_ADMIT_FAILED:
      close_now (self);
      return;

    case LOTTERY_ADMIT_ADMITTED:
      self->conn_state = CONN_HELLO;
      lottery_frame_io_start (self->io);
      return;
    }
}

void
lottery_connection_set_timeouts (LotteryConnection *self,
                                 guint              io_timeout_s,
                                 guint              idle_timeout_s)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  lottery_deadlines_set (self->deadlines, io_timeout_s, idle_timeout_s);
}

/* What the clocks of the connection are waiting for now. */
static LotteryWait
waiting_for (LotteryConnection *self)
{
  if (self->conn_state == CONN_CLOSING || self->conn_state == CONN_TLS)
    return LOTTERY_WAIT_REPLIES_ONLY;
  if (self->id == 0)
    return self->conn_state == CONN_AUTH ? LOTTERY_WAIT_AUTH
                                         : LOTTERY_WAIT_HELLO;
  return LOTTERY_WAIT_AGENCY;
}

/* Called about once a second by the server (see LotteryDeadlines). */
void
lottery_connection_check_timeouts (LotteryConnection *self,
                                   gint64             now)
{
  g_autoptr(GError) error = NULL;
  gboolean owed;

  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  if (self->conn_state >= CONN_CLOSED)
    return;

  owed = is_busy (self) || lottery_reply_order_get_waiting (self->answers) > 0;
  switch (lottery_deadlines_check (self->deadlines, self->io, now,
                                   waiting_for (self), owed, &error))
    {
    case LOTTERY_LATE_NONE:
      return;

    case LOTTERY_LATE_UNREAD:
      lottery_log (LOTTERY_LOG_ERROR, "send_reply", "fail",
                   "agency: %u | ip: %s | error: answers not read within %u "
                   "seconds", self->id, self->peer,
                   lottery_deadlines_get_io_seconds (self->deadlines));
      close_now (self);
      return;

    case LOTTERY_LATE_MESSAGE:
      fail_and_close (self, "receive_message", error);
      return;
    }
}

/* Starts reading; over TLS, once the gate has let the client in. */
void
lottery_connection_start (LotteryConnection *self)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));
  g_return_if_fail (lottery_transport_can_start (self->transport));

  lottery_dispatch_start_login (self->dispatch, self->auth);

  if (!lottery_transport_is_tls (self->transport))
    {
      lottery_frame_io_start (self->io);
      return;
    }

  self->conn_state = CONN_TLS;
  lottery_transport_admit_async (self->transport, self->cancellable,
                                 admitted_cb, g_object_ref (self));
}
