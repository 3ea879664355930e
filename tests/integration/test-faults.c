/* test-faults.c: the real server and clients under crashes, cut
 * connections, a torn bets.csv and hostile peers. */
#include "config.h"

#include "test-utils.h"

#include "lottery-error.h"
#include "lottery-protocol.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RECEIVED[] = "action: apuesta_recibida | result: success";

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })

static char *
bets_path (TestFixture *fixture)
{
  return test_fixture_path (fixture, "bets.csv");
}

/* bets.csv holds every row of @agency_file exactly once, in order. */
static void
assert_agency_rows (GPtrArray  *rows,
                    const char *agency_file,
                    guint       agency)
{
  g_autoptr(GPtrArray) expected = test_expected_rows (agency_file, agency);
  g_autofree char *prefix = g_strdup_printf ("%u,", agency);
  guint i, n = 0;

  for (i = 0; i < rows->len; i++)
    {
      const char *row = g_ptr_array_index (rows, i);

      if (!g_str_has_prefix (row, prefix))
        continue;
      g_assert_cmpuint (n, <, expected->len);
      g_assert_cmpstr (row, ==, g_ptr_array_index (expected, n));
      n++;
    }
  g_assert_cmpuint (n, ==, expected->len);
}

/* The client received exactly the winners in @agency_file. */
static void
assert_all_winners (TestProcess *client,
                    const char  *agency_file)
{
  g_autoptr(GPtrArray) documents = test_winning_documents (agency_file);

  test_assert_winners (client, agency_file, documents->len);
}

/* ---- crashes ---- */

#define CRASH_AGENCIES 5
#define CRASH_ROWS 40000

