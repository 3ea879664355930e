/* test-integration.c: lottery-server and lottery-client, end to end.
 *
 * Every test starts its own server on a free port of 127.0.0.1 with
 * bets.csv in a temporary directory, runs clients (or speaks the
 * protocol itself) and checks the logs, the exit statuses and bets.csv.
 */
#include "config.h"

#include "test-utils.h"
#include "lottery-bet.h"
#include "lottery-error.h"
#include "lottery-protocol.h"

#include <signal.h>
#include <string.h>

#define ADD_TEST(path, func) \
  g_test_add (path, TestFixture, NULL, test_fixture_setup, func, \
              test_fixture_teardown)

static const char RECEIVED[] = "action: apuesta_recibida | result: success";
static const char DRAW[] = "action: sorteo | result: success";
static const char ANSWERED[] = "action: consulta_ganadores | result: success";
static const char WINNER[] = "action: ganador | result: success";
static const char EXITED[] = "action: exit | result: success";
/* The client's last line; "exit" is the server's. */
static const char DONE[] = "action: done | result: success";

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })

/* The batch sizes the server stored, in the order it logged them. */
static GArray *
received_counts (TestProcess *server)
{
  g_autoptr(GPtrArray) values = test_process_get_values (server, RECEIVED,
                                                         "cantidad");
  GArray *counts = g_array_new (FALSE, FALSE, sizeof (guint));
  guint i;

  for (i = 0; i < values->len; i++)
    {
      guint64 v;
      guint count;

      g_assert_true (g_ascii_string_to_unsigned (g_ptr_array_index (values, i),
                                                 10, 1, G_MAXUINT, &v, NULL));
      count = (guint) v;
      g_array_append_val (counts, count);
    }

  return counts;
}

static char *
bets_path (TestFixture *fixture)
{
  return test_fixture_path (fixture, "bets.csv");
}

/* A client's winners, from its ganador lines. */
static GPtrArray *
client_winners (TestProcess *client)
{
  return test_process_get_values (client, WINNER, "dni");
}

/* ---- one agency ---- */

static void
check_one_bet (TestFixture *fixture,
               TestProcess *server,
               TestProcess *client,
               const char  *row,
               guint        winners)
{
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  g_auto(GStrv) fields = test_csv_split (row, strlen (row));
  g_autofree char *sent = g_strdup_printf (
    "action: apuesta_enviada | result: success | dni: %s | numero: %s",
    fields[3], fields[5]);
  g_autofree char *answer = g_strdup_printf ("%s | cant_ganadores: %u",
                                             ANSWERED, winners);

  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, sent), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: apuesta_enviada"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, answer), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, DONE), ==, 1);
  test_assert_no_stderr (client);

  test_assert_lines (server, ANSWERED, 1);
  test_assert_lines (server, DRAW, 1);
  test_assert_lines (server,
                     "action: apuesta_recibida | result: success | cantidad: 1",
                     1);
  test_assert_lines (server, "action: apuesta_recibida", 1);

  rows = test_read_rows (path);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (rows, 0), ==, row);
  {
    g_autofree char *contents = NULL;
    g_autofree char *expected = g_strconcat (row, "\r\n", NULL);

    g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, expected);
  }

  g_assert_true (test_process_is_running (server));
  test_assert_no_stderr (server);
  test_assert_log_format (server, NULL);
  test_assert_log_format (client, NULL);
}

static void
test_one_bet_flag (TestFixture   *fixture,
                   gconstpointer  data)
{
  TestProcess *server, *client;

  g_test_summary ("One agency sends one bet given with --bet; it wins.");

  server = test_server_start (fixture, 1, NULL);
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bet", "José María,Núñez,30123456,"
                                  "1990-05-17,7574"),
                            NULL);
  check_one_bet (fixture, server, client,
                 "1,José María,Núñez,30123456,1990-05-17,7574", 1);
  {
    g_autoptr(GPtrArray) winners = client_winners (client);

    g_assert_cmpuint (winners->len, ==, 1);
    g_assert_cmpstr (g_ptr_array_index (winners, 0), ==, "30123456");
  }
}

static void
test_one_bet_env (TestFixture   *fixture,
                  gconstpointer  data)
{
  TestProcess *server, *client;

  g_test_summary ("One agency sends one bet given in NOMBRE, APELLIDO, "
                  "DOCUMENTO, NACIMIENTO and NUMERO; it does not win, and a "
                  "name with a comma is quoted in bets.csv.");

  server = test_server_start (fixture, 1, NULL);
  client = test_client_run (fixture, test_server_get_port (server), 1, NULL,
                            ARGS ("NOMBRE=Peña, hijo", "APELLIDO=O'Connor",
                                  "DOCUMENTO=4711", "NACIMIENTO=2000-02-29",
                                  "NUMERO=4294967295"));
  check_one_bet (fixture, server, client,
                 "1,\"Peña, hijo\",O'Connor,4711,2000-02-29,4294967295", 0);
}

/* Uploads @rows generated rows with --batch-max-amount @max and checks
 * that the server stored them in batches of @expected sizes. */
typedef enum
{
  MAX_FROM_FLAG,  /* --batch-max-amount, over a different env and file */
  MAX_FROM_ENV,   /* CLI_BATCH_MAXAMOUNT, over a different ./client.json */
  MAX_FROM_FILE,  /* batch.maxAmount in ./client.json */
} MaxSource;

static void
check_batches (TestFixture *fixture,
               const char  *agency_file,
               guint        max,
               MaxSource    source,
               const guint *expected,
               guint        n_expected)
{
  g_autofree char *max_text = g_strdup_printf ("%u", max);
  /* The sources that must lose give small maximums: if one won, the
   * batches would show it. */
  g_autofree char *env_max = g_strdup_printf ("CLI_BATCH_MAXAMOUNT=%u",
                                              source == MAX_FROM_ENV ? max : 3);
  g_autofree char *json = g_strdup_printf ("{\"batch\": {\"maxAmount\": %u}}",
                                           source == MAX_FROM_FILE ? max : 4);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) expected_rows = NULL;
  g_autoptr(GArray) counts = NULL;
  TestProcess *server, *client;
  guint i, total = 0;

  /* The client runs in the fixture's directory: ./client.json is read. */
  g_free (test_write_file (fixture, "client.json", json));
  server = test_server_start (fixture, 1, NULL);
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            source == MAX_FROM_FLAG
                              ? ARGS ("--bets-file", agency_file,
                                      "--batch-max-amount", max_text)
                              : ARGS ("--bets-file", agency_file),
                            source == MAX_FROM_FILE ? NULL : ARGS (env_max));
  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  g_assert_cmpuint (test_process_count_lines (client,
                      "action: consulta_ganadores | result: success"), ==, 1);

  test_assert_line (server, DRAW, 1);
  counts = received_counts (server);
  for (i = 0; i < counts->len; i++)
    g_test_message ("batch %u: %u bets", i + 1, g_array_index (counts, guint, i));
  g_assert_cmpuint (counts->len, ==, n_expected);
  for (i = 0; i < n_expected; i++)
    {
      g_assert_cmpuint (g_array_index (counts, guint, i), <=, max);
      g_assert_cmpuint (g_array_index (counts, guint, i), ==, expected[i]);
      total += expected[i];
    }
  g_assert_cmpuint (test_process_sum_values (server, RECEIVED, "cantidad"), ==,
                    total);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);

  rows = test_read_rows (path);
  expected_rows = test_expected_rows (agency_file, 1);
  g_assert_cmpuint (rows->len, ==, total);
  g_assert_cmpuint (expected_rows->len, ==, total);
  for (i = 0; i < rows->len; i++)
    g_assert_cmpstr (g_ptr_array_index (rows, i), ==,
                     g_ptr_array_index (expected_rows, i));
}

static void
test_64_bets (TestFixture   *fixture,
              gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 64, 64, -1,
                                         FALSE);
  const guint expected[] = { 64 };

  g_test_summary ("64 bets with --batch-max-amount 64 make one batch of 64.");
  check_batches (fixture, file, 64, MAX_FROM_FLAG, expected,
                 G_N_ELEMENTS (expected));
}

static void
test_99_bets (TestFixture   *fixture,
              gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 99, 99, -1,
                                         TRUE);
  const guint expected[] = { 99 };

  g_test_summary ("99 bets (CRLF file) with --batch-max-amount 99 make one "
                  "batch of 99.");
  check_batches (fixture, file, 99, MAX_FROM_FLAG, expected,
                 G_N_ELEMENTS (expected));
}

static void
test_16_with_max_64 (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 16, 16, -1,
                                         FALSE);
  const guint expected[] = { 16 };

  g_test_summary ("16 bets with a maximum of 64 (from --batch-max-amount, "
                  "over the environment and ./client.json) make one batch "
                  "of 16.");
  check_batches (fixture, file, 64, MAX_FROM_FLAG, expected,
                 G_N_ELEMENTS (expected));
}

