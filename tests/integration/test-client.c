/* test-client.c: the real lottery-client against hostile, stuck and
 * lying servers, and against bets files it cannot re-read.
 *
 * Most tests play the server here: a GSocketListener on 127.0.0.1 and a
 * thread that speaks the protocol (lottery-protocol.h) the way a script
 * says, one connection after the other. The client is the real binary.
 */
#include "config.h"

#include "test-utils.h"

#include "lottery-error.h"
#include "lottery-protocol.h"
#include "lottery-stream.h"

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })
#define ENGLISH ARGS ("LC_ALL=C.UTF-8", "LANGUAGE=")

static const char DONE[] = "action: done | result: success";
static const char INTERRUPTED[] = "action: done | result: interrupted";
static const char FAILED[] = "action: done | result: fail";

/* ---- a server played by the test ---- */

typedef struct _FakeServer FakeServer;
typedef void (*FakeScript) (FakeServer *fake, GIOStream *connection);

struct _FakeServer
{
  GSocketListener *listener;
  GCancellable    *cancellable;
  GThread         *thread;
  guint16          port;
  FakeScript       script;
  gint             connections; /* atomic: accepted so far */
};

typedef struct
{
  TestFixture base;
  FakeServer  fake;
} Fixture;

static gpointer
fake_thread (gpointer data)
{
  FakeServer *fake = data;

  for (;;)
    {
      g_autoptr(GSocketConnection) connection = NULL;

      connection = g_socket_listener_accept (fake->listener, NULL,
                                             fake->cancellable, NULL);
      if (connection == NULL)
        break;
      g_atomic_int_inc (&fake->connections);
      /* Bounds a script that waits for a client that never goes. */
      g_socket_set_timeout (g_socket_connection_get_socket (connection), 60);
      fake->script (fake, G_IO_STREAM (connection));
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    }

  return NULL;
}

/* Starts a server on 127.0.0.1 that runs @script for every connection. */
static guint16
fake_start (Fixture    *fixture,
            FakeScript  script)
{
  FakeServer *fake = &fixture->fake;
  g_autoptr(GError) error = NULL;

  fake->listener = g_socket_listener_new ();
  fake->cancellable = g_cancellable_new ();
  fake->script = script;
  fake->port = g_socket_listener_add_any_inet_port (fake->listener, NULL,
                                                    &error);
  g_assert_no_error (error);
  fake->thread = g_thread_new ("fake-server", fake_thread, fake);

  return fake->port;
}

static void
fake_stop (FakeServer *fake)
{
  if (fake->listener == NULL)
    return;

  g_cancellable_cancel (fake->cancellable);
  g_thread_join (fake->thread);
  g_socket_listener_close (fake->listener);
  g_clear_object (&fake->listener);
  g_clear_object (&fake->cancellable);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  memset (&fixture->fake, 0, sizeof fixture->fake);
  test_fixture_setup (&fixture->base, data);
}

/* The clients go first: their end closing ends a script's wait. */
static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  test_fixture_teardown (&fixture->base, data);
  fake_stop (&fixture->fake);
}

static gboolean
fake_read (GIOStream      *connection,
           guint8         *buffer,
           LotteryMessage *message)
{
  return lottery_stream_read_message (g_io_stream_get_input_stream (connection),
                                      buffer, message, NULL, NULL);
}

static gboolean
fake_send (GIOStream    *connection,
           const guint8 *frame,
           gsize         len)
{
  return lottery_stream_write (g_io_stream_get_output_stream (connection),
                               frame, len, NULL, NULL);
}

/* Reads and drops everything until the client goes. */
static void
fake_drain (GIOStream *connection)
{
  GInputStream *in = g_io_stream_get_input_stream (connection);
  guint8 buffer[4096];

  while (g_input_stream_read (in, buffer, sizeof buffer, NULL, NULL) > 0)
    ;
}

/* HELLO, then WELCOME: nothing held yet. */
static gboolean
fake_welcome (GIOStream *connection)
{
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  return fake_read (connection, buffer, &message) &&
         message.type == LOTTERY_MESSAGE_HELLO &&
         fake_send (connection, frame,
                    lottery_message_encode_welcome (frame, 0, 0, 0, 0));
}