static void
test_sigkill_resume (TestFixture   *fixture,
                     gconstpointer  data)
{
  const char *sync = data;
  g_autofree char *path = bets_path (fixture);
  g_autofree char *port = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  char *files[CRASH_AGENCIES];
  TestProcess *clients[CRASH_AGENCIES];
  TestProcess *server;
  guint connects = 0;
  guint i;

  g_test_summary ("SIGKILL to the server in the middle of a five-agency "
                  "upload, then a restart on the same port and file: the "
                  "agencies resume where the journal says, every bet is "
                  "stored exactly once, and the draw finds the right "
                  "winners.");

  for (i = 0; i < CRASH_AGENCIES; i++)
    {
      g_autofree char *name = g_strdup_printf ("agency-%u.csv", i + 1);

      files[i] = test_gen_bets (fixture, name, CRASH_ROWS, 100 + i, -1, FALSE);
    }

  server = test_server_start (fixture, CRASH_AGENCIES,
                              ARGS ("--storage-sync", sync));
  port = g_strdup_printf ("%u", test_server_get_port (server));
  for (i = 0; i < CRASH_AGENCIES; i++)
    clients[i] = test_client_start (fixture, test_server_get_port (server),
                                    i + 1, ARGS ("--bets-file", files[i]),
                                    NULL);

  /* Mid-upload: a few hundred batches in, out of about 1,500. */
  test_assert_line (server, RECEIVED, 300);
  test_process_send_signal (server, SIGKILL);
  g_assert_true (test_process_wait_exit (server, TEST_TIMEOUT_MS));
  g_assert_cmpuint (test_process_count_lines (server, "action: sorteo"), ==, 0);

  server = test_server_start (fixture, CRASH_AGENCIES,
                              ARGS ("--port", port, "--storage-sync", sync));
  for (i = 0; i < CRASH_AGENCIES; i++)
    {
      /* On a hang, every process's story is needed, not one. */
      if (!test_process_wait_exit (clients[i], TEST_TIMEOUT_MS))
        test_fixture_dump (fixture);
      test_assert_exit (clients[i], 0);
    }
  test_assert_line (server, "action: resume | result: success", 1);
  test_assert_line (server, "action: sorteo | result: success", 1);

  rows = test_read_rows (path);
  for (i = 0; i < CRASH_AGENCIES; i++)
    {
      assert_agency_rows (rows, files[i], i + 1);
      assert_all_winners (clients[i], files[i]);
      connects += test_process_count_lines (clients[i], "action: connect | "
                                            "result: success");
      g_free (files[i]);
    }
  g_assert_cmpuint (rows->len, ==, CRASH_AGENCIES * CRASH_ROWS);
  /* Agencies came back and carried on after their last stored batch (one
   * may have started only after the crash). */
  g_assert_cmpuint (connects, >, CRASH_AGENCIES);
  g_assert_cmpuint (test_process_count_lines (server, "action: hello | "
                                              "result: success"), >=,
                    CRASH_AGENCIES);

  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_restart_after_draw (TestFixture   *fixture,
                         gconstpointer  data)
{
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 3000, 7, 2,
                                          FALSE);
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv", 3000, 8, 3,
                                          FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  TestProcess *server, *client1, *client2;

  g_test_summary ("A server killed after every agency finished draws again "
                  "at start, from bets.csv: an agency asking again gets the "
                  "same winners, and nobody may send more bets.");

  server = test_server_start (fixture, 2, NULL);
  client1 = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bets-file", file1), NULL);
  client2 = test_client_run (fixture, test_server_get_port (server), 2,
                             ARGS ("--bets-file", file2), NULL);
  test_assert_exit (client2, 0);
  test_assert_exit (client1, 0);
  test_process_send_signal (server, SIGKILL);
  g_assert_true (test_process_wait_exit (server, TEST_TIMEOUT_MS));

  server = test_server_start (fixture, 2, NULL);
  test_assert_line (server, "bets: 6000 | finished_agencies: 2", 1);
  test_assert_line (server, "action: sorteo | result: success", 1);

  /* Run again with the same file: everything is stored, it only asks. */
  client2 = test_client_run (fixture, test_server_get_port (server), 2,
                             ARGS ("--bets-file", file2), NULL);
  test_assert_exit (client2, 0);
  assert_all_winners (client2, file2);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==, 0);
  rows = test_read_rows (path);
  g_assert_cmpuint (rows->len, ==, 6000);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_torn_row (TestFixture   *fixture,
               gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 500, 3, 1,
                                         FALSE);
  g_autofree char *path = bets_path (fixture);
  static const char torn[] = "1,Juana,P\xc3\xa9rez,3";
  g_autofree char *expected_line = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_len, after_len;
  TestProcess *server, *client;
  FILE *out;

  g_test_summary ("A bets.csv cut in the middle of a row (a crash during a "
                  "write): at start the server cuts it back to the last "
                  "whole batch and logs action: recover with the bytes it "
                  "removed; the agency then resumes.");

  server = test_server_start (fixture, 2, NULL);
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file), NULL);
  test_assert_line (client, "action: finish | result: success", 1);
  test_process_send_signal (client, SIGTERM);
  test_assert_exit (client, 0);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);

  g_assert_true (g_file_get_contents (path, &before, &before_len, &error));
  /* Half a row, as a crash in the middle of a write leaves it. */
  out = fopen (path, "ab");
  g_assert_nonnull (out);
  fputs (torn, out);
  fclose (out);

  server = test_server_start (fixture, 2, NULL);
  expected_line = g_strdup_printf ("action: recover | result: success | "
                                   "truncated_bytes: %zu", strlen (torn));
  test_assert_line (server, expected_line, 1);
  g_assert_true (g_file_get_contents (path, &after, &after_len, &error));
  g_assert_cmpmem (after, after_len, before, before_len);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

/* ---- a proxy that cuts connections ---- */

typedef struct
{
  GSocket  *listener;
  guint16   server_port;
  gsize     cut_after;   /* client bytes before a cut */
  guint     cuts;        /* connections still to cut */
  guint     accepted;
  gboolean  stop;
  gboolean  reset;       /* cut with a RST, at a random byte */
  gboolean  mute;        /* a cut connection passes only the WELCOME back */
  GRand    *rand;
  GThread  *thread;
} Proxy;

/* Closing with SO_LINGER 0 sends a RST: the server's next read or write
 * fails at once, also one already in flight. */
static void
abort_socket (GSocket *socket)
{
  struct linger linger = { 1, 0 };

  setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger,
              sizeof linger);
}