static void
test_21_with_max_99 (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 21, 21, -1,
                                         FALSE);
  const guint expected[] = { 21 };

  g_test_summary ("21 bets with a maximum of 99 (from CLI_BATCH_MAXAMOUNT, "
                  "over ./client.json) make one batch of 21.");
  check_batches (fixture, file, 99, MAX_FROM_ENV, expected,
                 G_N_ELEMENTS (expected));
}

static void
test_12_with_max_5 (TestFixture   *fixture,
                    gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 12, 12, -1,
                                         FALSE);
  const guint expected[] = { 5, 5, 2 };

  g_test_summary ("12 bets with a maximum of 5 (from ./client.json) make "
                  "batches of 5, 5 and 2.");
  check_batches (fixture, file, 5, MAX_FROM_FILE, expected,
                 G_N_ELEMENTS (expected));
}

static void
test_long_names (TestFixture   *fixture,
                 gconstpointer  data)
{
  GString *contents = g_string_new (NULL);
  g_autofree char *file = NULL;
  g_autofree char *name = NULL;
  /* Each bet takes 3 + 100 + 100 + 8 + 10 + 4 = 225 bytes on the wire;
   * a frame holds 8192 - 4 - 7 = 8181 bytes of bets: 36 of them. */
  const guint expected[] = { 36, 36, 28 };
  guint i;

  g_test_summary ("Bets with 100-byte names: the 8 KiB frame limit closes "
                  "batches of 36, before the maximum of 99.");

  {
    GString *n = g_string_new (NULL);

    for (i = 0; i < 50; i++)
      g_string_append (n, "Ñ");
    name = g_string_free (n, FALSE);
  }
  g_assert_cmpuint (strlen (name), ==, LOTTERY_NAME_MAX);
  for (i = 0; i < 100; i++)
    g_string_append_printf (contents, "%s,%s,%08u,1970-01-%02u,%u\n", name,
                            name, 40000000 + i, 1 + i % 28, i);
  file = test_write_file (fixture, "agency-1.csv", contents->str);
  g_string_free (contents, TRUE);

  check_batches (fixture, file, 99, MAX_FROM_ENV, expected,
                 G_N_ELEMENTS (expected));
}

/* ---- winners ---- */

static void
check_agencies (TestFixture  *fixture,
                guint         n_agencies,
                const guint  *winners,
                guint         rows)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) clients = g_ptr_array_new ();
  g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) stored = NULL;
  g_autofree char *path = bets_path (fixture);
  TestProcess *server;
  guint i;

  server = test_server_start (fixture, n_agencies, NULL);
  for (i = 0; i < n_agencies; i++)
    {
      g_autofree char *name = g_strdup_printf ("agency-%u.csv", i + 1);
      char *file = test_gen_bets (fixture, name, rows + i * 37, 1000 + i,
                                  winners[i], i % 2 == 1);
      g_autoptr(GPtrArray) own = test_expected_rows (file, i + 1);

      g_ptr_array_extend_and_steal (expected, g_steal_pointer (&own));
      g_ptr_array_add (files, file);
    }
  for (i = 0; i < n_agencies; i++)
    g_ptr_array_add (clients,
                     test_client_start (fixture, test_server_get_port (server),
                                        i + 1,
                                        ARGS ("--bets-file",
                                              g_ptr_array_index (files, i)),
                                        NULL));

  for (i = 0; i < n_agencies; i++)
    {
      TestProcess *client = g_ptr_array_index (clients, i);

      test_assert_exit (client, 0);
      test_assert_no_stderr (client);
      test_assert_winners (client, g_ptr_array_index (files, i), winners[i]);
    }

  test_assert_line (server, DRAW, 1);
  g_assert_cmpuint (test_process_count_lines (server, DRAW), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, "action: sorteo"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);

  stored = test_read_rows (path);
  g_assert_cmpuint (test_process_sum_values (server, RECEIVED, "cantidad"), ==,
                    stored->len);
  test_assert_same_rows (stored, expected);
}

static void
test_winners_three (TestFixture   *fixture,
                    gconstpointer  data)
{
  const guint winners[] = { 2, 1, 0 };

  g_test_summary ("Three agencies with 2, 1 and 0 winners: each gets its "
                  "own; every bet is stored once.");
  check_agencies (fixture, G_N_ELEMENTS (winners), winners, 5000);
}

static void
test_winners_five (TestFixture   *fixture,
                   gconstpointer  data)
{
  const guint winners[] = { 1, 2, 3, 4, 5 };

  g_test_summary ("Five agencies with 1 to 5 winners: each gets its own; "
                  "every bet is stored once.");
  check_agencies (fixture, G_N_ELEMENTS (winners), winners, 20000);
}

static void
test_query_waits (TestFixture   *fixture,
                  gconstpointer  data)
{
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 500, 1, 1,
                                          FALSE);
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv", 700, 2, 2,
                                          FALSE);
  g_autoptr(GPtrArray) lines = NULL;
  TestProcess *server, *client1, *client2;
  gint finish2 = -1, draw = -1, answer1 = -1;
  guint i;

  g_test_summary ("An agency that has finished waits for its winners until "
                  "the last agency has finished too.");

  server = test_server_start (fixture, 2, NULL);
  client1 = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bets-file", file1), NULL);
  test_assert_line (client1, "action: finish | result: success", 1);
  test_assert_line (server, "action: finish | result: success | agency: 1", 1);

  /* Agency 1 has asked; nothing may answer it yet. */
  g_usleep (500 * G_TIME_SPAN_MILLISECOND);
  g_assert_true (test_process_is_running (client1));
  g_assert_cmpuint (test_process_count_lines (client1, ANSWERED),
                    ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, "action: sorteo"), ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, ANSWERED),
                    ==, 0);

  client2 = test_client_start (fixture, test_server_get_port (server), 2,
                               ARGS ("--bets-file", file2), NULL);
  test_assert_exit (client2, 0);
  test_assert_exit (client1, 0);
  test_assert_winners (client1, file1, 1);
  test_assert_winners (client2, file2, 2);
  test_assert_lines (server, ANSWERED, 2);

  /* The answer to agency 1 followed agency 2's FINISH and the draw. */
  lines = test_process_get_lines (server, NULL);
  for (i = 0; i < lines->len; i++)
    {
      const char *line = g_ptr_array_index (lines, i);

      if (strstr (line, "action: finish | result: success | agency: 2"))
        finish2 = (gint) i;
      else if (strstr (line, DRAW))
        draw = (gint) i;
      else if (strstr (line, "action: consulta_ganadores | result: success | "
                             "agency: 1 "))
        answer1 = (gint) i;
    }
  g_assert_cmpint (finish2, >=, 0);
  g_assert_cmpint (finish2, <, draw);
  g_assert_cmpint (draw, <, answer1);
}

/* ---- SIGTERM ---- */

#define BIG_FILE_ROWS 2000000

static void
assert_in_order (TestProcess        *process,
                 const char * const *needles)
{
  g_autoptr(GPtrArray) lines = test_process_get_lines (process, NULL);
  guint i, n = 0;

  for (i = 0; i < lines->len && needles[n] != NULL; i++)
    if (strstr (g_ptr_array_index (lines, i), needles[n]) != NULL)
      n++;
  if (needles[n] != NULL)
    {
      test_process_dump (process);
      g_test_message ("missing, or out of order: “%s”", needles[n]);
    }
  g_assert_null (needles[n]);
}

/* The rows of @agency, in bets.csv order. */
static GPtrArray *
rows_of_agency (GPtrArray *rows,
                guint      agency)
{
  g_autofree char *prefix = g_strdup_printf ("%u,", agency);
  GPtrArray *own = g_ptr_array_new ();
  guint i;

  for (i = 0; i < rows->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (rows, i), prefix))
      g_ptr_array_add (own, g_ptr_array_index (rows, i));

  return own;
}