/* Answers every BATCH until the FINISH, acknowledging @ack_count bets
 * (G_MAXUINT: as many as the batch held); the bets taken go to @bets. */
static gboolean
fake_take_batches (GIOStream *connection,
                   guint      ack_count,
                   guint64   *bets)
{
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  *bets = 0;
  while (fake_read (connection, buffer, &message))
    {
      if (message.type == LOTTERY_MESSAGE_FINISH)
        return TRUE;
      if (message.type != LOTTERY_MESSAGE_BATCH)
        return FALSE;
      *bets += message.batch.count;
      if (!fake_send (connection, frame,
                      lottery_message_encode_ack (
                        frame, message.batch.sequence,
                        ack_count == G_MAXUINT ? message.batch.count
                                               : (guint16) ack_count)))
        return FALSE;
    }

  return FALSE;
}

/* HELLO to FINISHED, honest, then the QUERY: TRUE once it came. */
static gboolean
fake_upload (GIOStream *connection)
{
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  guint64 bets;

  return fake_welcome (connection) &&
         fake_take_batches (connection, G_MAXUINT, &bets) &&
         fake_send (connection, frame,
                    lottery_message_encode_finished (frame, bets)) &&
         fake_read (connection, buffer, &message) &&
         message.type == LOTTERY_MESSAGE_QUERY;
}

static char *
agency_file (Fixture *fixture,
             guint64  rows)
{
  return test_gen_bets (&fixture->base, "agency-1.csv", rows, 11, 2, FALSE);
}

static TestProcess *
client_start (Fixture            *fixture,
              const char         *bets,
              const char * const *extra)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  guint i;

  g_ptr_array_add (args, g_strdup_printf ("--bets-file=%s", bets));
  for (i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup (extra[i]));
  g_ptr_array_add (args, NULL);

  return test_client_start (&fixture->base, fixture->fake.port, 1,
                            (const char * const *) args->pdata, ENGLISH);
}

/* lottery-client --status against the fake server. */
static TestProcess *
status_start (Fixture *fixture)
{
  g_autofree char *address = g_strdup_printf ("127.0.0.1:%u",
                                              fixture->fake.port);

  return test_process_spawn (&fixture->base, "status",
                             ARGS (g_getenv ("LOTTERY_CLIENT"), "--status",
                                   "--server", address),
                             ENGLISH);
}

/* The client failed, and its stderr says @words. */
static void
assert_failed_saying (TestProcess *client,
                      int          status,
                      const char  *words)
{
  g_autoptr(GPtrArray) err = NULL;
  guint i;
  gboolean found = FALSE;

  test_assert_exit (client, status);
  err = test_process_get_stderr_lines (client);
  for (i = 0; i < err->len; i++)
    found |= strstr (g_ptr_array_index (err, i), words) != NULL;
  if (!found)
    test_process_dump (client);
  g_assert_true (found);
}

/* ---- counts the server gets wrong ---- */

static void
script_ack_none (FakeServer *fake,
                 GIOStream  *connection)
{
  guint64 bets;

  if (fake_welcome (connection))
    fake_take_batches (connection, 0, &bets);
  fake_drain (connection);
}

static void
script_finished_zero (FakeServer *fake,
                      GIOStream  *connection)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint64 bets;

  if (fake_welcome (connection) &&
      fake_take_batches (connection, G_MAXUINT, &bets))
    fake_send (connection, frame, lottery_message_encode_finished (frame, 0));
  fake_drain (connection);
}

/* ---- answers that never end ---- */

static void
script_endless_winners (FakeServer *fake,
                        GIOStream  *connection)
{
  const char * const documents[] = { "30000001", "30000002", "30000003" };
  guint8 frame[LOTTERY_FRAME_MAX];
  guint n;

  if (fake_upload (connection))
    for (;;)
      {
        gsize len = lottery_message_encode_winners (frame, documents, 3, &n);

        /* Never the last frame. */
        frame[5] = 0;
        if (!fake_send (connection, frame, len))
          break;
      }
  fake_drain (connection);
}

