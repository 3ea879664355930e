/* test-frame-io.c: LotteryFrameIO over a socket pair, in-process. */
#include "config.h"

#include "lottery-frame-io.h"
#include "lottery-protocol.h"
#include "server-utils.h"

#include <string.h>

typedef struct
{
  GSocketConnection *server;
  GSocketConnection *client;
  LotteryFrameIO    *io;
  GPtrArray         *frames;  /* GBytes (owned) */
  GError            *bad;
  guint              eofs;
  guint              closed;
  gboolean           pause_on_frame;
} Fixture;

static void
frame_cb (LotteryFrameIO *io,
          GBytes         *frame,
          Fixture        *fixture)
{
  g_ptr_array_add (fixture->frames, g_bytes_ref (frame));
  if (fixture->pause_on_frame)
    lottery_frame_io_set_paused (io, TRUE);
}

static void
bad_frame_cb (LotteryFrameIO *io,
              const GError   *error,
              Fixture        *fixture)
{
  g_clear_error (&fixture->bad);
  fixture->bad = g_error_copy (error);
}

static void
eof_cb (LotteryFrameIO *io,
        guint64         discarded,
        Fixture        *fixture)
{
  fixture->eofs++;
}

static void
closed_cb (LotteryFrameIO *io,
           Fixture        *fixture)
{
  fixture->closed++;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  server_socket_pair (&fixture->server, &fixture->client);
  fixture->io = lottery_frame_io_new (G_IO_STREAM (fixture->server),
                                      fixture->server);
  fixture->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_signal_connect (fixture->io, "frame", G_CALLBACK (frame_cb), fixture);
  g_signal_connect (fixture->io, "bad-frame", G_CALLBACK (bad_frame_cb),
                    fixture);
  g_signal_connect (fixture->io, "eof", G_CALLBACK (eof_cb), fixture);
  g_signal_connect (fixture->io, "closed", G_CALLBACK (closed_cb), fixture);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  lottery_frame_io_close (fixture->io);
  /* Let the cancelled reads and writes return. */
  server_iterate_for (20);
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_clear_object (&fixture->io);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->client);
  g_clear_pointer (&fixture->frames, g_ptr_array_unref);
  g_clear_error (&fixture->bad);
}

static void
wait_frames (Fixture *fixture,
             guint    n)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (fixture->frames->len < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static gsize
ping_frame (guint8 *frame)
{
  return lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING);
}

static void
test_short_reads (Fixture       *fixture,
                  gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 two[2 * LOTTERY_FRAME_MAX];
  gsize len = lottery_message_encode_hello (frame, 3);
  gsize two_len;
  gsize i;

  g_test_summary ("A frame that arrives a byte at a time is handed up once, "
                  "whole; two frames in one read are handed up as two.");

  lottery_frame_io_start (fixture->io);
  for (i = 0; i < len; i++)
    {
      server_client_send (fixture->client, frame + i, 1);
      server_iterate_for (2);
      g_assert_cmpuint (fixture->frames->len, ==, i + 1 == len ? 1 : 0);
    }
  wait_frames (fixture, 1);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (fixture->frames, 0),
                                     NULL),
                   g_bytes_get_size (g_ptr_array_index (fixture->frames, 0)),
                   frame + LOTTERY_FRAME_PREFIX, len - LOTTERY_FRAME_PREFIX);

  two_len = ping_frame (two);
  two_len += lottery_message_encode_finish (two + two_len, 7);
  server_client_send (fixture->client, two, two_len);
  wait_frames (fixture, 3);
  g_assert_cmpuint (fixture->frames->len, ==, 3);
}

static void
test_back_pressure (Fixture       *fixture,
                    gconstpointer  data)
{
  guint8 frames[4 * 16];
  gsize len = 0;
  guint i;

  g_test_summary ("While paused, frames read ahead wait, in order; "
                  "unpausing hands them up one at a time.");

  for (i = 0; i < 4; i++)
    len += lottery_message_encode_finish (frames + len, i);
  fixture->pause_on_frame = TRUE;
  lottery_frame_io_start (fixture->io);
  server_client_send (fixture->client, frames, len);

  for (i = 1; i <= 4; i++)
    {
      LotteryMessage message;
      GBytes *frame;

      wait_frames (fixture, i);
      server_iterate_for (20);
      /* Paused by the handler: nothing more came. */
      g_assert_cmpuint (fixture->frames->len, ==, i);
      frame = g_ptr_array_index (fixture->frames, i - 1);
      g_assert_true (lottery_message_decode (g_bytes_get_data (frame, NULL),
                                             g_bytes_get_size (frame),
                                             &message, NULL));
      g_assert_cmpuint (message.finish.last_sequence, ==, i - 1);
      lottery_frame_io_set_paused (fixture->io, FALSE);
    }
  g_assert_null (lottery_frame_io_peek_frame (fixture->io));
}

