/* lottery-agency.c: the server's side of one agency connection.
 *
 * Everything here runs on the main context except store_batch_thread ().
 * Frames are read with async calls into a buffer, so no thread waits on
 * the network. BATCH frames are handed to GTask's thread pool for
 * decoding, validation and storage, one task at a time per connection
 * (taking every batch queued behind the first), so an agency's batches
 * are stored in the order it sent them. While a task runs, the next
 * frames are read ahead (up to MAX_QUEUED) and replies go out in order.
 * A winners query before the draw is parked in LotteryState, not in a
 * thread.
 *
 * Over TLS, reading starts once the handshake is done. GIO runs a
 * handshake in a thread of its pool, blocking on the socket, so it is
 * started only when the client has sent its first bytes (a port probe
 * or a silent client holds no thread), and a client that has not
 * finished it io_timeout seconds later is cancelled and closed.
 */
#include "config.h"

#include "lottery-agency.h"
#include "lottery-batch-job.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-protocol.h"
#include "lottery-status-reply.h"
#include "lottery-tls-gate.h"
#include "lottery-stream.h"

#include <glib/gi18n.h>
#include <string.h>

#define READ_BUFFER_SIZE (32 * 1024)
#define MAX_QUEUED       16 /* frames read ahead */
#define MAX_PENDING_REPLIES (64 * 1024) /* bytes of unsent replies */
#define MAX_SYNCING      16 /* groups written, waiting for the disk */

typedef enum
{
  PHASE_HELLO,    /* waiting for HELLO */
  PHASE_AUTH,     /* CHALLENGE sent, waiting for AUTH */
  PHASE_UPLOAD,   /* batches, then FINISH */
  PHASE_FINISHED, /* queries */
} Phase;

struct _LotteryAgency
{
  GObject parent_instance;

  GIOStream         *stream;    /* the connection, or TLS over it */
  GSocketConnection *connection;
  GInputStream      *input;
  GOutputStream     *output;
  GCancellable      *cancellable;
  LotteryState      *state;
  LotteryStorage    *storage;
  LotteryAuth       *auth;      /* NULL: open mode, HELLO is enough */
  char              *peer;

  guint              id;        /* agency id once HELLO is accepted */
  Phase              phase;
  guint32            challenged; /* agency of the HELLO awaiting AUTH */
  guint8             nonce[LOTTERY_AUTH_NONCE_LEN];

  guint8            *rbuf;
  gsize              rstart;    /* first unparsed byte */
  gsize              rend;      /* one past the last byte read */
  gboolean           reading;
  GQueue             queued;    /* GBytes: frame bodies not yet handled */
  gboolean           busy;      /* a batch or a query is in progress */
  guint              syncing;   /* answers waiting for the disk */
  guint32            finishing; /* the FINISH waiting for the disk */
  GBytes            *held_error; /* an ERROR waiting for a busy worker */
  gboolean           querying;  /* the query is parked in the state */

  GByteArray        *pending;   /* replies not yet handed to a write */
  GBytes            *writing;   /* the reply bytes being written */
  gboolean           close_after_flush;

  gint64             io_timeout;   /* usec to finish a started message */
  gint64             idle_timeout; /* usec of silence allowed */
  gint64             activity;     /* when the last frame arrived */
  gint64             partial_since; /* first byte of an unfinished frame,
                                     * or 0 */
  gint64             accepted;     /* when the connection came in */
  gint64             write_since;  /* when the write in progress began */

  gboolean           closing;   /* no more frames are handled */
  gboolean           closed;    /* the socket is closed */
  gboolean           announced; /* ::closed was emitted */

  LotteryTlsGate    *gate;        /* (owned) (nullable): lets TLS in */
  gboolean           handshaking;  /* the gate has the socket */
  gboolean           secured;              /* TLS: the handshake is done */
};

enum
{
  SIGNAL_DRAW_DUE,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryAgency, lottery_agency, G_TYPE_OBJECT)

static void pump (LotteryAgency *self);
static void close_now (LotteryAgency *self);

