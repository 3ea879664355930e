/* lottery-connection.c: the server's side of one agency connection:
 * the protocol's state machine (HELLO, AUTH, batches, FINISH, queries),
 * answers in order with what waits for the disk, and the decision that
 * the connection is over and its agency free again.
 *
 * Owns its LotteryFrameIO and the work in flight for it (a batch job, a
 * FINISH waiting for the disk, a query parked in LotteryState); uses the
 * server's LotteryTlsGate, state and storage. Runs on the main context;
 * only the batch job runs in a worker thread.
 */
#include "config.h"

#include "lottery-connection.h"
#include "lottery-batch-job.h"
#include "lottery-error.h"
#include "lottery-frame-io.h"
#include "lottery-log.h"
#include "lottery-login.h"
#include "lottery-metrics.h"
#include "lottery-protocol.h"
#include "lottery-status-reply.h"
#include "lottery-stream.h"

#include <glib/gi18n.h>

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

  GIOStream         *stream;     /* (owned): the socket, or TLS over it */
  GSocketConnection *connection; /* (owned) */
  LotteryFrameIO    *io;         /* (owned) */
  GCancellable      *cancellable; /* (owned): cancelled by close_now () */
  LotteryState      *state;      /* (owned) */
  LotteryStore      *storage;    /* (owned) */
  LotteryAuth       *auth;       /* (owned) (nullable): NULL, open mode */
  LotteryTlsGate    *gate;       /* (owned) (nullable): lets TLS in */
  char              *peer;       /* (owned) */

  ConnState          conn_state;
  LotteryLogin      *login;      /* (owned) (nullable): from start () */
  guint              id;         /* agency id once HELLO is accepted */

  /* Work in flight: while any is, the connection is not done. */
  gboolean           busy;       /* a batch job, FINISH or query runs */
  gboolean           querying;   /* the query is parked in the state */
  guint              syncing;    /* answers waiting for the disk */
  gboolean           handshaking; /* the gate has the socket */
  gboolean           io_closed;  /* the frame I/O emitted ::closed */

  guint32            finishing;  /* the FINISH waiting for the disk */
  GBytes            *held_error; /* (owned) (nullable): an ERROR waiting
                                  * for a busy worker */

  gint64             io_timeout;   /* usec to finish a started message */
  gint64             idle_timeout; /* usec of silence allowed */
  gint64             accepted;     /* when the connection came in */
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

  g_clear_object (&self->io);
  g_clear_object (&self->stream);
  g_clear_object (&self->connection);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->state);
  g_clear_object (&self->storage);
  g_clear_object (&self->auth);
  g_clear_object (&self->gate);
  g_clear_pointer (&self->login, lottery_login_free);
  g_free (self->peer);
  g_clear_pointer (&self->held_error, g_bytes_unref);

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
  self->io_timeout = 10 * G_USEC_PER_SEC;
  self->idle_timeout = 300 * G_USEC_PER_SEC;
  self->accepted = g_get_monotonic_time ();
}

static char *
describe_peer (GSocketConnection *connection)
{
  g_autoptr(GSocketAddress) address =
    g_socket_connection_get_remote_address (connection, NULL);

  if (G_IS_INET_SOCKET_ADDRESS (address))
    return g_inet_address_to_string (g_inet_socket_address_get_address (
                                       G_INET_SOCKET_ADDRESS (address)));

  return g_strdup ("unknown");
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
                 lottery_login_get_agency (self->login), self->peer);
  /* A probe that connects and leaves is not an error. */
  if (discarded > 0)
    lottery_log (G_LOG_LEVEL_DEBUG, "receive_message", "fail",
                 "agency: %u | ip: %s | discarded_bytes: %" G_GUINT64_FORMAT,
                 self->id, self->peer, discarded);
  /* A query parked until the draw is withdrawn at once, so that the
   * agency can reconnect. */
  if (self->querying)
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

