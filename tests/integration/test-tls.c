/* test-tls.c: lottery-server and lottery-client over TLS.
 *
 * Each test makes a throwaway CA and server certificates (for 127.0.0.1
 * and localhost, or deliberately wrong ones) with certtool in its
 * temporary directory, starts the real server with them and runs real
 * clients that trust that CA, another one, or none.
 */
#include "config.h"

#include "test-utils.h"
#include "lottery-error.h"
#include "lottery-protocol.h"

#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#define ADD_TEST(path, func) \
  g_test_add (path, TestFixture, NULL, test_fixture_setup, func, \
              test_fixture_teardown)
#define ADD_CASE(path, func, data) \
  g_test_add (path, TestFixture, data, test_fixture_setup, func, \
              test_fixture_teardown)

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })
#define TLS_MAX_RECORD (5 + 16384 + 2048)

static const char RECEIVED[] = "action: apuesta_recibida | result: success";
static const char DRAW[] = "action: sorteo | result: success";
static const char HANDSHAKE_OK[] = "action: tls_handshake | result: success";
static const char HANDSHAKE_FAILED[] =
  "action: tls_handshake | result: fail | ip: 127.0.0.1 | error: ";

/* A server certificate as agencies expect it: for both names they may
 * use, signed by the test CA. */
static const char SERVER_TEMPLATE[] =
  "cn = \"localhost\"\n"
  "dns_name = \"localhost\"\n"
  "ip_address = \"127.0.0.1\"\n"
  "ip_address = \"::1\"\n"
  "tls_www_server\n"
  "signing_key\n"
  "encryption_key\n"
  "expiration_days = 2\n";

/* ---- certificates ---- */

/* Skips the test where certtool or GIO's TLS backend is missing. */
static gboolean
tls_available (void)
{
  g_autofree char *certtool = g_find_program_in_path ("certtool");

  if (certtool == NULL)
    {
      g_test_skip ("certtool (Debian package gnutls-bin) is not installed");
      return FALSE;
    }
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("GIO has no TLS backend (package glib-networking)");
      return FALSE;
    }

  return TRUE;
}

/* Runs certtool in the fixture's directory; its chatter is shown only
 * if it fails. */
static void
run_certtool (TestFixture        *fixture,
              const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) subprocess = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;
  guint i;

  g_ptr_array_add (argv, (char *) "certtool");
  for (i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_cwd (launcher, fixture->dir);
  subprocess = g_subprocess_launcher_spawnv (launcher,
                                             (const char * const *) argv->pdata,
                                             &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (subprocess, NULL, NULL, &output, NULL,
                                 &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (subprocess) ||
      g_subprocess_get_exit_status (subprocess) != 0)
    g_test_message ("certtool: %s", output);
  g_assert_true (g_subprocess_get_if_exited (subprocess));
  g_assert_cmpint (g_subprocess_get_exit_status (subprocess), ==, 0);
}

static void
make_key (TestFixture *fixture,
          const char  *name)
{
  g_autofree char *key = g_strdup_printf ("%s.key", name);

  run_certtool (fixture, ARGS ("--generate-privkey", "--key-type", "ecdsa",
                               "--no-text", "--outfile", key));
}

/* @name.pem, a self-signed CA, and its key @name.key. */
static void
make_ca (TestFixture *fixture,
         const char  *name)
{
  g_autofree char *key = g_strdup_printf ("%s.key", name);
  g_autofree char *pem = g_strdup_printf ("%s.pem", name);
  g_autofree char *template = g_strdup_printf ("%s.tmpl", name);
  g_autofree char *contents = g_strdup_printf ("cn = \"Lottery test CA %s\"\n"
                                               "ca\n"
                                               "cert_signing_key\n"
                                               "expiration_days = 2\n", name);

  make_key (fixture, name);
  g_free (test_write_file (fixture, template, contents));
  run_certtool (fixture, ARGS ("--generate-self-signed", "--load-privkey", key,
                               "--template", template, "--no-text",
                               "--outfile", pem));
}

/* @name.pem, signed by the CA @ca, and its key @name.key. */
static void
make_certificate (TestFixture *fixture,
                  const char  *ca,
                  const char  *name,
                  const char  *template_contents)
{
  g_autofree char *key = g_strdup_printf ("%s.key", name);
  g_autofree char *pem = g_strdup_printf ("%s.pem", name);
  g_autofree char *template = g_strdup_printf ("%s.tmpl", name);
  g_autofree char *ca_key = g_strdup_printf ("%s.key", ca);
  g_autofree char *ca_pem = g_strdup_printf ("%s.pem", ca);

  make_key (fixture, name);
  g_free (test_write_file (fixture, template, template_contents));
  run_certtool (fixture, ARGS ("--generate-certificate", "--load-privkey", key,
                               "--load-ca-certificate", ca_pem,
                               "--load-ca-privkey", ca_key,
                               "--template", template, "--no-text",
                               "--outfile", pem));
}

/* The usual pair: ca.pem and server.pem (key server.key). */
static void
make_ca_and_server (TestFixture *fixture)
{
  make_ca (fixture, "ca");
  make_certificate (fixture, "ca", "server", SERVER_TEMPLATE);
}

/* ---- processes ---- */

/* A server speaking TLS with @cert.pem and @cert.key. */
static TestProcess *
start_tls_server (TestFixture        *fixture,
                  guint               agencies,
                  const char         *cert,
                  const char * const *extra_args)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  TestProcess *server;
  guint i;

  g_ptr_array_add (args, g_strdup ("--tls-certificate"));
  g_ptr_array_add (args, g_strdup_printf ("%s/%s.pem", fixture->dir, cert));
  g_ptr_array_add (args, g_strdup ("--tls-key"));
  g_ptr_array_add (args, g_strdup_printf ("%s/%s.key", fixture->dir, cert));
  for (i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (args, g_strdup (extra_args[i]));
  g_ptr_array_add (args, NULL);

  server = test_server_start (fixture, agencies,
                              (const char * const *) args->pdata);
  g_assert_cmpuint (test_process_count_lines (
                      server, "action: accept_connections | result: "
                              "in_progress | port: "), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, " | tls: on"), ==, 1);

  return server;
}

