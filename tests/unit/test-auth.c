/* test-auth.c: tokens, keys, proofs and the server's tokens file.
 *
 * The known answers were computed apart from this code, with Python's
 * hmac and hashlib:
 *
 *   ck = hmac.new (token, b"lottery client key", sha256).digest ()
 *   sk = sha256 (ck).digest ()
 *   sig = hmac.new (sk, b"lottery-auth-v1" + struct.pack (">I", agency)
 *                   + nonce, sha256).digest ()
 *   proof = bytes (a ^ b for a, b in zip (ck, sig))
 */
#include "config.h"

#include "unit-utils.h"
#include "lottery-auth.h"
#include "lottery-error.h"

#include <string.h>

typedef struct
{
  const char *token;
  guint32     agency;
  const char *nonce;
  const char *client_key; /* NULL: not checked */
  const char *stored_key;
  const char *proof;
} KnownAnswer;

static const KnownAnswer known_answers[] = {
  { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 3,
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    "b9f099a47d40b9e32f04c34ce0ac500de3f3f813853557ecda28b6b7eb3f7ba1",
    "4df13c9ff73c7d9400f104678d596574953858c73644c4f730b67f069b8b430c",
    "b42d5d90597a05cd8327424489666cb6492180b8d31436eea15f46cd3ff5c8a1" },
  { "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    100000,
    "0000000000000000000000000000000000000000000000000000000000000000",
    NULL,
    "ef2c577a0d2bd536fee574af5f28cd350346897c305146fe2b7225981c88dfe4",
    "0eb52af6c0206de7ec9058a7b283f4088ee36b8c0d26aca539e8e016587917d6" },
};

static void
from_hex (const char *hex,
          guint8     *out,
          gsize       len)
{
  g_assert_true (lottery_auth_parse_hex (hex, strlen (hex), out, len));
}

static void
assert_hex (const guint8 *data,
            gsize         len,
            const char   *expected)
{
  g_autofree char *hex = lottery_auth_hex (data, len);

  g_assert_cmpstr (hex, ==, expected);
}

static void
test_known_answers (void)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (known_answers); i++)
    {
      const KnownAnswer *ka = &known_answers[i];
      guint8 token[LOTTERY_AUTH_TOKEN_LEN];
      guint8 nonce[LOTTERY_AUTH_NONCE_LEN];
      guint8 key[LOTTERY_AUTH_KEY_LEN];
      guint8 proof[LOTTERY_AUTH_PROOF_LEN];
      g_autofree char *line = NULL;
      g_autofree char *expected_line = NULL;

      g_test_message ("agency %u", ka->agency);
      from_hex (ka->token, token, sizeof token);
      from_hex (ka->nonce, nonce, sizeof nonce);

      if (ka->client_key != NULL)
        {
          lottery_auth_client_key (token, key);
          assert_hex (key, sizeof key, ka->client_key);
        }
      lottery_auth_stored_key (token, key);
      assert_hex (key, sizeof key, ka->stored_key);
      lottery_auth_compute_proof (token, ka->agency, nonce, proof);
      assert_hex (proof, sizeof proof, ka->proof);
      g_assert_true (lottery_auth_check_proof (key, ka->agency, nonce, proof));

      line = lottery_auth_tokens_file_line (ka->agency, token);
      expected_line = g_strdup_printf ("\"%u\": \"sha256:%s\"", ka->agency,
                                       ka->stored_key);
      g_assert_cmpstr (line, ==, expected_line);
    }
}

/* Every change the server must notice: another token, another nonce
 * (a replay), another agency, any bit of the proof. */