/* @stream is what the agency speaks over: @connection itself, or a
 * GTlsServerConnection over it (its handshake not yet done: set a
 * gate). @connection gives the peer's address and the socket.
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
  self->stream = g_object_ref (stream);
  self->connection = g_object_ref (connection);
  self->state = g_object_ref (state);
  self->storage = g_object_ref (storage);
  self->peer = describe_peer (connection);
  self->io = lottery_frame_io_new (stream, connection);
  g_signal_connect_object (self->io, "frame", G_CALLBACK (io_frame_cb), self,
                           0);
  g_signal_connect_object (self->io, "bad-frame",
                           G_CALLBACK (io_bad_frame_cb), self, 0);
  g_signal_connect_object (self->io, "failed", G_CALLBACK (io_failed_cb),
                           self, 0);
  g_signal_connect_object (self->io, "eof", G_CALLBACK (io_eof_cb), self, 0);
  g_signal_connect_object (self->io, "closed", G_CALLBACK (io_closed_cb),
                           self, 0);

  /* Replies wait for no Nagle delay, and a peer that vanished (a cable
   * pulled, a partition) frees its agency within a minute. */
  lottery_socket_tune (g_socket_connection_get_socket (connection));

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

  g_set_object (&self->gate, gate);
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
  gboolean owed = self->busy || self->syncing > 0;

  switch (self->conn_state)
    {
    case CONN_TLS:
      return;

    case CONN_HELLO:
    case CONN_AUTH:
    case CONN_UPLOAD:
    case CONN_FINISHED:
      lottery_frame_io_set_paused (self->io, self->busy ||
                                             self->syncing >= MAX_SYNCING);
      return;

    case CONN_CLOSING:
      lottery_frame_io_stop_reading (self->io);
      /* Not while answers are still to come. */
      if (!owed)
        lottery_frame_io_close_after_flush (self->io);
      return;

    case CONN_CLOSED:
      if (owed || self->handshaking || !self->io_closed)
        return;
      /* Only now may another connection speak for this agency: a batch
       * still being stored must be counted before a resume is offered. */
      if (self->id != 0)
        lottery_state_release_agency (self->state, self->id);
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
  g_cancellable_cancel (self->cancellable);
  if (self->id != 0)
    lottery_log (G_LOG_LEVEL_INFO, "close_connection", "success",
                 "agency: %u | ip: %s", self->id, self->peer);
  else
    lottery_log (G_LOG_LEVEL_DEBUG, "close_connection", "success",
                 "ip: %s", self->peer);

  /* A handshake thread may still be using the socket: it is closed when
   * the gate returns it. */
  if (!self->handshaking)
    lottery_frame_io_close (self->io);
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

static void
send_frame (LotteryConnection *self,
            const guint8      *frame,
            gsize              len)
{
  lottery_frame_io_send (self->io, frame, len);
}

/* @error as an ERROR frame in @frame (LOTTERY_FRAME_MAX bytes). */
/* The text travels in C, as log values do: the server's locale is not
 * the agency's. */
static gsize
encode_error (guint8       *frame,
              const GError *error,
              guint32       sequence)
{
  return lottery_message_encode_error (frame, lottery_error_to_wire_code (error),
                                       sequence,
                                       lottery_error_get_untranslated (error));
}

static void
send_error (LotteryConnection *self,
            const GError      *error,
            guint32            sequence)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  send_frame (self, frame, encode_error (frame, error, sequence));
}

typedef struct
{
  LotteryConnection *agency; /* (owned) */
  GBytes            *frame;  /* (owned) */
} OrderedFrame;

static void
ordered_frame_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  OrderedFrame *ordered = user_data;
  g_autoptr(LotteryConnection) self = ordered->agency;
  g_autoptr(GBytes) frame = ordered->frame;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);

  g_free (ordered);
  self->syncing--;
  lottery_store_sync_finish (LOTTERY_STORE (source), result, NULL);
  send_frame (self, data, len);
  settle (self);
}

/* Sends @frame after every answer still waiting for the disk: it takes
 * its turn in the same queue. */
