/* lottery-frame-io.c: frames over one connection's stream. Owns the
 * read buffer, the frames read ahead (up to MAX_QUEUED), the replies
 * not yet written and the write in flight, and the clocks of an
 * unfinished frame and of an unread reply. Runs on the main context:
 * no thread waits on the network. Reads are non-blocking, woken by the
 * server's one LotteryPoller (an idle connection costs the main loop
 * nothing); writes are GIO's async calls.
 *
 * An idle connection holds no read buffer: bytes are read into one
 * buffer shared by every connection, and only an unfinished frame is
 * kept in a buffer of the connection's own, freed once it is whole.
 *
 * It hands frames up with ::frame while not paused and while the peer
 * reads its replies (back-pressure), and emits ::closed exactly once:
 * when the socket is closed and no write is in flight. It knows nothing
 * of what frames mean.
 */
#include "config.h"

#include "lottery-frame-io.h"
#include "lottery-metrics.h"
#include "lottery-poller.h"
#include "lottery-protocol.h"

#include <string.h>

#define READ_BUFFER_SIZE    (32 * 1024)
#define MAX_QUEUED          16          /* frames read ahead */
#define MAX_PENDING_REPLIES (64 * 1024) /* bytes of unsent replies */

struct _LotteryFrameIO
{
  GObject parent_instance;

  GSocketConnection *connection; /* (owned): closed at the end */
  GIOStream         *stream;     /* (owned): @connection, or TLS over it */
  GPollableInputStream *input;   /* (unowned): @stream's */
  LotteryPollerWatch *watch;     /* (owned) (nullable): the socket's */
  GSource           *tls_wait;   /* (owned) (nullable): over TLS, GIO's
                                  * readiness source, while waiting */
  GOutputStream     *output;     /* (unowned): @stream's or @connection's */
  GCancellable      *cancellable; /* (owned): cancelled by close */

  guint8            *rbuf;       /* (owned) (nullable): bytes not yet cut
                                  * into frames, just their size; or,
                                  * within pump (), the shared buffer
                                  * (borrowed) */
  gsize              rstart;     /* first unparsed byte */
  gsize              rend;       /* one past the last byte read */
  GQueue             queued;     /* GBytes (owned): frame bodies */
  GByteArray        *pending;    /* (owned): replies not yet written */
  GBytes            *writing;    /* (owned) (nullable): being written */
  LotteryFrameProducer produce;  /* (nullable): an answer still to come */
  gpointer           produce_data; /* (owned) by produce_destroy */
  GDestroyNotify     produce_destroy;

  gint64             activity;      /* when the last frame arrived */
  gint64             partial_since; /* first byte of an unfinished frame,
                                     * or 0 */
  gint64             write_since;   /* when the write in flight began */

  gboolean           started;
  gboolean           reading;    /* waiting for the socket to be readable */
  gboolean           pumping;    /* in pump (): a nested call returns */
  gboolean           paused;     /* the owner takes no frames now */
  gboolean           delivering; /* in a ::frame emission */
  gboolean           stopped;    /* no more reading: EOF, or told so */
  gboolean           close_after_flush;
  gboolean           closed;     /* the socket is closed */
  gboolean           announced;  /* ::closed was emitted */
};

enum
{
  SIGNAL_FRAME,
  SIGNAL_BAD_FRAME,
  SIGNAL_EOF,
  SIGNAL_FAILED,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryFrameIO, lottery_frame_io, G_TYPE_OBJECT)

static void pump (LotteryFrameIO *self);

static void
stop_tls_wait (LotteryFrameIO *self)
{
  if (self->tls_wait == NULL)
    return;
  g_source_destroy (self->tls_wait);
  g_clear_pointer (&self->tls_wait, g_source_unref);
}

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
  stop_tls_wait (self);
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
  signals[SIGNAL_FRAME] =
    g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BYTES);

  /**
   * LotteryFrameIO::bad-frame:
   * @error: (transfer none): what is wrong with the length prefix
   *
   * The peer sent a frame too long to take; nothing more is read.
   */
  signals[SIGNAL_BAD_FRAME] =
    g_signal_new ("bad-frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);

  /**
   * LotteryFrameIO::eof:
   * @discarded: bytes of an unfinished frame that are thrown away
   *
   * The peer closed its side; replies can still be written.
   */
  signals[SIGNAL_EOF] =
    g_signal_new ("eof", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT64);

  /**
   * LotteryFrameIO::failed:
   * @action: "receive_message" or "send_reply"
   * @error: (transfer none): GIO's error
   *
   * A read or a write failed; the stream closes right after.
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING,
                  G_TYPE_ERROR);

  /**
   * LotteryFrameIO::closed:
   *
   * The socket is closed and no write is in flight. Emitted once.
   */
  signals[SIGNAL_CLOSED] =
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
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
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
      stop_tls_wait (self);
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
        g_signal_emit (self, signals[SIGNAL_FAILED], 0, "send_reply", error);
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
  pump (self);
}

