/* test-deadlines.c: LotteryDeadlines in-process: which clock is late
 * for what the connection waits for. The check takes the time as an
 * argument, so every deadline is tested without waiting for it. */
#include "config.h"

#include "lottery-deadlines.h"
#include "lottery-error.h"
#include "server-utils.h"

#include <string.h>

#define IO_S   10
#define IDLE_S 300
#define SEC    G_USEC_PER_SEC

typedef struct
{
  GSocketConnection *server;
  GSocketConnection *client;
  LotteryFrameIO    *io;
  LotteryDeadlines  *deadlines;
  gint64             start; /* no later than the deadlines' accept */
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  server_socket_pair (&fixture->server, &fixture->client);
  fixture->io = lottery_frame_io_new (G_IO_STREAM (fixture->server),
                                     fixture->server);
  fixture->start = g_get_monotonic_time ();
  fixture->deadlines = lottery_deadlines_new ();
  lottery_deadlines_set (fixture->deadlines, IO_S, IDLE_S);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_pointer (&fixture->deadlines, lottery_deadlines_free);
  lottery_frame_io_close (fixture->io);
  g_clear_object (&fixture->io);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->client);
  server_iterate_for (10);
}

/* What is late at @now, waiting for @wait; a timeout's text must hold
 * @text. */
static void
assert_late (Fixture     *fixture,
             gint64       now,
             LotteryWait  wait,
             gboolean     owed,
             LotteryLate  expected,
             const char  *text)
{
  g_autoptr(GError) error = NULL;
  LotteryLate late = lottery_deadlines_check (fixture->deadlines, fixture->io,
                                              now, wait, owed, &error);

  g_assert_cmpint (late, ==, expected);
  if (expected == LOTTERY_LATE_MESSAGE)
    {
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_TIMEOUT);
      g_assert_nonnull (strstr (error->message, text));
    }
  else
    g_assert_no_error (error);
}

static void
test_stranger (Fixture       *fixture,
               gconstpointer  data)
{
  g_test_summary ("A connection that has not said HELLO (or AUTH after a "
                  "CHALLENGE) has io_timeout from its accept, however "
                  "recently it spoke.");

  assert_late (fixture, fixture->start + (IO_S - 1) * SEC, LOTTERY_WAIT_HELLO,
               FALSE, LOTTERY_LATE_NONE, NULL);
  /* Activity (a PING) does not buy a stranger more time. */
  lottery_frame_io_set_activity (fixture->io, fixture->start + IO_S * SEC);
  assert_late (fixture, fixture->start + (IO_S + 2) * SEC, LOTTERY_WAIT_HELLO,
               FALSE, LOTTERY_LATE_MESSAGE, "No HELLO came within 10 seconds");
  assert_late (fixture, fixture->start + (IO_S + 2) * SEC, LOTTERY_WAIT_AUTH,
               FALSE, LOTTERY_LATE_MESSAGE, "No AUTH came within 10 seconds");
}

static void
test_idle_agency (Fixture       *fixture,
                  gconstpointer  data)
{
  gint64 spoke = fixture->start + 5 * SEC;

  g_test_summary ("An agency may stay silent for idle_timeout after it "
                  "last spoke, and for ever while the server owes it an "
                  "answer; the owed time then counts as activity.");

  lottery_frame_io_set_activity (fixture->io, spoke);
  assert_late (fixture, spoke + (IDLE_S - 1) * SEC, LOTTERY_WAIT_AGENCY,
               FALSE, LOTTERY_LATE_NONE, NULL);
  assert_late (fixture, spoke + (IDLE_S + 1) * SEC, LOTTERY_WAIT_AGENCY,
               FALSE, LOTTERY_LATE_MESSAGE, "idle for 300 seconds");
  /* Owed an answer: never idle, and the silence restarts from now. */
  assert_late (fixture, spoke + (IDLE_S + 1) * SEC, LOTTERY_WAIT_AGENCY,
               TRUE, LOTTERY_LATE_NONE, NULL);
  g_assert_cmpint (lottery_frame_io_get_activity (fixture->io), ==,
                   spoke + (IDLE_S + 1) * SEC);
  assert_late (fixture, spoke + (IDLE_S + 2) * SEC, LOTTERY_WAIT_AGENCY,
               FALSE, LOTTERY_LATE_NONE, NULL);
}

static void
test_replies_only (Fixture       *fixture,
                   gconstpointer  data)
{
  g_test_summary ("During a TLS handshake or while closing, only unread "
                  "answers can be late: no HELLO or idle clock runs.");

  assert_late (fixture, fixture->start + (IDLE_S + IO_S + 1) * SEC,
               LOTTERY_WAIT_REPLIES_ONLY, FALSE, LOTTERY_LATE_NONE, NULL);
}

static void
test_unread_reply (Fixture       *fixture,
                   gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  gint64 sent;

  g_test_summary ("A reply whose write has not returned within io_timeout "
                  "is late in every phase, also while closing: the peer "
                  "does not read its answers.");

  /* The write's callback runs only when the main context is iterated:
   * until then the reply is in flight, as if the peer did not read. */
  sent = g_get_monotonic_time ();
  lottery_frame_io_send (fixture->io, frame,
                         lottery_message_encode_empty (frame,
                                                       LOTTERY_MESSAGE_PONG));
  g_assert_true (lottery_frame_io_is_writing (fixture->io));

  assert_late (fixture, sent + (IO_S - 1) * SEC, LOTTERY_WAIT_REPLIES_ONLY,
               FALSE, LOTTERY_LATE_NONE, NULL);
  assert_late (fixture, g_get_monotonic_time () + (IO_S + 1) * SEC,
               LOTTERY_WAIT_REPLIES_ONLY, FALSE, LOTTERY_LATE_UNREAD, NULL);
  assert_late (fixture, g_get_monotonic_time () + (IO_S + 1) * SEC,
               LOTTERY_WAIT_AGENCY, TRUE, LOTTERY_LATE_UNREAD, NULL);
  /* Once the write returns, nothing is late any more. */
  while (lottery_frame_io_is_writing (fixture->io))
    g_main_context_iteration (NULL, TRUE);
  assert_late (fixture, g_get_monotonic_time () + (IO_S + 1) * SEC,
               LOTTERY_WAIT_REPLIES_ONLY, FALSE, LOTTERY_LATE_NONE, NULL);
}

static void
test_io_seconds (Fixture       *fixture,
                 gconstpointer  data)
{
  g_test_summary ("The io timeout set is the one read back and the one "
                  "the messages name.");

  g_assert_cmpuint (lottery_deadlines_get_io_seconds (fixture->deadlines), ==,
                    IO_S);
  lottery_deadlines_set (fixture->deadlines, 3, IDLE_S);
  g_assert_cmpuint (lottery_deadlines_get_io_seconds (fixture->deadlines), ==,
                    3);
  assert_late (fixture, fixture->start + 4 * SEC, LOTTERY_WAIT_HELLO, FALSE,
               LOTTERY_LATE_MESSAGE, "No HELLO came within 3 seconds");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/deadlines/stranger", test_stranger);
  ADD ("/deadlines/idle-agency", test_idle_agency);
  ADD ("/deadlines/replies-only", test_replies_only);
  ADD ("/deadlines/unread-reply", test_unread_reply);
  ADD ("/deadlines/io-seconds", test_io_seconds);
#undef ADD

  return g_test_run ();
}