static void
script_huge_status (FakeServer *fake,
                    GIOStream  *connection)
{
  g_autofree LotteryStatusEntry *entries =
    g_new0 (LotteryStatusEntry, LOTTERY_STATUS_MAX_ENTRIES + 1);
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  guint32 first = 1;
  guint n;

  if (!fake_read (connection, buffer, &message) ||
      message.type != LOTTERY_MESSAGE_STATUS)
    return;
  for (;;)
    {
      gsize len = lottery_message_encode_status_reply (
        frame, 0, 0, G_MAXUINT32, first, entries,
        LOTTERY_STATUS_MAX_ENTRIES + 1, &n);

      if (!fake_send (connection, frame, len))
        break;
      first += n;
    }
}

static void
test_huge_status (Fixture       *fixture,
                  gconstpointer  data)
{
  TestProcess *client;

  g_test_summary ("A STATUS answer claiming 2^32-1 agencies is refused "
                  "before it is held");
  fake_start (fixture, script_huge_status);
  client = status_start (fixture);
  assert_failed_saying (client, 1, "4294967295 agencies");
}

/* ---- a server that stops answering ---- */

static void
script_mute_after_welcome (FakeServer *fake,
                           GIOStream  *connection)
{
  fake_welcome (connection);
  fake_drain (connection);
}

static void
test_mute_server_times_out (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 500);
  TestProcess *client;

  g_test_summary ("A server that welcomes and then never answers a batch "
                  "is given up on after --timeout");
  fake_start (fixture, script_mute_after_welcome);
  client = client_start (fixture, bets, ARGS ("--timeout=1"));
  assert_failed_saying (client, 1, "timed out");
  g_assert_cmpint (g_atomic_int_get (&fixture->fake.connections), >=, 2);
}

static void
test_mute_server_sigterm (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 500);
  TestProcess *client;

  g_test_summary ("SIGTERM while the client waits for an answer: a quick "
                  "exit 0, logged as interrupted");
  fake_start (fixture, script_mute_after_welcome);
  client = client_start (fixture, bets, NULL);
  test_assert_line (client, "action: connect | result: success", 1);
  g_usleep (200 * 1000);
  test_assert_quick_stop (client, G_USEC_PER_SEC);
  g_assert_cmpuint (test_process_count_lines (client, INTERRUPTED), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, DONE), ==, 0);
}

static void
test_sigterm_before_welcome (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 100);
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  TestProcess *client;

  g_test_summary ("SIGTERM while the client waits for a WELCOME that does "
                  "not come (the server never accepts): a quick exit 0");
  /* The kernel completes the connection; nobody ever answers it. */
  fixture->fake.port = g_socket_listener_add_any_inet_port (listener, NULL,
                                                            &error);
  g_assert_no_error (error);
  client = client_start (fixture, bets, NULL);
  test_assert_line (client, "action: config | result: success", 1);
  g_usleep (500 * 1000);
  test_assert_quick_stop (client, G_USEC_PER_SEC);
  g_assert_cmpuint (test_process_count_lines (client, INTERRUPTED), ==, 1);
}

static void
script_winners_then_mute (FakeServer *fake,
                          GIOStream  *connection)
{
  const char * const documents[] = { "30000001" };
  guint8 frame[LOTTERY_FRAME_MAX];
  guint n;

  if (fake_upload (connection))
    {
      gsize len = lottery_message_encode_winners (frame, documents, 1, &n);

      frame[5] = 0;
      fake_send (connection, frame, len);
    }
  fake_drain (connection);
}

static void
test_winners_stall (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 100);
  TestProcess *client;

  g_test_summary ("Once the winners have started, the rest must come "
                  "within --timeout");
  fake_start (fixture, script_winners_then_mute);
  client = client_start (fixture, bets, ARGS ("--timeout=1"));
  /* It reconnects, to a server that has forgotten its FINISH. */
  test_assert_exit (client, 1);
  g_assert_cmpuint (test_process_count_lines (client, "timed out"), >=, 1);
}