static void
lottery_agency_finalize (GObject *object)
{
  LotteryAgency *self = LOTTERY_AGENCY (object);

  g_clear_object (&self->stream);
  g_clear_object (&self->connection);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->state);
  g_clear_object (&self->storage);
  g_clear_object (&self->auth);
  g_clear_object (&self->gate);
  g_free (self->peer);
  g_free (self->rbuf);
  g_queue_clear_full (&self->queued, (GDestroyNotify) g_bytes_unref);
  g_clear_pointer (&self->pending, g_byte_array_unref);
  g_clear_pointer (&self->writing, g_bytes_unref);
  g_clear_pointer (&self->held_error, g_bytes_unref);

  G_OBJECT_CLASS (lottery_agency_parent_class)->finalize (object);
}

static void
lottery_agency_class_init (LotteryAgencyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_agency_finalize;

  /**
   * LotteryAgency::draw-due:
   *
   * This connection's FINISH was the last one: the draw should run.
   */
  signals[SIGNAL_DRAW_DUE] =
    g_signal_new ("draw-due", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * LotteryAgency::closed:
   *
   * The socket is closed and no batch of this connection is still being
   * stored: the connection holds nothing any more.
   */
  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
lottery_agency_init (LotteryAgency *self)
{
  g_queue_init (&self->queued);
  self->cancellable = g_cancellable_new ();
  self->pending = g_byte_array_new ();
  self->phase = PHASE_HELLO;
  self->io_timeout = 10 * G_USEC_PER_SEC;
  self->idle_timeout = 300 * G_USEC_PER_SEC;
  self->activity = self->accepted = g_get_monotonic_time ();
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

/* @stream is what the agency speaks over: @connection itself, or a
 * GTlsServerConnection over it (its handshake not yet done).
 * @connection gives the peer's address and the socket. */
LotteryAgency *
lottery_agency_new (GIOStream         *stream,
                    GSocketConnection *connection,
                    LotteryState      *state,
                    LotteryStorage    *storage)
{
  LotteryAgency *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);

  self = g_object_new (LOTTERY_TYPE_AGENCY, NULL);
  self->stream = g_object_ref (stream);
  self->connection = g_object_ref (connection);
  self->input = g_io_stream_get_input_stream (stream);
  self->output = g_io_stream_get_output_stream (stream);
  self->state = g_object_ref (state);
  self->storage = g_object_ref (storage);
  self->peer = describe_peer (connection);
  self->rbuf = g_malloc (READ_BUFFER_SIZE);

  /* Replies wait for no Nagle delay, and a peer that vanished (a cable
   * pulled, a partition) frees its agency within a minute. */
  lottery_socket_tune (g_socket_connection_get_socket (connection));

  return self;
}

/* With @auth, a HELLO is answered with a CHALLENGE, and the agency is
 * claimed only once its AUTH proves that it holds the agency's token.
 * Call before lottery_agency_start (). */
void
lottery_agency_set_auth (LotteryAgency *self,
                         LotteryAuth   *auth)
{
  g_return_if_fail (LOTTERY_IS_AGENCY (self));
  g_return_if_fail (auth == NULL || LOTTERY_IS_AUTH (auth));

  g_set_object (&self->auth, auth);
}

guint
lottery_agency_get_id (LotteryAgency *self)
{
  g_return_val_if_fail (LOTTERY_IS_AGENCY (self), 0);

  return self->id;
}

const char *
lottery_agency_get_peer (LotteryAgency *self)
{
  g_return_val_if_fail (LOTTERY_IS_AGENCY (self), NULL);

  return self->peer;
}

/* Emits ::closed once nothing of this connection is in flight. */
static void
maybe_announce_closed (LotteryAgency *self)
{
  if (!self->closed || self->busy || self->syncing > 0 ||
      self->writing != NULL || self->handshaking || self->announced)
    return;

  /* Only now may another connection speak for this agency: a batch
   * still being stored must be counted before a resume is offered. */
  if (self->id != 0)
    lottery_state_release_agency (self->state, self->id);
  self->announced = TRUE;
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

/* After an answer went out (or was given up): the next frames, or, on a
 * closed connection, the announcement once nothing is in flight. */
static void
carry_on (LotteryAgency *self)
{
  if (self->closed)
    maybe_announce_closed (self);
  else
    pump (self);
}

/* Closes the socket once; every later call (a write or read failing
 * because of that close, a timeout, shutdown) only tries the
 * announcement again, so that whatever order they come in, the slot and
 * the agency are released exactly once, when nothing is left in flight. */
static void
close_now (LotteryAgency *self)
{
  if (self->closed)
    {
      maybe_announce_closed (self);
      return;
    }

  self->closing = TRUE;
  self->closed = TRUE;
  g_cancellable_cancel (self->cancellable);
  /* A handshake thread may still be using the socket: it is closed when
   * the handshake returns. Over TLS the socket is closed without a
   * close_notify, which could block on a client that does not read. */
  if (!self->handshaking)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);

  if (self->id != 0)
    lottery_log (G_LOG_LEVEL_INFO, "close_connection", "success",
                 "agency: %u | ip: %s", self->id, self->peer);
  else
    lottery_log (G_LOG_LEVEL_DEBUG, "close_connection", "success",
                 "ip: %s", self->peer);

  maybe_announce_closed (self);
}

/* Stops the connection now, discarding frames not yet handled (a batch
 * half received is never stored). A batch already being stored finishes
 * first, whole. */
void
lottery_agency_close (LotteryAgency *self)
{
  g_return_if_fail (LOTTERY_IS_AGENCY (self));

  close_now (self);
}

static void flush (LotteryAgency *self);

static void
write_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(LotteryAgency) self = user_data;
  g_autoptr(GError) error = NULL;

  g_clear_pointer (&self->writing, g_bytes_unref);

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        lottery_log (G_LOG_LEVEL_DEBUG, "send_reply", "fail",
                     "agency: %u | ip: %s | error: %s", self->id, self->peer,
                     error->message);
      close_now (self);
      return;
    }

  if (self->closed)
    {
      maybe_announce_closed (self);
      return;
    }

  flush (self);
  /* Frames held back while replies piled up can go on now. */
  pump (self);
}