/* An agency uploading @bets_file, trusting @ca.pem (or nothing, NULL). */
static TestProcess *
start_client (TestFixture *fixture,
              TestProcess *server,
              guint        id,
              const char  *bets_file,
              const char  *ca)
{
  g_autofree char *ca_path = NULL;

  if (ca == NULL)
    return test_client_start (fixture, test_server_get_port (server), id,
                              ARGS ("--bets-file", bets_file), NULL);

  ca_path = g_strdup_printf ("%s/%s.pem", fixture->dir, ca);
  return test_client_start (fixture, test_server_get_port (server), id,
                            ARGS ("--bets-file", bets_file, "--tls-ca",
                                  ca_path), NULL);
}

/* lottery-client with @args and --server 127.0.0.1:PORT, to its exit. */
static TestProcess *
run_client_command (TestFixture        *fixture,
                    TestProcess        *server,
                    const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  TestProcess *client;
  guint i;

  g_ptr_array_add (argv, g_strdup (g_getenv ("LOTTERY_CLIENT")));
  g_ptr_array_add (argv, g_strdup ("--server"));
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u",
                                          test_server_get_port (server)));
  for (i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  client = test_process_spawn (fixture, "client",
                               (const char * const *) argv->pdata, NULL);
  if (!test_process_wait_exit (client, TEST_TIMEOUT_MS))
    test_process_dump (client);
  g_assert_false (test_process_is_running (client));

  return client;
}

/* Exactly one line on stderr, holding every one of @needles. */
static void
assert_stderr_line (TestProcess        *process,
                    const char * const *needles)
{
  g_autoptr(GPtrArray) lines = test_process_get_stderr_lines (process);
  const char *line;
  guint i;

  if (lines->len != 1)
    test_process_dump (process);
  g_assert_cmpuint (lines->len, ==, 1);
  line = g_ptr_array_index (lines, 0);
  g_test_message ("stderr: %s", line);
  for (i = 0; needles[i] != NULL; i++)
    {
      if (strstr (line, needles[i]) == NULL)
        g_test_message ("missing: %s", needles[i]);
      g_assert_nonnull (strstr (line, needles[i]));
    }
}

static void
assert_nothing_stored (TestFixture *fixture,
                       TestProcess *server)
{
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  g_autoptr(GPtrArray) rows = test_read_rows (path);

  g_assert_cmpuint (rows->len, ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, "action: apuesta_"), ==,
                    0);
  g_assert_cmpuint (test_process_count_lines (server, "action: hello"), ==, 0);
}

/* ---- tests ---- */

