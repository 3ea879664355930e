/* test-auth.c: agency tokens, end to end.
 *
 * Tokens come from the real `lottery-server --gen-token`; servers read
 * the tokens file made of its second lines. Clients take their token
 * from CLI_AUTH_TOKEN or --auth-token-file; raw connections compute
 * proofs with lottery-auth (its own unit test checks them against
 * answers computed apart).
 */
#include "config.h"

#include "test-utils.h"
#include "lottery-auth.h"
#include "lottery-bet.h"
#include "lottery-error.h"
#include "lottery-protocol.h"

#include <glib/gstdio.h>
#include <string.h>

#define ADD_TEST(path, func) \
  g_test_add (path, TestFixture, NULL, test_fixture_setup, func, \
              test_fixture_teardown)

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })

static const char RECEIVED[] = "action: apuesta_recibida | result: success";
static const char WINNER[] = "action: ganador | result: success";
static const char HELLO_OK[] = "action: hello | result: success";
static const char OPEN_MODE[] =
  "WARNING  action: auth | result: success | mode: open";
static const char NEEDS_TOKEN[] =
  "lottery-client: The server requires a token for agency 1 (auth.token / "
  "CLI_AUTH_TOKEN / auth.token_file)";

typedef struct
{
  char   *hex;                          /* line 1 of --gen-token */
  char   *line;                         /* line 2 */
  guint8  bytes[LOTTERY_AUTH_TOKEN_LEN];
} Token;

static void
token_free (Token *token)
{
  g_free (token->hex);
  g_free (token->line);
  g_free (token);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Token, token_free)

/* The one line a process wrote on stderr. */
static char *
only_stderr_line (TestProcess *process)
{
  g_autoptr(GPtrArray) lines = test_process_get_stderr_lines (process);

  if (lines->len != 1)
    test_process_dump (process);
  g_assert_cmpuint (lines->len, ==, 1);

  return g_strdup (g_ptr_array_index (lines, 0));
}

/* A secret must appear in no line a program wrote. */
static void
assert_never_shown (TestProcess *process,
                    const char  *secret)
{
  g_autoptr(GPtrArray) out = test_process_get_lines (process, NULL);
  g_autoptr(GPtrArray) err = test_process_get_stderr_lines (process);
  guint i;

  for (i = 0; i < out->len; i++)
    g_assert_null (strstr (g_ptr_array_index (out, i), secret));
  for (i = 0; i < err->len; i++)
    g_assert_null (strstr (g_ptr_array_index (err, i), secret));
}

/* Runs `lottery-server --gen-token AGENCY` and checks its two lines. */
static Token *
gen_token (TestFixture *fixture,
           guint        agency)
{
  g_autofree char *agency_text = g_strdup_printf ("%u", agency);
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GRegex) hex = g_regex_new ("^[0-9a-f]{64}$", 0, 0, NULL);
  g_autofree char *line_pattern = g_strdup_printf (
    "^\"%u\": \"sha256:[0-9a-f]{64}\"$", agency);
  g_autofree char *expected_line = NULL;
  TestProcess *process;
  Token *token;

  process = test_process_spawn (fixture, "gen-token",
                                ARGS (g_getenv ("LOTTERY_SERVER"),
                                      "--gen-token", agency_text),
                                NULL);
  test_assert_exit (process, 0);
  test_assert_no_stderr (process);
  lines = test_process_get_lines (process, NULL);
  g_assert_cmpuint (lines->len, ==, 2);

  token = g_new0 (Token, 1);
  token->hex = g_strdup (g_ptr_array_index (lines, 0));
  token->line = g_strdup (g_ptr_array_index (lines, 1));
  g_assert_true (g_regex_match (hex, token->hex, 0, NULL));
  g_assert_true (g_regex_match_simple (line_pattern, token->line, 0, 0));
  g_assert_true (lottery_auth_parse_hex (token->hex, strlen (token->hex),
                                         token->bytes, sizeof token->bytes));
  /* Line 2 is the stored key of line 1's token, nothing else. */
  expected_line = lottery_auth_tokens_file_line (agency, token->bytes);
  g_assert_cmpstr (token->line, ==, expected_line);

  return token;
}