static void
test_sigterm_server (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv",
                                          BIG_FILE_ROWS / 2, 77, -1, FALSE);
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv",
                                          BIG_FILE_ROWS / 2, 78, -1, TRUE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) rows1 = NULL;
  g_autoptr(GPtrArray) rows2 = NULL;
  TestProcess *server, *client1, *client2;
  gint64 signalled;
  guint i;

  g_test_summary ("SIGTERM stops the server in the middle of two uploads: "
                  "it exits 0 at once, closing everything, and bets.csv "
                  "holds whole batches only, each agency's a prefix of its "
                  "file.");

  server = test_server_start (fixture, 2, NULL);
  client1 = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bets-file", file1), NULL);
  client2 = test_client_start (fixture, test_server_get_port (server), 2,
                               ARGS ("--bets-file", file2,
                                     "--batch-max-amount", "77"),
                               NULL);
  test_assert_line (server, "action: hello | result: success | agency: 1", 1);
  test_assert_line (server, "action: hello | result: success | agency: 2", 1);
  test_assert_line (server, RECEIVED, 40);

  signalled = g_get_monotonic_time ();
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
  g_test_message ("server exited %" G_GINT64_FORMAT " ms after SIGTERM",
                  (test_process_get_exit_time (server) - signalled) / 1000);
  g_assert_cmpint (test_process_get_exit_time (server) - signalled, <,
                   2 * G_USEC_PER_SEC);
  test_assert_no_stderr (server);
  assert_in_order (server, ARGS ("action: signal | result: success",
                                 "action: close_listener | result: success",
                                 "action: close_connection | result: success | "
                                 "agency: ",
                                 "action: close_connection | result: success | "
                                 "agency: ",
                                 "action: close_connections | result: success",
                                 "action: join_workers | result: success",
                                 "action: close_storage | result: success",
                                 EXITED));
  g_assert_cmpuint (test_process_count_lines (server, DRAW), ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);

  rows = test_read_rows (path);
  g_test_message ("%u of %u rows stored", rows->len, BIG_FILE_ROWS);
  g_assert_cmpuint (rows->len, >, 0);
  g_assert_cmpuint (rows->len, <, BIG_FILE_ROWS);
  g_assert_cmpuint (test_process_sum_values (server, RECEIVED, "cantidad"), ==,
                    rows->len);
  for (i = 0; i < rows->len; i++)
    {
      const char *row = g_ptr_array_index (rows, i);
      g_auto(GStrv) fields = test_csv_split (row, strlen (row));

      g_assert_cmpuint (g_strv_length (fields), ==, 6);
    }
  rows1 = rows_of_agency (rows, 1);
  rows2 = rows_of_agency (rows, 2);
  g_assert_cmpuint (rows1->len + rows2->len, ==, rows->len);
  g_assert_cmpuint (rows2->len % 77, ==, 0);
  test_assert_rows_prefix (rows1, file1, 1);
  test_assert_rows_prefix (rows2, file2, 2);

  /* The clients lost their server mid-upload: they did not finish. */
  g_assert_cmpuint (test_process_count_lines (client1, ANSWERED), ==, 0);
  g_assert_cmpuint (test_process_count_lines (client2, ANSWERED), ==, 0);
}

static void
test_sigterm_client (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv",
                                         BIG_FILE_ROWS / 2, 78, 3, FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) expected = NULL;
  TestProcess *server, *client, *ping, *again;
  gint64 signalled;
  guint stored;

  g_test_summary ("SIGTERM stops a client in the middle of an upload: it "
                  "exits 0 at once, closing what it opened; the server stays "
                  "up, and the agency resumes where it stopped.");

  server = test_server_start (fixture, 1, NULL);
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", "agency-1.csv"), NULL);
  test_assert_line (server, RECEIVED, 20);

  signalled = g_get_monotonic_time ();
  test_process_send_signal (client, SIGTERM);
  test_assert_exit (client, 0);
  g_test_message ("client exited %" G_GINT64_FORMAT " ms after SIGTERM",
                  (test_process_get_exit_time (client) - signalled) / 1000);
  g_assert_cmpint (test_process_get_exit_time (client) - signalled, <,
                   G_USEC_PER_SEC);
  test_assert_no_stderr (client);
  /* The bets file is opened once and closed last. */
  assert_in_order (client, ARGS ("action: signal | result: success",
                                 "action: close_connection | result: success",
                                 "action: close_bets_file | result: success",
                                 "action: done | result: interrupted"));
  g_assert_cmpuint (test_process_count_lines (client, ANSWERED), ==, 0);

  /* The server noticed, and carries on. */
  test_assert_line (server, "action: close_connection | result: success | "
                            "agency: 1", 1);
  g_assert_true (test_process_is_running (server));
  stored = (guint) test_process_sum_values (server, RECEIVED, "cantidad");
  g_test_message ("%u of %u rows stored before the stop", stored,
                  BIG_FILE_ROWS / 2);
  g_assert_cmpuint (stored, <, BIG_FILE_ROWS / 2);
  ping = test_client_run (fixture, test_server_get_port (server), 1,
                          ARGS ("--ping"), NULL);
  test_assert_exit (ping, 0);

  /* Run again, the agency sends only what the server lacks. */
  again = test_client_run (fixture, test_server_get_port (server), 1,
                           ARGS ("--bets-file", "agency-1.csv"), NULL);
  test_assert_exit (again, 0);
  test_assert_no_stderr (again);
  test_assert_winners (again, file, 3);
  test_assert_line (server, DRAW, 1);

  rows = test_read_rows (path);
  expected = test_expected_rows (file, 1);
  g_assert_cmpuint (rows->len, ==, expected->len);
  test_assert_rows_prefix (rows, file, 1);
  test_assert_no_stderr (server);
}

static void
test_sigterm_waiting_client (TestFixture   *fixture,
                             gconstpointer  data)
{
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 300, 11, 2,
                                          FALSE);
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv", 300, 12, 1,
                                          FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) expected = NULL;
  g_autoptr(GPtrArray) expected2 = NULL;
  TestProcess *server, *waiting, *again, *client2;
  gint64 signalled;

  g_test_summary ("A client stopped while it waits for the draw exits 0; "
                  "run again, it only asks, and gets its winners.");

  server = test_server_start (fixture, 2, NULL);
  waiting = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bets-file", file1), NULL);
  test_assert_line (server, "action: finish | result: success | agency: 1", 1);
  g_usleep (100 * G_TIME_SPAN_MILLISECOND);

  signalled = g_get_monotonic_time ();
  test_process_send_signal (waiting, SIGTERM);
  test_assert_exit (waiting, 0);
  g_assert_cmpint (test_process_get_exit_time (waiting) - signalled, <,
                   G_USEC_PER_SEC);
  g_assert_cmpuint (test_process_count_lines (waiting, ANSWERED), ==, 0);
  test_assert_line (server, "action: close_connection | result: success | "
                            "agency: 1", 1);

  again = test_client_start (fixture, test_server_get_port (server), 1,
                             ARGS ("--bets-file", file1), NULL);
  test_assert_line (server, "action: hello | result: success | agency: 1", 2);
  client2 = test_client_run (fixture, test_server_get_port (server), 2,
                             ARGS ("--bets-file", file2), NULL);
  test_assert_exit (client2, 0);
  test_assert_exit (again, 0);
  test_assert_winners (again, file1, 2);
  test_assert_winners (client2, file2, 1);
  test_assert_lines (server, DRAW, 1);
  /* The second client may come while the first is still being let go
   * (a busy refusal, then a retry); nothing else may fail. */
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==,
                    test_process_count_lines (server,
                      "action: hello | result: fail | agency: 1 | ip: "
                      "127.0.0.1 | error: Agency 1 already has a connection"));

  rows = test_read_rows (path);
  expected = test_expected_rows (file1, 1);
  expected2 = test_expected_rows (file2, 2);
  g_ptr_array_extend_and_steal (expected, g_steal_pointer (&expected2));
  test_assert_same_rows (rows, expected);
}

static void
test_sigterm_server_restarted (TestFixture   *fixture,
                               gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv",
                                         BIG_FILE_ROWS / 2, 79, -1, FALSE);
  g_autofree char *path = bets_path (fixture);
  g_autofree char *port = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) documents = NULL;
  TestProcess *server, *client;
  guint i;

  g_test_summary ("A server restarted in the middle of an upload, on the "
                  "same port and file, rebuilds from its journal which "
                  "batches it stored; the agency resumes after them, so "
                  "every bet is stored exactly once.");

  server = test_server_start (fixture, 1, NULL);
  port = g_strdup_printf ("%u", test_server_get_port (server));
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file), NULL);
  test_assert_line (server, RECEIVED, 40);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);

  server = test_server_start (fixture, 1, ARGS ("--port", port));
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (server, "action: resume | "
                                              "result: success"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), >, 0);
  documents = test_winning_documents (file);
  test_assert_winners (client, file, documents->len);

  /* Every row is there once, in the file's order. */
  rows = test_read_rows (path);
  for (i = 0; i < rows->len; i++)
    g_assert_true (g_hash_table_add (seen, g_ptr_array_index (rows, i)));
  test_assert_rows_prefix (rows, file, 1);
  g_assert_cmpuint (rows->len, ==, BIG_FILE_ROWS / 2);
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
}

