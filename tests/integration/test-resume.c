/* test-resume.c: the real server and client resuming an agency's upload
 * by bets, not by batches: a different batch size on the next run, a
 * file shorter than what the server holds, and a finished agency run
 * again with a file whose bets were not all played. */
#include "config.h"

#include "test-utils.h"

#include <signal.h>

static const char RECEIVED[] = "action: apuesta_recibida | result: success";

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })

#define RESUME_ROWS 100000

/* Rows of agency @agency in bets.csv. */
static guint
count_agency_rows (GPtrArray *rows,
                   guint      agency)
{
  g_autofree char *prefix = g_strdup_printf ("%u,", agency);
  guint i, n = 0;

  for (i = 0; i < rows->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (rows, i), prefix))
      n++;

  return n;
}

/* Starts a client with @max bets per batch on @server and, once the
 * server has stored @batches of its batches, kills the server and stops
 * the client: an upload cut in the middle. Returns a new server on the
 * same files, which has recovered them, and sets @rows to its
 * bets.csv. */
static TestProcess *
cut_upload (TestFixture  *fixture,
            TestProcess  *server,
            const char   *file,
            const char   *max,
            guint         batches,
            GPtrArray   **rows)
{
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  TestProcess *client;

  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file,
                                    "--batch-max-amount", max), NULL);
  test_assert_line (server, RECEIVED, batches);
  test_process_send_signal (server, SIGKILL);
  g_assert_true (test_process_wait_exit (server, TEST_TIMEOUT_MS));
  test_process_send_signal (client, SIGTERM);
  test_assert_exit (client, 0);

  server = test_server_start (fixture, 1, NULL);
  *rows = test_read_rows (path);
  return server;
}