static void
send_frame_in_order (LotteryConnection *self,
                     GBytes            *frame)
{
  OrderedFrame *ordered;
  gsize len;
  const guint8 *data;

  if (self->syncing == 0)
    {
      data = g_bytes_get_data (frame, &len);
      send_frame (self, data, len);
      return;
    }

  ordered = g_new (OrderedFrame, 1);
  ordered->agency = g_object_ref (self);
  ordered->frame = g_bytes_ref (frame);
  self->syncing++;
  lottery_store_sync_async (self->storage, 0, NULL, ordered_frame_cb,
                              ordered);
}

/* An ERROR that must not overtake the answers of batches before it: if
 * a batch is still in a worker, it waits until that batch has asked for
 * its sync (release_held_error ()). Only the first is kept: the
 * connection closes after it. */
static void
send_error_in_order (LotteryConnection *self,
                     const GError      *error,
                     guint32            sequence)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autoptr(GBytes) bytes = NULL;

  bytes = g_bytes_new (frame, encode_error (frame, error, sequence));
  if (self->busy)
    {
      if (self->held_error == NULL)
        self->held_error = g_steal_pointer (&bytes);
      return;
    }
  send_frame_in_order (self, bytes);
}

static void
release_held_error (LotteryConnection *self)
{
  g_autoptr(GBytes) frame = NULL;

  if (self->busy || self->held_error == NULL)
    return;
  frame = g_steal_pointer (&self->held_error);
  send_frame_in_order (self, frame);
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

  send_error_in_order (self, error, 0);
  begin_closing (self);
}

/* ---- batches ---- */

/* Answers batch @sequence of @count bets with @error. */
static void
refuse_batch (LotteryConnection *self,
              guint32            sequence,
              guint              count,
              const GError      *error)
{
  g_autofree char *reason = lottery_log_error_value (error);

  lottery_log (LOTTERY_LOG_ERROR, "apuesta_recibida", "fail",
               "cantidad: %u", count);
  lottery_log (LOTTERY_LOG_ERROR, "rechazar_lote", "fail",
               "agency: %u | lote: %u | error: %s", self->id, sequence,
               reason);
  send_error (self, error, sequence);
}

/* Answers every batch of @job, in order. */
static void
answer_batches (LotteryConnection *self,
                LotteryBatchJob   *job)
{
  guint i;

  for (i = 0; i < lottery_batch_job_get_n_batches (job); i++)
    {
      guint32 sequence;
      guint count;
      const GError *error = lottery_batch_job_get_result (job, i, &sequence,
                                                          &count);
      guint8 frame[LOTTERY_FRAME_MAX];

      lottery_metrics_count_batch (lottery_metrics_get_default (),
                                   lottery_metrics_classify_batch (error),
                                   lottery_batch_job_get_arrived (job));
      if (error != NULL)
        refuse_batch (self, sequence, count, error);
      else
        {
          lottery_log (G_LOG_LEVEL_INFO, "apuesta_recibida", "success",
                       "cantidad: %u", count);
          send_frame (self, frame,
                      lottery_message_encode_ack (frame, sequence,
                                                  (guint16) count));
        }
    }
}

static void
batch_synced_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  LotteryConnection *self = LOTTERY_CONNECTION (g_task_get_source_object (task));
  LotteryBatchJob *job = lottery_batch_job_run_finish (G_ASYNC_RESULT (task));
  g_autoptr(GError) error = NULL;

  self->syncing--;
  /* Written but not known to be on disk: not acknowledged. The storage
   * refuses more until a restart sorts out what is there. */
  if (!lottery_store_sync_finish (LOTTERY_STORE (source), result, &error))
    lottery_batch_job_fail_stored (job, error);
  answer_batches (self, job);

  settle (self);
}

static void
batch_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  LotteryConnection *self = LOTTERY_CONNECTION (source);
  LotteryBatchJob *job = lottery_batch_job_run_finish (result);

  self->busy = FALSE;
  /* Answers keep their order: every group waits its turn, also one
   * with nothing written. */
  self->syncing++;
  lottery_store_sync_async (self->storage, lottery_batch_job_get_ticket (job),
                              NULL, batch_synced_cb, g_object_ref (result));
  release_held_error (self);
  settle (self);
}