static void
test_read_ahead_full (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree guint8 *frames = g_malloc (40 * LOTTERY_FRAME_MAX);
  g_autofree char *text = g_strnfill (900, 'x');
  gsize len = 0;
  guint i;

  g_test_summary ("40 frames in one burst while paused: 16 are read ahead, "
                  "the rest wait (whole frames among them) and come next, "
                  "in order, once the owner takes frames again.");

  /* ERROR frames: about 1 KiB each, and the sequence says which. */
  for (i = 0; i < 40; i++)
    len += lottery_message_encode_error (frames + len, 1, i, text);
  lottery_frame_io_set_paused (fixture->io, TRUE);
  lottery_frame_io_start (fixture->io);
  server_client_send (fixture->client, frames, len);
  server_iterate_for (100);
  g_assert_cmpuint (fixture->frames->len, ==, 0);

  lottery_frame_io_set_paused (fixture->io, FALSE);
  wait_frames (fixture, 40);
  for (i = 0; i < 40; i++)
    {
      GBytes *frame = g_ptr_array_index (fixture->frames, i);
      LotteryMessage message;

      g_assert_true (lottery_message_decode (g_bytes_get_data (frame, NULL),
                                             g_bytes_get_size (frame),
                                             &message, NULL));
      g_assert_cmpuint (message.error.sequence, ==, i);
    }
}

static void
test_unread_reply (Fixture       *fixture,
                   gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree char *text = g_strnfill (4000, 'x');
  gsize len = lottery_message_encode_error (frame, 1, 0, text);
  gint64 now;
  guint i;

  g_test_summary ("Replies the peer does not read stall the write, and the "
                  "unread-reply clock says so after the timeout, not before; "
                  "closing then emits ::closed once the write returns.");

  lottery_frame_io_start (fixture->io);
  /* Far more than the socket buffers hold. */
  for (i = 0; i < 1024; i++)
    lottery_frame_io_send (fixture->io, frame, len);
  server_iterate_for (50);
  now = g_get_monotonic_time ();
  g_assert_true (lottery_frame_io_is_writing (fixture->io));
  g_assert_false (lottery_frame_io_write_stalled (fixture->io, now,
                                                  G_USEC_PER_SEC));
  g_assert_true (lottery_frame_io_write_stalled (fixture->io,
                                                 now + 2 * G_USEC_PER_SEC,
                                                 G_USEC_PER_SEC));
  g_assert_false (lottery_frame_io_frame_stalled (fixture->io,
                                                  now + 2 * G_USEC_PER_SEC,
                                                  G_USEC_PER_SEC));

  lottery_frame_io_close (fixture->io);
  lottery_frame_io_close (fixture->io);
  g_assert_cmpuint (fixture->closed, <=, 1);
  server_iterate_for (50);
  g_assert_cmpuint (fixture->closed, ==, 1);
}

typedef struct
{
  Fixture *fixture;
  guint    produced;
  guint    total;
  guint    frames_when_done; /* frames handed up when the last was made */
  gboolean freed;
} Producer;

static gsize
produce_cb (guint8   *frame,
            gboolean *done,
            gpointer  user_data)
{
  Producer *producer = user_data;
  g_autofree char *text = g_strnfill (8000, 'x');

  producer->produced++;
  *done = producer->produced == producer->total;
  if (*done)
    producer->frames_when_done = producer->fixture->frames->len;
  return lottery_message_encode_error (frame, 1, producer->produced, text);
}

static void
producer_free (gpointer user_data)
{
  Producer *producer = user_data;

  producer->freed = TRUE;
}

typedef struct
{
  GSocketConnection *client;
  guint              total;
  gint               read;  /* (atomic) */
} Reader;

static gpointer
read_all (gpointer user_data)
{
  Reader *reader = user_data;
  g_autofree guint8 *frame = g_malloc (LOTTERY_FRAME_MAX);
  guint i;

  for (i = 0; i < reader->total; i++)
    {
      LotteryMessage message;

      server_client_expect (reader->client, LOTTERY_MESSAGE_ERROR, &message,
                            frame);
      g_assert_cmpuint (message.error.sequence, ==, i + 1);
      g_atomic_int_inc (&reader->read);
    }
  return NULL;
}