static void
test_round_trip (TestFixture   *fixture,
                 gconstpointer  data)
{
  const guint winners[] = { 2, 1 };
  const guint rows[] = { 6000, 2500 };
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) clients = g_ptr_array_new ();
  g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) stored = NULL;
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  TestProcess *server;
  guint i;

  g_test_summary ("Two agencies upload over TLS, trusting the test CA: "
                  "each gets its own winners and bets.csv holds every bet "
                  "once.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  server = start_tls_server (fixture, G_N_ELEMENTS (winners), "server",
                             ARGS ("--log-level", "DEBUG"));

  for (i = 0; i < G_N_ELEMENTS (winners); i++)
    {
      g_autofree char *name = g_strdup_printf ("agency-%u.csv", i + 1);
      char *file = test_gen_bets (fixture, name, rows[i], 40 + i, winners[i],
                                  i == 1);
      g_autoptr(GPtrArray) own = test_expected_rows (file, i + 1);

      g_ptr_array_extend_and_steal (expected, g_steal_pointer (&own));
      g_ptr_array_add (files, file);
    }
  for (i = 0; i < G_N_ELEMENTS (winners); i++)
    g_ptr_array_add (clients, start_client (fixture, server, i + 1,
                                            g_ptr_array_index (files, i),
                                            "ca"));

  for (i = 0; i < G_N_ELEMENTS (winners); i++)
    {
      TestProcess *client = g_ptr_array_index (clients, i);

      test_assert_exit (client, 0);
      test_assert_no_stderr (client);
      test_assert_winners (client, g_ptr_array_index (files, i), winners[i]);
    }

  test_assert_line (server, DRAW, 1);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, HANDSHAKE_OK), >=,
                    G_N_ELEMENTS (winners));

  stored = test_read_rows (path);
  g_assert_cmpuint (test_process_sum_values (server, RECEIVED, "cantidad"), ==,
                    stored->len);
  test_assert_same_rows (stored, expected);
}

static void
test_ipv6_literal (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *address = NULL;
  g_autofree char *ca_path = NULL;
  g_autofree char *bets = NULL;
  g_autoptr(GSocket) probe = NULL;
  TestProcess *server;
  TestProcess *client;

  g_test_summary ("TLS to [::1]: no IP literal as the server name (SNI), "
                  "and the certificate is checked against the address");
  if (!tls_available ())
    return;
  probe = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                        G_SOCKET_PROTOCOL_TCP, NULL);
  if (probe == NULL)
    {
      g_test_skip ("no IPv6 here");
      return;
    }

  make_ca_and_server (fixture);
  server = start_tls_server (fixture, 1, "server", NULL);
  address = g_strdup_printf ("[::1]:%u", test_server_get_port (server));
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);
  bets = test_gen_bets (fixture, "agency-1.csv", 300, 5, 1, FALSE);

  client = test_process_spawn (fixture, "client",
                               ARGS (g_getenv ("LOTTERY_CLIENT"), "--id", "1",
                                     "--server", address, "--tls-ca", ca_path,
                                     "--bets-file", bets),
                               NULL);
  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  test_assert_winners (client, bets, 1);
}

static void
test_sigterm_in_handshake (TestFixture   *fixture,
                           gconstpointer  data)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *ca_path = NULL;
  g_autofree char *bets = NULL;
  TestProcess *client;
  guint16 port;

  g_test_summary ("SIGTERM while the client is in a TLS handshake that the "
                  "server never answers: a quick exit 0, logged as "
                  "interrupted");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  address = g_strdup_printf ("127.0.0.1:%u", port);
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);
  bets = test_gen_bets (fixture, "agency-1.csv", 10, 5, 0, FALSE);
  client = test_process_spawn (fixture, "client",
                               ARGS (g_getenv ("LOTTERY_CLIENT"), "--server",
                                     address, "--tls-ca", ca_path,
                                     "--bets-file", bets),
                               NULL);
  test_assert_line (client, "action: config | result: success", 1);
  g_usleep (500 * 1000);
  test_assert_quick_stop (client, G_USEC_PER_SEC);
  g_assert_cmpuint (test_process_count_lines (
                      client, "action: done | result: interrupted"), ==, 1);
}

typedef struct
{
  const char *template;  /* the server certificate's; NULL: the usual */
  const char *client_ca; /* the CA the client trusts */
  const char *reason;    /* what the client says */
} Untrusted;

static const Untrusted unknown_ca = {
  NULL, "other", "(unknown CA)"
};
static const Untrusted bad_identity = {
  "cn = \"elsewhere\"\n"
  "dns_name = \"elsewhere.example\"\n"
  "tls_www_server\n"
  "signing_key\n"
  "expiration_days = 2\n",
  "ca", "is not issued for 127.0.0.1 (bad identity)"
};
static const Untrusted expired = {
  "cn = \"localhost\"\n"
  "dns_name = \"localhost\"\n"
  "ip_address = \"127.0.0.1\"\n"
  "tls_www_server\n"
  "signing_key\n"
  "activation_date = \"2020-01-01 00:00:00 UTC\"\n"
  "expiration_date = \"2020-02-01 00:00:00 UTC\"\n",
  "ca", "has expired"
};