static void
test_sigterm_server_parked (TestFixture   *fixture,
                            gconstpointer  data)
{
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 300, 13, 1,
                                          FALSE);
  TestProcess *server, *client;
  gint64 signalled;

  g_test_summary ("SIGTERM stops a server that holds a query waiting for "
                  "the draw at once; the waiting client then gives up.");

  server = test_server_start (fixture, 2, NULL);
  client = test_client_start (fixture, test_server_get_port (server), 1,
                              ARGS ("--bets-file", file1), NULL);
  test_assert_line (server, "action: finish | result: success | agency: 1", 1);
  g_usleep (100 * G_TIME_SPAN_MILLISECOND);

  signalled = g_get_monotonic_time ();
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
  g_assert_cmpint (test_process_get_exit_time (server) - signalled, <,
                   G_USEC_PER_SEC);
  assert_in_order (server, ARGS ("action: close_listener | result: success",
                                 "action: close_connection | result: success | "
                                 "agency: 1",
                                 "action: join_workers | result: success",
                                 "action: close_storage | result: success",
                                 EXITED));
  g_assert_cmpuint (test_process_count_lines (server, "action: sorteo"), ==, 0);
  test_assert_no_stderr (server);

  /* Its server gone, the client retries, then fails. */
  test_assert_line (client, "action: connect | result: fail", 1);
  test_process_send_signal (client, SIGTERM);
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, ANSWERED), ==, 0);
}

static void
test_winners_many (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *file = test_gen_bets (fixture, "agency-1.csv", 3000, 8,
                                         2500, FALSE);
  TestProcess *server, *client;

  g_test_summary ("2500 winners do not fit one frame: the answer comes in "
                  "several, and the client gets them all.");

  server = test_server_start (fixture, 1, NULL);
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", file), NULL);
  test_assert_exit (client, 0);
  test_assert_winners (client, file, 2500);
  test_assert_lines (server, "action: consulta_ganadores | result: success | "
                             "agency: 1 | cant_ganadores: 2500", 1);
}

static void
test_empty_file (TestFixture   *fixture,
                 gconstpointer  data)
{
  g_autofree char *empty = test_write_file (fixture, "agency-1.csv", "");
  g_autofree char *header = test_write_file (
    fixture, "agency-2.csv", "NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO\r\n");
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  TestProcess *server, *client1, *client2;

  g_test_summary ("Agencies without bets (an empty file, a header only) "
                  "finish, and the draw takes place.");

  server = test_server_start (fixture, 2, NULL);
  client1 = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bets-file", empty), NULL);
  client2 = test_client_start (fixture, test_server_get_port (server), 2,
                               ARGS ("--bets-file", header), NULL);
  test_assert_exit (client1, 0);
  test_assert_exit (client2, 0);
  test_assert_no_stderr (client1);
  test_assert_no_stderr (client2);
  g_assert_cmpuint (test_process_count_lines (client1, "cant_ganadores: 0"),
                    ==, 1);
  g_assert_cmpuint (test_process_count_lines (client2, "cant_ganadores: 0"),
                    ==, 1);
  test_assert_line (server, DRAW, 1);
  g_assert_cmpuint (test_process_count_lines (server, "action: apuesta_recibida"),
                    ==, 0);
  rows = test_read_rows (path);
  g_assert_cmpuint (rows->len, ==, 0);
}

/* ---- configuration ---- */

typedef struct
{
  const char *name;
  const char *json;      /* NULL: the file does not exist */
  const char *expected;  /* a regex: what the message names besides the file */
} BadConfig;

static void
check_bad_config (TestFixture        *fixture,
                  const char         *program,
                  const char * const *argv,
                  const char * const *env,
                  const char         *expected1,
                  const char         *expected2)
{
  g_autoptr(GPtrArray) err = NULL;
  TestProcess *process;
  const char *line;

  process = test_process_spawn (fixture, program, argv, env);
  test_assert_exit (process, 2);
  err = test_process_get_stderr_lines (process);
  if (err->len != 1)
    test_process_dump (process);
  g_assert_cmpuint (err->len, ==, 1);
  line = g_ptr_array_index (err, 0);
  g_test_message ("%s", line);
  g_assert_nonnull (strstr (line, expected1));
  if (expected2 != NULL)
    g_assert_true (g_regex_match_simple (expected2, line, 0, 0));
  g_assert_cmpuint (test_process_count_lines (process, NULL), ==, 0);
}

static void
test_config_bad (TestFixture   *fixture,
                 gconstpointer  data)
{
  const BadConfig server_cases[] = {
    { "missing.json", NULL, "not found" },
    { "syntax.json", "{\n  \"server\": {\"port\": 1,,}\n}\n",
      "syntax\\.json:2:[0-9]+: " },
    { "type.json", "{\"server\": {\"port\": \"12345\"}}",
      ": server\\.port must be an integer" },
    { "range.json", "{\"lottery\": {\"agencies\": 0}}",
      ": lottery\\.agencies must be .* not 0" },
    { "level.json", "{\"log\": {\"level\": \"LOUD\"}}",
      ": log\\.level must be .*LOUD" },
    { "unknown.json", "{\"server\": {\"prot\": 1}}", "server\\.prot" },
  };
  const BadConfig client_cases[] = {
    { "missing.json", NULL, "not found" },
    { "syntax.json", "{\"id\": 1,\n\"batch\": {]}", "syntax\\.json:2:[0-9]+: " },
    { "type.json", "{\"id\": \"1\"}", ": id must be an integer" },
    { "range.json", "{\"batch\": {\"maxAmount\": 100000}}",
      ": batch\\.maxAmount must be .* not 100000" },
    { "level.json", "{\"log\": {\"level\": \"LOUD\"}}",
      ": log\\.level must be .*LOUD" },
    { "address.json", "{\"server\": {\"address\": \"nohost\"}}",
      ": server\\.address: .*nohost" },
  };
  const char *server = g_getenv ("LOTTERY_SERVER");
  const char *client = g_getenv ("LOTTERY_CLIENT");
  guint i;

  g_test_summary ("A bad configuration (file, environment or flag) stops "
                  "either program with status 2 and one line naming where "
                  "the bad value is.");

  for (i = 0; i < G_N_ELEMENTS (server_cases); i++)
    {
      const BadConfig *c = &server_cases[i];
      g_autofree char *path = test_fixture_path (fixture, c->name);

      if (c->json != NULL)
        g_free (test_write_file (fixture, c->name, c->json));
      check_bad_config (fixture, "server",
                        ARGS (server, "--config", path, "--port", "0"), NULL,
                        path, c->expected);
    }
  for (i = 0; i < G_N_ELEMENTS (client_cases); i++)
    {
      const BadConfig *c = &client_cases[i];
      g_autofree char *path = test_fixture_path (fixture, c->name);

      if (c->json != NULL)
        g_free (test_write_file (fixture, c->name, c->json));
      check_bad_config (fixture, "client",
                        ARGS (client, "--config", path, "--bet",
                              "Ana,Pérez,1,2000-01-01,1"), NULL,
                        path, c->expected);
    }

  /* The environment and flags name themselves. */
  check_bad_config (fixture, "server", ARGS (server), ARGS ("SERVER_AGENCIES=x"),
                    "SERVER_AGENCIES", "lottery\\.agencies");
  check_bad_config (fixture, "server", ARGS (server, "--listen-backlog", "0"),
                    NULL, "--listen-backlog", NULL);
  check_bad_config (fixture, "client", ARGS (client),
                    ARGS ("CLI_BATCH_MAXAMOUNT=0"), "CLI_BATCH_MAXAMOUNT",
                    "batch\\.maxAmount");
  check_bad_config (fixture, "client", ARGS (client, "--bet", "Ana,Pérez,x,"
                                             "2000-01-01,1"),
                    NULL, "--bet", "DOCUMENTO");
  check_bad_config (fixture, "client", ARGS (client), ARGS ("NOMBRE=Ana"),
                    "APELLIDO", NULL);

  /* ./server.json and ./client.json are read when present. */
  g_free (test_write_file (fixture, "server.json",
                           "{\"server\": {\"port\": 70000}}"));
  check_bad_config (fixture, "server", ARGS (server), NULL, "server.json",
                    "server\\.port");
  g_free (test_write_file (fixture, "client.json", "{\"id\": 0}"));
  check_bad_config (fixture, "client", ARGS (client), NULL, "client.json",
                    ": id must be");
}

/* ---- the client and an absent server ---- */

/* A port that refuses connections: bound, never listening. */
static GSocket *
reserve_port (guint16 *port)
{
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string (
    "127.0.0.1", 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_socket_bind (socket, any, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));

  return socket;
}