/* ---- what the server says, shown safely ---- */

static void
script_bad_documents (FakeServer *fake,
                      GIOStream  *connection)
{
  const char * const documents[] = { "30000001", "3|0\x1b[2J\xff" };
  guint8 frame[LOTTERY_FRAME_MAX];
  guint n;

  if (fake_upload (connection))
    fake_send (connection, frame,
               lottery_message_encode_winners (frame, documents, 2, &n));
  fake_drain (connection);
}

static void
assert_no_raw_bytes (TestProcess *client)
{
  g_autoptr(GPtrArray) out = test_process_get_lines (client, NULL);
  g_autoptr(GPtrArray) err = test_process_get_stderr_lines (client);
  guint i;

  for (i = 0; i < out->len; i++)
    {
      g_assert_null (strchr (g_ptr_array_index (out, i), '\x1b'));
      g_assert_true (g_utf8_validate (g_ptr_array_index (out, i), -1, NULL));
    }
  for (i = 0; i < err->len; i++)
    {
      g_assert_null (strchr (g_ptr_array_index (err, i), '\x1b'));
      g_assert_true (g_utf8_validate (g_ptr_array_index (err, i), -1, NULL));
    }
}

static void
test_bad_documents (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 100);
  TestProcess *client;

  g_test_summary ("A winner document that is not all digits is refused "
                  "loudly, and shown without its escapes");
  fake_start (fixture, script_bad_documents);
  client = client_start (fixture, bets, NULL);
  assert_failed_saying (client, 1, "not a document");
  g_assert_cmpuint (test_process_count_lines (client, "action: ganador"), ==,
                    0);
  test_assert_log_format (client, NULL);
  assert_no_raw_bytes (client);
}

/* Whatever the client's first message, an ERROR with @code and @text. */
static void
fake_refuse (GIOStream  *connection,
             guint16     code,
             const char *text)
{
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  if (fake_read (connection, buffer, &message))
    fake_send (connection, frame,
               lottery_message_encode_error (frame, code, 0, text));
}

static void
script_status_error (FakeServer *fake,
                     GIOStream  *connection)
{
  fake_refuse (connection, LOTTERY_ERROR_FAILED,
               "go away\x1b]0;owned\x07\x1b[2J\xc3");
}

static void
test_status_error_text (Fixture       *fixture,
                        gconstpointer  data)
{
  TestProcess *client;

  g_test_summary ("--status shows a server's ERROR text without its "
                  "terminal escapes or invalid UTF-8");
  fake_start (fixture, script_status_error);
  client = status_start (fixture);
  assert_failed_saying (client, 1, "go away");
  assert_no_raw_bytes (client);
}

/* A refusal the agency does not retry (agency_busy it would, for
 * a minute). */
static void
script_refuse (FakeServer *fake,
               GIOStream  *connection)
{
  fake_refuse (connection, LOTTERY_ERROR_UNKNOWN_AGENCY,
               "Agency 1 is not one of this lottery's");
}

static void
test_refused_wording (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 10);
  g_autofree char *expected = NULL;
  TestProcess *client;

  g_test_summary ("A server that answers with a refusal was reached: the "
                  "message says it refused, and why");
  fake_start (fixture, script_refuse);
  expected = g_strdup_printf ("The server at 127.0.0.1:%u refused agency 1: "
                              "Agency 1 is not one of this lottery's",
                              fixture->fake.port);
  client = client_start (fixture, bets, NULL);
  assert_failed_saying (client, 1, expected);
  g_assert_cmpuint (test_process_count_stderr_lines (client, "Cannot reach"),
                    ==, 0);
}

/* ---- bets files ---- */

static void
test_fifo_refused (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *fifo = test_fixture_path (&fixture->base, "bets.fifo");
  TestProcess *client;

  g_test_summary ("A bets file that cannot be read again (a FIFO) is "
                  "refused at once, without waiting for a writer");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  fake_start (fixture, script_refuse);
  client = client_start (fixture, fifo, NULL);
  assert_failed_saying (client, 2, "not a regular file");
  g_assert_cmpint (g_atomic_int_get (&fixture->fake.connections), ==, 0);
}

