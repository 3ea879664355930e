/* test-connection.c: LotteryConnection's state machine, in-process,
 * against a real LotteryState and a real storage in a scratch
 * directory; the test is the agency, speaking raw frames over TCP on
 * 127.0.0.1. */
#include "config.h"

#include "lottery-connection.h"
#include "lottery-error.h"
#include "lottery-file-store.h"
#include "server-utils.h"
#include "unit-utils.h"

#include <string.h>
#include <sys/socket.h>

typedef struct
{
  char              *dir;
  LotteryState      *state;
  LotteryStore      *storage;
  GSocketConnection *server;
  GSocketConnection *client;
  LotteryConnection *connection;
  guint              closed;
  guint              draw_due;
  guint8             frame[LOTTERY_FRAME_MAX];
  LotteryMessage     reply;
} Fixture;

static void
closed_cb (LotteryConnection *connection,
           Fixture           *fixture)
{
  fixture->closed++;
}

static void
draw_due_cb (LotteryConnection *connection,
             Fixture           *fixture)
{
  fixture->draw_due++;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  const char *template = data != NULL ? data : "lottery-conn-XXXXXX";

  fixture->dir = g_dir_make_tmp (template, &error);
  g_assert_no_error (error);
  path = g_build_filename (fixture->dir, "bets.csv", NULL);
  fixture->state = lottery_state_new (1);
  fixture->storage = lottery_file_store_open (path, &error);
  g_assert_no_error (error);

  server_socket_pair (&fixture->server, &fixture->client);
  fixture->connection = lottery_connection_new (G_IO_STREAM (fixture->server),
                                                fixture->server,
                                                fixture->state,
                                                fixture->storage);
  lottery_connection_set_timeouts (fixture->connection, 1, 2);
  g_signal_connect (fixture->connection, "closed", G_CALLBACK (closed_cb),
                    fixture);
  g_signal_connect (fixture->connection, "draw-due", G_CALLBACK (draw_due_cb),
                    fixture);
  lottery_connection_start (fixture->connection);
  server_log_clear ();
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  lottery_connection_close (fixture->connection);
  while (fixture->closed == 0)
    g_main_context_iteration (NULL, TRUE);
  server_iterate_for (20);
  /* Exactly once, whatever closed it, and however often. */
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_clear_object (&fixture->connection);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->client);
  lottery_store_close (fixture->storage, NULL);
  g_clear_object (&fixture->storage);
  g_clear_object (&fixture->state);
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
}

static void
send_hello (Fixture *fixture,
            guint32  agency)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  server_client_send (fixture->client, frame,
                      lottery_message_encode_hello (frame, agency));
}

static void
send_batch (Fixture  *fixture,
            guint32   sequence,
            guint     count,
            gboolean  bad_last)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  server_client_send (fixture->client, frame,
                      server_encode_batch (frame, 1, sequence, count,
                                           bad_last));
}

static void
send_finish (Fixture *fixture,
             guint32  last_sequence)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  server_client_send (fixture->client, frame,
                      lottery_message_encode_finish (frame, last_sequence));
}

static void
expect (Fixture            *fixture,
        LotteryMessageType  type)
{
  server_client_expect (fixture->client, type, &fixture->reply,
                        fixture->frame);
}

/* Can agency 1 be claimed now? (Only once the connection let go.) */
static gboolean
agency_free (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  guint32 last;
  guint64 consumed, stored;
  gboolean finished;

  if (!lottery_state_claim_agency (fixture->state, 1, &last, &consumed,
                                   &stored, &finished, &error))
    {
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_AGENCY_BUSY);
      return FALSE;
    }
  lottery_state_release_agency (fixture->state, 1);
  return TRUE;
}

static void
wait_closed (Fixture *fixture)
{
  while (fixture->closed == 0)
    g_main_context_iteration (NULL, TRUE);
}