static void
test_client_unreachable (TestFixture   *fixture,
                         gconstpointer  data)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GPtrArray) err = NULL;
  g_autofree char *address = NULL;
  TestProcess *client;
  gint64 start, elapsed;
  guint16 port;

  g_test_summary ("Without a server the client retries for about five "
                  "seconds, then fails with a message naming the server.");

  socket = reserve_port (&port);
  address = g_strdup_printf ("127.0.0.1:%u", port);
  start = g_get_monotonic_time ();
  client = test_client_run (fixture, port, 1,
                            ARGS ("--bet", "Ana,Pérez,1,2000-01-01,1"), NULL);
  elapsed = test_process_get_exit_time (client) - start;
  g_test_message ("client gave up after %" G_GINT64_FORMAT " ms",
                  elapsed / 1000);
  test_assert_exit (client, 1);
  g_assert_cmpint (elapsed, >=, 3 * G_USEC_PER_SEC);
  g_assert_cmpint (elapsed, <=, 10 * G_USEC_PER_SEC);

  err = test_process_get_stderr_lines (client);
  g_assert_cmpuint (err->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (err, 0),
                            "Cannot reach the server"));
  /* --ping does not retry: it says at once that nobody answers. */
  {
    TestProcess *ping = test_client_run (fixture, port, 1, ARGS ("--ping"),
                                         NULL);
    g_autoptr(GPtrArray) ping_err = NULL;

    test_assert_exit (ping, 1);
    ping_err = test_process_get_stderr_lines (ping);
    g_assert_cmpuint (ping_err->len, ==, 1);
    g_assert_nonnull (strstr (g_ptr_array_index (ping_err, 0), address));
  }
  g_assert_nonnull (strstr (g_ptr_array_index (err, 0), address));
  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: connect | result: fail"),
                    >=, 3);
  g_assert_cmpuint (test_process_count_lines (client, "action: done | result: "
                                                      "fail"), ==, 1);
  /* The log line gives the reason whole, as stderr does. */
  {
    g_autofree char *reason = g_strdup_printf (
      "action: done | result: fail | agency: 1 | error: Cannot reach the "
      "server at %s: ", address);

    g_assert_cmpuint (test_process_count_lines (client, reason), ==, 1);
  }
}

static void
test_client_address_list (TestFixture   *fixture,
                          gconstpointer  data)
{
  g_autofree char *list = NULL;
  TestProcess *server, *client;

  g_test_summary ("An address list whose first name does not resolve (a "
                  "server's container gone from DNS): the client goes on to "
                  "the next address.");

  server = test_server_start (fixture, 1, NULL);
  list = g_strdup_printf ("lottery-server-gone.invalid:12345,127.0.0.1:%u",
                          test_server_get_port (server));
  /* The second --server wins over the one test_client_run () gives. */
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--server", list, "--bet",
                                  "Ana,Pérez,1,2000-01-01,7574"),
                            NULL);
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, "action: consulta_"
                                                      "ganadores | result: "
                                                      "success"), ==, 1);
}

static void
test_client_unknown_agency (TestFixture   *fixture,
                            gconstpointer  data)
{
  g_autoptr(GPtrArray) err = NULL;
  TestProcess *server, *client, *ping;
  gint64 start;

  g_test_summary ("An agency the server does not know is refused at once, "
                  "without retries; --ping only checks the server answers.");

  server = test_server_start (fixture, 2, NULL);
  ping = test_client_run (fixture, test_server_get_port (server), 1,
                          ARGS ("--ping"), NULL);
  test_assert_exit (ping, 0);
  test_assert_no_stderr (ping);
  g_assert_cmpuint (test_process_count_lines (ping, NULL), ==, 0);

  start = g_get_monotonic_time ();
  client = test_client_run (fixture, test_server_get_port (server), 3,
                            ARGS ("--bet", "Ana,Pérez,1,2000-01-01,1"), NULL);
  test_assert_exit (client, 1);
  g_assert_cmpint (test_process_get_exit_time (client) - start, <,
                   G_USEC_PER_SEC);
  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: connect | result: fail"),
                    ==, 0);
  err = test_process_get_stderr_lines (client);
  g_assert_cmpuint (err->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (err, 0),
                            "Agency 3 is not one of 1 to 2"));
  test_assert_lines (server, "action: hello | result: fail | agency: 3", 1);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==, 0);
}

static void
test_client_missing_file (TestFixture   *fixture,
                          gconstpointer  data)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GPtrArray) err = NULL;
  TestProcess *server, *client;
  gint64 start;
  guint16 port;

  g_test_summary ("A bets file that cannot be read is reported at once, "
                  "before the server is contacted, and whether or not it "
                  "is up.");

  /* No server: the missing file is the problem to report, not that. */
  socket = reserve_port (&port);
  start = g_get_monotonic_time ();
  client = test_client_run (fixture, port, 1,
                            ARGS ("--bets-file", "missing.csv"), NULL);
  test_assert_exit (client, 1);
  g_assert_cmpint (test_process_get_exit_time (client) - start, <,
                   2 * G_USEC_PER_SEC);
  err = test_process_get_stderr_lines (client);
  g_assert_cmpuint (err->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (err, 0), "missing.csv"));
  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: connect | result: fail"),
                    ==, 0);

  /* With a server: it is not even greeted. */
  server = test_server_start (fixture, 1, NULL);
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", "missing.csv"), NULL);
  test_assert_exit (client, 1);
  g_clear_pointer (&err, g_ptr_array_unref);
  err = test_process_get_stderr_lines (client);
  g_assert_cmpuint (err->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (err, 0), "missing.csv"));
  g_assert_cmpuint (test_process_count_lines (server, "action: hello"), ==, 0);
}

static void
test_client_server_restart (TestFixture   *fixture,
                            gconstpointer  data)
{
  g_autoptr(GSocket) socket = NULL;
  g_autofree char *port_text = NULL;
  TestProcess *client, *server;
  guint16 port;

  g_test_summary ("A client started a second before its server connects "
                  "once the server is up.");

  socket = reserve_port (&port);
  port_text = g_strdup_printf ("%u", port);
  client = test_client_start (fixture, port, 1,
                              ARGS ("--bet", "Ana,Pérez,1,2000-01-01,7574"),
                              NULL);
  test_assert_line (client, "action: connect | result: fail", 1);
  g_usleep (G_USEC_PER_SEC);
  g_assert_true (test_process_is_running (client));

  g_socket_close (socket, NULL);
  server = test_server_start (fixture, 1, ARGS ("--port", port_text));
  g_assert_cmpuint (test_server_get_port (server), ==, port);

  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  g_assert_cmpuint (test_process_count_lines (client,
                      "action: apuesta_enviada | result: success | dni: 1 | "
                      "numero: 7574"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "cant_ganadores: 1"),
                    ==, 1);
}

/* ---- invalid rows ---- */

static void
test_invalid_rows (TestFixture   *fixture,
                   gconstpointer  data)
{
  /* A byte order mark before the header, and no line end at the end. */
  static const char contents[] =
    "\xef\xbb\xbfNOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO\n"
    "Ana,Pérez,30111222,1980-05-17,1234\n"
    "Luis,Gómez,30111223,1999-02-30,4321\n"       /* 3: no such date */
    "María,Núñez,3011A224,1970-01-01,7574\n"      /* 4: letter in document */
    "José,Peña,30111225,1960-12-31\n"             /* 5: four fields */
    "\"Pérez, hijo\",Juan,30111226,1950-06-15,7574\n"
    "Zoé,\"Ibáñez \"\"Chiqui\"\"\",30111227,2000-02-29,0\n"
    "Inés,Ríos,30111228,1975-13-01,5\n"          /* 8: month 13 */
    "Ana,Sosa,30111229,1985-07-07,99999999999\n" /* 9: number too large */
    ",Sosa,30111230,1985-07-07,1\n"              /* 10: empty name */
    "Jos\xe9,Sosa,30111231,1985-07-07,1\n"        /* 11: Latin-1, not UTF-8 */
    "Ana\tMar\xc3\xad" "a,Sosa,30111232,1985-07-07,1\n" /* 12: a tab */
    "Luz,Sosa,123456789012345678901,1985-07-07,1\n" /* 13: 21 digits */
    "Luz,Sosa,12345678901234567890,1985-07-07,2";
  const guint bad_lines[] = { 3, 4, 5, 8, 9, 10, 11, 12, 13 };
  const char *expected[] = {
    "1,Ana,Pérez,30111222,1980-05-17,1234",
    "1,\"Pérez, hijo\",Juan,30111226,1950-06-15,7574",
    "1,Zoé,\"Ibáñez \"\"Chiqui\"\"\",30111227,2000-02-29,0",
    "1,Luz,Sosa,12345678901234567890,1985-07-07,2",
  };
  /* A long name: the warnings must still name the file whole. */
  g_autofree char *file = test_write_file (
    fixture, "agencia-central-de-loterias-de-la-provincia-1.csv", contents);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) expected_rows = g_ptr_array_new ();
  TestProcess *server, *client;
  guint i;

  g_test_summary ("Invalid rows are reported with file and line and "
                  "skipped; the valid ones are stored; the exit status is 3.");

  server = test_server_start (fixture, 1, NULL);
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", file), NULL);
  test_assert_exit (client, 3);
  test_assert_no_stderr (client);

  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: leer_apuesta | result: "
                                              "fail"), ==,
                    G_N_ELEMENTS (bad_lines));
  for (i = 0; i < G_N_ELEMENTS (bad_lines); i++)
    {
      g_autofree char *needle = g_strdup_printf (
        "action: leer_apuesta | result: fail | file: %s | line: %u |", file,
        bad_lines[i]);

      g_assert_cmpuint (test_process_count_lines (client, needle), ==, 1);
    }
  g_assert_cmpuint (test_process_count_lines (client, "cant_ganadores: 1"),
                    ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "dni: 30111226"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "action: rechazos | "
                                              "result: fail | filas: 9"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, DONE), ==, 1);

  test_assert_line (server, DRAW, 1);
  rows = test_read_rows (path);
  for (i = 0; i < G_N_ELEMENTS (expected); i++)
    g_ptr_array_add (expected_rows, (gpointer) expected[i]);
  g_assert_cmpuint (rows->len, ==, expected_rows->len);
  for (i = 0; i < rows->len; i++)
    g_assert_cmpstr (g_ptr_array_index (rows, i), ==,
                     g_ptr_array_index (expected_rows, i));
}