static void
test_batch_size (TestFixture   *fixture,
                 gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", RESUME_ROWS,
                                         21, 6, FALSE);
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) expected = NULL;
  g_autofree char *held = NULL;
  TestProcess *server, *client;
  guint first, second, i;

  g_test_summary ("An upload cut with batches of 128 resumes with batches "
                  "of 100, is cut again and finishes with batches of 7: "
                  "the client skips exactly the bets the server took, every "
                  "bet is stored once, in order, and the winners are right.");

  server = test_server_start (fixture, 1, NULL);
  server = cut_upload (fixture, server, file, "128", 40, &rows);
  first = rows->len;
  g_test_message ("stored with 128 a batch: %u", first);
  g_assert_cmpuint (first, >, 0);
  g_assert_cmpuint (first, <, RESUME_ROWS);
  test_assert_rows_prefix (rows, file, 1);
  g_clear_pointer (&rows, g_ptr_array_unref);

  server = cut_upload (fixture, server, file, "100", 40, &rows);
  second = rows->len;
  g_test_message ("stored with 100 a batch: %u", second);
  g_assert_cmpuint (second, >, first);
  g_assert_cmpuint (second, <, RESUME_ROWS);
  test_assert_rows_prefix (rows, file, 1);
  g_clear_pointer (&rows, g_ptr_array_unref);

  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file,
                                    "--batch-max-amount", "7"), NULL);
  test_assert_exit (client, 0);
  /* One session, which skipped exactly what the server kept; its first
   * batch followed the server's last, or it would have been refused. */
  held = g_strdup_printf ("action: connect | result: success | server: "
                          "127.0.0.1:%u | last_batch: ",
                          test_server_get_port (server));
  test_assert_lines (client, held, 1);
  g_clear_pointer (&held, g_free);
  held = g_strdup_printf (" | bets_held: %u", second);
  test_assert_lines (client, held, 1);
  test_assert_winners (client, file, 6);
  test_assert_line (server, "action: sorteo | result: success", 1);

  rows = test_read_rows (path);
  expected = test_expected_rows (file, 1);
  g_assert_cmpuint (rows->len, ==, RESUME_ROWS);
  for (i = 0; i < rows->len; i++)
    g_assert_cmpstr (g_ptr_array_index (rows, i), ==,
                     g_ptr_array_index (expected, i));

  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_shorter_file (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", RESUME_ROWS,
                                         22, 3, FALSE);
  g_autofree char *shorter = test_gen_bets (fixture, "short.csv", 50, 23, 0,
                                            FALSE);
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  g_autofree char *held = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) after = NULL;
  TestProcess *server, *client;

  g_test_summary ("After an upload cut in the middle, a client with a file "
                  "of fewer valid bets than the server holds for its agency "
                  "stops with a clear error and exit status 4, and nothing "
                  "more is stored.");

  server = cut_upload (fixture, test_server_start (fixture, 1, NULL), file,
                       "128", 20, &rows);
  g_assert_cmpuint (rows->len, >, 50);

  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", shorter), NULL);
  test_assert_exit (client, 4);
  held = g_strdup_printf ("action: done | result: fail | agency: 1 | "
                          "bets_in_file: 50 | bets_held: %u | "
                          "bets_not_played: unknown | error: ", rows->len);
  test_assert_lines (client, held, 1);
  test_assert_log_format (client, "action: done");
  g_assert_cmpuint (test_process_count_stderr_lines (client, "only 50 valid "
                                                     "rows"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==, 0);
  after = test_read_rows (path);
  g_assert_cmpuint (after->len, ==, rows->len);

  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_finished_other_file (TestFixture   *fixture,
                          gconstpointer  data)
{
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 3000, 31,
                                          2, FALSE);
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv", 2000, 32,
                                          1, FALSE);
  g_autofree char *longer = test_gen_bets (fixture, "longer.csv", 5000, 33,
                                           4, FALSE);
  g_autofree char *shorter = test_gen_bets (fixture, "shorter.csv", 1000, 34,
                                            1, FALSE);
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  g_autoptr(GPtrArray) rows = NULL;
  TestProcess *server, *client;

  g_test_summary ("A server started on the files of a finished lottery: an "
                  "agency run with a file of more bets than were played "
                  "logs a fail line with the bets not played and exits 4, "
                  "as does one with fewer; run again with its own file it "
                  "gets its winners and exits 0.");

  server = test_server_start (fixture, 2, NULL);
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file1), NULL);
  test_assert_exit (test_client_run (fixture, test_server_get_port (server),
                                     2, ARGS ("--bets-file", file2), NULL), 0);
  test_assert_exit (client, 0);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);

  server = test_server_start (fixture, 2, NULL);
  test_assert_line (server, "action: sorteo | result: success", 1);

  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", longer), NULL);
  test_assert_exit (client, 4);
  test_assert_lines (client, "action: done | result: fail | agency: 1 | "
                     "bets_in_file: 5000 | bets_held: 3000 | "
                     "bets_not_played: 2000", 1);
  test_assert_log_format (client, "action: done");
  g_assert_cmpuint (test_process_count_lines (client, "action: ganador"), ==,
                    0);

  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", shorter), NULL);
  test_assert_exit (client, 4);
  test_assert_lines (client, "bets_in_file: 1000 | bets_held: 3000 | "
                     "bets_not_played: unknown", 1);

  /* A legitimate re-run: the same file, every bet played. */
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", file1,
                                  "--batch-max-amount", "13"), NULL);
  test_assert_exit (client, 0);
  test_assert_winners (client, file1, 2);
  test_assert_lines (client, "action: done | result: success", 1);

  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==, 0);
  rows = test_read_rows (path);
  g_assert_cmpuint (count_agency_rows (rows, 1), ==, 3000);
  g_assert_cmpuint (rows->len, ==, 5000);

  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("lottery-client resuming by bets: any batch size, and a "
                  "loud failure when the server holds a different number "
                  "of the agency's bets than its file.");

#define ADD(path, func) \
  g_test_add (path, TestFixture, NULL, test_fixture_setup, func, \
              test_fixture_teardown)

  ADD ("/resume/batch-size", test_batch_size);
  ADD ("/resume/shorter-file", test_shorter_file);
  ADD ("/resume/finished-other-file", test_finished_other_file);

#undef ADD

  return g_test_run ();
}