static void
test_untrusted (TestFixture   *fixture,
                gconstpointer  data)
{
  const Untrusted *c = data;
  g_autofree char *bets = NULL;
  g_autofree char *address = NULL;
  g_autofree char *ca_path = NULL;
  TestProcess *server, *client, *ping;
  gint64 start, elapsed;

  g_test_summary ("A client that does not trust the server's certificate "
                  "(unknown CA, another name, expired) stops at once with "
                  "one line saying which server and why, and sends "
                  "nothing.");
  if (!tls_available ())
    return;

  make_ca (fixture, "ca");
  make_ca (fixture, "other");
  make_certificate (fixture, "ca", "server",
                    c->template != NULL ? c->template : SERVER_TEMPLATE);
  server = start_tls_server (fixture, 1, "server", NULL);
  address = g_strdup_printf ("127.0.0.1:%u", test_server_get_port (server));
  ca_path = g_strdup_printf ("%s/%s.pem", fixture->dir, c->client_ca);
  bets = test_gen_bets (fixture, "agency-1.csv", 300, 7, 1, FALSE);

  start = g_get_monotonic_time ();
  client = start_client (fixture, server, 1, bets, c->client_ca);
  test_assert_exit (client, 1);
  elapsed = test_process_get_exit_time (client) - start;
  /* Refused, not retried for five seconds. */
  g_assert_cmpint (elapsed, <, 3 * G_USEC_PER_SEC);
  assert_stderr_line (client, ARGS (address, "is not trusted",
                                    "its certificate", c->reason));
  g_assert_cmpuint (test_process_count_lines (client, "action: done | "
                                                      "result: fail"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (client, "action: connect | "
                                                      "result: success"), ==,
                    0);

  /* --ping checks the certificate the same way. */
  ping = run_client_command (fixture, server, ARGS ("--ping", "--tls-ca",
                                                    ca_path));
  test_assert_exit (ping, 1);
  assert_stderr_line (ping, ARGS (address, "is not trusted", c->reason));

  /* The server saw the client give up during the handshake. */
  test_assert_line (server, HANDSHAKE_FAILED, 2);
  assert_nothing_stored (fixture, server);
  g_assert_true (test_process_is_running (server));
}

static void
test_plain_client (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *bets1 = NULL;
  g_autofree char *bets2 = NULL;
  g_autofree char *path = test_fixture_path (fixture, "bets.csv");
  g_autoptr(GSocketConnection) raw = NULL;
  g_autoptr(GPtrArray) stored = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  TestProcess *server, *plain, *tls;
  gint64 start;

  g_test_summary ("A client without TLS is told in the clear that the server "
                  "speaks TLS only and stops at once; nothing of it is "
                  "stored, and the server goes on serving TLS clients.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  server = start_tls_server (fixture, 2, "server", NULL);
  bets1 = test_gen_bets (fixture, "agency-1.csv", 500, 3, 1, FALSE);
  bets2 = test_gen_bets (fixture, "agency-2.csv", 400, 4, 2, FALSE);

  start = g_get_monotonic_time ();
  plain = start_client (fixture, server, 1, bets1, NULL);
  test_assert_exit (plain, 1);
  g_assert_cmpint (test_process_get_exit_time (plain) - start, <,
                   3 * G_USEC_PER_SEC);
  assert_stderr_line (plain, ARGS ("speaks TLS only", "tls.ca"));
  test_assert_line (server, HANDSHAKE_FAILED, 1);
  assert_nothing_stored (fixture, server);

  /* The same as bytes: an ERROR frame in the clear, then the end. */
  raw = test_raw_connect (test_server_get_port (server));
  test_raw_send (raw, frame,
                 lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING));
  test_raw_receive (raw, buffer, &message);
  g_assert_cmpuint (message.type, ==, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpuint (message.error.code, ==, LOTTERY_ERROR_PROTOCOL);
  test_raw_expect_closed (raw);
  test_assert_line (server, HANDSHAKE_FAILED, 2);

  /* Both agencies, over TLS this time: agency 1 was never seen. */
  plain = start_client (fixture, server, 1, bets1, "ca");
  tls = start_client (fixture, server, 2, bets2, "ca");
  test_assert_exit (plain, 0);
  test_assert_exit (tls, 0);
  test_assert_no_stderr (tls);
  test_assert_winners (plain, bets1, 1);
  test_assert_winners (tls, bets2, 2);

  stored = test_read_rows (path);
  g_assert_cmpuint (stored->len, ==, 900);
  test_assert_lines (server, DRAW, 1);
}

static void
test_tls_client_plain_server (TestFixture   *fixture,
                              gconstpointer  data)
{
  g_autofree char *bets = NULL;
  g_autofree char *ca_path = NULL;
  TestProcess *server, *client, *ping;
  gint64 start;

  g_test_summary ("A client with tls.ca against a server without TLS stops "
                  "at once, asking whether the server is set up for TLS; "
                  "nothing is stored.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  server = test_server_start (fixture, 1, NULL);
  g_assert_cmpuint (test_process_count_lines (server, " | tls: off"), ==, 1);
  bets = test_gen_bets (fixture, "agency-1.csv", 50, 5, 0, FALSE);
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);

  start = g_get_monotonic_time ();
  client = start_client (fixture, server, 1, bets, "ca");
  test_assert_exit (client, 1);
  g_assert_cmpint (test_process_get_exit_time (client) - start, <,
                   3 * G_USEC_PER_SEC);
  assert_stderr_line (client, ARGS ("TLS handshake with 127.0.0.1:",
                                    "is the server set up for TLS?"));

  ping = run_client_command (fixture, server, ARGS ("--ping", "--tls-ca",
                                                    ca_path));
  test_assert_exit (ping, 1);
  assert_stderr_line (ping, ARGS ("is the server set up for TLS?"));
  assert_nothing_stored (fixture, server);
}

static void
test_ping_status (TestFixture   *fixture,
                  gconstpointer  data)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ca_path = NULL;
  g_autofree char *bets = NULL;
  g_autofree char *localhost = NULL;
  g_autofree char *json = NULL;
  TestProcess *server, *process, *agency;
  JsonObject *root;

  g_test_summary ("--ping and --status (table and JSON) work over TLS, by "
                  "address and by name; without tls.ca they are refused.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  server = start_tls_server (fixture, 2, "server", NULL);
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);

  process = run_client_command (fixture, server, ARGS ("--ping", "--tls-ca",
                                                       ca_path));
  test_assert_exit (process, 0);
  test_assert_no_stderr (process);
  g_assert_cmpuint (test_process_count_lines (process, NULL), ==, 0);

  /* The certificate names localhost too. */
  localhost = g_strdup_printf ("localhost:%u", test_server_get_port (server));
  process = test_process_spawn (fixture, "ping localhost",
                                ARGS (g_getenv ("LOTTERY_CLIENT"), "--ping",
                                      "--server", localhost, "--tls-ca",
                                      ca_path), NULL);
  test_assert_exit (process, 0);
  test_assert_no_stderr (process);

  bets = test_gen_bets (fixture, "agency-1.csv", 321, 9, 0, FALSE);
  agency = start_client (fixture, server, 1, bets, "ca");
  test_assert_line (agency, "action: consulta_ganadores | result: in_progress",
                    1);

  process = run_client_command (fixture, server, ARGS ("--status", "--tls-ca",
                                                       ca_path));
  test_assert_exit (process, 0);
  test_assert_no_stderr (process);
  g_assert_cmpuint (test_process_count_lines (
                      process, "Total: 321 bets; 1 of 2 agencies finished"),
                    ==, 1);

  process = run_client_command (fixture, server, ARGS ("--status", "--json",
                                                       "--tls-ca", ca_path));
  test_assert_exit (process, 0);
  test_assert_no_stderr (process);
  lines = test_process_get_lines (process, NULL);
  g_ptr_array_add (lines, NULL);
  json = g_strjoinv ("\n", (char **) lines->pdata);
  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (root, "bets"), ==, 321);
  g_assert_cmpuint (json_array_get_length (
                      json_object_get_array_member (root, "agencies")), ==, 2);

  /* In the clear, both are told to use TLS. */
  process = run_client_command (fixture, server, ARGS ("--ping"));
  test_assert_exit (process, 1);
  assert_stderr_line (process, ARGS ("speaks TLS only"));
  process = run_client_command (fixture, server, ARGS ("--status"));
  test_assert_exit (process, 1);
  assert_stderr_line (process, ARGS ("speaks TLS only"));

  test_process_send_signal (agency, SIGTERM);
  test_assert_exit (agency, 0);
}

