/* lottery-frame-io.c: frames over one connection's stream. Owns the
 * bytes of an unfinished frame, the frames read ahead (up to
 * LOTTERY_FRAME_IO_MAX_QUEUED), the replies not yet written and the write in
 * flight, and the clocks of an unfinished frame and of an unread reply. Runs on
 * the main context: no thread waits on the network. Reads are
 * non-blocking, woken by the server's one LotteryPoller (an idle
 * connection costs the main loop nothing): lottery-frame-io-read.c;
 * writes are GIO's async calls, here.
 *
 * It hands frames up with ::frame while not paused and while the peer
 * reads its replies (back-pressure), and emits ::closed exactly once:
 * when the socket is closed and no write is in flight. It knows nothing
 * of what frames mean.
 */
#include "config.h"

#include "lottery-frame-io-private.h"
#include "lottery-protocol.h"

#include <string.h>

guint lottery_frame_io_signals[LOTTERY_FRAME_IO_N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryFrameIO, lottery_frame_io, G_TYPE_OBJECT)

static void
stop_producer (LotteryFrameIO *self)
{
  gpointer data = self->produce_data;
  GDestroyNotify destroy = self->produce_destroy;

  self->produce = NULL;
  self->produce_data = NULL;
  self->produce_destroy = NULL;
  if (destroy != NULL)
    destroy (data);
}

static void
lottery_frame_io_finalize (GObject *object)
{
  LotteryFrameIO *self = LOTTERY_FRAME_IO (object);

  g_clear_pointer (&self->watch, lottery_poller_watch_free);
  lottery_frame_io_stop_tls_wait (self);
  g_clear_object (&self->stream);
  g_clear_object (&self->connection);
  g_clear_object (&self->cancellable);
  g_free (self->rbuf);
  g_queue_clear_full (&self->queued, (GDestroyNotify) g_bytes_unref);
  g_clear_pointer (&self->pending, g_byte_array_unref);
  g_clear_pointer (&self->writing, g_bytes_unref);
  stop_producer (self);

  G_OBJECT_CLASS (lottery_frame_io_parent_class)->finalize (object);
}

static void
lottery_frame_io_class_init (LotteryFrameIOClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_frame_io_finalize;

  /**
   * LotteryFrameIO::frame:
   * @body: (transfer none): the frame's body, without its length
   *
   * A whole frame, in the order read.
   */
  LOTTERY_FRAME_IO_SIGNAL (FRAME) =
    g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);

  /**
   * LotteryFrameIO::bad-frame:
   * @error: (transfer none): what is wrong with the length prefix
   *
   * The peer sent a frame too long to take; nothing more is read.
   */
  LOTTERY_FRAME_IO_SIGNAL (BAD_FRAME) =
    g_signal_new ("bad-frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);

  /**
   * LotteryFrameIO::eof:
   * @discarded: bytes of an unfinished frame that are thrown away
   *
   * The peer closed its side; replies can still be written.
   */
  LOTTERY_FRAME_IO_SIGNAL (EOF) =
    g_signal_new ("eof", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT64);

  /**
   * LotteryFrameIO::failed:
   * @action: "receive_message" or "send_reply"
   * @error: (transfer none): GIO's error
   *
   * A read or a write failed; the stream closes right after.
   */
  LOTTERY_FRAME_IO_SIGNAL (FAILED) =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
                  G_TYPE_ERROR);

  /**
   * LotteryFrameIO::closed:
   *
   * The socket is closed and no write is in flight. Emitted once.
   */
  LOTTERY_FRAME_IO_SIGNAL (CLOSED) =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
lottery_frame_io_init (LotteryFrameIO *self)
{
  g_queue_init (&self->queued);
  self->cancellable = g_cancellable_new ();
  self->pending = g_byte_array_new ();
  self->activity = g_get_monotonic_time ();
}

/* Returns: (transfer full): frames over @stream, which is @connection
 * itself or TLS over it; @connection is what is closed at the end
 * (without a close_notify, which could block on a peer that does not
 * read). Nothing is read before lottery_frame_io_start (). */
LotteryFrameIO *
lottery_frame_io_new (GIOStream         *stream,
                      GSocketConnection *connection)
{
  LotteryFrameIO *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (G_IS_SOCKET_CONNECTION (connection), NULL);
  /* A socket, or TLS over one: both can be read without blocking. */
  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (
                          g_io_stream_get_input_stream (stream)), NULL);

  self = g_object_new (LOTTERY_TYPE_FRAME_IO, NULL);
  self->stream = g_object_ref (stream);
  self->connection = g_object_ref (connection);
  self->input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  self->output = g_io_stream_get_output_stream (stream);

  return self;
}

static void
maybe_announce_closed (LotteryFrameIO *self)
{
  if (!self->closed || self->writing != NULL || self->announced)
    return;
  self->announced = TRUE;
  g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (CLOSED), 0);
}

/* Closes the socket now; replies not yet written are dropped. Emits
 * ::closed once the write in flight, if any, has returned; every later
 * call only tries that again. */
void
lottery_frame_io_close (LotteryFrameIO *self)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  /* Keep the object alive through the emission. */
  g_object_ref (self);
  if (!self->closed)
    {
      self->closed = TRUE;
      self->stopped = TRUE;
      self->reading = FALSE;
      /* Out of the epoll set before the descriptor goes. */
      g_clear_pointer (&self->watch, lottery_poller_watch_free);
      lottery_frame_io_stop_tls_wait (self);
      g_cancellable_cancel (self->cancellable);
      g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
      stop_producer (self);
    }
  /* Also on a later call: the write in flight may have returned since. */
  maybe_announce_closed (self);
  g_object_unref (self);
}