/* {"agencies": {line, line, …}} from --gen-token's second lines. */
static char *
write_tokens_file (TestFixture *fixture,
                   Token      **tokens,
                   guint        n)
{
  GString *json = g_string_new ("{ \"agencies\": {\n");
  g_autofree char *contents = NULL;
  guint i;

  for (i = 0; i < n; i++)
    g_string_append_printf (json, "    %s%s\n", tokens[i]->line,
                            i + 1 < n ? "," : "");
  g_string_append (json, "} }\n");
  contents = g_string_free (json, FALSE);

  return test_write_file (fixture, "tokens.json", contents);
}

static char *
write_token_file (TestFixture *fixture,
                  const char  *name,
                  Token       *token)
{
  g_autofree char *contents = g_strdup_printf ("%s\n", token->hex);

  return test_write_file (fixture, name, contents);
}

static char *
token_env (Token *token)
{
  return g_strdup_printf ("CLI_AUTH_TOKEN=%s", token->hex);
}

/* Sends HELLO, reads the CHALLENGE (its nonce into @nonce, if not
 * NULL) and answers it with @token; the bytes sent are appended to
 * @sent, if not NULL. The server's next answer is left to the caller. */
static void
raw_authenticate (GSocketConnection *connection,
                  guint32            agency,
                  const guint8      *token,
                  guint8            *nonce,
                  GByteArray        *sent)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 proof[LOTTERY_AUTH_PROOF_LEN];
  LotteryMessage message;
  gsize len;

  len = lottery_message_encode_hello (frame, agency);
  test_raw_send (connection, frame, len);
  if (sent != NULL)
    g_byte_array_append (sent, frame, (guint) len);

  test_raw_receive (connection, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_CHALLENGE);
  if (nonce != NULL)
    memcpy (nonce, message.challenge.nonce, LOTTERY_AUTH_NONCE_LEN);

  lottery_auth_compute_proof (token, agency, message.challenge.nonce, proof);
  len = lottery_message_encode_auth (frame, proof);
  test_raw_send (connection, frame, len);
  if (sent != NULL)
    g_byte_array_append (sent, frame, (guint) len);
}

static void
expect_welcome (GSocketConnection *connection,
                guint32            last_sequence)
{
  guint8 buffer[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  test_raw_receive (connection, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
  g_assert_cmpuint (message.welcome.last_sequence, ==, last_sequence);
}

static char *
bets_path (TestFixture *fixture)
{
  return test_fixture_path (fixture, "bets.csv");
}

/* ---- tests ---- */

static void
test_two_agencies (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autoptr(Token) token1 = gen_token (fixture, 1);
  g_autoptr(Token) token2 = gen_token (fixture, 2);
  Token *tokens[] = { token1, token2 };
  g_autofree char *tokens_file = write_tokens_file (fixture, tokens, 2);
  g_autofree char *token2_file = write_token_file (fixture, "agency-2.token",
                                                   token2);
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 3000, 11,
                                          2, FALSE);
  g_autofree char *file2 = test_gen_bets (fixture, "agency-2.csv", 2000, 12,
                                          1, FALSE);
  g_autofree char *env1 = token_env (token1);
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) winners1 = test_winning_documents (file1);
  g_autoptr(GPtrArray) winners2 = test_winning_documents (file2);
  g_autoptr(GPtrArray) got2 = NULL;
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(GPtrArray) expected = test_expected_rows (file1, 1);
  g_autoptr(GPtrArray) expected2 = test_expected_rows (file2, 2);
  TestProcess *server, *client1, *client2;
  guint i, j;

  g_test_summary ("With tokens for two agencies, each uploads with its own "
                  "(one from CLI_AUTH_TOKEN, one from --auth-token-file) and "
                  "gets only its own winners; no token is ever shown.");

  server = test_server_start (fixture, 2,
                              ARGS ("--auth-tokens", tokens_file));
  test_assert_lines (server, "INFO     action: auth | result: success | "
                     "mode: token | agencies: 2", 1);
  g_assert_cmpuint (test_process_count_lines (server, "mode: open"), ==, 0);

  client1 = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bets-file", file1),
                               ARGS (env1));
  client2 = test_client_start (fixture, test_server_get_port (server), 2,
                               ARGS ("--bets-file", file2,
                                     "--auth-token-file", token2_file),
                               NULL);
  test_assert_exit (client1, 0);
  test_assert_exit (client2, 0);
  test_assert_no_stderr (client1);
  test_assert_no_stderr (client2);

  /* Each gets exactly its own winners: never the other agency's. */
  for (i = 0; i < winners1->len; i++)
    for (j = 0; j < winners2->len; j++)
      g_assert_cmpstr (g_ptr_array_index (winners1, i), !=,
                       g_ptr_array_index (winners2, j));
  test_assert_winners (client1, file1, 2);
  test_assert_winners (client2, file2, 1);
  got2 = test_process_get_values (client2, WINNER, "dni");
  for (i = 0; i < winners1->len; i++)
    g_assert_false (g_ptr_array_find_with_equal_func (
      got2, g_ptr_array_index (winners1, i), g_str_equal, NULL));

  test_assert_lines (server, HELLO_OK, 2);
  g_assert_cmpuint (test_process_count_lines (server, "result: fail"), ==, 0);
  g_ptr_array_extend_and_steal (expected, g_steal_pointer (&expected2));
  stored = test_read_rows (path);
  test_assert_same_rows (stored, expected);

  /* The token never shows: not in the config line ("set"), not in any
   * log line or message. */
  g_assert_cmpuint (test_process_count_lines (client1, "auth_token: set"), ==,
                    1);
  for (i = 0; i < G_N_ELEMENTS (tokens); i++)
    {
      assert_never_shown (server, tokens[i]->hex);
      assert_never_shown (client1, tokens[i]->hex);
      assert_never_shown (client2, tokens[i]->hex);
    }
  test_assert_log_format (server, NULL);
  test_assert_log_format (client1, NULL);
  test_assert_log_format (client2, NULL);
}