typedef struct
{
  GSocket  *from;
  GSocket  *to;
  gboolean  done;       /* set by the other direction to stop this one */
  gsize     limit;      /* bytes passed on, then dropped; 0: no limit */
  gint      received;   /* bytes the server sent (atomic) */
} Backward;

/* HELLO's answer when no token is asked for: prefix, type, u16 version,
 * u32 last sequence, u8 flags, u64 consumed, u64 stored. */
#define WELCOME_FRAME (LOTTERY_FRAME_PREFIX + 1 + 2 + 4 + 1 + 8 + 8)

/* Server to client, in a thread of its own: one direction blocked on a
 * full socket must not stop the other (the server may hold its answers
 * until its requests are read). */
static gpointer
backward_thread (gpointer user_data)
{
  Backward *backward = user_data;
  gsize passed = 0;
  char buf[4096];

  while (!g_atomic_int_get (&backward->done))
    {
      struct pollfd fd = { g_socket_get_fd (backward->from), POLLIN, 0 };
      gssize n;

      if (poll (&fd, 1, 50) <= 0)
        continue;
      n = g_socket_receive (backward->from, buf, sizeof buf, NULL, NULL);
      if (n <= 0)
        break;
      g_atomic_int_add (&backward->received, (gint) n);
      if (backward->limit > 0)
        n = MIN ((gsize) n, backward->limit - passed);
      if (n > 0 && !g_socket_send (backward->to, buf, (gsize) n, NULL, NULL))
        break;
      passed += (gsize) n;
    }
  /* The client sees the server's close. */
  g_socket_shutdown (backward->to, FALSE, TRUE, NULL);

  return NULL;
}

/* Forwards both ways until either side closes, or until @cut_after
 * bytes went to the server: then both sockets are closed at once (with
 * a RST when the proxy resets). */
static void
proxy_pipe (Proxy   *proxy,
            GSocket *client,
            gboolean cut)
{
  g_autoptr(GSocket) server = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  Backward backward = { 0, };
  GThread *thread;
  gsize sent = 0;
  gsize cut_after = proxy->cut_after;
  char buf[4096];

  if (cut && proxy->reset)
    cut_after = (gsize) g_rand_int_range (proxy->rand, 8 * 1024, 64 * 1024);
  server = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  address = g_inet_socket_address_new_from_string ("127.0.0.1",
                                                   proxy->server_port);
  if (!g_socket_connect (server, address, NULL, NULL))
    return;

  backward.from = server;
  backward.to = client;
  if (cut && proxy->mute)
    backward.limit = WELCOME_FRAME;
  thread = g_thread_new ("proxy-back", backward_thread, &backward);
  for (;;)
    {
      struct pollfd fd = { g_socket_get_fd (client), POLLIN, 0 };
      gsize want = sizeof buf;
      gssize n;

      if (proxy->stop)
        break;
      if (poll (&fd, 1, 100) <= 0)
        continue;
      if (cut && cut_after - sent < want)
        want = cut_after - sent;
      n = g_socket_receive (client, buf, want, NULL, NULL);
      if (n <= 0 || !g_socket_send (server, buf, (gsize) n, NULL, NULL))
        break;
      sent += (gsize) n;
      if (cut && sent >= cut_after)
        {
          if (proxy->reset)
            {
              /* A RST makes the kernel drop what the server has not read
               * yet: wait for its first answer past the WELCOME, so that
               * every connection makes some progress however slow the
               * server is, then cut while its answers cross. */
              gint64 deadline = g_get_monotonic_time () +
                                10 * G_USEC_PER_SEC;

              while (g_atomic_int_get (&backward.received) <= WELCOME_FRAME &&
                     g_get_monotonic_time () < deadline)
                g_usleep (G_TIME_SPAN_MILLISECOND);
              abort_socket (server);
              abort_socket (client);
            }
          break; /* both close, in the middle of a frame */
        }
    }
  g_atomic_int_set (&backward.done, TRUE);
  g_thread_join (thread);
}