static void
test_stalled_handshake (TestFixture   *fixture,
                        gconstpointer  data)
{
  /* A TLS record header announcing 512 bytes that never come. */
  static const guint8 stalled[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
  g_autoptr(GSocketConnection) silent = NULL;
  g_autoptr(GSocketConnection) half = NULL;
  g_autoptr(GSocketConnection) last = NULL;
  g_autofree char *ca_path = NULL;
  TestProcess *server, *ping;
  gint64 start;

  g_test_summary ("A client that starts a TLS handshake and stalls delays "
                  "nobody, is closed after server.io_timeout, and does not "
                  "hold up a stop; a silent connection is closed after "
                  "server.io_timeout too.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  server = start_tls_server (fixture, 1, "server",
                             ARGS ("--io-timeout", "1"));
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);

  silent = test_raw_connect (test_server_get_port (server));
  half = test_raw_connect (test_server_get_port (server));
  test_raw_send (half, stalled, sizeof stalled);

  start = g_get_monotonic_time ();
  ping = run_client_command (fixture, server, ARGS ("--ping", "--tls-ca",
                                                    ca_path));
  test_assert_exit (ping, 0);
  g_test_message ("ping answered in %" G_GINT64_FORMAT " ms",
                  (test_process_get_exit_time (ping) - start) / 1000);

  /* Neither a silent peer nor one whose ClientHello never arrives gets
   * a handshake thread; both are closed, without a word, at io_timeout. */
  test_raw_expect_closed (half);
  test_raw_expect_closed (silent);
  test_assert_line (server, "error: TLS handshake not started within 1 s", 2);

  /* A stop does not wait for a stalled peer. */
  last = test_raw_connect (test_server_get_port (server));
  test_raw_send (last, stalled, sizeof stalled);
  g_usleep (200 * 1000);
  start = g_get_monotonic_time ();
  test_process_send_signal (server, SIGTERM);
  test_assert_exit (server, 0);
  g_assert_cmpint (test_process_get_exit_time (server) - start, <,
                   G_USEC_PER_SEC);
  g_assert_cmpuint (test_process_count_lines (
                      server, "action: join_workers | result: success"), ==, 1);
  g_assert_cmpuint (test_process_count_lines (
                      server, "action: close_connections | result: success | "
                              "count: 1"), ==, 1);
}