/* Lets the producer add frames while the replies queued are under
 * the cap: a long answer is made as fast as the peer reads it. */
static void
fill_from_producer (LotteryFrameIO *self)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  while (self->produce != NULL && self->pending->len < MAX_PENDING_REPLIES)
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

/* Hands up frames one at a time, while the owner takes them and the
 * peer reads its replies: a peer that sends requests without reading
 * the answers is not answered further until it reads. */
static void
deliver (LotteryFrameIO *self)
{
  while (!self->paused && !self->stopped && self->produce == NULL &&
         self->pending->len < MAX_PENDING_REPLIES)
    {
      g_autoptr(GBytes) frame = g_queue_pop_head (&self->queued);

      if (frame == NULL)
        return;
      self->delivering = TRUE;
      g_signal_emit (self, signals[SIGNAL_FRAME], 0, frame);
      self->delivering = FALSE;
    }
}

/* Moves whole frames from the read buffer to the queue. */
static gboolean
extract_frames (LotteryFrameIO *self)
{
  while (g_queue_get_length (&self->queued) < MAX_QUEUED &&
         self->rend - self->rstart >= LOTTERY_FRAME_PREFIX)
    {
      g_autoptr(GError) error = NULL;
      gsize body_len;

      if (!lottery_frame_parse_prefix (self->rbuf + self->rstart, &body_len,
                                       &error))
        {
          /* Nothing after a bad prefix is read: its bytes go now, so the
           * shared buffer is not held through the emission. */
          self->rstart = self->rend;
          self->stopped = TRUE;
          g_signal_emit (self, signals[SIGNAL_BAD_FRAME], 0, error);
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

/* The buffer every connection reads into, on the main context. What
 * is left of it after the whole frames is copied out before anything
 * else can read: see keep_remainder (). */
static guint8 shared_buffer[READ_BUFFER_SIZE];

/* After whole frames were cut: bytes not cut yet (an unfinished frame;
 * or whole frames, while the queue is full) are kept in a buffer of
 * the connection's own, of just their size. With none, the connection
 * holds no buffer. */
static void
keep_remainder (LotteryFrameIO *self)
{
  gsize left = self->rend - self->rstart;

  if (left == 0)
    {
      if (self->rbuf != shared_buffer)
        g_free (self->rbuf);
      self->rbuf = NULL;
      self->rstart = self->rend = 0;
    }
  else if (self->rbuf == shared_buffer)
    {
      self->rbuf = g_memdup2 (shared_buffer + self->rstart, left);
      self->rstart = 0;
      self->rend = left;
    }
}

/* Do the bytes not cut yet hold a whole frame (or a bad prefix)? Then
 * they are cut before anything more is read. */
static gboolean
holds_frame (LotteryFrameIO *self)
{
  gsize body_len;

  if (self->rend - self->rstart < LOTTERY_FRAME_PREFIX)
    return FALSE;
  if (!lottery_frame_parse_prefix (self->rbuf + self->rstart, &body_len, NULL))
    return TRUE;

  return self->rend - self->rstart >= LOTTERY_FRAME_PREFIX + body_len;
}

static void
readable_cb (gpointer user_data)
{
  g_autoptr(LotteryFrameIO) self = g_object_ref (user_data);

  self->reading = FALSE;
  pump (self);
}

static gboolean
tls_readable_cb (GObject  *stream,
                 gpointer  user_data)
{
  LotteryFrameIO *self = user_data;

  /* The context holds the source through this call. */
  g_clear_pointer (&self->tls_wait, g_source_unref);
  readable_cb (self);

  return G_SOURCE_REMOVE;
}

/* Waits for the socket to be readable; FALSE if it cannot (the
 * connection is then failed and closed). */
static gboolean
wait_readable (LotteryFrameIO *self)
{
  g_autoptr(GError) error = NULL;

  /* Over TLS the socket is not the whole story: glib-networking may be
   * in a renegotiation on a thread of its own, holding the socket and
   * the application data that came with it, and only its own source
   * knows when that is over. TLS connections wait as GIO's async reads
   * did; plain ones share the poller. */
  if (self->stream != G_IO_STREAM (self->connection))
    {
      self->tls_wait = g_pollable_input_stream_create_source (self->input,
                                                              NULL);
      g_source_set_callback (self->tls_wait, G_SOURCE_FUNC (tls_readable_cb),
                             self, NULL);
      g_source_attach (self->tls_wait, g_main_context_get_thread_default ());
      self->reading = TRUE;
      return TRUE;
    }
  if (self->watch == NULL)
    self->watch = lottery_poller_watch_new (
      lottery_poller_get_default (),
      g_socket_get_fd (g_socket_connection_get_socket (self->connection)),
      readable_cb, self);
  if (!lottery_poller_watch_arm (self->watch, &error))
    {
      g_signal_emit (self, signals[SIGNAL_FAILED], 0, "receive_message",
                     error);
      lottery_frame_io_close (self);
      return FALSE;
    }
  self->reading = TRUE;

  return TRUE;
}

/* One read that does not block. Returns: TRUE if bytes came in; FALSE
 * on EOF, an error (both handled here) or nothing to read yet (the
 * socket is then watched). */
static gboolean
read_once (LotteryFrameIO *self)
{
  g_autoptr(GError) error = NULL;
  gssize n;

  /* An unfinished frame goes back to the front of the shared buffer,
   * and the read goes after it: reads stay large. */
  if (self->rbuf != shared_buffer)
    {
      gsize left = self->rend - self->rstart;

      /* Reading stops while MAX_QUEUED frames wait, so what is left is
       * less than one frame, and a read always has room. */
      g_assert (left < LOTTERY_FRAME_MAX);
      if (left > 0)
        memcpy (shared_buffer, self->rbuf + self->rstart, left);
      g_free (self->rbuf);
      self->rbuf = shared_buffer;
      self->rstart = 0;
      self->rend = left;
    }
  n = g_pollable_input_stream_read_nonblocking (self->input,
                                                self->rbuf + self->rend,
                                                READ_BUFFER_SIZE - self->rend,
                                                NULL, &error);
  if (n > 0)
    {
      lottery_metrics_add_bytes_received (lottery_metrics_get_default (), n);
      /* Bytes of a frame still to come start its clock. */
      if (self->rstart == self->rend)
        self->partial_since = g_get_monotonic_time ();
      self->rend += (gsize) n;
      return TRUE;
    }

  keep_remainder (self);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    {
      wait_readable (self);
      return FALSE;
    }
  if (n < 0)
    {
      g_signal_emit (self, signals[SIGNAL_FAILED], 0, "receive_message",
                     error);
      lottery_frame_io_close (self);
      return FALSE;
    }

  {
    guint64 discarded = self->rend - self->rstart;

    g_clear_pointer (&self->rbuf, g_free);
    self->rstart = self->rend = 0;
    self->stopped = TRUE;
    g_signal_emit (self, signals[SIGNAL_EOF], 0, discarded);
  }
  return FALSE;
}

/* Cuts frames, hands them up and reads more, until the owner or the
 * peer has to act: the queue is full, the owner paused, or the socket
 * has nothing more for now. */
static void
pump (LotteryFrameIO *self)
{
  g_autoptr(LotteryFrameIO) hold = NULL;

  /* A ::frame handler may call back in: the loop below sees what it
   * changed. */
  if (self->pumping)
    return;
  hold = g_object_ref (self);
  self->pumping = TRUE;
  while (!self->stopped && self->started)
    {
      gboolean ok = extract_frames (self);

      keep_remainder (self);
      if (!ok)
        break;
      deliver (self);
      if (self->stopped || self->reading ||
          g_queue_get_length (&self->queued) >= MAX_QUEUED)
        break;
      /* Frames left behind while the queue was full come first. */
      if (!holds_frame (self) && !read_once (self))
        break;
    }
  self->pumping = FALSE;
}

/* Starts reading. */
void
lottery_frame_io_start (LotteryFrameIO *self)
{
  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  self->started = TRUE;
  pump (self);
}

/* While paused, frames read ahead wait (up to MAX_QUEUED, then reading
 * waits too); unpausing hands them up (later, if called from ::frame). */
void
lottery_frame_io_set_paused (LotteryFrameIO *self,
                             gboolean        paused)
{
  gboolean was_paused;

  g_return_if_fail (LOTTERY_IS_FRAME_IO (self));

  was_paused = self->paused;
  self->paused = paused;
  if (was_paused && !paused && !self->delivering)
    pump (self);
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