/* ---- protocol errors ---- */

static void
test_protocol_errors (TestFixture   *fixture,
                      gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv", 300, 5, 1,
                                          FALSE);
  g_autoptr(GSocketConnection) agency1 = NULL;
  LotteryMessage message;
  TestProcess *server, *client;
  guint16 port;
  guint id;

  g_test_summary ("The server refuses what the protocol does not allow, "
                  "keeps quiet about port probes, and keeps serving.");

  server = test_server_start (fixture, 2, ARGS ("--log-level", "DEBUG"));
  port = test_server_get_port (server);

  /* A probe: connect, close, send nothing. */
  {
    g_autoptr(GSocketConnection) probe = test_raw_connect (port);

    g_io_stream_close (G_IO_STREAM (probe), NULL, NULL);
  }
  test_assert_line (server, "action: close_connection | result: success | ip: ",
                    1);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);

  /* Agencies outside 1..2. */
  for (id = 0; id <= 3; id += 3)
    {
      g_autoptr(GSocketConnection) c = test_raw_connect (port);

      test_raw_send (c, frame, lottery_message_encode_hello (frame, id));
      test_raw_expect_error (c, LOTTERY_ERROR_UNKNOWN_AGENCY);
      test_raw_expect_closed (c);
    }
  test_assert_lines (server, "action: hello | result: fail", 2);

  /* A batch before HELLO. */
  {
    g_autoptr(GSocketConnection) c = test_raw_connect (port);

    test_raw_send (c, frame, test_raw_encode_batch (frame, 1, "Ana,Pérez,1,2000-01-01,1"));
    test_raw_expect_error (c, LOTTERY_ERROR_OUT_OF_ORDER);
    test_raw_expect_closed (c);
  }

  /* Agency 1: one batch, FINISH, then FINISH again. */
  agency1 = test_raw_connect (port);
  test_raw_send (agency1, frame, lottery_message_encode_hello (frame, 1));
  test_raw_receive (agency1, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
  g_assert_cmpuint (message.welcome.last_sequence, ==, 0);
  g_assert_cmpuint (message.welcome.flags, ==, 0);
  test_raw_send (agency1, frame,
                 test_raw_encode_batch (frame, 1, "Ana,Pérez,11111111,2000-01-01,7574"));
  test_raw_receive (agency1, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ACK);
  g_assert_cmpuint (message.ack.sequence, ==, 1);
  g_assert_cmpuint (message.ack.count, ==, 1);
  test_raw_send (agency1, frame, lottery_message_encode_finish (frame, 1));
  test_raw_receive (agency1, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_FINISHED);
  g_assert_cmpuint (message.finished.stored, ==, 1);
  test_raw_send (agency1, frame, lottery_message_encode_finish (frame, 1));
  test_raw_expect_error (agency1, LOTTERY_ERROR_ALREADY_FINISHED);
  /* That refusal leaves the connection open. */
  test_raw_send (agency1, frame,
                 lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING));
  test_raw_receive (agency1, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_PONG);

  /* Agency 2 is an ordinary client; its FINISH brings the draw. */
  client = test_client_run (fixture, port, 2, ARGS ("--bets-file", file2),
                            NULL);
  test_assert_exit (client, 0);
  test_assert_winners (client, file2, 1);

  /* Agency 1 gets its own winner, and a batch after the draw is refused. */
  test_raw_send (agency1, frame,
                 lottery_message_encode_empty (frame, LOTTERY_MESSAGE_QUERY));
  test_raw_receive (agency1, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WINNERS);
  g_assert_cmpuint (message.winners.flags, ==, LOTTERY_WINNERS_LAST);
  g_assert_cmpuint (message.winners.count, ==, 1);
  g_assert_cmpmem (message.winners.data, message.winners.len, "\x08" "11111111",
                   9);
  test_raw_send (agency1, frame,
                 test_raw_encode_batch (frame, 2, "Ana,Pérez,2,2000-01-01,7574"));
  test_raw_expect_error (agency1, LOTTERY_ERROR_DRAW_DONE);
  g_io_stream_close (G_IO_STREAM (agency1), NULL, NULL);

  /* After all that, an ordinary client of agency 1 still gets its answer
   * (it finished already, so it only asks). */
  client = test_client_run (fixture, port, 1,
                            ARGS ("--bet", "Ana,Pérez,11111111,2000-01-01,7574"),
                            NULL);
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client, "cant_ganadores: 1"),
                    ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "dni: 11111111"), ==, 1);

  g_assert_true (test_process_is_running (server));
  test_assert_lines (server, DRAW, 1);
  /* At DEBUG, each stored bet is logged. */
  g_assert_cmpuint (test_process_count_lines (server,
                      "action: apuesta_almacenada | result: success | "
                      "dni: 11111111 | numero: 7574"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server,
                      "action: apuesta_almacenada | result: success"), ==,
                    1 + 300);
  test_assert_no_stderr (server);
}

static void
test_agency_busy (TestFixture   *fixture,
                  gconstpointer  data)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  g_autoptr(GSocketConnection) holder = NULL;
  g_autoptr(GSocketConnection) second = NULL;
  LotteryMessage message;
  TestProcess *server, *client;
  guint16 port;

  g_test_summary ("One connection per agency: a second one is refused as "
                  "busy, and a client let in once the first has gone.");

  server = test_server_start (fixture, 1, NULL);
  port = test_server_get_port (server);
  holder = test_raw_connect (port);
  test_raw_send (holder, frame, lottery_message_encode_hello (frame, 1));
  test_raw_receive (holder, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);

  second = test_raw_connect (port);
  test_raw_send (second, frame, lottery_message_encode_hello (frame, 1));
  test_raw_expect_error (second, LOTTERY_ERROR_AGENCY_BUSY);
  test_raw_expect_closed (second);

  /* The client retries while agency 1 is taken... */
  client = test_client_start (fixture, port, 1,
                              ARGS ("--bet", "Ana,Pérez,5,2000-01-01,7574"),
                              NULL);
  test_assert_line (client, "action: connect | result: fail", 2);
  g_assert_true (test_process_is_running (client));

  /* ...and gets in once it is free. */
  g_io_stream_close (G_IO_STREAM (holder), NULL, NULL);
  test_assert_exit (client, 0);
  g_assert_cmpuint (test_process_count_lines (client,
                      "action: apuesta_enviada | result: success | dni: 5 | "
                      "numero: 7574"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "cant_ganadores: 1"),
                    ==, 1);
  test_assert_lines (server, "action: hello | result: success | agency: 1", 2);
}