static void
test_dropped_handshake (TestFixture   *fixture,
                        gconstpointer  data)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketConnection) first = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port_text = NULL;
  g_autofree char *ca_path = NULL;
  guint8 hello[5];
  gsize got = 0;
  TestProcess *client, *server;
  guint16 port;

  g_test_summary ("A connection dropped during the TLS handshake (a server "
                  "stopping) is retried like any dropped connection: the "
                  "agency gets through once the server is back.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);
  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  port_text = g_strdup_printf ("%u", port);

  client = test_client_start (fixture, port, 1,
                              ARGS ("--bet", "Ana,Pérez,1,2000-01-01,7574",
                                    "--tls-ca", ca_path), NULL);
  /* Take the ClientHello's first bytes, then hang up. */
  first = g_socket_listener_accept (listener, NULL, NULL, &error);
  g_assert_no_error (error);
  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (first)),
                           hello, sizeof hello, &got, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hello[0], ==, 0x16);
  g_io_stream_close (G_IO_STREAM (first), NULL, NULL);
  g_socket_listener_close (listener);

  test_assert_line (client, "action: connect | result: fail", 1);
  g_assert_cmpuint (test_process_count_lines (client, "error: TLS handshake "
                                                      "with 127.0.0.1:"), ==,
                    1);
  server = start_tls_server (fixture, 1, "server", ARGS ("--port", port_text));
  g_assert_cmpuint (test_server_get_port (server), ==, port);

  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  g_assert_cmpuint (test_process_count_lines (client, "cant_ganadores: 1"),
                    ==, 1);
}

/* ---- a flood of stalled handshakes ---- */

typedef struct
{
  guint16        port;
  GBytes        *hello;     /* a real ClientHello record */
  GPtrArray     *peers;     /* GSocketConnection (owned) */
  gint           ready;     /* atomic: the first 32 are in */
  gint           stop;      /* atomic */
} Flood;

/* The whole first record the real client sends: a real ClientHello. */
static GBytes *
capture_client_hello (TestFixture *fixture,
                      const char  *ca_path)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketConnection) accepted = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  GInputStream *in;
  guint8 *record;
  gsize got = 0;
  gsize len;
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  address = g_strdup_printf ("127.0.0.1:%u", port);
  test_process_spawn (fixture, "hello",
                      ARGS (g_getenv ("LOTTERY_CLIENT"), "--ping", "--server",
                            address, "--tls-ca", ca_path), NULL);
  accepted = g_socket_listener_accept (listener, NULL, NULL, &error);
  g_assert_no_error (error);
  in = g_io_stream_get_input_stream (G_IO_STREAM (accepted));
  record = g_malloc (TLS_MAX_RECORD);
  g_input_stream_read_all (in, record, 5, &got, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (record[0], ==, 0x16);
  len = 5 + (((gsize) record[3] << 8) | record[4]);
  g_assert_cmpuint (len, <=, TLS_MAX_RECORD);
  g_input_stream_read_all (in, record + 5, len - 5, &got, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (got, ==, len - 5);

  return g_bytes_new_take (record, len);
}

/* One attacker: from 127.0.0.2, a real ClientHello, then nothing. */
static void
flood_one (Flood *flood)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) local = g_inet_address_new_from_string ("127.0.0.2");
  g_autoptr(GSocketAddress) bind_to = g_inet_socket_address_new (local, 0);
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;
  gsize len;
  const guint8 *data = g_bytes_get_data (flood->hello, &len);

  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_local_address (client, bind_to);
  connection = g_socket_client_connect_to_host (client, "127.0.0.1",
                                                flood->port, NULL, &error);
  if (connection == NULL)
    {
      g_test_message ("flood: %s", error->message);
      return;
    }
  g_output_stream_write_all (g_io_stream_get_output_stream (
                               G_IO_STREAM (connection)),
                             data, len, NULL, NULL, NULL);
  g_ptr_array_add (flood->peers, connection);
}