static void
flush (LotteryAgency *self)
{
  gsize len;

  if (self->writing != NULL || self->closed)
    return;

  if (self->pending->len == 0)
    {
      /* Not while answers are still to come. */
      if (self->close_after_flush && !self->busy && self->syncing == 0)
        close_now (self);
      return;
    }

  len = self->pending->len;
  self->write_since = g_get_monotonic_time ();
  self->writing = g_byte_array_free_to_bytes (g_steal_pointer (&self->pending));
  self->pending = g_byte_array_sized_new (256);
  g_output_stream_write_all_async (self->output,
                                   g_bytes_get_data (self->writing, NULL), len,
                                   G_PRIORITY_DEFAULT, self->cancellable,
                                   write_done_cb, g_object_ref (self));
}

/* Queues a reply; replies leave in the order they were queued. */
static void
send_frame (LotteryAgency *self,
            const guint8  *frame,
            gsize          len)
{
  if (self->closed)
    return;

  g_byte_array_append (self->pending, frame, (guint) len);
  flush (self);
}

/* @error as an ERROR frame in @frame (LOTTERY_FRAME_MAX bytes); errors
 * of other domains travel as "failed". */
static gsize
encode_error (guint8       *frame,
              const GError *error,
              guint32       sequence)
{
  guint16 code = error->domain == LOTTERY_ERROR ? (guint16) error->code
                                                : LOTTERY_ERROR_FAILED;

  return lottery_message_encode_error (frame, code, sequence, error->message);
}

static void
send_error (LotteryAgency *self,
            const GError  *error,
            guint32        sequence)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  send_frame (self, frame, encode_error (frame, error, sequence));
}

typedef struct
{
  LotteryAgency *agency;
  GBytes        *frame;
} OrderedFrame;

static void
ordered_frame_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  OrderedFrame *ordered = user_data;
  g_autoptr(LotteryAgency) self = ordered->agency;
  g_autoptr(GBytes) frame = ordered->frame;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);

  g_free (ordered);
  self->syncing--;
  lottery_storage_sync_finish (LOTTERY_STORAGE (source), result, NULL);
  send_frame (self, data, len);
  carry_on (self);
}

/* Sends @frame after every answer still waiting for the disk: it takes
 * its turn in the same queue. */
static void
send_frame_in_order (LotteryAgency *self,
                     GBytes        *frame)
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
  lottery_storage_sync_async (self->storage, 0, NULL, ordered_frame_cb,
                              ordered);
}