static void
test_invalid_batch (TestFixture   *fixture,
                    gconstpointer  data)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  g_autoptr(GSocketConnection) c = NULL;
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  LotteryMessage message;
  LotteryBet bet = { 0, };
  TestProcess *server;

  g_test_summary ("A batch the server finds invalid is refused alone: the "
                  "agency goes on with the next batch and finishes.");

  server = test_server_start (fixture, 1, NULL);
  c = test_raw_connect (test_server_get_port (server));
  test_raw_send (c, frame, lottery_message_encode_hello (frame, 1));
  test_raw_receive (c, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);

  /* No 30th of February: the encoder does not check, the server does. */
  {
    const char *row = "Ana,Pérez,1,2000-01-30,1";

    g_assert_true (lottery_bet_parse_line (&bet, row, strlen (row), NULL));
  }
  bet.birthdate[6] = '2';
  lottery_batch_encoder_init (encoder, 10);
  g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  test_raw_send (c, encoder->frame, lottery_batch_encoder_finish (encoder, 1));
  g_free (encoder);
  g_assert_cmpuint (test_raw_expect_error (c, LOTTERY_ERROR_INVALID_BET), ==, 1);

  test_raw_send (c, frame, test_raw_encode_batch (frame, 2, "Ana,Pérez,2,2000-01-01,1"));
  test_raw_receive (c, buffer, &message);
  if (message.type == LOTTERY_MESSAGE_ERROR)
    g_test_message ("batch 2: ERROR %s: %.*s",
                    lottery_error_code_name (message.error.code),
                    (int) message.error.len, message.error.text);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ACK);
  g_assert_cmpuint (message.ack.sequence, ==, 2);

  test_raw_send (c, frame, lottery_message_encode_finish (frame, 2));
  test_raw_receive (c, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_FINISHED);
  g_assert_cmpuint (message.finished.stored, ==, 1);

  test_assert_line (server, DRAW, 1);
  g_assert_cmpuint (test_process_count_lines (server,
                      "action: apuesta_recibida | result: fail | cantidad: 1"),
                    ==, 1);
  /* The log says why, whole. */
  g_assert_cmpuint (test_process_count_lines (server,
                      "action: rechazar_lote | result: fail | agency: 1 | "
                      "lote: 1 | error: Bet 1 of batch 1: NACIMIENTO "
                      "“2000-02-30” is not a calendar date YYYY-MM-DD"), ==, 1);
  rows = test_read_rows (path);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (rows, 0), ==,
                   "1,Ana,Pérez,2,2000-01-01,1");
}

/* ---- 300 agencies at once ---- */

#define SCALE_AGENCIES 300
#define SCALE_LOSERS   2

typedef struct _ScaleRun ScaleRun;

typedef struct
{
  ScaleRun          *run;
  guint              id;
  GSocketConnection *connection;
  guint              step;      /* 0 HELLO, 1 BATCH, 2 FINISH, 3 QUERY */
  guint              count;     /* bets in the batch */
  GPtrArray         *winners;
  gboolean           done;
  guint8             out[LOTTERY_FRAME_MAX];
  guint8             in[LOTTERY_FRAME_MAX];
} RawAgency;

struct _ScaleRun
{
  GSocketClient *client;
  GSocketAddress *address;
  guint          pending;
  char          *failure;   /* the first failure */
};

static void agency_send (RawAgency *agency);
static void agency_read (RawAgency *agency);

static void
agency_fail (RawAgency  *agency,
             const char *what,
             const char *detail)
{
  if (agency->run->failure == NULL)
    agency->run->failure = g_strdup_printf ("agency %u: %s: %s", agency->id,
                                            what, detail);
  if (!agency->done)
    {
      agency->done = TRUE;
      agency->run->pending--;
    }
}

static gsize
agency_encode_batch (RawAgency *agency)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  guint n_winners = agency->id % 3;
  gsize len;
  guint k;

  lottery_batch_encoder_init (encoder, LOTTERY_BATCH_MAX_BETS);
  for (k = 0; k < n_winners + SCALE_LOSERS; k++)
    {
      g_autofree char *row = NULL;
      LotteryBet bet = { 0, };

      if (k < n_winners)
        row = g_strdup_printf ("Ana,Núñez,%u,1980-01-01,7574",
                               20000000 + agency->id * 10 + k);
      else
        row = g_strdup_printf ("Ana,Núñez,%u,1980-01-01,%u",
                               30000000 + agency->id * 10 + k,
                               1000 + agency->id);
      g_assert_true (lottery_bet_parse_line (&bet, row, strlen (row), NULL));
      g_assert_true (lottery_batch_encoder_add (encoder, &bet));
    }
  agency->count = encoder->count;
  len = lottery_batch_encoder_finish (encoder, 1);
  memcpy (agency->out, encoder->frame, len);
  g_free (encoder);

  return len;
}

static void
agency_handle (RawAgency            *agency,
               const LotteryMessage *message)
{
  static const LotteryMessageType expected[] = {
    LOTTERY_MESSAGE_WELCOME, LOTTERY_MESSAGE_ACK, LOTTERY_MESSAGE_FINISHED,
    LOTTERY_MESSAGE_WINNERS,
  };

  if (message->type != expected[agency->step])
    {
      agency_fail (agency, "unexpected reply",
                   lottery_message_type_name (message->type));
      return;
    }

  if (message->type == LOTTERY_MESSAGE_WINNERS)
    {
      LotteryBatchReader reader;

      lottery_batch_reader_init (&reader, message);
      while (reader.remaining > 0)
        {
          const char *document;
          gsize len;

          if (!lottery_winners_reader_next (&reader, &document, &len, NULL))
            {
              agency_fail (agency, "WINNERS", "malformed");
              return;
            }
          g_ptr_array_add (agency->winners, g_strndup (document, len));
        }
      if (!(message->winners.flags & LOTTERY_WINNERS_LAST))
        {
          agency_read (agency);
          return;
        }
      agency->done = TRUE;
      agency->run->pending--;
      return;
    }
  if (message->type == LOTTERY_MESSAGE_ACK &&
      (message->ack.sequence != 1 || message->ack.count != agency->count))
    {
      agency_fail (agency, "ACK", "wrong batch");
      return;
    }
  if (message->type == LOTTERY_MESSAGE_FINISHED &&
      message->finished.stored != agency->count)
    {
      agency_fail (agency, "FINISHED", "wrong count");
      return;
    }

  agency->step++;
  agency_send (agency);
}

static void
agency_body_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  RawAgency *agency = user_data;
  g_autoptr(GError) error = NULL;
  LotteryMessage message;
  gsize body_len = 0, got = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &got,
                                       &error))
    {
      agency_fail (agency, "read", error->message);
      return;
    }
  lottery_frame_parse_prefix (agency->in, &body_len, NULL);
  if (got < body_len ||
      !lottery_message_decode (agency->in + LOTTERY_FRAME_PREFIX, body_len,
                               &message, &error))
    {
      agency_fail (agency, "decode", error != NULL ? error->message : "short");
      return;
    }

  agency_handle (agency, &message);
}

static void
agency_prefix_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  RawAgency *agency = user_data;
  g_autoptr(GError) error = NULL;
  gsize body_len, got = 0;

  if (!g_input_stream_read_all_finish (G_INPUT_STREAM (source), result, &got,
                                       &error))
    {
      agency_fail (agency, "read", error->message);
      return;
    }
  if (got < LOTTERY_FRAME_PREFIX)
    {
      agency_fail (agency, "read", "the server closed the connection");
      return;
    }
  if (!lottery_frame_parse_prefix (agency->in, &body_len, &error))
    {
      agency_fail (agency, "prefix", error->message);
      return;
    }

  g_input_stream_read_all_async (G_INPUT_STREAM (source),
                                 agency->in + LOTTERY_FRAME_PREFIX, body_len,
                                 G_PRIORITY_DEFAULT, NULL, agency_body_cb,
                                 agency);
}

static void
agency_read (RawAgency *agency)
{
  GInputStream *in = g_io_stream_get_input_stream (
    G_IO_STREAM (agency->connection));

  g_input_stream_read_all_async (in, agency->in, LOTTERY_FRAME_PREFIX,
                                 G_PRIORITY_DEFAULT, NULL, agency_prefix_cb,
                                 agency);
}

static void
agency_written_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  RawAgency *agency = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    {
      agency_fail (agency, "write", error->message);
      return;
    }

  agency_read (agency);
}

static void
agency_send (RawAgency *agency)
{
  GOutputStream *out = g_io_stream_get_output_stream (
    G_IO_STREAM (agency->connection));
  gsize len = 0;

  switch (agency->step)
    {
    case 0:
      len = lottery_message_encode_hello (agency->out, agency->id);
      break;
    case 1:
      len = agency_encode_batch (agency);
      break;
    case 2:
      len = lottery_message_encode_finish (agency->out, 1);
      break;
    case 3:
      len = lottery_message_encode_empty (agency->out, LOTTERY_MESSAGE_QUERY);
      break;
    default:
      g_assert_not_reached ();
    }

  g_output_stream_write_all_async (out, agency->out, len, G_PRIORITY_DEFAULT,
                                   NULL, agency_written_cb, agency);
}