static void flush (LotteryFrameIO *self);

static void
write_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(LotteryFrameIO) self = user_data;
  g_autoptr(GError) error = NULL;

  g_clear_pointer (&self->writing, g_bytes_unref);

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (FAILED), 0, "send_reply",
                       error);
      lottery_frame_io_close (self);
      return;
    }

  if (self->closed)
    {
      maybe_announce_closed (self);
      return;
    }

  flush (self);
  /* Frames held back while replies piled up can go on now. */
  lottery_frame_io_pump (self);
}

/* Lets the producer add frames while the replies queued are under
 * the cap: a long answer is made as fast as the peer reads it. */
static void
fill_from_producer (LotteryFrameIO *self)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  while (self->produce != NULL &&
         self->pending->len < LOTTERY_FRAME_IO_MAX_PENDING)
    {
      gboolean done = FALSE;
      gsize len = self->produce (frame, &done, self->produce_data);

      g_byte_array_append (self->pending, frame, (guint) len);
      if (done)
        stop_producer (self);
    }
}

static void
flush (LotteryFrameIO *self)
{
  gsize len;

  if (self->writing != NULL || self->closed)
    return;

  fill_from_producer (self);

  if (self->pending->len == 0)
    {
      if (self->close_after_flush)
        lottery_frame_io_close (self);
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

/* Queues a reply; replies leave in the order they were queued. Ignored
 * once closed. */
void
lottery_frame_io_send (LotteryFrameIO *self,
                       const guint8   *frame,
                       gsize           len)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  if (self->closed)
    return;

  g_byte_array_append (self->pending, frame, (guint) len);
  flush (self);
}

/* Queues an answer of many frames, made by @produce one frame at a
 * time as the peer reads (never more than the reply cap queued). No
 * frame is handed up until it is whole, so answers keep their order.
 * @destroy frees @data once the answer is done or the I/O closes. */
void
lottery_frame_io_send_produced (LotteryFrameIO       *self,
                                LotteryFrameProducer  produce,
                                gpointer              data,
                                GDestroyNotify        destroy)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));
  g_return_if_fail (self->produce == NULL);

  self->produce = produce;
  self->produce_data = data;
  self->produce_destroy = destroy;
  if (self->closed)
    {
      stop_producer (self);
      return;
    }
  flush (self);
}

/* Replies go to the socket itself, not through TLS: for a peer that
 * spoke in the clear to a TLS port. */
void
lottery_frame_io_reply_in_clear (LotteryFrameIO *self)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  self->output = g_io_stream_get_output_stream (G_IO_STREAM (self->connection));
}

/* No more frames are read or handed up; replies still go out. */
void
lottery_frame_io_stop_reading (LotteryFrameIO *self)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  self->stopped = TRUE;
}

/* Closes once every reply queued has been written. */
void
lottery_frame_io_close_after_flush (LotteryFrameIO *self)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  self->stopped = TRUE;
  self->close_after_flush = TRUE;
  flush (self);
}

/* Starts reading. */
void
lottery_frame_io_start (LotteryFrameIO *self)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  self->started = TRUE;
  lottery_frame_io_pump (self);
}

/* While paused, frames read ahead wait (up to LOTTERY_FRAME_IO_MAX_QUEUED, then
 * reading waits too); unpausing hands them up (later, if called from
 * ::frame). */
void
lottery_frame_io_set_paused (LotteryFrameIO *self,
                             gboolean        paused)
{
  gboolean was_paused;

  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  was_paused = self->paused;
  self->paused = paused;
  if (was_paused && !paused && !self->delivering)
    lottery_frame_io_pump (self);
}

/* Returns: (transfer none) (nullable): the next frame read ahead. */
GBytes *
lottery_frame_io_peek_frame (LotteryFrameIO *self)
{
  g_return_val_if_fail (LOTTERY_IS_FRAME_IO (self), NULL);

  return g_queue_peek_head (&self->queued);
}

/* Returns: (transfer full) (nullable): the next frame read ahead, taken
 * out of the queue. */
GBytes *
lottery_frame_io_pop_frame (LotteryFrameIO *self)
{
  g_return_val_if_fail (LOTTERY_IS_FRAME_IO (self), NULL);

  return g_queue_pop_head (&self->queued);
}

gboolean
lottery_frame_io_is_writing (LotteryFrameIO *self)
{
  g_return_val_if_fail (LOTTERY_IS_FRAME_IO (self), FALSE);

  return self->writing != NULL;
}

/* Has a reply waited more than @timeout for the peer to read it? */
gboolean
lottery_frame_io_write_stalled (LotteryFrameIO *self,
                                gint64          now,
                                gint64          timeout)
{
  g_return_val_if_fail (LOTTERY_IS_FRAME_IO (self), FALSE);

  return self->writing != NULL && now - self->write_since > timeout;
}

/* Has a frame been unfinished for more than @timeout while we wait on
 * the peer? (When reading is paused, the unfinished frame is ours.) */
gboolean
lottery_frame_io_frame_stalled (LotteryFrameIO *self,
                                gint64          now,
                                gint64          timeout)
{
  g_return_val_if_fail (LOTTERY_IS_FRAME_IO (self), FALSE);

  return self->reading && self->partial_since != 0 &&
         now - self->partial_since > timeout;
}

/* When the last whole frame arrived (or the owner last said the
 * silence was its own). */
gint64
lottery_frame_io_get_activity (LotteryFrameIO *self)
{
  g_return_val_if_fail (LOTTERY_IS_FRAME_IO (self), 0);

  return self->activity;
}

void
lottery_frame_io_set_activity (LotteryFrameIO *self,
                               gint64          now)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  self->activity = now;
}