/* An ERROR that must not overtake the answers of batches before it: if
 * a batch is still in a worker, it waits until that batch has asked for
 * its sync (release_held_error ()). Only the first is kept: the
 * connection closes after it. */
static void
send_error_in_order (LotteryAgency *self,
                     const GError  *error,
                     guint32        sequence)
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
release_held_error (LotteryAgency *self)
{
  g_autoptr(GBytes) frame = NULL;

  if (self->busy || self->held_error == NULL)
    return;
  frame = g_steal_pointer (&self->held_error);
  send_frame_in_order (self, frame);
}

/* Replies with @error, then closes once the reply is out. */
static void
fail_and_close (LotteryAgency *self,
                const char    *action,
                const GError  *error)
{
  g_autofree char *reason = lottery_log_value (error->message);

  if (self->id != 0)
    lottery_log (LOTTERY_LOG_ERROR, action, "fail",
                 "agency: %u | ip: %s | error: %s", self->id, self->peer,
                 reason);
  else
    lottery_log (LOTTERY_LOG_ERROR, action, "fail", "ip: %s | error: %s",
                 self->peer, reason);

  send_error_in_order (self, error, 0);
  self->closing = TRUE;
  self->close_after_flush = TRUE;
  flush (self);
}

/* ---- batches ---- */

/* Answers every batch of @job, in order. */
static void
answer_batches (LotteryAgency   *self,
                LotteryBatchJob *job)
{
  guint i;

  for (i = 0; i < lottery_batch_job_get_n_batches (job); i++)
    {
      guint32 sequence;
      guint count;
      const GError *error = lottery_batch_job_get_result (job, i, &sequence,
                                                          &count);
      guint8 frame[LOTTERY_FRAME_MAX];

      if (error != NULL)
        {
          g_autofree char *reason = lottery_log_value (error->message);

          lottery_log (LOTTERY_LOG_ERROR, "apuesta_recibida", "fail",
                       "cantidad: %u", count);
          lottery_log (LOTTERY_LOG_ERROR, "rechazar_lote", "fail",
                       "agency: %u | lote: %u | error: %s", self->id,
                       sequence, reason);
          send_error (self, error, sequence);
        }
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
  LotteryAgency *self = LOTTERY_AGENCY (g_task_get_source_object (task));
  LotteryBatchJob *job = lottery_batch_job_run_finish (G_ASYNC_RESULT (task));
  g_autoptr(GError) error = NULL;

  self->syncing--;
  /* Written but not known to be on disk: not acknowledged. The storage
   * refuses more until a restart sorts out what is there. */
  if (!lottery_storage_sync_finish (LOTTERY_STORAGE (source), result, &error))
    lottery_batch_job_fail_stored (job, error);
  answer_batches (self, job);

  carry_on (self);
}

static void
batch_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  LotteryAgency *self = LOTTERY_AGENCY (source);
  LotteryBatchJob *job = lottery_batch_job_run_finish (result);

  self->busy = FALSE;
  /* Answers keep their order: every group waits its turn, also one
   * with nothing written. */
  self->syncing++;
  lottery_storage_sync_async (self->storage, lottery_batch_job_get_ticket (job),
                              NULL, batch_synced_cb, g_object_ref (result));
  release_held_error (self);

  if (!self->closed)
    pump (self);
}

/* Takes @first and the BATCH frames queued right behind it: one thread
 * hop, one write to bets.csv and one reply write per group. */