static void
agency_connected_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  RawAgency *agency = user_data;
  g_autoptr(GError) error = NULL;

  agency->connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source),
                                                       result, &error);
  if (agency->connection == NULL)
    {
      agency_fail (agency, "connect", error->message);
      return;
    }

  agency_send (agency);
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_scale_300 (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autofree RawAgency *agencies = g_new0 (RawAgency, SCALE_AGENCIES);
  g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSocketConnection) idle = NULL;
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) rows = NULL;
  ScaleRun run = { 0, };
  gboolean timed_out = FALSE;
  TestProcess *server;
  gint64 start, elapsed;
  guint timeout;
  guint i, k;

  g_test_summary ("300 agencies upload, finish and ask at the same time, "
                  "while one more connection stays idle; each gets exactly "
                  "its own winners.");

  /* The idle connection must outlive the run, however slow (ASan). */
  server = test_server_start (fixture, SCALE_AGENCIES,
                              ARGS ("--listen-backlog", "512",
                                    "--io-timeout", "3600"));

  /* Connected, silent: it must hold nobody up. */
  idle = test_raw_connect (test_server_get_port (server));

  run.client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (run.client, FALSE);
  run.address = g_inet_socket_address_new_from_string (
    "127.0.0.1", test_server_get_port (server));
  run.pending = SCALE_AGENCIES;
  start = g_get_monotonic_time ();
  for (i = 0; i < SCALE_AGENCIES; i++)
    {
      RawAgency *agency = &agencies[i];

      agency->run = &run;
      agency->id = i + 1;
      agency->winners = g_ptr_array_new_with_free_func (g_free);
      g_socket_client_connect_async (run.client,
                                     G_SOCKET_CONNECTABLE (run.address), NULL,
                                     agency_connected_cb, agency);
    }

  timeout = g_timeout_add_seconds (30, set_flag_cb, &timed_out);
  while (run.pending > 0 && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  elapsed = g_get_monotonic_time () - start;
  if (!timed_out)
    g_source_remove (timeout);
  g_test_message ("%d agencies answered in %" G_GINT64_FORMAT " ms",
                  SCALE_AGENCIES, elapsed / 1000);

  if (run.failure != NULL)
    g_test_message ("%s", run.failure);
  g_assert_null (run.failure);
  g_assert_false (timed_out);
  g_assert_cmpuint (run.pending, ==, 0);

  for (i = 0; i < SCALE_AGENCIES; i++)
    {
      RawAgency *agency = &agencies[i];
      g_autoptr(GPtrArray) own = g_ptr_array_new_with_free_func (g_free);

      for (k = 0; k < agency->id % 3 + SCALE_LOSERS; k++)
        {
          if (k < agency->id % 3)
            {
              g_ptr_array_add (own, g_strdup_printf ("%u", 20000000 +
                                                     agency->id * 10 + k));
              g_ptr_array_add (expected,
                               g_strdup_printf ("%u,Ana,Núñez,%u,1980-01-01,7574",
                                                agency->id, 20000000 +
                                                agency->id * 10 + k));
            }
          else
            g_ptr_array_add (expected,
                             g_strdup_printf ("%u,Ana,Núñez,%u,1980-01-01,%u",
                                              agency->id, 30000000 +
                                              agency->id * 10 + k,
                                              1000 + agency->id));
        }
      test_assert_same_strings (agency->winners, own);
    }

  test_assert_line (server, DRAW, 1);
  g_assert_cmpuint (test_process_count_lines (server, DRAW), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==,
                    SCALE_AGENCIES);
  test_assert_lines (server, ANSWERED, SCALE_AGENCIES);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);
  rows = test_read_rows (path);
  test_assert_same_rows (rows, expected);

  /* The idle connection is still open: the server just waits on it. */
  {
    GSocket *socket = g_socket_connection_get_socket (idle);

    g_assert_cmpint (g_socket_condition_check (socket, G_IO_IN | G_IO_HUP), ==,
                     0);
  }

  for (i = 0; i < SCALE_AGENCIES; i++)
    {
      if (agencies[i].connection != NULL)
        g_io_stream_close (G_IO_STREAM (agencies[i].connection), NULL, NULL);
      g_clear_object (&agencies[i].connection);
      g_clear_pointer (&agencies[i].winners, g_ptr_array_unref);
    }
  g_clear_object (&run.client);
  g_clear_object (&run.address);
  g_free (run.failure);
}

/* ---- the generator ---- */

static void
test_generator (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autofree char *a = test_gen_bets (fixture, "a.csv", 20000, 42, 7, FALSE);
  g_autofree char *b = test_gen_bets (fixture, "b.csv", 20000, 42, 7, FALSE);
  g_autofree char *c = test_gen_bets (fixture, "c.csv", 20000, 43, -1, TRUE);
  g_autofree char *d = test_gen_bets (fixture, "d.csv", 20000, 43, 7, FALSE);
  g_autofree char *text_a = NULL, *text_b = NULL, *text_c = NULL;
  g_autofree char *text_d = NULL;
  g_autoptr(GPtrArray) winners = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  guint i, quoted = 0;

  g_test_summary ("lottery-gen-bets: the same seed gives the same file; "
                  "--winners places exactly that many winning rows; every "
                  "row is a valid bet.");

  g_assert_true (g_file_get_contents (a, &text_a, NULL, NULL));
  g_assert_true (g_file_get_contents (b, &text_b, NULL, NULL));
  g_assert_true (g_file_get_contents (c, &text_c, NULL, NULL));
  g_assert_true (g_file_get_contents (d, &text_d, NULL, NULL));
  /* Not g_assert_cmpstr (): a failure would print megabytes. */
  g_assert_true (g_str_equal (text_a, text_b));
  g_assert_null (strchr (text_a, '\r'));
  /* Another seed, other rows. */
  g_assert_false (g_str_equal (text_a, text_d));
  g_assert_nonnull (strstr (text_c, "\r\n"));

  winners = test_winning_documents (a);
  g_assert_cmpuint (winners->len, ==, 7);

  rows = test_expected_rows (c, 1);
  g_assert_cmpuint (rows->len, ==, 20000);
  for (i = 0; i < rows->len; i++)
    {
      const char *row = g_ptr_array_index (rows, i);
      g_auto(GStrv) fields = test_csv_split (row, strlen (row));
      g_autoptr(GError) error = NULL;
      g_autofree char *line = test_csv_join ((const char * const *) fields + 1);
      LotteryBet bet;

      quoted += strchr (row, '"') != NULL;
      g_assert_cmpuint (strlen (fields[3]), ==, 8);
      g_assert_cmpint (strncmp (fields[4], "1940", 4), >=, 0);
      g_assert_cmpint (strncmp (fields[4], "2005", 4), <=, 0);
      lottery_bet_parse_line (&bet, line, strlen (line), &error);
      g_assert_no_error (error);
    }
  g_test_message ("%u of %u rows need quoting", quoted, rows->len);
  g_assert_cmpuint (quoted, >, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  ADD_TEST ("/integration/generator", test_generator);
  ADD_TEST ("/integration/one-agency/one-bet", test_one_bet_flag);
  ADD_TEST ("/integration/one-agency/one-bet-env", test_one_bet_env);
  ADD_TEST ("/integration/one-agency/64-bets", test_64_bets);
  ADD_TEST ("/integration/one-agency/99-bets", test_99_bets);
  ADD_TEST ("/integration/batching/16-with-max-64", test_16_with_max_64);
  ADD_TEST ("/integration/batching/21-with-max-99", test_21_with_max_99);
  ADD_TEST ("/integration/batching/12-with-max-5", test_12_with_max_5);
  ADD_TEST ("/integration/batching/long-names", test_long_names);
  ADD_TEST ("/integration/winners/three-agencies", test_winners_three);
  ADD_TEST ("/integration/winners/five-agencies", test_winners_five);
  ADD_TEST ("/integration/winners/many", test_winners_many);
  ADD_TEST ("/integration/one-agency/empty-file", test_empty_file);
  ADD_TEST ("/integration/query-waits-for-last-agency", test_query_waits);
  ADD_TEST ("/integration/sigterm/server-mid-upload", test_sigterm_server);
  ADD_TEST ("/integration/sigterm/server-restarted-mid-upload",
            test_sigterm_server_restarted);
  ADD_TEST ("/integration/sigterm/client-mid-upload", test_sigterm_client);
  ADD_TEST ("/integration/sigterm/client-waiting-for-draw",
            test_sigterm_waiting_client);
  ADD_TEST ("/integration/sigterm/server-with-waiting-query",
            test_sigterm_server_parked);
  ADD_TEST ("/integration/config/bad", test_config_bad);
  ADD_TEST ("/integration/client/unreachable", test_client_unreachable);
  ADD_TEST ("/integration/client/address-list-unresolvable",
            test_client_address_list);
  ADD_TEST ("/integration/client/server-restart", test_client_server_restart);
  ADD_TEST ("/integration/client/unknown-agency", test_client_unknown_agency);
  ADD_TEST ("/integration/client/missing-file", test_client_missing_file);
  ADD_TEST ("/integration/invalid-rows", test_invalid_rows);
  ADD_TEST ("/integration/errors", test_protocol_errors);
  ADD_TEST ("/integration/errors/invalid-batch", test_invalid_batch);
  ADD_TEST ("/integration/errors/agency-busy", test_agency_busy);
  ADD_TEST ("/integration/scale/300-agencies", test_scale_300);

  return g_test_run ();
}