static gpointer
proxy_thread (gpointer user_data)
{
  Proxy *proxy = user_data;

  while (!proxy->stop)
    {
      g_autoptr(GSocket) client = NULL;
      gboolean cut;

      if (!g_socket_condition_timed_wait (proxy->listener, G_IO_IN,
                                          100 * 1000, NULL, NULL))
        continue;
      client = g_socket_accept (proxy->listener, NULL, NULL);
      if (client == NULL)
        continue;
      g_socket_set_blocking (client, TRUE);
      proxy->accepted++;
      cut = proxy->cuts > 0;
      if (cut)
        proxy->cuts--;
      proxy_pipe (proxy, client, cut);
    }

  return NULL;
}

/* Starts @proxy's thread on a port of its own, which it returns. */
static guint16
proxy_start (Proxy *proxy)
{
  g_autoptr(GSocketAddress) any = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  proxy->listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  any = g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_assert_true (g_socket_bind (proxy->listener, any, TRUE, &error));
  g_assert_true (g_socket_listen (proxy->listener, &error));
  bound = g_socket_get_local_address (proxy->listener, &error);
  g_assert_no_error (error);
  proxy->thread = g_thread_new ("proxy", proxy_thread, proxy);

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
proxy_stop (Proxy *proxy)
{
  proxy->stop = TRUE;
  g_thread_join (proxy->thread);
  g_clear_object (&proxy->listener);
  g_clear_pointer (&proxy->rand, g_rand_free);
}

static void
test_proxy_cut (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 20000, 21,
                                         -1, FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  Proxy proxy = { 0, };
  TestProcess *server, *client;
  guint16 port;

  g_test_summary ("A connection cut in the middle of a batch (a proxy drops "
                  "it after N bytes), twice: the agency reconnects, the "
                  "server says where it left off, and every bet is stored "
                  "exactly once.");

  server = test_server_start (fixture, 1, NULL);
  proxy.server_port = test_server_get_port (server);
  /* Not a multiple of any frame size: the cut lands inside a batch. */
  proxy.cut_after = 100 * 1000 + 777;
  proxy.cuts = 2;
  port = proxy_start (&proxy);

  client = test_client_run (
    fixture, port,
    1, ARGS ("--bets-file", file), NULL);
  test_assert_exit (client, 0);
  proxy_stop (&proxy);

  g_assert_cmpuint (proxy.accepted, ==, 3);
  g_assert_cmpuint (test_process_count_lines (client, "action: connect | "
                                              "result: success"), ==, 3);
  rows = test_read_rows (path);
  assert_agency_rows (rows, file, 1);
  assert_all_winners (client, file);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

#define RESETS 100

/* Many connections reset at random points, while batches and their
 * answers are crossing: each reset connection must release its agency
 * at once, or the agency's next connection is refused as busy. */
static void
test_proxy_resets (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 100000, 31,
                                         -1, FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  Proxy proxy = { 0, };
  TestProcess *server, *client;
  guint16 port;

  g_test_summary ("100 connections of one agency reset (RST) at random "
                  "points of the upload: every reconnect is accepted, "
                  "every bet is stored exactly once, and the server stops "
                  "with nothing pending.");

  server = test_server_start (fixture, 1, NULL);
  proxy.server_port = test_server_get_port (server);
  proxy.cuts = RESETS;
  proxy.reset = TRUE;
  proxy.rand = g_rand_new_with_seed (g_test_rand_int ());
  port = proxy_start (&proxy);

  /* Each reset costs the client a backoff of at least 100 ms: give the
   * upload longer than the usual wait (sanitizer builds are slower). */
  client = test_client_start (
    fixture, port,
    1, ARGS ("--bets-file", file), NULL);
  if (!test_process_wait_exit (client, 120 * 1000) ||
      test_process_get_exit_status (client) != 0)
    test_fixture_dump (fixture);
  test_assert_exit (client, 0);
  proxy_stop (&proxy);

  g_assert_cmpuint (proxy.accepted, >, RESETS);
  g_assert_cmpuint (test_process_count_lines (client, "agency_busy"), ==, 0);
  rows = test_read_rows (path);
  assert_agency_rows (rows, file, 1);
  assert_all_winners (client, file);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail | "
                                              "pending:"), ==, 0);
}

#define MUTED_CUTS 12

/* A network that loses every answer and then resets: the server stored
 * what each connection carried, but the agency never saw an ACK. The
 * WELCOME of the next connection says how far the server got, and that
 * is progress: the agency must not give up after its retry budget. */