static void
test_directory_refused (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autofree char *dir = test_fixture_path (&fixture->base, "bets-dir");
  TestProcess *client;

  g_test_summary ("A directory given as the bets file is named as one, "
                  "without a guess at pipes or devices, and nothing is "
                  "sent");
  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  fake_start (fixture, script_refuse);
  client = client_start (fixture, dir, NULL);
  assert_failed_saying (client, 2, "is a directory, not a bets file");
  g_assert_cmpuint (test_process_count_stderr_lines (client, "a pipe"), ==, 0);
  g_assert_cmpint (g_atomic_int_get (&fixture->fake.connections), ==, 0);
}

static void
test_pipe_refused (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GSubprocess) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *err = NULL;

  g_test_summary ("/dev/stdin on a pipe is refused with exit status 2");
  fake_start (fixture, script_refuse);
  address = g_strdup_printf ("127.0.0.1:%u", fixture->fake.port);
  client = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                             G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                             g_getenv ("LOTTERY_CLIENT"), "--server", address,
                             "--bets-file", "/dev/stdin", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (client, "A,B,30000001,1990-01-01,1\n", NULL,
                                 NULL, &err, &error);
  /* The client may leave before it reads stdin: a broken pipe here. */
  g_clear_error (&error);
  g_subprocess_wait (client, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (err);
  g_test_message ("stderr: %s", err);
  g_assert_cmpint (g_subprocess_get_exit_status (client), ==, 2);
  g_assert_nonnull (strstr (err, "not a regular file"));
}

static void
test_long_line (Fixture       *fixture,
                gconstpointer  data)
{
  g_autofree char *generated = agency_file (fixture, 1000);
  g_autofree char *bets = test_fixture_path (&fixture->base, "long.csv");
  g_autofree char *contents = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GString) with_long = g_string_new (NULL);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  TestProcess *server;
  TestProcess *client;
  char *cut;

  g_test_summary ("A 300 KiB line in the middle of a bets file is one bad "
                  "row, reported with its line; every other row is sent");
  g_assert_true (g_file_get_contents (generated, &contents, NULL, &error));
  /* After the header and 500 rows. */
  cut = contents;
  for (guint i = 0; i < 501; i++)
    cut = strchr (cut, '\n') + 1;
  g_string_append_len (with_long, contents, cut - contents);
  g_string_append (with_long, "A,B,");
  for (guint i = 0; i < 300 * 1024; i++)
    g_string_append_c (with_long, '7');
  g_string_append (with_long, ",1990-01-01,1\n");
  g_string_append (with_long, cut);
  g_assert_true (g_file_set_contents (bets, with_long->str, with_long->len,
                                      &error));

  server = test_server_start (&fixture->base, 1, NULL);
  client = test_client_run (&fixture->base, test_server_get_port (server), 1,
                            ARGS ("--bets-file", bets), ENGLISH);
  test_assert_exit (client, 3);
  line = g_strdup_printf ("action: leer_apuesta | result: fail | file: %s | "
                          "line: 502 | error: ", bets);
  g_assert_cmpuint (test_process_count_lines (client, line), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "action: leer_apuesta"),
                    ==, 1);
  test_assert_line (server, "action: sorteo | result: success", 1);
  rows = test_read_rows (test_fixture_path (&fixture->base, "bets.csv"));
  g_assert_cmpuint (rows->len, ==, 1000);
}

/* ---- one lie, one clear failure ---- */

typedef struct
{
  FakeScript  script;
  guint64     rows;   /* in the agency's file */
  const char *words;  /* what stderr must say */
  const char *summary;
} Lie;

static const Lie ack_none = {
  script_ack_none, 2000, "acknowledged 0 of",
  "An ACK for fewer bets than the batch held is an error, not a success"
};
static const Lie finished_zero = {
  script_finished_zero, 2000, "stored 0 bets of agency 1, not 2000",
  "A FINISHED that says fewer bets were stored than were acknowledged is "
  "an error"
};
static const Lie endless_winners = {
  script_endless_winners, 100, "more winners than the 100 bets",
  "WINNERS frames that never end: more winners than the agency sent bets "
  "is an error, at once"
};

