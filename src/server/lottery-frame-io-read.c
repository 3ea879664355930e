/* lottery-frame-io-read.c: the reading half of LotteryFrameIO: bytes
 * from the socket without blocking, when the server's LotteryPoller
 * (or, over TLS, GIO's own source) says they are there; whole frames
 * cut out and handed up while the owner takes them and the peer reads
 * its replies. Main context only.
 *
 * An idle connection holds no read buffer: bytes are read into one
 * buffer shared by every connection, and only an unfinished frame is
 * kept, in a buffer of its own size, until it is whole.
 */
#include "config.h"

#include "lottery-frame-io-private.h"
#include "lottery-metrics.h"
#include "lottery-protocol.h"

#include <string.h>

void
lottery_frame_io_stop_tls_wait (LotteryFrameIO *self)
{
  if (self->tls_wait == NULL)
    return;
  g_source_destroy (self->tls_wait);
  g_clear_pointer (&self->tls_wait, g_source_unref);
}

/* Hands up frames one at a time, while the owner takes them and the
 * peer reads its replies: a peer that sends requests without reading
 * the answers is not answered further until it reads. */
static void
deliver (LotteryFrameIO *self)
{
  while (!self->paused && !self->stopped && self->produce == NULL &&
         self->pending->len < LOTTERY_FRAME_IO_MAX_PENDING)
    {
      g_autoptr(GBytes) frame = g_queue_pop_head (&self->queued);

      if (frame == NULL)
        return;
      self->delivering = TRUE;
      g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (FRAME), 0, frame);
      self->delivering = FALSE;
    }
}

/* Moves whole frames from the read buffer to the queue. */
static gboolean
extract_frames (LotteryFrameIO *self)
{
  while (g_queue_get_length (&self->queued) < LOTTERY_FRAME_IO_MAX_QUEUED &&
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
          g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (BAD_FRAME), 0, error);
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
static guint8 shared_buffer[LOTTERY_FRAME_IO_READ_BUFFER];

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
  lottery_frame_io_pump (self);
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
      g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (FAILED), 0,
                     "receive_message", error);
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

      /* Reading stops while LOTTERY_FRAME_IO_MAX_QUEUED frames wait, so what is
       * left is less than one frame, and a read always has room. */
      g_assert (left < LOTTERY_FRAME_MAX);
      if (left > 0)
        memcpy (shared_buffer, self->rbuf + self->rstart, left);
      g_free (self->rbuf);
      self->rbuf = shared_buffer;
      self->rstart = 0;
      self->rend = left;
    }
  n = g_pollable_input_stream_read_nonblocking (
    self->input, self->rbuf + self->rend,
    LOTTERY_FRAME_IO_READ_BUFFER - self->rend, NULL, &error);
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
      g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (FAILED), 0,
                     "receive_message", error);
      lottery_frame_io_close (self);
      return FALSE;
    }

  {
    guint64 discarded = self->rend - self->rstart;

    g_clear_pointer (&self->rbuf, g_free);
    self->rstart = self->rend = 0;
    self->stopped = TRUE;
    g_signal_emit (self, LOTTERY_FRAME_IO_SIGNAL (EOF), 0, discarded);
  }
  return FALSE;
}

/* Cuts frames, hands them up and reads more, until the owner or the
 * peer has to act: the queue is full, the owner paused, or the socket
 * has nothing more for now. */
void
lottery_frame_io_pump (LotteryFrameIO *self)
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
          g_queue_get_length (&self->queued) >= LOTTERY_FRAME_IO_MAX_QUEUED)
        break;
      /* Frames left behind while the queue was full come first. */
      if (!holds_frame (self) && !read_once (self))
        break;
    }
  self->pumping = FALSE;
}