static void
test_lost_acks (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 30000, 41,
                                         -1, FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  Proxy proxy = { 0, };
  TestProcess *server, *client;
  guint16 port;

  g_test_summary ("12 connections in a row lose every answer after the "
                  "WELCOME and are then reset: the server's count in each "
                  "WELCOME keeps the agency retrying, and every bet is "
                  "stored exactly once.");

  server = test_server_start (fixture, 1, NULL);
  proxy.server_port = test_server_get_port (server);
  proxy.cuts = MUTED_CUTS;
  proxy.reset = TRUE;
  proxy.mute = TRUE;
  proxy.rand = g_rand_new_with_seed (g_test_rand_int ());
  port = proxy_start (&proxy);

  client = test_client_start (fixture, port, 1, ARGS ("--bets-file", file),
                              NULL);
  if (!test_process_wait_exit (client, 60 * 1000) ||
      test_process_get_exit_status (client) != 0)
    test_fixture_dump (fixture);
  test_assert_exit (client, 0);
  proxy_stop (&proxy);

  g_assert_cmpuint (proxy.accepted, ==, MUTED_CUTS + 1);
  rows = test_read_rows (path);
  assert_agency_rows (rows, file, 1);
  assert_all_winners (client, file);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

/* ---- hostile peers ---- */

static void
test_hostile (TestFixture   *fixture,
              gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 20000, 5,
                                         -1, FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GSocketConnection) oversized = NULL;
  g_autoptr(GSocketConnection) claims = NULL;
  g_autoptr(GSocketConnection) noise = NULL;
  g_autoptr(GSocketConnection) loris = NULL;
  g_autoptr(GSocketConnection) silent = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  static const guint8 huge_prefix[] = { 0x3b, 0x9a, 0xca, 0x00, 0x02 };
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 random_bytes[3000];
  TestProcess *server, *client;
  gint64 started;
  gsize len;
  guint i;

  g_test_summary ("Hostile peers: a length prefix of 10^9 bytes, a batch "
                  "claiming far more bets than it carries, random bytes, a "
                  "client sending one byte at a time, a silent connection. "
                  "Each gets an error and is closed (the slow ones after "
                  "io_timeout), the honest agency is served meanwhile, and "
                  "nothing of the bad ones is stored.");

  server = test_server_start (fixture, 2, ARGS ("--io-timeout", "1"));
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file), NULL);

  oversized = test_raw_connect (test_server_get_port (server));
  test_raw_send (oversized, huge_prefix, sizeof huge_prefix);
  test_raw_expect_error (oversized, LOTTERY_ERROR_PROTOCOL);
  test_raw_expect_closed (oversized);

  /* Agency 2 says hello, then sends a batch whose count (65,535) its
   * 10 bytes cannot hold. */
  claims = test_raw_connect (test_server_get_port (server));
  len = lottery_message_encode_hello (frame, 2);
  test_raw_send (claims, frame, len);
  {
    guint8 reply[LOTTERY_FRAME_MAX];
    LotteryMessage message;
    static const guint8 batch[] = {
      0, 0, 0, 17, LOTTERY_MESSAGE_BATCH, 0, 0, 0, 1, 0xff, 0xff,
      1, 'A', 1, 'B', 1, '1', 10, '2', '0', '0', '0'
    };

    test_raw_receive (claims, reply, &message);
    g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
    test_raw_send (claims, batch, sizeof batch);
    test_raw_receive (claims, reply, &message);
    g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ERROR);
  }

  noise = test_raw_connect (test_server_get_port (server));
  for (i = 0; i < sizeof random_bytes; i++)
    random_bytes[i] = (guint8) g_test_rand_int_range (0, 256);
  random_bytes[0] = 0xff; /* a prefix no frame has */
  test_raw_send (noise, random_bytes, sizeof random_bytes);
  test_raw_expect_error (noise, LOTTERY_ERROR_PROTOCOL);
  test_raw_expect_closed (noise);

  /* A slow-loris, already an agency: a whole PING, then the start of
   * a next frame, one byte every 300 ms. */
  loris = test_raw_connect (test_server_get_port (server));
  silent = test_raw_connect (test_server_get_port (server));
  len = lottery_message_encode_hello (frame, 2);
  test_raw_send (loris, frame, len);
  {
    guint8 reply[LOTTERY_FRAME_MAX];
    LotteryMessage message;

    test_raw_receive (loris, reply, &message);
    g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
    len = lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING);
    test_raw_send (loris, frame, len);
    test_raw_receive (loris, reply, &message);
    g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_PONG);
  }
  started = g_get_monotonic_time ();
  for (i = 0; i + 1 < len; i++)
    {
      test_raw_send (loris, frame + i, 1);
      g_usleep (300 * G_TIME_SPAN_MILLISECOND);
    }
  test_raw_expect_error (loris, LOTTERY_ERROR_TIMEOUT);
  test_raw_expect_closed (loris);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 4 * G_USEC_PER_SEC);
  test_raw_expect_error (silent, LOTTERY_ERROR_TIMEOUT);
  test_raw_expect_closed (silent);

  test_assert_line (client, "action: finish | result: success", 1);
  test_process_send_signal (client, SIGTERM);
  test_assert_exit (client, 0);

  /* Agency 1's bets, all of them, and nothing else. */
  rows = test_read_rows (path);
  assert_agency_rows (rows, file, 1);
  g_assert_cmpuint (rows->len, ==, 20000);
  g_assert_cmpuint (test_process_count_lines (server, "action: receive_message "
                                              "| result: fail"), >=, 4);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