static void
test_check_proof_refuses (void)
{
  const KnownAnswer *ka = &known_answers[0];
  guint8 token[LOTTERY_AUTH_TOKEN_LEN];
  guint8 other_token[LOTTERY_AUTH_TOKEN_LEN];
  guint8 nonce[LOTTERY_AUTH_NONCE_LEN];
  guint8 stored_key[LOTTERY_AUTH_KEY_LEN];
  guint8 proof[LOTTERY_AUTH_PROOF_LEN];
  guint i, bit;

  from_hex (ka->token, token, sizeof token);
  from_hex (ka->nonce, nonce, sizeof nonce);
  lottery_auth_stored_key (token, stored_key);

  g_test_message ("a wrong token");
  memcpy (other_token, token, sizeof token);
  other_token[31] ^= 1;
  lottery_auth_compute_proof (other_token, ka->agency, nonce, proof);
  g_assert_false (lottery_auth_check_proof (stored_key, ka->agency, nonce,
                                            proof));

  lottery_auth_compute_proof (token, ka->agency, nonce, proof);
  g_assert_true (lottery_auth_check_proof (stored_key, ka->agency, nonce,
                                           proof));

  g_test_message ("another agency");
  g_assert_false (lottery_auth_check_proof (stored_key, ka->agency + 1, nonce,
                                            proof));

  g_test_message ("a tampered nonce");
  for (i = 0; i < LOTTERY_AUTH_NONCE_LEN; i++)
    {
      nonce[i] ^= 0x80;
      g_assert_false (lottery_auth_check_proof (stored_key, ka->agency, nonce,
                                                proof));
      nonce[i] ^= 0x80;
    }

  g_test_message ("a tampered proof");
  for (i = 0; i < LOTTERY_AUTH_PROOF_LEN; i++)
    for (bit = 0; bit < 8; bit++)
      {
        proof[i] ^= (guint8) (1 << bit);
        g_assert_false (lottery_auth_check_proof (stored_key, ka->agency,
                                                  nonce, proof));
        proof[i] ^= (guint8) (1 << bit);
      }

  /* Enough random guesses that a check looking at part of the key
   * would let one through. */
  g_test_message ("random proofs");
  {
    g_autoptr(GRand) rand = g_rand_new_with_seed (7574);

    for (i = 0; i < 5000; i++)
      {
        guint8 guess[LOTTERY_AUTH_PROOF_LEN];

        for (bit = 0; bit < sizeof guess; bit++)
          guess[bit] = (guint8) g_rand_int (rand);
        g_assert_false (lottery_auth_check_proof (stored_key, ka->agency,
                                                  nonce, guess));
      }
  }

  g_test_message ("the stored key itself is not a token");
  lottery_auth_compute_proof (stored_key, ka->agency, nonce, proof);
  g_assert_false (lottery_auth_check_proof (stored_key, ka->agency, nonce,
                                            proof));
}

/* Equal only when every byte is: a difference anywhere counts. */
static void
test_equal (void)
{
  guint8 a[LOTTERY_AUTH_KEY_LEN];
  guint8 b[LOTTERY_AUTH_KEY_LEN];
  guint i, bit;

  for (i = 0; i < sizeof a; i++)
    a[i] = b[i] = (guint8) (i * 37);

  g_assert_true (lottery_auth_equal (a, b, sizeof a));
  g_assert_true (lottery_auth_equal (a, b, 0));
  for (i = 0; i < sizeof a; i++)
    for (bit = 0; bit < 8; bit++)
      {
        b[i] ^= (guint8) (1 << bit);
        g_assert_false (lottery_auth_equal (a, b, sizeof a));
        b[i] ^= (guint8) (1 << bit);
      }
  g_assert_true (lottery_auth_equal (a, b, sizeof a));
}

static void
test_random (void)
{
  guint8 a[1000];
  guint8 b[1000];
  guint8 zero[1000] = { 0 };
  g_autoptr(GError) error = NULL;

  memset (a, 0, sizeof a);
  g_assert_true (lottery_auth_random (a, sizeof a, &error));
  g_assert_no_error (error);
  g_assert_true (lottery_auth_random (b, sizeof b, &error));
  g_assert_no_error (error);
  /* Past getrandom's 256-byte single-call guarantee, still all filled. */
  g_assert_true (memcmp (a + 900, zero, 100) != 0);
  g_assert_true (memcmp (a, b, sizeof a) != 0);
  g_assert_true (lottery_auth_random (a, 0, &error));
}