/* Takes @first and the BATCH frames queued right behind it: one thread
 * hop, one write to bets.csv and one reply write per group. */
static void
start_batches (LotteryConnection    *self,
               GBytes               *first,
               const LotteryMessage *message)
{
  LotteryBatchJob *job = lottery_batch_job_new (self->state, self->storage,
                                                self->id);
  LotteryMessage next;
  GBytes *frame;

  lottery_batch_job_add (job, first, message);
  while (lottery_batch_job_get_n_batches (job) < LOTTERY_BATCH_JOB_MAX &&
         (frame = lottery_frame_io_peek_frame (self->io)) != NULL)
    {
      gsize len;
      const guint8 *body = g_bytes_get_data (frame, &len);

      if (body[0] != LOTTERY_MESSAGE_BATCH ||
          !lottery_message_decode (body, len, &next, NULL))
        break;
      lottery_batch_job_add (job, frame, &next);
      g_bytes_unref (lottery_frame_io_pop_frame (self->io));
    }

  self->busy = TRUE;
  lottery_batch_job_run_async (job, self, batch_done_cb, NULL);
}

/* ---- winners ---- */

static void
query_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(LotteryConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) winners = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint n, sent = 0;

  self->busy = FALSE;
  self->querying = FALSE;
  winners = lottery_state_query_winners_finish (LOTTERY_STATE (source),
                                                result, &error);
  if (winners == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        fail_and_close (self, "consulta_ganadores", error);
      settle (self);
      return;
    }

  n = g_strv_length (winners);
  do
    {
      guint encoded;
      gsize len = lottery_message_encode_winners (
        frame, (const char * const *) winners + sent, n - sent, &encoded);

      send_frame (self, frame, len);
      sent += encoded;
    }
  while (sent < n);

  lottery_log (G_LOG_LEVEL_INFO, "consulta_ganadores", "success",
               "agency: %u | cant_ganadores: %u", self->id, n);
  release_held_error (self);
  settle (self);
}

/* ---- dispatch ---- */

/* Refuses the HELLO (or AUTH) of @agency, then closes; the line names
 * the agency asked for and the peer. */
static void
refuse_hello (LotteryConnection *self,
              guint32            agency,
              const GError      *error)
{
  g_autofree char *reason = lottery_log_error_value (error);

  lottery_log (LOTTERY_LOG_ERROR, "hello", "fail",
               "agency: %u | ip: %s | error: %s", agency, self->peer, reason);
  send_error (self, error, 0);
  begin_closing (self);
}

/* Sends what the login answered, or refuses; WELCOMED makes this
 * connection the agency's. */
static void
login_step (LotteryConnection  *self,
            LotteryLoginResult  result,
            const guint8       *reply,
            gsize               reply_len,
            const GError       *error)
{
  guint32 agency = lottery_login_get_agency (self->login);

  switch (result)
    {
    case LOTTERY_LOGIN_REFUSED:
      refuse_hello (self, agency, error);
      return;

    case LOTTERY_LOGIN_CHALLENGED:
      advance (self, CONN_AUTH);
      break;

    case LOTTERY_LOGIN_WELCOMED:
      {
        /* The agency proving itself on a new connection closes this one. */
        g_autofree char *takeover = g_strdup_printf ("takeover::%u", agency);

        g_signal_connect_object (self->state, takeover,
                                 G_CALLBACK (lottery_connection_close), self,
                                 G_CONNECT_SWAPPED);
      }
      self->id = agency;
      advance (self, lottery_login_get_finished (self->login) ? CONN_FINISHED
                                                              : CONN_UPLOAD);
      break;

    case LOTTERY_LOGIN_WAITING:
      return;
    }
  send_frame (self, reply, reply_len);
}