/* A stranger that keeps sending PINGs, an agency that goes silent, and
 * one that waits for the draw. */
static void
test_idle (TestFixture   *fixture,
           gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-2.csv", 300, 12, 1,
                                         FALSE);
  g_autoptr(GSocketConnection) stranger = NULL;
  g_autoptr(GSocketConnection) quiet = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 reply[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  TestProcess *server, *waiting, *first, *last;
  gint64 started;
  gsize len;
  guint i;

  g_test_summary ("Until it says HELLO, a connection has io_timeout in all, "
                  "PINGs or not; an agency silent for idle_timeout is cut; "
                  "an agency whose query waits for the draw is not.");

  server = test_server_start (fixture, 3, ARGS ("--io-timeout", "2",
                                                "--idle-timeout", "2"));
  waiting = test_client_start (fixture, test_server_get_port (server), 2,
                               ARGS ("--bets-file", file), NULL);
  test_assert_line (waiting, "action: consulta_ganadores | result: "
                    "in_progress", 1);

  stranger = test_raw_connect (test_server_get_port (server));
  started = g_get_monotonic_time ();
  len = lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING);
  for (i = 0; i < 10; i++)
    {
      test_raw_send (stranger, frame, len);
      test_raw_receive (stranger, reply, &message);
      if (message.type != LOTTERY_MESSAGE_PONG)
        break;
      g_usleep (500 * G_TIME_SPAN_MILLISECOND);
    }
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpuint (message.error.code, ==, LOTTERY_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 5 * G_USEC_PER_SEC);

  quiet = test_raw_connect (test_server_get_port (server));
  len = lottery_message_encode_hello (frame, 1);
  test_raw_send (quiet, frame, len);
  test_raw_receive (quiet, reply, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
  test_raw_expect_error (quiet, LOTTERY_ERROR_TIMEOUT);
  test_raw_expect_closed (quiet);
  test_assert_line (server, "error: The connection was idle for 2 seconds", 1);

  /* Agency 2 waited through all that; agencies 1 and 3 finish now. */
  g_assert_true (test_process_is_running (waiting));
  first = test_client_start (fixture, test_server_get_port (server), 1,
                             ARGS ("--bet", "Ana,Diaz,1,1990-01-01,5"), NULL);
  test_assert_line (first, "action: consulta_ganadores | result: "
                    "in_progress", 1);
  last = test_client_run (fixture, test_server_get_port (server), 3,
                          ARGS ("--bet", "Eva,Paz,3,1990-01-01,5"), NULL);
  test_assert_exit (last, 0);
  test_assert_exit (first, 0);
  test_assert_exit (waiting, 0);
  assert_all_winners (waiting, file);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

/* A peer that asks and never reads its answers. */
static void
test_no_reader (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autoptr(GSocketConnection) greedy = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  TestProcess *server;
  gsize len;
  guint i;

  g_test_summary ("A peer that sends requests and never reads the answers "
                  "is cut once a write has waited io_timeout, and the "
                  "server keeps serving.");

  /* 100,000 agencies: each STATUS answer is about 900 KB. */
  server = test_server_start (fixture, 100000, ARGS ("--io-timeout", "1"));
  greedy = test_raw_connect (test_server_get_port (server));
  len = lottery_message_encode_empty (frame, LOTTERY_MESSAGE_STATUS);
  for (i = 0; i < 20; i++)
    test_raw_send (greedy, frame, len);

  test_assert_line (server, "action: send_reply | result: fail", 1);
  g_assert_cmpuint (test_process_count_lines (server,
                                              "answers not read within 1 "
                                              "seconds"), ==, 1);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

/* Tries to become agency @id on a new connection until @deadline:
 * returns the last answer's type (WELCOME once the agency is free). */
static LotteryMessageType
try_hello (guint16 port,
           guint32 id,
           gint64  deadline,
           guint16 *code)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 reply[LOTTERY_FRAME_MAX];
  LotteryMessage message = { 0 };

  do
    {
      g_autoptr(GSocketConnection) connection = test_raw_connect (port);

      test_raw_send (connection, frame,
                     lottery_message_encode_hello (frame, id));
      test_raw_receive (connection, reply, &message);
      if (message.type == LOTTERY_MESSAGE_WELCOME)
        break;
      *code = message.type == LOTTERY_MESSAGE_ERROR ? message.error.code : 0;
      g_usleep (200 * G_TIME_SPAN_MILLISECOND);
    }
  while (g_get_monotonic_time () < deadline);

  return message.type;
}

/* Four connections that ask for STATUS and never read: each is cut when
 * its write stalls past io_timeout, and the cut must give back its slot
 * and its agency; before, the write's error came after the close and
 * nothing was released, so four such peers held the server full (and
 * an agency busy) until a restart. */
static void
test_no_reader_frees (TestFixture   *fixture,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) greedy = g_ptr_array_new_with_free_func (g_object_unref);
  guint8 frame[LOTTERY_FRAME_MAX];
  TestProcess *server;
  guint16 code = 0;
  gsize len;
  guint i, j;

  g_test_summary ("Connections cut while their answers are being written "
                  "give back their max_connections slot and their agency.");

  /* 100,000 agencies: each STATUS answer is about 900 KB. */
  server = test_server_start (fixture, 100000,
                              ARGS ("--io-timeout", "1",
                                    "--max-connections", "4"));
  for (i = 0; i < 4; i++)
    {
      GSocketConnection *connection =
        test_raw_connect (test_server_get_port (server));

      /* One of them claims agency 1 first. */
      if (i == 0)
        test_raw_send (connection, frame,
                       lottery_message_encode_hello (frame, 1));
      len = lottery_message_encode_empty (frame, LOTTERY_MESSAGE_STATUS);
      for (j = 0; j < 8; j++)
        test_raw_send (connection, frame, len);
      g_ptr_array_add (greedy, connection);
    }
  test_assert_line (server, "answers not read within 1 seconds", 4);

  /* The four are still open on this side, but hold nothing there. */
  g_assert_cmpint (try_hello (test_server_get_port (server), 1,
                              g_get_monotonic_time () + 5 * G_USEC_PER_SEC,
                              &code), ==, LOTTERY_MESSAGE_WELCOME);

  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail | "
                                              "pending:"), ==, 0);
}