static void
start_batches (LotteryAgency        *self,
               GBytes               *first,
               const LotteryMessage *message)
{
  LotteryBatchJob *job = lottery_batch_job_new (self->state, self->storage,
                                                self->id);
  LotteryMessage next;
  GBytes *frame;

  lottery_batch_job_add (job, first, message);
  while (lottery_batch_job_get_n_batches (job) < LOTTERY_BATCH_JOB_MAX &&
         (frame = g_queue_peek_head (&self->queued)) != NULL)
    {
      gsize len;
      const guint8 *body = g_bytes_get_data (frame, &len);

      if (body[0] != LOTTERY_MESSAGE_BATCH ||
          !lottery_message_decode (body, len, &next, NULL))
        break;
      lottery_batch_job_add (job, frame, &next);
      g_bytes_unref (g_queue_pop_head (&self->queued));
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
  g_autoptr(LotteryAgency) self = user_data;
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
      maybe_announce_closed (self);
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
  carry_on (self);
}

/* ---- dispatch ---- */

/* Refuses the HELLO (or AUTH) of @agency, then closes; the line names
 * the agency asked for and the peer. */
static void
refuse_hello (LotteryAgency *self,
              guint32        agency,
              const GError  *error)
{
  g_autofree char *with_agency =
    g_strdup_printf ("agency: %u | ip: %s", agency, self->peer);

  lottery_log (LOTTERY_LOG_ERROR, "hello", "fail", "%s | error: %s",
               with_agency, error->message);
  send_error (self, error, 0);
  self->closing = TRUE;
  self->close_after_flush = TRUE;
  flush (self);
}

/* Claims @agency for this connection and answers WELCOME. */
static void
welcome_agency (LotteryAgency *self,
                guint32        agency)
{
  g_autoptr(GError) error = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint32 last_sequence;
  gboolean finished;
  guint8 flags = 0;

  if (!lottery_state_claim_agency (self->state, agency, &last_sequence,
                                   &finished, &error))
    {
      refuse_hello (self, agency, error);
      return;
    }

  self->id = agency;
  self->phase = finished ? PHASE_FINISHED : PHASE_UPLOAD;
  if (finished)
    flags |= LOTTERY_WELCOME_FINISHED;
  if (lottery_state_get_draw_done (self->state))
    flags |= LOTTERY_WELCOME_DRAW_DONE;

  lottery_log (G_LOG_LEVEL_INFO, "hello", "success",
               "agency: %u | ip: %s | last_batch: %u", self->id, self->peer,
               last_sequence);
  send_frame (self, frame,
              lottery_message_encode_welcome (frame, last_sequence, flags));
}

/* Tokens are required: before anything is claimed (so that not even
 * "busy" is told to a stranger), the agency must answer a fresh nonce
 * with proof that it holds its token. A connection that never answers
 * holds nothing. */
static void
send_challenge (LotteryAgency *self,
                guint32        agency)
{
  g_autoptr(GError) error = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];

  if (!lottery_auth_check_agency (self->auth, agency, &error) ||
      !lottery_auth_random (self->nonce, sizeof self->nonce, &error))
    {
      refuse_hello (self, agency, error);
      return;
    }

  self->challenged = agency;
  self->phase = PHASE_AUTH;
  lottery_log (G_LOG_LEVEL_DEBUG, "hello", "in_progress",
               "agency: %u | ip: %s | challenge: sent", agency, self->peer);
  send_frame (self, frame,
              lottery_message_encode_challenge (frame, self->nonce));
}

static void
handle_auth (LotteryAgency        *self,
             const LotteryMessage *message)
{
  g_autoptr(GError) error = NULL;
  guint32 agency = self->challenged;
  gboolean ok;

  ok = lottery_auth_verify (self->auth, agency, self->nonce,
                            message->auth.proof, &error);
  /* A nonce is good for one answer, right or wrong. */
  lottery_auth_wipe (self->nonce, sizeof self->nonce);
  self->challenged = 0;
  self->phase = PHASE_HELLO;
  if (!ok)
    {
      refuse_hello (self, agency, error);
      return;
    }

  lottery_log (G_LOG_LEVEL_DEBUG, "auth", "success", "agency: %u | ip: %s",
               agency, self->peer);
  welcome_agency (self, agency);
}

static void
handle_hello (LotteryAgency        *self,
              const LotteryMessage *message)
{
  g_autoptr(GError) error = NULL;

  if (message->hello.version != LOTTERY_PROTOCOL_VERSION)
    {
      lottery_fail (&error, LOTTERY_ERROR_VERSION,
                    _("Protocol version %u is not supported; this server "
                      "speaks version %d"),
                    message->hello.version, LOTTERY_PROTOCOL_VERSION);
      fail_and_close (self, "hello", error);
      return;
    }

  if (self->auth != NULL)
    send_challenge (self, message->hello.agency);
  else
    welcome_agency (self, message->hello.agency);
}