/* 32 at once, then 4 new ones a second until told to stop. */
static gpointer
flood_thread (gpointer data)
{
  Flood *flood = data;
  guint i;

  for (i = 0; i < 32; i++)
    flood_one (flood);
  g_atomic_int_set (&flood->ready, 1);
  while (!g_atomic_int_get (&flood->stop) && flood->peers->len < 400)
    {
      g_usleep (G_USEC_PER_SEC / 4);
      flood_one (flood);
    }

  return NULL;
}

static void
test_handshake_flood (TestFixture   *fixture,
                      gconstpointer  data)
{
  g_autofree char *ca_path = NULL;
  g_autofree char *bets = NULL;
  g_autofree char *address = NULL;
  Flood flood = { 0 };
  GThread *thread;
  TestProcess *server, *client;
  guint pings = 0;
  gint64 start, upload_ms;
  guint i;

  g_test_summary ("Peers at one address that send a real ClientHello and "
                  "stall, 32 at once and 4 more a second, leave honest "
                  "agencies their handshakes: every ping answers and an "
                  "upload gets through");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  server = start_tls_server (fixture, 1, "server", NULL);
  ca_path = g_strdup_printf ("%s/ca.pem", fixture->dir);
  bets = test_gen_bets (fixture, "agency-1.csv", 300, 5, 1, FALSE);
  address = g_strdup_printf ("127.0.0.1:%u", test_server_get_port (server));

  flood.port = test_server_get_port (server);
  flood.hello = capture_client_hello (fixture, ca_path);
  flood.peers = g_ptr_array_new_with_free_func (g_object_unref);
  thread = g_thread_new ("flood", flood_thread, &flood);
  while (!g_atomic_int_get (&flood.ready))
    g_usleep (G_USEC_PER_SEC / 10);

  for (i = 0; i < 6; i++)
    {
      TestProcess *ping = run_client_command (fixture, server,
                                              ARGS ("--ping", "--tls-ca",
                                                    ca_path));

      if (test_process_get_exit_status (ping) == 0)
        pings++;
      g_usleep (G_USEC_PER_SEC / 2);
    }
  start = g_get_monotonic_time ();
  client = test_process_spawn (fixture, "client",
                               ARGS (g_getenv ("LOTTERY_CLIENT"), "--id", "1",
                                     "--server", address, "--tls-ca", ca_path,
                                     "--bets-file", bets), NULL);
  if (!test_process_wait_exit (client, TEST_TIMEOUT_MS))
    test_process_dump (client);
  upload_ms = (test_process_get_exit_time (client) - start) / 1000;
  g_atomic_int_set (&flood.stop, 1);
  g_thread_join (thread);
  g_test_message ("under the flood (%u stalled peers): %u of 6 pings "
                  "answered; the upload exited %d after %" G_GINT64_FORMAT
                  " ms", flood.peers->len, pings,
                  test_process_get_exit_status (client), upload_ms);

  g_assert_cmpuint (pings, ==, 6);
  test_assert_exit (client, 0);
  test_assert_winners (client, bets, 1);
  /* The stalled ones were cut at the handshake's own deadline. */
  test_assert_line (server, "error: TLS handshake not done within 3 s", 1);
  g_ptr_array_unref (flood.peers);
  g_bytes_unref (flood.hello);
}

/* The server fails at start, with one line naming the file. */
static void
check_server_fails (TestFixture        *fixture,
                    const char * const *args,
                    int                 status,
                    const char * const *needles)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *bets = test_fixture_path (fixture, "bets.csv");
  TestProcess *server;
  guint i;

  g_ptr_array_add (argv, g_strdup (g_getenv ("LOTTERY_SERVER")));
  g_ptr_array_add (argv, g_strdup ("--port"));
  g_ptr_array_add (argv, g_strdup ("0"));
  g_ptr_array_add (argv, g_strdup ("--storage"));
  g_ptr_array_add (argv, g_strdup (bets));
  for (i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  server = test_process_spawn (fixture, "server",
                               (const char * const *) argv->pdata, NULL);
  test_assert_exit (server, status);
  assert_stderr_line (server, needles);
  g_assert_cmpuint (test_process_count_lines (server, "accept_connections"),
                    ==, 0);
  /* bets.csv is not even created. */
  g_assert_false (g_file_test (bets, G_FILE_TEST_EXISTS));
}