#define FLOOD 2000
#define FLOOD_LIMIT 500

static void
test_flood (TestFixture   *fixture,
            gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 2000, 9, 2,
                                         FALSE);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func (g_object_unref);
  TestProcess *server, *client;
  guint full = 0, timed_out = 0, other = 0;
  guint i;

  g_test_summary ("2,000 connections at once against max_connections 500: "
                  "the extra ones are refused with server_full, the ones "
                  "held are cut after io_timeout, and an honest agency "
                  "started during the flood is served (it retries while the "
                  "server is full).");

  server = test_server_start (fixture, 1,
                              ARGS ("--max-connections", "500",
                                    "--io-timeout", "2",
                                    "--listen-backlog", "4096"));
  address = g_inet_socket_address_new_from_string (
    "127.0.0.1", test_server_get_port (server));

  for (i = 0; i < FLOOD; i++)
    {
      g_autoptr(GError) error = NULL;
      GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4,
                                      G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, &error);

      g_assert_no_error (error);
      g_socket_set_blocking (socket, FALSE);
      g_socket_connect (socket, address, NULL, NULL);
      g_ptr_array_add (sockets, socket);
    }
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file), NULL);

  /* Every flood socket ends with one ERROR frame, then EOF. */
  for (i = 0; i < FLOOD; i++)
    {
      GSocket *socket = g_ptr_array_index (sockets, i);
      guint8 buffer[LOTTERY_FRAME_MAX];
      gsize got = 0;
      gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
      LotteryMessage message;
      gsize body;

      g_socket_set_blocking (socket, TRUE);
      while (g_get_monotonic_time () < deadline)
        {
          gssize n;

          if (!g_socket_condition_timed_wait (socket, G_IO_IN,
                                              deadline - g_get_monotonic_time (),
                                              NULL, NULL))
            break;
          n = g_socket_receive (socket, (char *) buffer + got,
                                sizeof buffer - got, NULL, NULL);
          if (n <= 0)
            break;
          got += (gsize) n;
        }
      if (got >= LOTTERY_FRAME_PREFIX &&
          lottery_frame_parse_prefix (buffer, &body, NULL) &&
          got == LOTTERY_FRAME_PREFIX + body &&
          lottery_message_decode (buffer + LOTTERY_FRAME_PREFIX, body,
                                  &message, NULL) &&
          message.type == LOTTERY_MESSAGE_ERROR)
        {
          if (message.error.code == LOTTERY_ERROR_SERVER_FULL)
            full++;
          else if (message.error.code == LOTTERY_ERROR_TIMEOUT)
            timed_out++;
          else
            other++;
        }
      else
        other++;
    }

  g_test_message ("refused: %u, timed out: %u, other: %u", full, timed_out,
                  other);
  g_assert_cmpuint (other, ==, 0);
  g_assert_cmpuint (full + timed_out, ==, FLOOD);
  g_assert_cmpuint (timed_out, <=, FLOOD_LIMIT);
  g_assert_cmpuint (full, >=, FLOOD - FLOOD_LIMIT);
  /* The log counts them too (and the honest agency's refused tries). */
  g_assert_cmpuint (test_process_sum_values (server, "action: "
                                             "accept_connections | result: "
                                             "fail", "refused"), >=, full);

  test_assert_exit (client, 0);
  assert_all_winners (client, file);
  g_assert_true (test_process_is_running (server));
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