static void
finish_synced_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(LotteryAgency) self = user_data;
  guint32 last_sequence = self->finishing;
  g_autoptr(GError) error = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  gboolean draw_due = FALSE;
  guint64 stored;

  self->busy = FALSE;
  self->syncing--;
  if (!lottery_storage_sync_finish (LOTTERY_STORAGE (source), result, &error) ||
      !lottery_state_finish_agency (self->state, self->id, last_sequence,
                                    &draw_due, &error))
    {
      lottery_log (LOTTERY_LOG_ERROR, "finish", "fail",
                   "agency: %u | error: %s", self->id, error->message);
      send_error (self, error, last_sequence);
    }
  else
    {
      self->phase = PHASE_FINISHED;
      stored = lottery_state_get_agency_bets (self->state, self->id);
      lottery_log (G_LOG_LEVEL_INFO, "finish", "success",
                   "agency: %u | cantidad: %" G_GUINT64_FORMAT, self->id,
                   stored);
      send_frame (self, frame, lottery_message_encode_finished (frame, stored));
      if (draw_due)
        g_signal_emit (self, signals[SIGNAL_DRAW_DUE], 0);
    }

  release_held_error (self);
  carry_on (self);
}

/* FINISH is journaled, and answered once on disk like a batch, so a
 * restarted server still knows the agency is done. The record is 32
 * bytes into the page cache: written here, on the main thread. */
static void
handle_finish (LotteryAgency        *self,
               const LotteryMessage *message)
{
  LotteryStorageRecord record = { LOTTERY_STORAGE_RECORD_FINISH, 0, 0, 0, 0 };
  g_autoptr(GError) error = NULL;
  guint32 last_sequence = message->finish.last_sequence;
  guint64 ticket;

  record.agency = self->id;
  record.sequence = last_sequence;
  if (!lottery_state_check_finish (self->state, self->id, last_sequence,
                                   &error) ||
      !lottery_storage_append (self->storage, NULL, &record, 1, &ticket,
                               &error))
    {
      lottery_log (LOTTERY_LOG_ERROR, "finish", "fail",
                   "agency: %u | error: %s", self->id, error->message);
      send_error_in_order (self, error, last_sequence);
      return;
    }

  /* Nothing else of this agency is handled until it is answered. */
  self->busy = TRUE;
  self->syncing++;
  self->finishing = last_sequence;
  lottery_storage_sync_async (self->storage, ticket, NULL, finish_synced_cb,
                              g_object_ref (self));
}

static void
handle_frame (LotteryAgency *self,
              GBytes        *frame)
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

  switch (self->phase)
    {
    case PHASE_HELLO:
      if (message.type == LOTTERY_MESSAGE_HELLO)
        {
          handle_hello (self, &message);
          return;
        }
      break;

    case PHASE_AUTH:
      if (message.type == LOTTERY_MESSAGE_AUTH)
        {
          handle_auth (self, &message);
          return;
        }
      break;

    case PHASE_UPLOAD:
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

    case PHASE_FINISHED:
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
          lottery_log (LOTTERY_LOG_ERROR, "apuesta_recibida", "fail",
                       "cantidad: %u", message.batch.count);
          lottery_log (LOTTERY_LOG_ERROR, "rechazar_lote", "fail",
                       "agency: %u | lote: %u | error: %s", self->id,
                       message.batch.sequence, error->message);
          send_error (self, error, message.batch.sequence);
          return;
        }
      break;
    }

  lottery_fail (&error, LOTTERY_ERROR_OUT_OF_ORDER,
                _("%s is not expected now"),
                lottery_message_type_name (message.type));
  fail_and_close (self, "receive_message", error);
}

/* Handles queued frames, one at a time. */
static void
process (LotteryAgency *self)
{
  /* A peer that sends requests without reading the answers is not
   * answered further until it reads: replies do not pile up here. */
  while (!self->busy && !self->closing && self->syncing < MAX_SYNCING &&
         self->pending->len < MAX_PENDING_REPLIES)
    {
      g_autoptr(GBytes) frame = g_queue_pop_head (&self->queued);

      if (frame == NULL)
        return;
      handle_frame (self, frame);
    }
}