static void
test_wrong_token (TestFixture   *fixture,
                  gconstpointer  data)
{
  g_autoptr(Token) token1 = gen_token (fixture, 1);
  g_autoptr(Token) token2 = gen_token (fixture, 2);
  Token *tokens[] = { token1, token2 };
  g_autofree char *tokens_file = write_tokens_file (fixture, tokens, 2);
  g_autofree char *file1 = test_gen_bets (fixture, "agency-1.csv", 100, 21, 1,
                                          FALSE);
  g_autofree char *env2 = token_env (token2);
  g_autofree char *err = NULL;
  g_autofree char *path = bets_path (fixture);
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(GSocketConnection) raw = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 proof[LOTTERY_AUTH_PROOF_LEN];
  LotteryMessage message;
  TestProcess *server, *client;
  gint64 start;

  g_test_summary ("A wrong token is refused with error code auth, once (no "
                  "retries); the server's ERROR line names agency and ip, "
                  "and nothing is stored.");

  server = test_server_start (fixture, 2,
                              ARGS ("--auth-tokens", tokens_file));

  /* Agency 2's token does not open agency 1. */
  start = g_get_monotonic_time ();
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bets-file", file1), ARGS (env2));
  test_assert_exit (client, 1);
  g_assert_cmpint (test_process_get_exit_time (client) - start, <,
                   2 * G_USEC_PER_SEC);
  err = only_stderr_line (client);
  {
    g_autofree char *expected = g_strdup_printf (
      "lottery-client: The server at 127.0.0.1:%u refused agency 1: Wrong "
      "token for agency 1", test_server_get_port (server));

    g_assert_cmpstr (err, ==, expected);
  }
  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: connect | result: fail"),
                    ==, 0);
  g_assert_cmpuint (test_process_count_lines (client,
                      "action: done | result: fail | agency: 1"), ==, 1);
  test_assert_lines (server, "ERROR    action: hello | result: fail | "
                     "agency: 1 | ip: 127.0.0.1 | error: Wrong token for "
                     "agency 1", 1);

  /* By hand: any 32 bytes are no better. */
  raw = test_raw_connect (test_server_get_port (server));
  test_raw_send (raw, frame, lottery_message_encode_hello (frame, 1));
  test_raw_receive (raw, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_CHALLENGE);
  memset (proof, 0x42, sizeof proof);
  test_raw_send (raw, frame, lottery_message_encode_auth (frame, proof));
  test_raw_expect_error (raw, LOTTERY_ERROR_AUTH);
  test_raw_expect_closed (raw);
  test_assert_lines (server, "action: hello | result: fail | agency: 1 | "
                     "ip: 127.0.0.1", 2);

  /* An AUTH without a CHALLENGE is out of order, not a way in. */
  g_clear_object (&raw);
  raw = test_raw_connect (test_server_get_port (server));
  test_raw_send (raw, frame, lottery_message_encode_auth (frame, proof));
  test_raw_expect_error (raw, LOTTERY_ERROR_OUT_OF_ORDER);
  test_raw_expect_closed (raw);

  g_assert_cmpuint (test_process_count_lines (server, HELLO_OK), ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==, 0);
  stored = test_read_rows (path);
  g_assert_cmpuint (stored->len, ==, 0);
  assert_never_shown (server, token1->hex);
  assert_never_shown (client, token1->hex);
  assert_never_shown (client, token2->hex);
  test_assert_log_format (server, NULL);
}