int
main (int   argc,
      char *argv[])
{
  struct rlimit limit;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("lottery-server and lottery-client under faults: crashes "
                  "and restarts, cut connections, a torn bets.csv, hostile "
                  "peers and a connection flood.");

  /* The flood opens 2,000 sockets here. */
  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }

#define ADD(path, data, func) \
  g_test_add (path, TestFixture, data, test_fixture_setup, func, \
              test_fixture_teardown)

  ADD ("/faults/sigkill/sync-batch", "batch", test_sigkill_resume);
  ADD ("/faults/sigkill/sync-none", "none", test_sigkill_resume);
  ADD ("/faults/sigkill/after-draw", NULL, test_restart_after_draw);
  ADD ("/faults/torn-row", NULL, test_torn_row);
  ADD ("/faults/proxy-cut", NULL, test_proxy_cut);
  ADD ("/faults/proxy-resets", NULL, test_proxy_resets);
  ADD ("/faults/lost-acks", NULL, test_lost_acks);
  ADD ("/faults/hostile", NULL, test_hostile);
  ADD ("/faults/flood", NULL, test_flood);
  ADD ("/faults/idle", NULL, test_idle);
  ADD ("/faults/no-reader", NULL, test_no_reader);
  ADD ("/faults/no-reader-frees", NULL, test_no_reader_frees);

#undef ADD

  return g_test_run ();
}