/* Moves whole frames from the read buffer to the queue. */
static gboolean
extract_frames (LotteryAgency *self)
{
  while (g_queue_get_length (&self->queued) < MAX_QUEUED &&
         self->rend - self->rstart >= LOTTERY_FRAME_PREFIX)
    {
      g_autoptr(GError) error = NULL;
      gsize body_len;

      if (!lottery_frame_parse_prefix (self->rbuf + self->rstart, &body_len,
                                       &error))
        {
          fail_and_close (self, "receive_message", error);
          return FALSE;
        }
      if (self->rend - self->rstart < LOTTERY_FRAME_PREFIX + body_len)
        break;

      g_queue_push_tail (&self->queued,
                         g_bytes_new (self->rbuf + self->rstart +
                                      LOTTERY_FRAME_PREFIX, body_len));
      self->rstart += LOTTERY_FRAME_PREFIX + body_len;
      self->activity = g_get_monotonic_time ();
      /* What follows a whole frame is a new frame's start, if anything. */
      self->partial_since = self->rstart < self->rend ? self->activity : 0;
    }

  return TRUE;
}

static void read_more (LotteryAgency *self);

static void
read_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(LotteryAgency) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  self->reading = FALSE;
  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (self->closed)
    return;
  if (n < 0)
    {
      lottery_log (G_LOG_LEVEL_DEBUG, "receive_message", "fail",
                   "agency: %u | ip: %s | error: %s", self->id, self->peer,
                   error->message);
      close_now (self);
      return;
    }
  if (n == 0)
    {
      /* A client without a token leaves after the CHALLENGE: say so,
       * or the refusal leaves no trace. */
      if (self->phase == PHASE_AUTH)
        lottery_log (LOTTERY_LOG_ERROR, "hello", "fail",
                     "agency: %u | ip: %s | error: no AUTH after the "
                     "CHALLENGE (no token?)", self->challenged, self->peer);
      /* A probe that connects and leaves is not an error. */
      if (self->rend > self->rstart)
        lottery_log (G_LOG_LEVEL_DEBUG, "receive_message", "fail",
                     "agency: %u | ip: %s | discarded_bytes: %" G_GSIZE_FORMAT,
                     self->id, self->peer, self->rend - self->rstart);
      self->rstart = self->rend = 0;
      /* A query parked until the draw is withdrawn at once, so that the
       * agency can reconnect. */
      if (self->querying)
        {
          close_now (self);
          return;
        }
      self->closing = TRUE;
      /* Replies still queued, if any, go out before the socket closes. */
      self->close_after_flush = TRUE;
      if (!self->busy && self->syncing == 0)
        flush (self);
      return;
    }

  /* Bytes of a frame still to come start its clock. */
  if (self->rstart == self->rend)
    self->partial_since = g_get_monotonic_time ();
  self->rend += (gsize) n;
  pump (self);
}

static void
read_more (LotteryAgency *self)
{
  if (self->reading || self->closing)
    return;

  /* Keep room for one whole frame at the end of the buffer. */
  if (READ_BUFFER_SIZE - self->rend < LOTTERY_FRAME_MAX)
    {
      memmove (self->rbuf, self->rbuf + self->rstart, self->rend - self->rstart);
      self->rend -= self->rstart;
      self->rstart = 0;
    }
  /* Reading is paused while MAX_QUEUED frames wait, so what is left is
   * less than one frame, and a read always has room. */
  g_assert (self->rend < READ_BUFFER_SIZE);

  self->reading = TRUE;
  g_input_stream_read_async (self->input, self->rbuf + self->rend,
                             READ_BUFFER_SIZE - self->rend, G_PRIORITY_DEFAULT,
                             self->cancellable, read_done_cb,
                             g_object_ref (self));
}

static void
pump (LotteryAgency *self)
{
  if (self->closing)
    {
      /* After EOF: once the last batch is answered, close. */
      if (self->close_after_flush && !self->busy && self->syncing == 0)
        flush (self);
      return;
    }
  if (!extract_frames (self))
    return;
  process (self);
  if (!self->closing && g_queue_get_length (&self->queued) < MAX_QUEUED)
    read_more (self);
}

/* ---- TLS ---- */

static void
admitted_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(LotteryAgency) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = lottery_tls_gate_admit_finish (LOTTERY_TLS_GATE (source), result,
                                      &error);
  self->handshaking = FALSE;

  if (self->closed)
    {
      /* Stopped meanwhile (timeout, shutdown): the socket is free now. */
      g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
      maybe_announce_closed (self);
      return;
    }
  if (g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL))
    {
      /* Spoken to in the clear: answered in the clear. */
      self->output = g_io_stream_get_output_stream (
        G_IO_STREAM (self->connection));
      fail_and_close (self, "tls_handshake", error);
      return;
    }
  if (!ok)
    {
      close_now (self);
      return;
    }

  self->secured = TRUE;
  read_more (self);
}

