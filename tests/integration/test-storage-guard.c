/* test-storage-guard.c: the real server refusing storage that would
 * silently give a wrong lottery: files renamed over while it runs,
 * another agency count, a bets.csv without its journal, files that are
 * not regular, and a lottery already drawn. */
#include "config.h"

#include "test-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })

static const char RECEIVED[] = "action: apuesta_recibida | result: success";

/* Starts the server on @storage expecting it to refuse to start:
 * exit 1, an `exit | result: fail` line containing every one of
 * @needles. */
static void
assert_refused (TestFixture        *fixture,
                guint               agencies,
                const char         *storage,
                const char * const *extra_args,
                const char * const *needles)
{
  g_autofree char *n = g_strdup_printf ("%u", agencies);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GPtrArray) lines = NULL;
  TestProcess *server;
  const char *line;
  guint i;

  g_ptr_array_add (argv, (gpointer) g_getenv ("LOTTERY_SERVER"));
  g_ptr_array_add (argv, (gpointer) "--port");
  g_ptr_array_add (argv, (gpointer) "0");
  g_ptr_array_add (argv, (gpointer) "--agencies");
  g_ptr_array_add (argv, n);
  g_ptr_array_add (argv, (gpointer) "--storage");
  g_ptr_array_add (argv, (gpointer) storage);
  for (i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) extra_args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_nonnull (argv->pdata[0]);

  server = test_process_spawn (fixture, "server",
                               (const char * const *) argv->pdata, NULL);
  test_assert_exit (server, 1);
  lines = test_process_get_lines (server, "action: exit | result: fail");
  if (lines->len != 1)
    test_process_dump (server);
  g_assert_cmpuint (lines->len, ==, 1);
  line = g_ptr_array_index (lines, 0);
  for (i = 0; needles[i] != NULL; i++)
    if (strstr (line, needles[i]) == NULL)
      g_error ("“%s” not in: %s", needles[i], line);
  g_assert_cmpuint (test_process_count_lines (server, "accept_connections"),
                    ==, 0);
}

static void
test_renamed_over (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 200000, 7,
                                         -1, FALSE);
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  g_autofree char *forged = test_write_file (fixture, "forged.csv",
                                             "1,F,G,1,1990-01-01,7574\r\n");
  g_autoptr(GPtrArray) rows = NULL;
  TestProcess *server, *client;

  g_test_summary ("bets.csv renamed over while the server writes: the "
                  "server logs a fail line naming it, stops acknowledging, "
                  "and never draws from the forged file.");

  server = test_server_start (fixture, 1, NULL);
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file,
                                    "--batch-max-amount", "50"), NULL);
  test_assert_line (server, RECEIVED, 20);
  g_assert_cmpint (g_rename (forged, path), ==, 0);

  test_assert_line (server, "action: storage | result: fail | file: ", 1);
  g_assert_true (test_process_wait_exit (client, TEST_TIMEOUT_MS));
  g_assert_cmpint (test_process_get_exit_status (client), !=, 0);
  g_assert_cmpuint (test_process_count_lines (server, "action: sorteo | "
                                              "result: success"), ==, 0);
  /* The forged file was not written to. */
  rows = test_read_rows (path);
  g_assert_cmpuint (rows->len, ==, 1);
  test_process_send_signal (server, SIGTERM);
  g_assert_true (test_process_wait_exit (server, TEST_TIMEOUT_MS));
}

static void
test_finished_lottery (TestFixture   *fixture,
                       gconstpointer  data)
{
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  TestProcess *server, *clients[2];
  guint i;

  g_test_summary ("The agency count is part of the lottery: a drawn "
                  "lottery of 2 agencies is refused with --agencies 3 or 1, "
                  "naming both numbers and the files; with 2 it starts and "
                  "warns that the lottery is already drawn.");

  server = test_server_start (fixture, 2, NULL);
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      g_autofree char *name = g_strdup_printf ("agency-%u.csv", i + 1);
      g_autofree char *file = test_gen_bets (fixture, name, 300, i + 1, 1,
                                             FALSE);

      clients[i] = test_client_start (fixture, test_server_get_port (server),
                                      i + 1, ARGS ("--bets-file", file), NULL);
    }
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    test_assert_exit (clients[i], 0);
  g_assert_cmpuint (test_process_count_lines (server, "lottery_drawn"), ==, 0);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);

  assert_refused (fixture, 3, path, NULL,
                  ARGS ("lottery of 2 agencies", "lottery.agencies is 3",
                        "bets.csv.journal"));
  assert_refused (fixture, 1, path, NULL,
                  ARGS ("lottery of 2 agencies", "lottery.agencies is 1"));

  server = test_server_start (fixture, 2, NULL);
  test_assert_line (server, "WARNING  action: lottery_drawn | result: success"
                    " | storage: ", 1);
  test_assert_line (server, "action: sorteo | result: success", 1);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_without_journal (TestFixture   *fixture,
                      gconstpointer  data)
{
  g_autofree char *path = test_write_file (fixture, "bets.csv",
                                           "1,A,B,1,1990-01-01,7574\r\n"
                                           "2,C,D,2,1990-01-01,1\r\n"
                                           "1,E,F,3,1990-01-01,2\r\n");
  g_autofree char *journal = g_strconcat (path, ".journal", NULL);
  TestProcess *server;

  g_test_summary ("A bets.csv without its journal is refused, naming both "
                  "files; with --storage-adopt it is taken, each agency "
                  "keeping the bets it has there.");

  assert_refused (fixture, 2, path, NULL,
                  ARGS (path, journal, "storage.adopt"));
  g_assert_false (g_file_test (journal, G_FILE_TEST_EXISTS));

  server = test_server_start (fixture, 2, ARGS ("--storage-adopt", "true"));
  test_assert_line (server, "action: adopt | result: success", 1);
  test_assert_line (server, "action: resume | result: success", 1);
  test_assert_line (server, "bets: 3 |", 1);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_not_regular (TestFixture   *fixture,
                  gconstpointer  data)
{
  g_autofree char *fifo = test_fixture_path (fixture, "fifo.csv");

  g_test_summary ("A FIFO or /dev/null as storage is refused at once, "
                  "saying what it is and naming the setting.");

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  assert_refused (fixture, 1, fifo, NULL,
                  ARGS ("FIFO", fifo, "storage.path"));
  assert_refused (fixture, 1, "/dev/null", NULL,
                  ARGS ("character device", "/dev/null", "storage.path"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, TestFixture, NULL, test_fixture_setup, func, \
              test_fixture_teardown)
  ADD ("/storage-guard/renamed-over", test_renamed_over);
  ADD ("/storage-guard/finished-lottery", test_finished_lottery);
  ADD ("/storage-guard/without-journal", test_without_journal);
  ADD ("/storage-guard/not-regular", test_not_regular);
#undef ADD

  return g_test_run ();
}