/* A takeover waited for the agency's old connection; if this one closed
 * meanwhile, the agency it was given goes back. */
static void
login_resumed_cb (LotteryLoginResult  result,
                  const guint8       *reply,
                  gsize               reply_len,
                  const GError       *error,
                  gpointer            user_data)
{
  LotteryConnection *self = user_data;

  if (self->conn_state >= CONN_CLOSING)
    {
      if (result == LOTTERY_LOGIN_WELCOMED)
        lottery_state_release_agency (self->state,
                                      lottery_login_get_agency (self->login));
      return;
    }
  login_step (self, result, reply, reply_len, error);
  settle (self);
}

static void
handle_auth (LotteryConnection    *self,
             const LotteryMessage *message)
{
  g_autoptr(GError) error = NULL;
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  LotteryLoginResult result;

  advance (self, CONN_HELLO);
  result = lottery_login_auth (self->login, message->auth.proof, reply,
                               &reply_len, &error);
  login_step (self, result, reply, reply_len, error);
}

static void
handle_hello (LotteryConnection    *self,
              const LotteryMessage *message)
{
  g_autoptr(GError) error = NULL;
  guint8 reply[LOTTERY_FRAME_MAX];
  gsize reply_len = 0;
  LotteryLoginResult result;

  if (message->hello.version != LOTTERY_PROTOCOL_VERSION)
    {
      lottery_fail (&error, LOTTERY_ERROR_VERSION,
                    N_("Protocol version %u is not supported; this server "
                       "speaks version %d"),
                    message->hello.version, LOTTERY_PROTOCOL_VERSION);
      fail_and_close (self, "hello", error);
      return;
    }

  result = lottery_login_hello (self->login, message->hello.agency, reply,
                                &reply_len, &error);
  login_step (self, result, reply, reply_len, error);
}

static void
log_finish_failed (LotteryConnection *self,
                   const GError      *error)
{
  g_autofree char *reason = lottery_log_error_value (error);

  lottery_log (LOTTERY_LOG_ERROR, "finish", "fail", "agency: %u | error: %s",
               self->id, reason);
}

static void
finish_synced_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(LotteryConnection) self = user_data;
  guint32 last_sequence = self->finishing;
  g_autoptr(GError) error = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  gboolean draw_due = FALSE;
  guint64 stored;

  self->busy = FALSE;
  self->syncing--;
  if (!lottery_store_sync_finish (LOTTERY_STORE (source), result, &error) ||
      !lottery_state_finish_agency (self->state, self->id, last_sequence,
                                    &draw_due, &error))
    {
      log_finish_failed (self, error);
      send_error (self, error, last_sequence);
    }
  else
    {
      advance (self, CONN_FINISHED);
      stored = lottery_state_get_agency_bets (self->state, self->id);
      lottery_log (G_LOG_LEVEL_INFO, "finish", "success",
                   "agency: %u | cantidad: %" G_GUINT64_FORMAT, self->id,
                   stored);
      send_frame (self, frame, lottery_message_encode_finished (frame, stored));
      if (draw_due)
        g_signal_emit (self, signals[SIGNAL_DRAW_DUE], 0);
    }

  release_held_error (self);
  settle (self);
}

/* FINISH is journaled, and answered once on disk like a batch, so a
 * restarted server still knows the agency is done. The record is 32
 * bytes into the page cache: written here, on the main thread. */
static void
handle_finish (LotteryConnection    *self,
               const LotteryMessage *message)
{
  LotteryStoreRecord record = { LOTTERY_STORE_RECORD_FINISH, 0, 0, 0, 0 };
  g_autoptr(GError) error = NULL;
  guint32 last_sequence = message->finish.last_sequence;
  guint64 ticket;

  record.agency = self->id;
  record.sequence = last_sequence;
  if (!lottery_state_check_finish (self->state, self->id, last_sequence,
                                   &error) ||
      !lottery_store_append (self->storage, NULL, &record, 1, &ticket,
                               &error))
    {
      log_finish_failed (self, error);
      send_error_in_order (self, error, last_sequence);
      return;
    }

  /* Nothing else of this agency is handled until it is answered. */
  self->busy = TRUE;
  self->syncing++;
  self->finishing = last_sequence;
  lottery_store_sync_async (self->storage, ticket, NULL, finish_synced_cb,
                              g_object_ref (self));
}