static void
test_no_token (TestFixture   *fixture,
               gconstpointer  data)
{
  g_autoptr(Token) token1 = gen_token (fixture, 1);
  Token *tokens[] = { token1 };
  g_autofree char *tokens_file = write_tokens_file (fixture, tokens, 1);
  g_autofree char *err = NULL;
  TestProcess *server, *client;
  gint64 start;

  g_test_summary ("A client without a token, against a server that requires "
                  "one, fails at once and says where a token goes; --ping "
                  "and --status need none.");

  server = test_server_start (fixture, 1,
                              ARGS ("--auth-tokens", tokens_file));

  start = g_get_monotonic_time ();
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bet", "Ana,Pérez,1,2000-01-01,7574"),
                            NULL);
  test_assert_exit (client, 1);
  g_assert_cmpint (test_process_get_exit_time (client) - start, <,
                   2 * G_USEC_PER_SEC);
  err = only_stderr_line (client);
  g_assert_cmpstr (err, ==, NEEDS_TOKEN);
  g_assert_cmpuint (test_process_count_lines (client,
                                              "action: connect | result: fail"),
                    ==, 0);
  g_assert_cmpuint (test_process_count_lines (client, "auth_token: none"), ==,
                    1);

  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--ping"), NULL);
  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--status"), NULL);
  test_assert_exit (client, 0);
  test_assert_no_stderr (client);

  g_assert_cmpuint (test_process_count_lines (server, HELLO_OK), ==, 0);
  g_assert_cmpuint (test_process_count_lines (server, RECEIVED), ==, 0);
}

static void
test_replay (TestFixture   *fixture,
             gconstpointer  data)
{
  g_autoptr(Token) token1 = gen_token (fixture, 1);
  Token *tokens[] = { token1 };
  g_autofree char *tokens_file = write_tokens_file (fixture, tokens, 1);
  g_autoptr(GByteArray) sent = g_byte_array_new ();
  g_autoptr(GSocketConnection) first = NULL;
  guint8 first_nonce[LOTTERY_AUTH_NONCE_LEN];
  guint8 buffer[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  TestProcess *server;
  guint16 port;
  guint round;

  g_test_summary ("HELLO and AUTH captured from a successful session and "
                  "sent again on a new connection are refused (the nonce "
                  "differs), while that session is open and after; the "
                  "agency stays free for its real owner.");

  server = test_server_start (fixture, 1,
                              ARGS ("--auth-tokens", tokens_file));
  port = test_server_get_port (server);

  first = test_raw_connect (port);
  raw_authenticate (first, 1, token1->bytes, first_nonce, sent);
  expect_welcome (first, 0);
  test_assert_lines (server, HELLO_OK, 1);

  for (round = 0; round < 2; round++)
    {
      g_autoptr(GSocketConnection) replay = test_raw_connect (port);
      g_autofree char *fail_line = NULL;

      g_test_message (round == 0 ? "replay while the session is open"
                                 : "replay after it closed");
      if (round == 1)
        {
          g_io_stream_close (G_IO_STREAM (first), NULL, NULL);
          test_assert_line (server, "action: close_connection | "
                            "result: success | agency: 1", 1);
        }

      test_raw_send (replay, sent->data, sent->len);
      test_raw_receive (replay, buffer, &message);
      g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_CHALLENGE);
      g_assert_true (memcmp (message.challenge.nonce, first_nonce,
                             LOTTERY_AUTH_NONCE_LEN) != 0);
      /* Refused as unauthenticated, not as busy: the proof is checked
       * before the agency is looked at. */
      test_raw_expect_error (replay, LOTTERY_ERROR_AUTH);
      test_raw_expect_closed (replay);
      test_assert_lines (server, "ERROR    action: hello | result: fail | "
                         "agency: 1 | ip: 127.0.0.1 | error: Wrong token for "
                         "agency 1", round + 1);
    }

  /* Its owner still gets in. */
  {
    g_autoptr(GSocketConnection) again = test_raw_connect (port);

    raw_authenticate (again, 1, token1->bytes, NULL, NULL);
    expect_welcome (again, 0);
  }
  test_assert_lines (server, HELLO_OK, 2);
  test_assert_no_stderr (server);
}