static void
test_lie (Fixture       *fixture,
          gconstpointer  data)
{
  const Lie *lie = data;
  g_autofree char *bets = agency_file (fixture, lie->rows);
  TestProcess *client;

  g_test_summary (lie->summary);
  fake_start (fixture, lie->script);
  client = client_start (fixture, bets, NULL);
  assert_failed_saying (client, 1, lie->words);
  g_assert_cmpuint (test_process_count_lines (client, FAILED), ==, 1);
}

/* ---- the command line ---- */

static void
test_positional_bets_file (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 50);
  TestProcess *server = test_server_start (&fixture->base, 1, NULL);
  TestProcess *client;

  g_test_summary ("lottery-client agency-1.csv: the argument is the bets "
                  "file");
  client = test_client_run (&fixture->base, test_server_get_port (server), 1,
                            ARGS (bets), ENGLISH);
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, DONE), ==, 1);
  test_assert_no_stderr (client);
}

static void
test_unknown_options (Fixture       *fixture,
                      gconstpointer  data)
{
  const char * const bad[] = { "--bogus", "--gapplication-service" };
  guint i;

  g_test_summary ("Unknown options, --gapplication-service among them, and "
                  "extra arguments: the server's message shape and exit 2");
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *expected = g_strdup_printf (
        "lottery-client: Unknown option %s", bad[i]);
      TestProcess *client = test_process_spawn (
        &fixture->base, "client", ARGS (g_getenv ("LOTTERY_CLIENT"), bad[i]),
        ENGLISH);

      assert_failed_saying (client, 2, expected);
    }
  {
    TestProcess *client = test_process_spawn (
      &fixture->base, "client",
      ARGS (g_getenv ("LOTTERY_CLIENT"), "a.csv", "b.csv"), ENGLISH);

    assert_failed_saying (client, 2, "lottery-client: ");
  }
}

/* ---- start cost ---- */

static void
test_no_session_bus (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 10);
  g_autofree char *path = test_fixture_path (&fixture->base, "bus");
  g_autofree char *bus_env = g_strdup_printf (
    "DBUS_SESSION_BUS_ADDRESS=unix:path=%s", path);
  g_autoptr(GSocket) bus = NULL;
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GError) error = NULL;
  TestProcess *server = test_server_start (&fixture->base, 1, NULL);
  TestProcess *client;

  g_test_summary ("An agency start does not connect to the session bus: "
                  "an upload has no use for D-Bus, and the round trip "
                  "would be paid by every agency");
  /* A bus that listens and never answers: a client that connected
   * would wait on it, and the accept below would find it. */
  bus = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                      G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (bus, address, FALSE, &error));
  g_assert_true (g_socket_listen (bus, &error));
  g_socket_set_blocking (bus, FALSE);

  client = test_client_run (&fixture->base, test_server_get_port (server), 1,
                            ARGS ("--bets-file", bets),
                            ARGS ("LC_ALL=C.UTF-8", "LANGUAGE=", bus_env));
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, DONE), ==, 1);

  accepted = g_socket_accept (bus, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  g_assert_null (accepted);
}

/* ---- a full disk ---- */

/* Sets the server's largest file size (RLIMIT_FSIZE) to @bytes. */
static void
set_file_size_limit (TestProcess *server,
                     rlim_t       bytes)
{
  struct rlimit limit = { bytes, bytes };
  struct rlimit old;
  pid_t pid = (pid_t) g_ascii_strtoll (test_process_get_pid (server), NULL,
                                       10);

  g_assert_cmpint (prlimit (pid, RLIMIT_FSIZE, NULL, &old), ==, 0);
  limit.rlim_max = old.rlim_max;
  if (bytes == RLIM_INFINITY)
    limit.rlim_cur = old.rlim_max;
  g_assert_cmpint (prlimit (pid, RLIMIT_FSIZE, &limit, NULL), ==, 0);
}