static void
handle_frame (LotteryConnection *self,
              GBytes            *frame)
{
  g_autoptr(GError) error = NULL;
  LotteryMessage message;
  gsize len;
  const guint8 *body = g_bytes_get_data (frame, &len);
  guint8 reply[LOTTERY_FRAME_MAX];

  if (!lottery_message_decode (body, len, &message, &error))
    {
      fail_and_close (self, "receive_message", error);
      return;
    }

  /* PING works at any time, without a HELLO: it is the health check. */
  if (message.type == LOTTERY_MESSAGE_PING)
    {
      send_frame (self, reply,
                  lottery_message_encode_empty (reply, LOTTERY_MESSAGE_PONG));
      return;
    }
  /* STATUS too: counts only, for operators and health checks. */
  if (message.type == LOTTERY_MESSAGE_STATUS)
    {
      g_autoptr(GBytes) status = lottery_status_reply_new (self->state);
      gsize status_len;
      const guint8 *data = g_bytes_get_data (status, &status_len);

      lottery_log (G_LOG_LEVEL_DEBUG, "status", "success", "ip: %s",
                   self->peer);
      send_frame (self, data, status_len);
      return;
    }

  switch (self->conn_state)
    {
    case CONN_HELLO:
      if (message.type == LOTTERY_MESSAGE_HELLO)
        {
          handle_hello (self, &message);
          return;
        }
      break;

    case CONN_AUTH:
      if (message.type == LOTTERY_MESSAGE_AUTH)
        {
          handle_auth (self, &message);
          return;
        }
      break;

    case CONN_UPLOAD:
      if (message.type == LOTTERY_MESSAGE_BATCH)
        {
          start_batches (self, frame, &message);
          return;
        }
      if (message.type == LOTTERY_MESSAGE_FINISH)
        {
          handle_finish (self, &message);
          return;
        }
      break;

    case CONN_FINISHED:
      if (message.type == LOTTERY_MESSAGE_QUERY)
        {
          self->busy = TRUE;
          self->querying = TRUE;
          lottery_state_query_winners_async (self->state, self->id,
                                             self->cancellable, query_done_cb,
                                             g_object_ref (self));
          return;
        }
      if (message.type == LOTTERY_MESSAGE_FINISH)
        {
          /* The state names the problem: already finished. */
          handle_finish (self, &message);
          return;
        }
      if (message.type == LOTTERY_MESSAGE_BATCH)
        {
          gboolean drawn = lottery_state_get_draw_done (self->state);

          lottery_fail (&error,
                        drawn ? LOTTERY_ERROR_DRAW_DONE
                              : LOTTERY_ERROR_ALREADY_FINISHED,
                        drawn ? _("The draw has already taken place")
                              : _("Agency %u has already finished"),
                        self->id);
          refuse_batch (self, message.batch.sequence, message.batch.count,
                        error);
          return;
        }
      break;

    case CONN_TLS:
    case CONN_CLOSING:
    case CONN_CLOSED:
    case CONN_DONE:
      /* No frames are read in these states. */
      g_return_if_reached ();
    }

  lottery_fail (&error, LOTTERY_ERROR_OUT_OF_ORDER,
                N_("%s is not expected now"),
                lottery_message_type_name (message.type));
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
  gboolean ok;

  ok = lottery_tls_gate_admit_finish (LOTTERY_TLS_GATE (source), result,
                                      &error);
  self->handshaking = FALSE;

  if (self->conn_state >= CONN_CLOSED)
    {
      /* Stopped meanwhile (timeout, shutdown): the socket is free now. */
      lottery_frame_io_close (self->io);
      settle (self);
      return;
    }
  if (g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL))
    {
      /* Spoken to in the clear: answered in the clear. */
      lottery_frame_io_reply_in_clear (self->io);
      fail_and_close (self, "tls_handshake", error);
      return;
    }
  if (!ok)
    {
      close_now (self);
      return;
    }

  self->conn_state = CONN_HELLO;
  lottery_frame_io_start (self->io);
}