static void
test_bad_files (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *missing_cert = NULL;
  g_autofree char *missing_key = NULL;
  g_autofree char *junk = NULL;
  g_autofree char *missing_ca = NULL;
  TestProcess *process;

  g_test_summary ("A certificate, key or CA file that is missing or holds no "
                  "PEM is reported in one line naming the file and the "
                  "setting; the server then stores nothing.");
  if (!tls_available ())
    return;

  make_ca_and_server (fixture);
  cert = test_fixture_path (fixture, "server.pem");
  key = test_fixture_path (fixture, "server.key");
  missing_cert = test_fixture_path (fixture, "missing.pem");
  missing_key = test_fixture_path (fixture, "missing.key");
  missing_ca = test_fixture_path (fixture, "missing-ca.pem");
  junk = test_write_file (fixture, "junk.pem", "not a certificate\n");

  check_server_fails (fixture, ARGS ("--tls-certificate", missing_cert,
                                     "--tls-key", key), 1,
                      ARGS ("tls.certificate", missing_cert));
  check_server_fails (fixture, ARGS ("--tls-certificate", cert,
                                     "--tls-key", missing_key), 1,
                      ARGS ("tls.key", missing_key));
  check_server_fails (fixture, ARGS ("--tls-certificate", junk,
                                     "--tls-key", key), 1,
                      ARGS ("tls.certificate", junk));
  /* The key where the certificate should be, and the other way round. */
  check_server_fails (fixture, ARGS ("--tls-certificate", key,
                                     "--tls-key", key), 1,
                      ARGS ("tls.certificate", key));
  check_server_fails (fixture, ARGS ("--tls-certificate", cert,
                                     "--tls-key", cert), 1,
                      ARGS ("tls.key", cert));
  /* One without the other is a bad configuration. */
  check_server_fails (fixture, ARGS ("--tls-certificate", cert), 2,
                      ARGS ("tls.certificate", "tls.key"));

  process = test_process_spawn (fixture, "client",
                                ARGS (g_getenv ("LOTTERY_CLIENT"), "--ping",
                                      "--server", "127.0.0.1:1", "--tls-ca",
                                      missing_ca), NULL);
  /* A tls.ca that cannot be read is a bad setting like any other. */
  test_assert_exit (process, 2);
  assert_stderr_line (process, ARGS ("tls.ca", missing_ca));

  process = test_process_spawn (fixture, "client",
                                ARGS (g_getenv ("LOTTERY_CLIENT"), "--bet",
                                      "Ana,Pérez,1,2000-01-01,1",
                                      "--server", "127.0.0.1:1", "--tls-ca",
                                      junk), NULL);
  test_assert_exit (process, 2);
  assert_stderr_line (process, ARGS ("tls.ca", junk, "no PEM certificate"));

  process = test_process_spawn (fixture, "client",
                                ARGS (g_getenv ("LOTTERY_CLIENT"), "--ping",
                                      "--server", "127.0.0.1:1", "--tls-ca",
                                      fixture->dir), NULL);
  test_assert_exit (process, 2);
  assert_stderr_line (process, ARGS ("tls.ca", fixture->dir));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  ADD_TEST ("/tls/round-trip", test_round_trip);
  ADD_CASE ("/tls/untrusted/unknown-ca", test_untrusted, &unknown_ca);
  ADD_CASE ("/tls/untrusted/bad-identity", test_untrusted, &bad_identity);
  ADD_CASE ("/tls/untrusted/expired", test_untrusted, &expired);
  ADD_TEST ("/tls/plain-client", test_plain_client);
  ADD_TEST ("/tls/tls-client-plain-server", test_tls_client_plain_server);
  ADD_TEST ("/tls/ping-status", test_ping_status);
  ADD_TEST ("/tls/stalled-handshake", test_stalled_handshake);
  ADD_TEST ("/tls/dropped-handshake", test_dropped_handshake);
  ADD_TEST ("/tls/handshake-flood", test_handshake_flood);
  ADD_TEST ("/tls/bad-files", test_bad_files);
  ADD_TEST ("/tls/ipv6-literal", test_ipv6_literal);
  ADD_TEST ("/tls/sigterm-in-handshake", test_sigterm_in_handshake);

  return g_test_run ();
}