static void
test_token_generate (void)
{
  guint8 token[LOTTERY_AUTH_TOKEN_LEN];
  guint8 again[LOTTERY_AUTH_TOKEN_LEN];
  guint8 parsed[LOTTERY_AUTH_TOKEN_LEN];
  g_autoptr(GError) error = NULL;
  g_autofree char *hex = NULL;
  g_autofree char *hex_again = NULL;
  g_autoptr(GRegex) lower_hex = g_regex_new ("^[0-9a-f]{64}$", 0, 0, NULL);

  g_assert_true (lottery_auth_token_generate (token, &error));
  g_assert_no_error (error);
  g_assert_true (lottery_auth_token_generate (again, &error));
  hex = lottery_auth_hex (token, sizeof token);
  hex_again = lottery_auth_hex (again, sizeof again);
  g_assert_true (g_regex_match (lower_hex, hex, 0, NULL));
  g_assert_cmpstr (hex, !=, hex_again);

  g_assert_true (lottery_auth_token_parse (hex, "test", parsed, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (parsed, sizeof parsed, token, sizeof token);
}

static void
test_token_parse (void)
{
  static const char hex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  static const char * const bad[] = {
    "", "   ", "0001", hex + 1,
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
    "0001020304050607 08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  };
  guint8 expected[LOTTERY_AUTH_TOKEN_LEN];
  guint8 token[LOTTERY_AUTH_TOKEN_LEN];
  g_autofree char *spaced = g_strdup_printf ("  %s\r\n", hex);
  g_autofree char *upper = g_ascii_strup (hex, -1);
  guint i;

  for (i = 0; i < sizeof expected; i++)
    expected[i] = (guint8) i;

  g_assert_true (lottery_auth_token_parse (spaced, "test", token, NULL));
  g_assert_cmpmem (token, sizeof token, expected, sizeof expected);
  g_assert_true (lottery_auth_token_parse (upper, "test", token, NULL));
  g_assert_cmpmem (token, sizeof token, expected, sizeof expected);

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (lottery_auth_token_parse (bad[i], "CLI_AUTH_TOKEN",
                                                token, &error));
      g_assert_error (error, LOTTERY_CONFIG_ERROR,
                      LOTTERY_CONFIG_ERROR_INVALID);
      g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "CLI_AUTH_TOKEN: "));
      g_assert_nonnull (strstr (error->message, "64 hexadecimal digits"));
      /* A secret with a typo is still a secret. */
      if (strlen (bad[i]) > 4)
        g_assert_null (strstr (error->message, bad[i]));
    }
}