void
lottery_connection_set_timeouts (LotteryConnection *self,
                                 guint              io_timeout_s,
                                 guint              idle_timeout_s)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  self->io_timeout = (gint64) io_timeout_s * G_USEC_PER_SEC;
  self->idle_timeout = (gint64) idle_timeout_s * G_USEC_PER_SEC;
}

/* Called about once a second by the server. A client that starts a
 * message must finish it within io_timeout (a slow-loris holds nothing
 * for long), must say something within io_timeout of connecting, and
 * may then stay silent for idle_timeout, except while the server owes
 * it an answer (a batch being stored, a query waiting for the draw). */
void
lottery_connection_check_timeouts (LotteryConnection *self,
                                   gint64             now)
{
  g_autoptr(GError) error = NULL;
  guint io_s, idle_s;

  g_return_if_fail (LOTTERY_IS_CONNECTION (self));

  io_s = (guint) (self->io_timeout / G_USEC_PER_SEC);
  idle_s = (guint) (self->idle_timeout / G_USEC_PER_SEC);
  if (self->conn_state >= CONN_CLOSED)
    return;

  /* A peer that does not read its answers would hold the connection
   * (and its agency) forever, also once it is closing. */
  if (lottery_frame_io_write_stalled (self->io, now, self->io_timeout))
    {
      lottery_log (LOTTERY_LOG_ERROR, "send_reply", "fail",
                   "agency: %u | ip: %s | error: answers not read within %u "
                   "seconds", self->id, self->peer, io_s);
      close_now (self);
      return;
    }
  /* Before the TLS handshake nothing can be said to the client: the
   * gate keeps its deadline. */
  if (self->conn_state == CONN_CLOSING || self->conn_state == CONN_TLS)
    return;

  if (lottery_frame_io_frame_stalled (self->io, now, self->io_timeout))
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  N_("A message was not completed within %u seconds"), io_s);
  /* Until it is an agency (HELLO, and AUTH with tokens), a connection
   * has io_timeout in all: PINGs do not keep a stranger's slot. */
  else if (self->id == 0 && self->conn_state == CONN_AUTH &&
           now - self->accepted > self->io_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  N_("No AUTH came within %u seconds of connecting"), io_s);
  else if (self->id == 0 && now - self->accepted > self->io_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  N_("No HELLO came within %u seconds of connecting"), io_s);
  else if (self->busy || self->syncing > 0 ||
           lottery_frame_io_is_writing (self->io))
    /* Silence is ours, not the client's. */
    lottery_frame_io_set_activity (self->io, now);
  else if (now - lottery_frame_io_get_activity (self->io) > self->idle_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  N_("The connection was idle for %u seconds"), idle_s);

  if (error != NULL)
    fail_and_close (self, "receive_message", error);
}

/* Starts reading; over TLS, once the gate has let the client in. */
void
lottery_connection_start (LotteryConnection *self)
{
  g_return_if_fail (LOTTERY_IS_CONNECTION (self));
  g_return_if_fail (!G_IS_TLS_CONNECTION (self->stream) || self->gate != NULL);

  self->login = lottery_login_new (self->state, self->auth, self->peer);
  lottery_login_set_resume_func (self->login, login_resumed_cb, self);

  if (!G_IS_TLS_CONNECTION (self->stream))
    {
      lottery_frame_io_start (self->io);
      return;
    }

  self->conn_state = CONN_TLS;
  self->handshaking = TRUE;
  lottery_tls_gate_admit_async (self->gate, G_TLS_CONNECTION (self->stream),
                                self->connection, self->peer,
                                self->cancellable, admitted_cb,
                                g_object_ref (self));
}