static void
test_takeover (TestFixture   *fixture,
               gconstpointer  data)
{
  g_autoptr(Token) token1 = gen_token (fixture, 1);
  Token *tokens[] = { token1 };
  g_autofree char *tokens_file = write_tokens_file (fixture, tokens, 1);
  g_autofree char *bets = test_gen_bets (fixture, "agency-1.csv", 500, 21, 2,
                                         FALSE);
  g_autofree char *env1 = token_env (token1);
  g_autofree char *path = bets_path (fixture);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GPtrArray) expected = test_expected_rows (bets, 1);
  g_autoptr(GPtrArray) stored = NULL;
  g_autoptr(GSocketConnection) idle = NULL;
  g_autoptr(GSocketConnection) stale = NULL;
  g_autoptr(GSocketConnection) second = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  TestProcess *server, *client;
  guint16 port;

  g_test_summary ("A connection that never answers its CHALLENGE holds "
                  "nothing; an agency that proves who it is takes over its "
                  "own stale connection (closed, what it stored counted), "
                  "on the raw protocol and with the real client, and every "
                  "bet is stored exactly once.");

  server = test_server_start (fixture, 1,
                              ARGS ("--auth-tokens", tokens_file,
                                    "--log-level", "DEBUG"));
  port = test_server_get_port (server);

  /* Says HELLO, then nothing. */
  idle = test_raw_connect (port);
  test_raw_send (idle, frame, lottery_message_encode_hello (frame, 1));
  test_raw_receive (idle, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_CHALLENGE);

  /* The stale one: stores the file's first bet, then goes silent, as
   * after a network cut. */
  g_assert_true (g_file_get_contents (bets, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", 3);
  g_strchomp (lines[0]);
  g_strchomp (lines[1]);
  stale = test_raw_connect (port);
  raw_authenticate (stale, 1, token1->bytes, NULL, NULL);
  expect_welcome (stale, 0);
  test_raw_send (stale, frame, test_raw_encode_batch (frame, 1, lines[0]));
  test_raw_receive (stale, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ACK);

  /* The agency again, proving who it is, while batch 2 may still be on
   * its way to the disk: welcomed where it left off, that batch whole
   * or not at all, and counted before the WELCOME if stored. */
  test_raw_send (stale, frame, test_raw_encode_batch (frame, 2, lines[1]));
  second = test_raw_connect (port);
  raw_authenticate (second, 1, token1->bytes, NULL, NULL);
  test_raw_receive (second, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
  g_test_message ("welcomed after batch %u", message.welcome.last_sequence);
  g_assert_cmpuint (message.welcome.last_sequence, >=, 1);
  g_assert_cmpuint (message.welcome.last_sequence, <=, 2);
  g_assert_cmpuint (message.welcome.stored, ==,
                    message.welcome.last_sequence);
  test_raw_expect_closed (stale);
  test_assert_lines (server, "INFO     action: takeover | result: success | "
                     "agency: 1 | ip: 127.0.0.1", 1);
  g_assert_cmpuint (test_process_count_lines (server, "already has a "
                                                      "connection"), ==, 0);

  /* The real client takes over the second one, now stale too, and
   * resumes after the bet the first stored. */
  client = test_client_run (fixture, port, 1, ARGS ("--bets-file", bets),
                            ARGS (env1));
  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  test_raw_expect_closed (second);
  test_assert_lines (server, "action: takeover | result: success", 2);
  test_assert_winners (client, bets, 2);
  stored = test_read_rows (path);
  test_assert_same_rows (stored, expected);

  /* The idle one is still there, unanswered, and never was agency 1. */
  test_raw_send (idle, frame,
                 lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING));
  test_raw_receive (idle, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_PONG);
  test_assert_log_format (server, "action: takeover");
}

static void
test_open_mode_busy (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_autofree char *bets = test_gen_bets (fixture, "agency-1.csv", 50, 22, 1,
                                         FALSE);
  g_autoptr(GSocketConnection) holder = NULL;
  g_autoptr(GSocketConnection) second = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  TestProcess *server, *client;
  guint16 port;

  g_test_summary ("Without tokens nobody takes an agency over (anyone could "
                  "say HELLO for it): a second connection gets "
                  "agency_busy, and the agency retries longer than the "
                  "server takes to notice a vanished peer, so it gets "
                  "through once the old connection is gone.");

  server = test_server_start (fixture, 1, NULL);
  port = test_server_get_port (server);
  holder = test_raw_connect (port);
  test_raw_send (holder, frame, lottery_message_encode_hello (frame, 1));
  expect_welcome (holder, 0);

  second = test_raw_connect (port);
  test_raw_send (second, frame, lottery_message_encode_hello (frame, 1));
  test_raw_expect_error (second, LOTTERY_ERROR_AGENCY_BUSY);
  test_raw_expect_closed (second);

  client = test_client_start (fixture, port, 1, ARGS ("--bets-file", bets),
                              NULL);
  /* Longer than the 5 s an agency used to retry for. */
  g_usleep (6 * G_USEC_PER_SEC);
  g_assert_true (test_process_is_running (client));
  g_io_stream_close (G_IO_STREAM (holder), NULL, NULL);

  test_assert_exit (client, 0);
  test_assert_winners (client, bets, 1);
  g_assert_cmpuint (test_process_count_lines (server, "action: takeover"),
                    ==, 0);
}

static void
test_open_mode (TestFixture   *fixture,
                gconstpointer  data)
{
  g_autoptr(Token) token2 = gen_token (fixture, 2);
  g_autofree char *env2 = token_env (token2);
  TestProcess *server, *client1, *client2;

  g_test_summary ("Without auth.tokens a HELLO is welcomed as before; the "
                  "server warns once that anyone can act as any agency, "
                  "and a client holding a token says it was not asked.");

  server = test_server_start (fixture, 2, NULL);
  test_assert_lines (server, OPEN_MODE, 1);
  g_assert_cmpuint (test_process_count_lines (server,
                      "WARNING  action: auth | result: success | mode: open | "
                      "warning: no auth.tokens, so anyone who can reach the "
                      "port can act as any agency"), ==, 1);

  client1 = test_client_start (fixture, test_server_get_port (server), 1,
                               ARGS ("--bet", "Ana,Pérez,1,2000-01-01,7574"),
                               NULL);
  client2 = test_client_start (fixture, test_server_get_port (server), 2,
                               ARGS ("--bet", "Ana,Pérez,2,2000-01-01,1"),
                               ARGS (env2));
  test_assert_exit (client1, 0);
  test_assert_exit (client2, 0);
  test_assert_no_stderr (client1);
  test_assert_no_stderr (client2);
  g_assert_cmpuint (test_process_count_lines (client1, "action: auth"), ==, 0);
  g_assert_cmpuint (test_process_count_lines (client2,
                      "WARNING  action: auth | result: success | agency: 2 | "
                      "mode: open"), ==, 1);

  test_assert_lines (server, HELLO_OK, 2);
  g_assert_cmpuint (test_process_count_lines (server, OPEN_MODE), ==, 1);
  g_assert_cmpuint (test_process_count_lines (server, "action: auth"), ==, 1);
  test_assert_log_format (server, NULL);
  test_assert_log_format (client2, NULL);
}

static void
test_gen_token (TestFixture   *fixture,
                gconstpointer  data)
{
  static const char * const bad[] = { "0", "100001", "x", "-1", "", "1x" };
  g_autoptr(Token) token = gen_token (fixture, 1);
  g_autoptr(Token) again = gen_token (fixture, 1);
  g_autoptr(Token) big = gen_token (fixture, 100000);
  Token *tokens[] = { token };
  g_autofree char *tokens_file = NULL;
  g_autofree char *token_file = NULL;
  TestProcess *server, *client;
  guint i;

  g_test_summary ("--gen-token prints a fresh token and its tokens-file "
                  "line, which work end to end; a bad agency is a usage "
                  "error.");

  g_assert_cmpstr (token->hex, !=, again->hex);
  g_assert_cmpstr (token->line, !=, again->line);

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *err = NULL;
      g_autofree char *expected = g_strdup_printf (
        "lottery-server: --gen-token: the agency must be an integer from 1 "
        "to 100000, not “%s”", bad[i]);
      TestProcess *process = test_process_spawn (
        fixture, "gen-token", ARGS (g_getenv ("LOTTERY_SERVER"),
                                    "--gen-token", bad[i]), NULL);

      test_assert_exit (process, 2);
      g_assert_cmpuint (test_process_count_lines (process, NULL), ==, 0);
      err = only_stderr_line (process);
      g_assert_cmpstr (err, ==, expected);
    }

  /* Line 2 into the server's file, line 1 to the agency. */
  tokens_file = write_tokens_file (fixture, tokens, 1);
  token_file = write_token_file (fixture, "agency.token", token);
  server = test_server_start (fixture, 1,
                              ARGS ("--auth-tokens", tokens_file));
  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS ("--bet", "Ana,Pérez,77,2000-01-01,7574",
                                  "--auth-token-file", token_file),
                            NULL);
  test_assert_exit (client, 0);
  test_assert_no_stderr (client);
  g_assert_cmpuint (test_process_count_lines (client, "action: ganador | "
                                              "result: success | dni: 77"),
                    ==, 1);
  test_assert_lines (server, HELLO_OK, 1);
}