static void
test_producer (Fixture       *fixture,
               gconstpointer  data)
{
  Producer producer = { fixture, 0, 4096, 0, FALSE };
  Reader reader = { fixture->client, 4096, 0 };
  guint8 frame[LOTTERY_FRAME_MAX];
  gsize len = lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING);
  GThread *thread;

  g_test_summary ("A produced answer (32 MB here) is made only as the peer "
                  "reads it, never much more than the reply cap ahead; a "
                  "frame that came meanwhile is handed up only after the "
                  "answer's last frame; the producer's data is freed.");

  lottery_frame_io_start (fixture->io);
  lottery_frame_io_send_produced (fixture->io, produce_cb, &producer,
                                  producer_free);
  server_client_send (fixture->client, frame, len);
  server_iterate_for (50);
  /* The socket buffers hold a few MB at most; 32 MB were asked for. */
  g_test_message ("made %u of %u frames before the peer read",
                  producer.produced, producer.total);
  g_assert_cmpuint (producer.produced, <, 1024);
  g_assert_cmpuint (fixture->frames->len, ==, 0);

  thread = g_thread_new ("reader", read_all, &reader);
  while (g_atomic_int_get (&reader.read) < (gint) reader.total)
    server_iterate_for (5);
  g_thread_join (thread);
  server_iterate_for (20);

  g_assert_true (producer.freed);
  g_assert_cmpuint (producer.produced, ==, producer.total);
  g_assert_cmpuint (producer.frames_when_done, ==, 0);
  g_assert_cmpuint (fixture->frames->len, ==, 1);
}

static void
test_partial_clock (Fixture       *fixture,
                    gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  gsize len = lottery_message_encode_hello (frame, 3);
  gint64 now;

  g_test_summary ("Half a frame starts the unfinished-frame clock; the "
                  "rest stops it.");

  lottery_frame_io_start (fixture->io);
  server_client_send (fixture->client, frame, len - 1);
  server_iterate_for (20);
  now = g_get_monotonic_time ();
  g_assert_false (lottery_frame_io_frame_stalled (fixture->io, now,
                                                  G_USEC_PER_SEC));
  g_assert_true (lottery_frame_io_frame_stalled (fixture->io,
                                                 now + 2 * G_USEC_PER_SEC,
                                                 G_USEC_PER_SEC));
  server_client_send (fixture->client, frame + len - 1, 1);
  wait_frames (fixture, 1);
  g_assert_false (lottery_frame_io_frame_stalled (fixture->io,
                                                  now + 2 * G_USEC_PER_SEC,
                                                  G_USEC_PER_SEC));
}

static void
test_eof_then_close_once (Fixture       *fixture,
                          gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  gsize len = lottery_message_encode_hello (frame, 3);

  g_test_summary ("At EOF the discarded half frame is reported, replies still "
                  "go out before a close after flush, and ::closed comes once "
                  "whatever closes after that.");

  lottery_frame_io_start (fixture->io);
  server_client_send (fixture->client, frame, len - 2);
  g_socket_shutdown (g_socket_connection_get_socket (fixture->client), FALSE,
                     TRUE, NULL);
  while (fixture->eofs == 0)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (fixture->frames->len, ==, 0);

  len = ping_frame (frame);
  lottery_frame_io_send (fixture->io, frame, len);
  lottery_frame_io_close_after_flush (fixture->io);
  g_assert_cmpuint (server_client_read_frame (fixture->client, frame), ==,
                    len - LOTTERY_FRAME_PREFIX);
  g_assert_true (server_client_at_eof (fixture->client));
  server_iterate_for (10);
  g_assert_cmpuint (fixture->closed, ==, 1);
  lottery_frame_io_close (fixture->io);
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_assert_cmpuint (fixture->eofs, ==, 1);
}

static void
test_bad_prefix (Fixture       *fixture,
                 gconstpointer  data)
{
  static const guint8 huge[] = { 0x7f, 0xff, 0xff, 0xff };

  g_test_summary ("A length prefix over the maximum is reported and nothing "
                  "more is read.");

  lottery_frame_io_start (fixture->io);
  server_client_send (fixture->client, huge, sizeof huge);
  while (fixture->bad == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (fixture->frames->len, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/frame-io/short-reads", test_short_reads);
  ADD ("/frame-io/back-pressure", test_back_pressure);
  ADD ("/frame-io/read-ahead-full", test_read_ahead_full);
  ADD ("/frame-io/unread-reply", test_unread_reply);
  ADD ("/frame-io/producer", test_producer);
  ADD ("/frame-io/partial-clock", test_partial_clock);
  ADD ("/frame-io/eof-then-close-once", test_eof_then_close_once);
  ADD ("/frame-io/bad-prefix", test_bad_prefix);
#undef ADD

  return g_test_run ();
}