/* Over TLS, reading starts once the gate has let the client in. */
static void
start_tls (LotteryAgency *self)
{
  self->handshaking = TRUE;
  lottery_tls_gate_admit_async (self->gate, G_TLS_CONNECTION (self->stream),
                                self->connection, self->peer,
                                self->cancellable, admitted_cb,
                                g_object_ref (self));
}

void
lottery_agency_set_timeouts (LotteryAgency *self,
                             guint          io_timeout_s,
                             guint          idle_timeout_s)
{
  g_return_if_fail (LOTTERY_IS_AGENCY (self));

  self->io_timeout = (gint64) io_timeout_s * G_USEC_PER_SEC;
  self->idle_timeout = (gint64) idle_timeout_s * G_USEC_PER_SEC;
}

/* Called about once a second by the server. A client that starts a
 * message must finish it within io_timeout (a slow-loris holds nothing
 * for long), must say something within io_timeout of connecting, and
 * may then stay silent for idle_timeout, except while the server owes
 * it an answer (a batch being stored, a query waiting for the draw). */
void
lottery_agency_check_timeouts (LotteryAgency *self,
                               gint64         now)
{
  g_autoptr(GError) error = NULL;
  guint io_s, idle_s;

  g_return_if_fail (LOTTERY_IS_AGENCY (self));

  io_s = (guint) (self->io_timeout / G_USEC_PER_SEC);
  idle_s = (guint) (self->idle_timeout / G_USEC_PER_SEC);
  if (self->closed)
    return;

  /* A peer that does not read its answers would hold the connection
   * (and its agency) forever, also once it is closing. */
  if (self->writing != NULL && now - self->write_since > self->io_timeout)
    {
      lottery_log (LOTTERY_LOG_ERROR, "send_reply", "fail",
                   "agency: %u | ip: %s | error: answers not read within %u "
                   "seconds", self->id, self->peer, io_s);
      close_now (self);
      return;
    }
  if (self->closing)
    return;

  /* Before the TLS handshake nothing can be said to the client: the
   * gate keeps its deadline. */
  if (G_IS_TLS_CONNECTION (self->stream) && !self->secured)
    return;

  /* Only while we wait on the client: when reading is paused, the
   * unfinished frame is our doing. */
  if (self->reading && self->partial_since != 0 &&
      now - self->partial_since > self->io_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  _("A message was not completed within %u seconds"), io_s);
  /* Until it is an agency (HELLO, and AUTH with tokens), a connection
   * has io_timeout in all: PINGs do not keep a stranger's slot. */
  else if (self->id == 0 && self->phase == PHASE_AUTH &&
           now - self->accepted > self->io_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  _("No AUTH came within %u seconds of connecting"), io_s);
  else if (self->id == 0 && now - self->accepted > self->io_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  _("No HELLO came within %u seconds of connecting"), io_s);
  else if (self->busy || self->syncing > 0 || self->writing != NULL)
    self->activity = now; /* silence is ours, not the client's */
  else if (now - self->activity > self->idle_timeout)
    lottery_fail (&error, LOTTERY_ERROR_TIMEOUT,
                  _("The connection was idle for %u seconds"), idle_s);

  if (error != NULL)
    fail_and_close (self, "receive_message", error);
}

/* Over TLS, the handshake goes through @gate, which the server owns.
 * Call before lottery_agency_start (). */
void
lottery_agency_set_tls_gate (LotteryAgency  *self,
                             LotteryTlsGate *gate)
{
  g_return_if_fail (LOTTERY_IS_AGENCY (self));

  g_set_object (&self->gate, gate);
}

void
lottery_agency_start (LotteryAgency *self)
{
  g_return_if_fail (LOTTERY_IS_AGENCY (self));
  g_return_if_fail (!G_IS_TLS_CONNECTION (self->stream) || self->gate != NULL);

  if (G_IS_TLS_CONNECTION (self->stream))
    start_tls (self);
  else
    read_more (self);
}