static void
test_config_errors (TestFixture   *fixture,
                    gconstpointer  data)
{
  g_autoptr(Token) token1 = gen_token (fixture, 1);
  g_autoptr(Token) token2 = gen_token (fixture, 2);
  g_autoptr(Token) token3 = gen_token (fixture, 3);
  g_autofree char *env1 = token_env (token1);
  g_autofree char *token_file = write_token_file (fixture, "agency.token",
                                                  token1);
  g_autofree char *typo = g_strndup (token1->hex, 63);
  g_autofree char *typo_env = g_strdup_printf ("CLI_AUTH_TOKEN=%s", typo);
  g_autofree char *typo_file = test_write_file (fixture, "typo.token", typo);
  g_autofree char *missing = test_fixture_path (fixture, "missing.token");
  struct
  {
    const char *name;
    Token      *tokens[3];
    guint       n;
    const char *message;
  } server_cases[] = {
    { "only-one.json", { token1 }, 1,
      "no key for agency 2; every agency from 1 to 2 needs one" },
    { "too-many.json", { token1, token2, token3 }, 3,
      "agency “3” is not one of 1 to 2" },
  };
  guint i;

  g_test_summary ("A bad tokens file stops the server with status 2 and a "
                  "line naming the file and the agency; a bad or doubled "
                  "client token setting stops the client with status 2, "
                  "never showing the token.");

  for (i = 0; i < G_N_ELEMENTS (server_cases); i++)
    {
      g_autofree char *path = write_tokens_file (fixture,
                                                 server_cases[i].tokens,
                                                 server_cases[i].n);
      g_autofree char *renamed = test_fixture_path (fixture,
                                                    server_cases[i].name);
      g_autofree char *expected = g_strdup_printf ("lottery-server: %s: %s",
                                                   renamed,
                                                   server_cases[i].message);
      g_autofree char *err = NULL;
      TestProcess *server;

      g_assert_cmpint (g_rename (path, renamed), ==, 0);
      server = test_process_spawn (fixture, "server",
                                   ARGS (g_getenv ("LOTTERY_SERVER"),
                                         "--port", "0", "--agencies", "2",
                                         "--auth-tokens", renamed),
                                   NULL);
      test_assert_exit (server, 2);
      err = only_stderr_line (server);
      g_test_message ("%s", err);
      g_assert_true (g_str_has_prefix (err, expected));
      g_assert_cmpuint (test_process_count_lines (server,
                          "action: accept_connections"), ==, 0);
    }

  /* A key that is not hex, and a file that is not there. */
  {
    g_autofree char *bad_hex = test_write_file (
      fixture, "bad-hex.json",
      "{\"agencies\": {\"1\": \"sha256:xyz\"}}");
    g_autofree char *not_there = test_fixture_path (fixture, "nope.json");
    const char *paths[] = { bad_hex, not_there };
    const char *messages[] = { "agency 1: the key must be",
                               "No such file or directory" };

    for (i = 0; i < G_N_ELEMENTS (paths); i++)
      {
        g_autofree char *err = NULL;
        g_autofree char *prefix = g_strdup_printf ("lottery-server: %s: ",
                                                   paths[i]);
        TestProcess *server = test_process_spawn (
          fixture, "server", ARGS (g_getenv ("LOTTERY_SERVER"),
                                   "--port", "0", "--agencies", "1",
                                   "--auth-tokens", paths[i]), NULL);

        test_assert_exit (server, 2);
        err = only_stderr_line (server);
        g_test_message ("%s", err);
        g_assert_true (g_str_has_prefix (err, prefix));
        g_assert_nonnull (strstr (err, messages[i]));
      }
  }

  /* The client: each case exits 2 with one line and never connects. */
  {
    struct
    {
      const char * const *args;
      const char * const *env;
      const char         *message;
    } client_cases[] = {
      { ARGS ("--auth-token-file", token_file), ARGS (env1),
        "lottery-client: auth.token and auth.token_file cannot go together: "
        "set only one" },
      { ARGS ("--auth-token-file", missing), NULL, NULL },
      { ARGS ("--auth-token-file", typo_file), NULL, NULL },
      { NULL, ARGS (typo_env),
        "lottery-client: auth.token: a token is 64 hexadecimal digits (as "
        "lottery-server --gen-token prints it); this one has 63 characters" },
    };

    for (i = 0; i < G_N_ELEMENTS (client_cases); i++)
      {
        g_autofree char *err = NULL;
        TestProcess *client = test_client_run (
          fixture, 1, 1, client_cases[i].args, client_cases[i].env);

        test_assert_exit (client, 2);
        err = only_stderr_line (client);
        g_test_message ("%s", err);
        if (client_cases[i].message != NULL)
          g_assert_cmpstr (err, ==, client_cases[i].message);
        else
          {
            /* Names the file. */
            g_autofree char *prefix = g_strdup_printf (
              "lottery-client: %s: ", client_cases[i].args[1]);

            g_assert_true (g_str_has_prefix (err, prefix));
          }
        g_assert_null (strstr (err, typo));
        g_assert_cmpuint (test_process_count_lines (client,
                                                    "action: connect"), ==, 0);
      }
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  ADD_TEST ("/auth/two-agencies", test_two_agencies);
  ADD_TEST ("/auth/wrong-token", test_wrong_token);
  ADD_TEST ("/auth/no-token", test_no_token);
  ADD_TEST ("/auth/replay", test_replay);
  ADD_TEST ("/auth/takeover", test_takeover);
  ADD_TEST ("/auth/open-mode-busy", test_open_mode_busy);
  ADD_TEST ("/auth/open-mode", test_open_mode);
  ADD_TEST ("/auth/gen-token", test_gen_token);
  ADD_TEST ("/auth/config-errors", test_config_errors);

  return g_test_run ();
}