static void
test_upload (Fixture       *fixture,
             gconstpointer  data)
{
  g_autoptr(GPtrArray) winners =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  GPtrArray *mine = g_ptr_array_new_with_free_func (g_free);
  guint8 frame[LOTTERY_FRAME_MAX];

  g_test_summary ("HELLO, batches (one refused), FINISH and a query parked "
                  "until the draw, each answered in order; the agency is "
                  "busy while connected and free once the peer leaves.");

  send_hello (fixture, 1);
  expect (fixture, LOTTERY_MESSAGE_WELCOME);
  g_assert_cmpuint (fixture->reply.welcome.last_sequence, ==, 0);
  g_assert_false (agency_free (fixture));

  send_batch (fixture, 1, 3, FALSE);
  send_batch (fixture, 2, 2, TRUE);
  send_batch (fixture, 3, 1, FALSE);
  send_finish (fixture, 3);
  expect (fixture, LOTTERY_MESSAGE_ACK);
  g_assert_cmpuint (fixture->reply.ack.sequence, ==, 1);
  g_assert_cmpuint (fixture->reply.ack.count, ==, 3);
  expect (fixture, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpuint (fixture->reply.error.code, ==, LOTTERY_ERROR_INVALID_BET);
  g_assert_cmpuint (fixture->reply.error.sequence, ==, 2);
  expect (fixture, LOTTERY_MESSAGE_ACK);
  g_assert_cmpuint (fixture->reply.ack.sequence, ==, 3);
  expect (fixture, LOTTERY_MESSAGE_FINISHED);
  g_assert_cmpuint (fixture->reply.finished.stored, ==, 4);
  g_assert_cmpuint (fixture->draw_due, ==, 1);

  server_client_send (fixture->client, frame,
                      lottery_message_encode_empty (frame,
                                                    LOTTERY_MESSAGE_QUERY));
  server_iterate_for (20);
  g_ptr_array_add (mine, g_strdup ("30000100"));
  g_ptr_array_add (winners, mine);
  lottery_state_complete_draw (fixture->state, g_steal_pointer (&winners));
  expect (fixture, LOTTERY_MESSAGE_WINNERS);
  g_assert_cmpuint (fixture->reply.winners.count, ==, 1);
  g_assert_cmpuint (server_log_count ("action: consulta_ganadores | result: "
                                      "success | agency: 1 | "
                                      "cant_ganadores: 1"), ==, 1);

  g_io_stream_close (G_IO_STREAM (fixture->client), NULL, NULL);
  wait_closed (fixture);
  g_assert_true (agency_free (fixture));
}

static void
test_out_of_order (Fixture       *fixture,
                   gconstpointer  data)
{
  g_test_summary ("A BATCH before HELLO is refused and the connection "
                  "closed, having claimed nothing.");

  send_batch (fixture, 1, 1, FALSE);
  expect (fixture, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpuint (fixture->reply.error.code, ==, LOTTERY_ERROR_OUT_OF_ORDER);
  g_assert_true (server_client_at_eof (fixture->client));
  wait_closed (fixture);
  g_assert_true (agency_free (fixture));
  g_assert_cmpuint (server_log_count ("action: receive_message | result: "
                                      "fail | ip: 127.0.0.1 | error: BATCH "
                                      "is not expected now"), ==, 1);
}

static void
test_close_while_storing (Fixture       *fixture,
                          gconstpointer  data)
{
  g_test_summary ("Closed while a batch is being stored: the batch is "
                  "stored whole, and only then is the agency released and "
                  "::closed emitted, once.");

  send_hello (fixture, 1);
  expect (fixture, LOTTERY_MESSAGE_WELCOME);
  send_batch (fixture, 1, 50, FALSE);
  /* Until the batch is being stored. */
  while (lottery_state_get_agency_bets (fixture->state, 1) == 0 &&
         server_log_count ("apuesta_recibida") == 0)
    {
      g_main_context_iteration (NULL, FALSE);
      lottery_connection_close (fixture->connection);
      if (fixture->closed > 0)
        break;
    }
  lottery_connection_close (fixture->connection);
  wait_closed (fixture);
  lottery_connection_close (fixture->connection);
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_assert_true (agency_free (fixture));
}

static void
test_reset_then_close (Fixture       *fixture,
                       gconstpointer  data)
{
  GSocket *socket = g_socket_connection_get_socket (fixture->client);

  g_test_summary ("A reset (read error), then a close and a timeout sweep: "
                  "the agency is released and ::closed emitted once.");

  send_hello (fixture, 1);
  expect (fixture, LOTTERY_MESSAGE_WELCOME);
  send_batch (fixture, 1, 2, FALSE);
  /* Linger 0: the close is a reset. */
  {
    struct linger linger = { 1, 0 };

    g_assert_cmpint (setsockopt (g_socket_get_fd (socket), SOL_SOCKET,
                                 SO_LINGER, &linger, sizeof linger), ==, 0);
  }
  g_io_stream_close (G_IO_STREAM (fixture->client), NULL, NULL);
  wait_closed (fixture);
  lottery_connection_close (fixture->connection);
  lottery_connection_check_timeouts (fixture->connection,
                                     g_get_monotonic_time () +
                                     60 * G_USEC_PER_SEC);
  server_iterate_for (20);
  g_assert_cmpuint (fixture->closed, ==, 1);
  g_assert_true (agency_free (fixture));
}

static void
test_idle_timeout (Fixture       *fixture,
                   gconstpointer  data)
{
  g_test_summary ("Silent past idle_timeout: told so, then closed; the "
                  "agency is free again.");

  send_hello (fixture, 1);
  expect (fixture, LOTTERY_MESSAGE_WELCOME);
  /* The WELCOME's write returns. */
  server_iterate_for (20);
  lottery_connection_check_timeouts (fixture->connection,
                                     g_get_monotonic_time () +
                                     3 * G_USEC_PER_SEC);
  expect (fixture, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpuint (fixture->reply.error.code, ==, LOTTERY_ERROR_TIMEOUT);
  g_assert_true (server_client_at_eof (fixture->client));
  wait_closed (fixture);
  g_assert_true (agency_free (fixture));
}

static void
test_log_values (Fixture       *fixture,
                 gconstpointer  data)
{
  g_test_summary ("An error message that reaches a log line (here a "
                  "FINISH the storage refuses, naming a path with a '|' and "
                  "a newline) cannot forge fields or lines.");

  g_assert_true (lottery_store_close (fixture->storage, NULL));
  send_hello (fixture, 1);
  expect (fixture, LOTTERY_MESSAGE_WELCOME);
  send_finish (fixture, 0);
  expect (fixture, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpuint (fixture->reply.error.code, ==, LOTTERY_ERROR_STORAGE);

  g_assert_cmpuint (server_log_count ("action: finish | result: fail | "
                                      "agency: 1 | error: "), ==, 1);
  g_assert_cmpuint (server_log_count ("x|y"), ==, 0);
  g_assert_cmpuint (server_log_count ("\n"), ==, 0);
  g_assert_cmpuint (server_log_count ("x/y/z"), ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

#define ADD(path, func, data) \
  g_test_add (path, Fixture, data, fixture_set_up, func, fixture_tear_down)
  ADD ("/connection/upload", test_upload, NULL);
  ADD ("/connection/out-of-order", test_out_of_order, NULL);
  ADD ("/connection/close-while-storing", test_close_while_storing, NULL);
  ADD ("/connection/reset-then-close", test_reset_then_close, NULL);
  ADD ("/connection/idle-timeout", test_idle_timeout, NULL);
  ADD ("/connection/log-values", test_log_values, "lottery-x|y\nz-XXXXXX");
#undef ADD

  return g_test_run ();
}