static void
test_disk_full_retried (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autofree char *bets = agency_file (fixture, 400);
  g_autofree char *stored_path = test_fixture_path (&fixture->base,
                                                    "bets.csv");
  g_autoptr(GPtrArray) expected = test_expected_rows (bets, 1);
  g_autoptr(GPtrArray) stored = NULL;
  g_autofree char *real_server = g_strdup (g_getenv ("LOTTERY_SERVER"));
  g_autofree char *wrapper = NULL;
  TestProcess *server, *client;

  g_test_summary ("A full disk is a wait, not a failure: the server cuts "
                  "the batch back and answers unavailable, the agency "
                  "backs off and resumes once there is room, and every "
                  "bet is stored exactly once");
  /* The server ignores SIGXFSZ as a real full disk sends none: a write
   * past the limit fails with EFBIG, like ENOSPC. An ignored signal
   * stays ignored across exec. */
  wrapper = g_strdup_printf ("%s/no-xfsz.sh", fixture->base.dir);
  g_assert_true (g_file_set_contents (
    wrapper, "#!/bin/sh\ntrap '' XFSZ\nexec \"$LOTTERY_REAL_SERVER\" "
    "\"$@\"\n", -1, NULL));
  g_assert_cmpint (g_chmod (wrapper, 0755), ==, 0);
  g_setenv ("LOTTERY_REAL_SERVER", real_server, TRUE);
  g_setenv ("LOTTERY_SERVER", wrapper, TRUE);
  server = test_server_start (&fixture->base, 1,
                              ARGS ("--storage-sync", "batch"));
  g_setenv ("LOTTERY_SERVER", real_server, TRUE);

  /* Room for a few batches of the 400 bets (about 30 bytes each). */
  set_file_size_limit (server, 2048);
  client = test_client_start (&fixture->base, test_server_get_port (server),
                              1, ARGS ("--bets-file", bets,
                                       "--batch-max-amount", "20"),
                              ENGLISH);
  test_assert_line (server, "action: rechazar_lote | result: fail", 1);
  test_assert_line (client, "action: connect | result: fail", 1);
  g_assert_true (test_process_is_running (client));
  set_file_size_limit (server, RLIM_INFINITY);

  if (!test_process_wait_exit (client, TEST_TIMEOUT_MS))
    test_process_dump (client);
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, DONE), ==, 1);
  stored = test_read_rows (stored_path);
  test_assert_same_rows (stored, expected);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("lottery-client against servers that lie, stall or send "
                  "hostile text, and bets files it cannot read twice.");

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
#define ADD_LIE(path, lie) \
  g_test_add (path, Fixture, &lie, fixture_setup, test_lie, fixture_teardown)

  ADD_LIE ("/client/counts/ack", ack_none);
  ADD_LIE ("/client/counts/finished", finished_zero);
  ADD_LIE ("/client/bounds/winners", endless_winners);
  ADD ("/client/bounds/status", test_huge_status);
  ADD ("/client/timeout/ack", test_mute_server_times_out);
  ADD ("/client/timeout/sigterm", test_mute_server_sigterm);
  ADD ("/client/timeout/sigterm-before-welcome", test_sigterm_before_welcome);
  ADD ("/client/timeout/winners", test_winners_stall);
  ADD ("/client/text/documents", test_bad_documents);
  ADD ("/client/text/status-error", test_status_error_text);
  ADD ("/client/text/refused", test_refused_wording);
  ADD ("/client/file/fifo", test_fifo_refused);
  ADD ("/client/file/pipe", test_pipe_refused);
  ADD ("/client/file/directory", test_directory_refused);
  ADD ("/client/file/long-line", test_long_line);
  ADD ("/client/cli/positional", test_positional_bets_file);
  ADD ("/client/cli/unknown-option", test_unknown_options);
  ADD ("/client/start/no-session-bus", test_no_session_bus);
  ADD ("/client/retry/disk-full", test_disk_full_retried);

  return g_test_run ();
}