static void
test_token_file (void)
{
  static const char hex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  g_autofree char *dir = unit_make_tmp_dir ();
  g_autofree char *good = unit_write_file (dir, "good", hex, -1);
  g_autofree char *with_newline = NULL;
  g_autofree char *short_file = unit_write_file (dir, "short", "abcd\n", -1);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autofree char *big = NULL;
  g_autofree char *content = g_strdup_printf ("%s\n", hex);
  g_autofree char *long_content = g_strnfill (5000, 'a');
  guint8 token[LOTTERY_AUTH_TOKEN_LEN];
  g_autoptr(GError) error = NULL;

  with_newline = unit_write_file (dir, "newline", content, -1);
  big = unit_write_file (dir, "big", long_content, -1);

  g_assert_true (lottery_auth_token_read_file (good, token, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (token[31], ==, 0x1f);
  g_assert_true (lottery_auth_token_read_file (with_newline, token, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (token[1], ==, 0x01);

  g_assert_false (lottery_auth_token_read_file (short_file, token, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, short_file));
  g_assert_nonnull (strstr (error->message, "has 4 characters"));
  g_clear_error (&error);

  g_assert_false (lottery_auth_token_read_file (missing, token, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, missing));
  g_assert_nonnull (strstr (error->message, "No such file"));
  g_clear_error (&error);

  g_assert_false (lottery_auth_token_read_file (big, token, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, big));
  g_clear_error (&error);

  /* A device that never ends is refused, not read forever. */
  g_assert_false (lottery_auth_token_read_file ("/dev/zero", token, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_clear_error (&error);

  unit_remove_tree (dir);
}

/* A tokens file for @n agencies, agency i with token byte i repeated;
 * @extra goes inside the agencies object after them. */
static char *
tokens_json (guint       n,
             const char *extra)
{
  GString *json = g_string_new ("{ \"agencies\": {");
  guint i;

  for (i = 1; i <= n; i++)
    {
      guint8 token[LOTTERY_AUTH_TOKEN_LEN];
      g_autofree char *line = NULL;

      memset (token, (int) i, sizeof token);
      line = lottery_auth_tokens_file_line (i, token);
      g_string_append_printf (json, "%s\n  %s", i > 1 ? "," : "", line);
    }
  if (extra != NULL)
    g_string_append_printf (json, "%s\n  %s", n > 0 ? "," : "", extra);
  g_string_append (json, " } }\n");

  return g_string_free (json, FALSE);
}

static void
test_tokens_file (void)
{
  g_autofree char *dir = unit_make_tmp_dir ();
  g_autofree char *json = tokens_json (3, NULL);
  g_autofree char *path = unit_write_file (dir, "tokens.json", json, -1);
  g_autoptr(LotteryAuth) auth = NULL;
  g_autoptr(GError) error = NULL;
  guint8 token[LOTTERY_AUTH_TOKEN_LEN];
  guint8 nonce[LOTTERY_AUTH_NONCE_LEN];
  guint8 proof[LOTTERY_AUTH_PROOF_LEN];
  guint agency;

  auth = lottery_auth_new_from_file (path, 3, &error);
  g_assert_no_error (error);
  g_assert_nonnull (auth);
  g_assert_cmpuint (lottery_auth_get_agencies (auth), ==, 3);
  memset (nonce, 0x5a, sizeof nonce);

  for (agency = 1; agency <= 3; agency++)
    {
      memset (token, (int) agency, sizeof token);
      lottery_auth_compute_proof (token, agency, nonce, proof);
      g_assert_true (lottery_auth_verify (auth, agency, nonce, proof, &error));
      g_assert_no_error (error);

      /* Agency 1's token does not open agency 2. */
      memset (token, (int) (agency % 3 + 1), sizeof token);
      lottery_auth_compute_proof (token, agency, nonce, proof);
      g_assert_false (lottery_auth_verify (auth, agency, nonce, proof,
                                           &error));
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_AUTH);
      g_clear_error (&error);
    }

  g_assert_false (lottery_auth_check_agency (auth, 0, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);
  g_clear_error (&error);
  g_assert_false (lottery_auth_verify (auth, 4, nonce, proof, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);
  g_assert_cmpstr (error->message, ==, "Agency 4 is not one of 1 to 3");
  g_clear_error (&error);

  /* Uppercase hex is the same key. */
  {
    g_autofree char *upper = g_strdup (json);
    g_autoptr(LotteryAuth) again = NULL;
    char *p;

    for (p = strstr (upper, "sha256:"); p != NULL; p = strstr (p, "sha256:"))
      {
        p += strlen ("sha256:");
        for (; g_ascii_isxdigit (*p); p++)
          *p = g_ascii_toupper (*p);
      }
    g_assert_null (strstr (upper, "sha256:a"));
    g_free (path);
    path = unit_write_file (dir, "upper.json", upper, -1);
    again = lottery_auth_new_from_file (path, 3, &error);
    g_assert_no_error (error);
    memset (token, 2, sizeof token);
    lottery_auth_compute_proof (token, 2, nonce, proof);
    g_assert_true (lottery_auth_verify (again, 2, nonce, proof, &error));
    g_assert_no_error (error);
  }

  unit_remove_tree (dir);
}

typedef struct
{
  const char *contents; /* NULL: tokens_json (n, extra) */
  guint       n;
  const char *extra;
  guint       agencies;
  const char *message; /* after "PATH: " */
} BadFile;

static void
test_tokens_file_errors (void)
{
  static const char key[] =
    "\"sha256:4df13c9ff73c7d9400f104678d596574953858c73644c4f730b67f069b8b430c\"";
  g_autofree char *zero_key = g_strdup_printf ("\"0\": %s", key);
  g_autofree char *three_key = g_strdup_printf ("\"3\": %s", key);
  g_autofree char *padded_key = g_strdup_printf ("\"02\": %s", key);
  g_autofree char *again_key = NULL;
  const BadFile bad[] = {
    { "[1, 2]", 0, NULL, 2, "the top level must be a JSON object" },
    { "{\"agencies\": {}, \"tokens\": {}}", 0, NULL, 2, "unknown key tokens" },
    { "{}", 0, NULL, 2, "no “agencies” object" },
    { "{\"agencies\": [1]}", 0, NULL, 2, "agencies must be an object" },
    { NULL, 2, zero_key, 2, "agency “0” is not one of 1 to 2" },
    { NULL, 2, three_key, 2, "agency “3” is not one of 1 to 2" },
    { NULL, 1, padded_key, 2, "agency “02” is not one of 1 to 2" },
    { NULL, 1, "\"x\": \"sha256:00\"", 2, "agency “x” is not one of 1 to 2" },
    { NULL, 1, "\"2\": 7", 2, "agency 2: the key must be “sha256:” and 64 "
      "hexadecimal digits, as the second line of lottery-server --gen-token" },
    { NULL, 1, "\"2\": \"4df13c9ff73c7d9400f104678d596574953858c73644c4f730b67f069b8b430c\"",
      2, "agency 2: the key must be" },
    { NULL, 1, "\"2\": \"sha256:4df13c9ff73c7d9400f104678d596574953858c73644c4f730b67f069b8b430\"",
      2, "agency 2: the key must be" },
    { NULL, 1, "\"2\": \"sha256:4df13c9ff73c7d9400f104678d596574953858c73644c4f730b67f069b8b430z\"",
      2, "agency 2: the key must be" },
    { NULL, 1, "\"2\": \"sha1:4df13c9ff73c7d9400f104678d596574953858c73644c4f730b67f069b8b430c\"",
      2, "agency 2: the key must be" },
    { NULL, 2, NULL, 3, "no key for agency 3; every agency from 1 to 3 needs "
      "one (lottery-server --gen-token 3 makes it)" },
    { NULL, 0, NULL, 1, "no key for agency 1" },
    { NULL, 2, NULL, 0, NULL }, /* duplicate, filled in below */
    { "{\"agencies\": {\"1\": \"sha256:00\", \"1\": \"sha256:00\"}}", 0, NULL,
      1, "“1” is listed twice" },
  };
  g_autofree char *dir = unit_make_tmp_dir ();
  guint i;

  /* Agency 2 with agency 1's key. */
  {
    guint8 token[LOTTERY_AUTH_TOKEN_LEN];
    g_autofree char *line = NULL;

    memset (token, 1, sizeof token);
    line = lottery_auth_tokens_file_line (2, token);
    again_key = g_strdup (line);
  }

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *contents = NULL;
      g_autofree char *path = NULL;
      g_autofree char *expected = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(LotteryAuth) auth = NULL;
      const char *message = bad[i].message;
      guint agencies = bad[i].agencies;

      if (bad[i].contents != NULL)
        contents = g_strdup (bad[i].contents);
      else if (message == NULL)
        {
          /* tokens_json (1) plus agency 2 holding agency 1's key */
          contents = tokens_json (1, again_key);
          agencies = 2;
          message = "agencies 1 and 2 have the same key; each agency needs a "
                    "token of its own";
        }
      else
        contents = tokens_json (bad[i].n, bad[i].extra);

      path = unit_write_file (dir, "tokens.json", contents, -1);
      auth = lottery_auth_new_from_file (path, agencies, &error);
      g_assert_null (auth);
      g_assert_error (error, LOTTERY_CONFIG_ERROR,
                      LOTTERY_CONFIG_ERROR_INVALID);
      g_test_message ("%s", error->message);
      expected = g_strdup_printf ("%s: %s", path, message);
      g_assert_true (g_str_has_prefix (error->message, expected));
    }

  /* Not there, and not JSON: the file is named too. */
  {
    g_autofree char *missing = g_build_filename (dir, "missing.json", NULL);
    g_autofree char *garbage = unit_write_file (dir, "garbage.json",
                                                "{\"agencies\": ", -1);
    g_autoptr(GError) error = NULL;

    g_assert_null (lottery_auth_new_from_file (missing, 1, &error));
    g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
    g_test_message ("%s", error->message);
    g_assert_true (g_str_has_prefix (error->message, missing));
    g_clear_error (&error);

    g_assert_null (lottery_auth_new_from_file (garbage, 1, &error));
    g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
    g_test_message ("%s", error->message);
    g_assert_true (g_str_has_prefix (error->message, garbage));
  }

  unit_remove_tree (dir);
}

static void
test_hex (void)
{
  static const guint8 bytes[] = { 0x00, 0x0f, 0xa5, 0xff };
  guint8 out[4];

  assert_hex (bytes, sizeof bytes, "000fa5ff");
  assert_hex (bytes, 0, "");
  g_assert_true (lottery_auth_parse_hex ("000FA5ff", 8, out, 4));
  g_assert_cmpmem (out, 4, bytes, 4);
  g_assert_false (lottery_auth_parse_hex ("000fa5f", 7, out, 4));
  g_assert_false (lottery_auth_parse_hex ("000fa5ff00", 10, out, 4));
  g_assert_false (lottery_auth_parse_hex ("000fa5fg", 8, out, 4));
  g_assert_false (lottery_auth_parse_hex ("000fa5 f", 8, out, 4));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("Agency tokens: random tokens, the keys and proofs against "
                  "answers computed apart, proofs that must fail, and the "
                  "server's tokens file with each of its errors.");

  g_test_add_func ("/auth/known-answers", test_known_answers);
  g_test_add_func ("/auth/check-proof/refuses", test_check_proof_refuses);
  g_test_add_func ("/auth/equal", test_equal);
  g_test_add_func ("/auth/random", test_random);
  g_test_add_func ("/auth/token/generate", test_token_generate);
  g_test_add_func ("/auth/token/parse", test_token_parse);
  g_test_add_func ("/auth/token/file", test_token_file);
  g_test_add_func ("/auth/tokens-file/load", test_tokens_file);
  g_test_add_func ("/auth/tokens-file/errors", test_tokens_file_errors);
  g_test_add_func ("/auth/hex", test_hex);

  return g_test_run ();
}
