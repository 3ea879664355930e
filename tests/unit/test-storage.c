/* test-storage.c: the LotteryStore contract (any store), and the file
 * store: bets.csv appends, its journal, group commit, reading it back
 * and the draw. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-file-store.h"
#ifdef HAVE_POSTGRESQL
#include "lottery-pg-store.h"
#endif
#include "lottery-store.h"

#include "unit-utils.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

typedef struct
{
  char *dir;
  char *path; /* dir/bets.csv, not created */
  char *journal; /* dir/bets.csv.journal */
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->dir = unit_make_tmp_dir ();
  fixture->path = g_build_filename (fixture->dir, "bets.csv", NULL);
  fixture->journal = g_strconcat (fixture->path, ".journal", NULL);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->journal);
  g_free (fixture->path);
}

static guint64
store_size (LotteryStore *store)
{
  return lottery_file_store_get_size (LOTTERY_FILE_STORE (store));
}

/* The draw through a store opened on @path, as the server runs it. */
static GPtrArray *
draw_path (const char *path,
           guint       n_agencies,
           GError    **error)
{
  g_autoptr(LotteryStore) store = lottery_file_store_open (path, error);
  GPtrArray *winners;

  if (store == NULL)
    return NULL;
  winners = lottery_store_draw (store, n_agencies, NULL, error);
  g_assert_true (lottery_store_close (store, NULL));

  return winners;
}

typedef struct
{
  guint32     agency;
  const char *first_name;
  const char *last_name;
  const char *document;
  const char *birthdate;
  const char *number;
} BetSpec;

/* Names with delimiters, quotes, accents and other scripts. */
static const BetSpec awkward[] = {
  { 1, "Santiago Lionel", "Lorca", "30904465", "1999-03-17", "7574" },
  { 2, "Ana, María", "O\"Brien", "12345678", "2000-02-29", "0" },
  { 3, "\"", "Ñandú ,\"x\"", "1", "0001-01-01", "4294967295" },
  { 1, "José", "Pérez-García", "99999999999999999999", "1990-05-17", "7574" },
  { 4, "Zoë", "李", "42", "1985-12-31", "17574" },
  { 2, "Łukasz", "D'Angelo", "7", "1970-01-01", "7574" },
  { 5, "Ana", "Bo", "555", "1999-01-01", "7574" },
  { 3, "Ελένη", "a;b|c", "0", "2023-12-31", "75740" },
};

/* What Python's csv.writer () wrote for them, byte for byte. */
static const char awkward_csv[] =
  "1,Santiago Lionel,Lorca,30904465,1999-03-17,7574\r\n"
  "2,\"Ana, María\",\"O\"\"Brien\",12345678,2000-02-29,0\r\n"
  "3,\"\"\"\",\"Ñandú ,\"\"x\"\"\",1,0001-01-01,4294967295\r\n"
  "1,José,Pérez-García,99999999999999999999,1990-05-17,7574\r\n"
  "4,Zoë,李,42,1985-12-31,17574\r\n"
  "2,Łukasz,D'Angelo,7,1970-01-01,7574\r\n"
  "5,Ana,Bo,555,1999-01-01,7574\r\n"
  "3,Ελένη,a;b|c,0,2023-12-31,75740\r\n";

static void
spec_to_bet (const BetSpec *spec,
             LotteryBet    *bet)
{
  unit_set_bet (bet, spec->agency, spec->first_name, spec->last_name,
                spec->document, spec->birthdate, spec->number);
}

/* Formats @n specs as one batch of rows. */
static GString *
format_rows (const BetSpec *specs,
             guint          n)
{
  GString *rows = g_string_new (NULL);
  guint i;

  for (i = 0; i < n; i++)
    {
      LotteryBet bet;
      char row[LOTTERY_BET_ROW_MAX];
      gsize len;

      spec_to_bet (&specs[i], &bet);
      len = lottery_bet_format_row (&bet, row);
      g_string_append_len (rows, row, len);
    }

  return rows;
}

/* Appends @rows as one batch of @agency, journaled. */
static gboolean
append_batch (LotteryStore *storage,
              guint           agency,
              guint           sequence,
              const char     *rows,
              gsize           len,
              GError        **error)
{
  LotteryStoreRecord record = { LOTTERY_STORE_RECORD_BATCH, 0, 0, 0, 0 };
  guint64 ticket = 0;

  record.agency = agency;
  record.sequence = sequence;
  record.count = 1;
  record.end = len;

  return lottery_store_append (storage, rows, &record, 1, &ticket, error) &&
         lottery_file_store_sync (LOTTERY_FILE_STORE (storage), ticket, error);
}

static void
append_rows (LotteryStore *storage,
             const BetSpec  *specs,
             guint           n)
{
  g_autoptr(GString) rows = format_rows (specs, n);
  g_autoptr(GError) error = NULL;

  g_assert_true (append_batch (storage, 1, 1, rows->str, rows->len, &error));
  g_assert_no_error (error);
}

/* Stores the awkward bets in two batches and closes the file. */
static void
store_awkward (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = lottery_file_store_open (fixture->path,
                                                            &error);

  g_assert_no_error (error);
  g_assert_nonnull (storage);
  g_assert_cmpstr (lottery_file_store_get_path (LOTTERY_FILE_STORE (storage)), ==, fixture->path);
  g_assert_cmpuint (store_size (storage), ==, 0);
  append_rows (storage, awkward, 3);
  append_rows (storage, awkward + 3, G_N_ELEMENTS (awkward) - 3);
  g_assert_cmpuint (store_size (storage), ==,
                    sizeof awkward_csv - 1);
  g_assert_true (lottery_store_close (storage, &error));
  g_assert_no_error (error);
}

static gboolean
collect_bet (const LotteryBet *bet,
             gpointer          user_data)
{
  g_array_append_val ((GArray *) user_data, *bet);
  return TRUE;
}

static GArray *
load_bets (const char *path,
           gboolean    winners_only,
           GError    **error)
{
  g_autoptr(GArray) bets = g_array_new (FALSE, FALSE, sizeof (LotteryBet));

  if (!lottery_bet_rows_read (path, winners_only, collect_bet, bets, NULL,
                                  error))
    return NULL;

  return g_steal_pointer (&bets);
}

static void
assert_bet_is (const LotteryBet *bet,
               const BetSpec    *spec)
{
  LotteryBet expected;

  spec_to_bet (spec, &expected);
  g_assert_cmpuint (bet->agency, ==, expected.agency);
  g_assert_cmpmem (bet->first_name, bet->first_name_len,
                   spec->first_name, strlen (spec->first_name));
  g_assert_cmpmem (bet->last_name, bet->last_name_len,
                   spec->last_name, strlen (spec->last_name));
  g_assert_cmpmem (bet->document, bet->document_len,
                   spec->document, strlen (spec->document));
  g_assert_cmpstr (bet->birthdate, ==, spec->birthdate);
  g_assert_cmpuint (bet->number, ==, expected.number);
  /* The whole struct, terminators included, is what was stored. */
  g_assert_cmpmem (bet, sizeof *bet, &expected, sizeof expected);
}

static void
test_append_bytes (Fixture       *fixture,
                   gconstpointer  user_data)
{
  gsize len;
  g_autofree char *contents = NULL;

  store_awkward (fixture);
  contents = unit_read_file (fixture->path, &len);
  g_assert_cmpmem (contents, len, awkward_csv, sizeof awkward_csv - 1);
}

static void
test_append_reopen (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  g_autoptr(GString) expected = g_string_new (awkward_csv);
  g_autofree char *contents = NULL;
  gsize len;

  /* A restarted server appends to what is there. */
  store_awkward (fixture);
  storage = lottery_file_store_open (fixture->path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (store_size (storage), ==,
                    sizeof awkward_csv - 1);
  append_rows (storage, awkward, 1);
  g_assert_true (lottery_store_close (storage, &error));
  g_assert_no_error (error);

  g_string_append (expected, "1,Santiago Lionel,Lorca,30904465,1999-03-17,"
                             "7574\r\n");
  contents = unit_read_file (fixture->path, &len);
  g_assert_cmpmem (contents, len, expected->str, expected->len);
}

static void
test_append_closed (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = lottery_file_store_open (fixture->path,
                                                            &error);
  g_autofree char *expected = g_strdup_printf ("Storage %s is closed",
                                               fixture->path);

  g_assert_no_error (error);
  g_assert_true (lottery_store_close (storage, &error));
  g_assert_no_error (error);
  /* Closing twice is harmless. */
  g_assert_true (lottery_store_close (storage, &error));
  g_assert_no_error (error);

  g_assert_false (append_batch (storage, 1, 1, "x\r\n", 3, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CLOSED);
  g_assert_cmpuint (lottery_error_to_wire_code (error), ==,
                    LOTTERY_ERROR_STORAGE);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_open_fails (Fixture       *fixture,
                 gconstpointer  user_data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "no", "such",
                                            "bets.csv", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = lottery_file_store_open (path, &error);
  g_autoptr(LotteryStore) on_dir = NULL;

  g_assert_null (storage);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  on_dir = lottery_file_store_open (fixture->dir, &error);
  g_assert_null (on_dir);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, fixture->dir));
}

static void
test_load_roundtrip (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) bets = NULL;
  guint i;

  store_awkward (fixture);
  bets = load_bets (fixture->path, FALSE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bets->len, ==, G_N_ELEMENTS (awkward));
  for (i = 0; i < bets->len; i++)
    assert_bet_is (&g_array_index (bets, LotteryBet, i), &awkward[i]);
}

static void
test_load_winners_only (Fixture       *fixture,
                        gconstpointer  user_data)
{
  static const guint winners[] = { 0, 3, 5, 6 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) bets = NULL;
  guint i;

  store_awkward (fixture);
  bets = load_bets (fixture->path, TRUE, &error);
  g_assert_no_error (error);
  /* 17574 and 75740 end or start like the winning number: no match. */
  g_assert_cmpuint (bets->len, ==, G_N_ELEMENTS (winners));
  for (i = 0; i < bets->len; i++)
    assert_bet_is (&g_array_index (bets, LotteryBet, i), &awkward[winners[i]]);
}

static gboolean
stop_after_two (const LotteryBet *bet,
                gpointer          user_data)
{
  guint *seen = user_data;

  return ++*seen < 2;
}

static void
test_load_stop (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  guint seen = 0;

  store_awkward (fixture);
  g_assert_true (lottery_bet_rows_read (fixture->path, FALSE,
                                            stop_after_two, &seen, NULL,
                                            &error));
  g_assert_no_error (error);
  g_assert_cmpuint (seen, ==, 2);
}

static void
test_load_blank_lines (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autofree char *path = unit_write_file (fixture->dir, "blank.csv",
                                           "\r\n1,A,B,1,1990-01-01,7574\r\n"
                                           "\r\n\n2,C,D,2,1990-01-01,1",
                                           -1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) bets = load_bets (path, FALSE, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (bets->len, ==, 2);
  g_assert_cmpuint (g_array_index (bets, LotteryBet, 1).agency, ==, 2);
}

static void
test_load_damaged (Fixture       *fixture,
                   gconstpointer  user_data)
{
  static const struct { const char *row; const char *message; } cases[] = {
    { "1,Ana,Pérez,1,1990-01-01", "row does not have 6 fields" },
    { "1,Ana,Pérez,1,1990-01-01,7,8", "row does not have 6 fields" },
    { "1,Ana,Pérez,1,1990-01-01,7,8,9", "more than 6 fields" },
    { "x,Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
    { "0,Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
    { ",Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
    { "1x,Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
    { "1234567890,Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
    { "1,Ana,Pérez,1a,1990-01-01,7",
      "DOCUMENTO “1a” must be 1 to 20 digits" },
    { "1,,Pérez,1,1990-01-01,7", "NOMBRE is empty" },
    { "1,Ana,Pérez,1,1990-02-30,7",
      "NACIMIENTO “1990-02-30” is not a calendar date YYYY-MM-DD" },
    { "1,Ana,Pérez,1,1990-01-01,4294967296",
      "NUMERO “4294967296” must be an integer from 0 to 4294967295" },
    { "1,\"Ana,Pérez,1,1990-01-01,7", "field 2 has an unterminated quote" },
    { "1,Ana\"x,Pérez,1,1990-01-01,7",
      "field 2 has a quote but is not quoted" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *contents = g_strconcat (awkward_csv, "\r\n",
                                               cases[i].row, "\r\n",
                                               "1,A,B,1,1990-01-01,7\r\n",
                                               NULL);
      g_autofree char *path = unit_write_file (fixture->dir, "damaged.csv",
                                               contents, -1);
      /* The damaged row follows the good rows and a blank line. */
      guint line = G_N_ELEMENTS (awkward) + 2;
      g_autofree char *expected = g_strdup_printf ("%s:%u: %s", path, line,
                                                   cases[i].message);
      g_autoptr(GError) error = NULL;
      g_autoptr(GArray) bets = NULL;

      g_test_message ("damaged row “%s”", cases[i].row);
      bets = load_bets (path, FALSE, &error);
      g_assert_null (bets);
      g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CORRUPT);
      g_assert_cmpstr (error->message, ==, expected);
    }
}

static void
test_load_damaged_winner (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autofree char *path = unit_write_file (fixture->dir, "damaged.csv",
                                           "1,A,B,1,1990-01-01,7574\r\n"
                                           "1,A,B,1,1990-01-01,1,x\r\n"
                                           "1,A,B\",1,1990-01-01,7574\r\n",
                                           -1);
  g_autofree char *expected = g_strdup_printf ("%s:3: field 3 has a quote "
                                               "but is not quoted", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) bets = NULL;

  /* The draw skips non-winning rows unparsed, but a damaged winning row
   * is still reported. */
  bets = load_bets (path, TRUE, &error);
  g_assert_null (bets);
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CORRUPT);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_load_too_long (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *name = g_strnfill (600, 'a');
  g_autofree char *contents = g_strdup_printf ("1,%s,B,1,1990-01-01,7574\r\n",
                                               name);
  g_autofree char *path = unit_write_file (fixture->dir, "long.csv", contents,
                                           -1);
  g_autofree char *expected = g_strdup_printf ("%s:1: row is too long", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) bets = load_bets (path, FALSE, &error);

  g_assert_null (bets);
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CORRUPT);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_load_missing (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) bets = NULL;
  g_autoptr(GPtrArray) winners = NULL;

  if (unit_run_in_subprocess ("*action: storage | result: fail | "
                         "file: *bets.csv*"))
    return;

  bets = load_bets (fixture->path, FALSE, &error);
  g_assert_null (bets);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, fixture->path));
  g_clear_error (&error);

  /* bets.csv removed under an open store. */
  {
    g_autoptr(LotteryStore) storage = lottery_file_store_open (fixture->path,
                                                               &error);

    g_assert_no_error (error);
    g_assert_cmpint (g_remove (fixture->path), ==, 0);
    winners = lottery_store_draw (storage, 3, NULL, &error);
    g_assert_null (winners);
    g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_REPLACED);
    g_assert_true (lottery_store_close (storage, NULL));
  }
}

static void
test_load_cancelled (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  guint seen = 0;

  store_awkward (fixture);
  g_cancellable_cancel (cancellable);
  g_assert_false (lottery_bet_rows_read (fixture->path, FALSE,
                                             stop_after_two, &seen,
                                             cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (seen, ==, 0);
}

static void
assert_documents (GPtrArray          *documents,
                  const char * const *expected)
{
  guint i;

  for (i = 0; expected[i] != NULL; i++)
    {
      g_assert_cmpuint (i, <, documents->len);
      g_assert_cmpstr (g_ptr_array_index (documents, i), ==, expected[i]);
    }
  g_assert_cmpuint (documents->len, ==, i);
}

static void
test_draw (Fixture       *fixture,
           gconstpointer  user_data)
{
  const char * const agency1[] = { "30904465", "99999999999999999999", NULL };
  const char * const agency2[] = { "7", NULL };
  const char * const agency5[] = { "555", NULL };
  const char * const none[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) winners = NULL;

  store_awkward (fixture);
  winners = draw_path (fixture->path, 5, &error);
  g_assert_no_error (error);
  g_assert_nonnull (winners);
  g_assert_cmpuint (winners->len, ==, 5);
  assert_documents (winners->pdata[0], agency1);
  assert_documents (winners->pdata[1], agency2);
  assert_documents (winners->pdata[2], none);
  assert_documents (winners->pdata[3], none);
  assert_documents (winners->pdata[4], agency5);
}

static void
test_draw_empty (Fixture       *fixture,
                 gconstpointer  user_data)
{
  const char * const none[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) winners = NULL;
  g_autoptr(LotteryStore) storage = lottery_file_store_open (fixture->path,
                                                            &error);
  guint i;

  g_assert_no_error (error);
  winners = lottery_store_draw (storage, 4, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (winners->len, ==, 4);
  for (i = 0; i < winners->len; i++)
    assert_documents (winners->pdata[i], none);
}

static void
test_draw_foreign (Fixture       *fixture,
                   gconstpointer  user_data)
{
  if (g_test_subprocess ())
    {
      const char * const agency1[] = { "30904465", "99999999999999999999",
                                       NULL };
      const char * const agency2[] = { "7", NULL };
      const char * const none[] = { NULL };
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) winners = NULL;

      /* Let the warning about agency 5's bets through, not abort. */
      g_log_set_always_fatal (G_LOG_LEVEL_ERROR);
      store_awkward (fixture);
      winners = draw_path (fixture->path, 3, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (winners->len, ==, 3);
      assert_documents (winners->pdata[0], agency1);
      assert_documents (winners->pdata[1], agency2);
      assert_documents (winners->pdata[2], none);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*action: sorteo | result: fail | storage: *"
                             "bets.csv | ignored_winners: 1 | error: winning "
                             "bets of agencies above 3 are not part of this "
                             "draw*");
}

static void
test_python_reads_back (Fixture       *fixture,
                        gconstpointer  user_data)
{
  static const char script[] =
    "import csv, sys\n"
    "out = sys.stdout.buffer\n"
    "with open(sys.argv[1], newline='', encoding='utf-8') as f:\n"
    "    for row in csv.reader(f):\n"
    "        out.write(('%d\\x1f%s\\n' % (len(row), '\\x1f'.join(row)))"
    ".encode('utf-8'))\n";
  g_autofree char *python = g_find_program_in_path ("python3");
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  guint i;

  if (python == NULL)
    {
      g_test_skip ("python3 is not installed");
      return;
    }

  store_awkward (fixture);
  for (i = 0; i < G_N_ELEMENTS (awkward); i++)
    g_string_append_printf (expected, "6\x1f%u\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\n",
                            awkward[i].agency, awkward[i].first_name,
                            awkward[i].last_name, awkward[i].document,
                            awkward[i].birthdate, awkward[i].number);

  {
    const char *argv[] = { python, "-c", script, fixture->path, NULL };

    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL,
                                 G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                                 &status, &error));
  }
  g_assert_no_error (error);
  g_test_message ("python3 stderr: %s", err);
  g_assert_true (g_spawn_check_wait_status (status, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, expected->str);
}

/* Concurrent appends: THREADS threads each store BATCHES batches of
 * ROWS rows; every batch is a distinct pattern, so the file shows
 * whether any batch was split up by another's rows. */
#define THREADS 8
#define BATCHES 500
#define ROWS    10

typedef struct
{
  LotteryStore *storage;
  guint           thread;
} AppendJob;

static gpointer
append_thread (gpointer user_data)
{
  AppendJob *job = user_data;
  guint b, r;

  for (b = 0; b < BATCHES; b++)
    {
      GString *rows = g_string_new (NULL);
      GError *error = NULL;

      for (r = 0; r < ROWS; r++)
        {
          LotteryBet bet = { 0 };
          char row[LOTTERY_BET_ROW_MAX];

          bet.agency = job->thread + 1;
          bet.first_name_len = (guint8) g_snprintf (bet.first_name,
                                                    sizeof bet.first_name,
                                                    "Hilo, %u", job->thread);
          bet.last_name_len = (guint8) g_snprintf (bet.last_name,
                                                   sizeof bet.last_name,
                                                   "Lote \"%u\"", b);
          bet.document_len = (guint8) g_snprintf (bet.document,
                                                  sizeof bet.document,
                                                  "%u%04u%02u", job->thread + 1,
                                                  b, r);
          memcpy (bet.birthdate, "2000-02-29", LOTTERY_BIRTHDATE_LEN + 1);
          bet.number = job->thread * BATCHES + b;
          g_string_append_len (rows, row, lottery_bet_format_row (&bet, row));
        }

      if (!append_batch (job->storage, job->thread + 1, b + 1, rows->str,
                         rows->len, &error))
        g_error ("append failed: %s", error->message);
      g_string_free (rows, TRUE);
    }

  return NULL;
}

typedef struct
{
  gboolean seen[THREADS * BATCHES];
  int      last_batch[THREADS];
  guint32  current;
  guint    row_in_batch;
  guint    total;
} ContiguityCheck;

static gboolean
check_contiguous (const LotteryBet *bet,
                  gpointer          user_data)
{
  ContiguityCheck *check = user_data;
  guint thread = bet->agency - 1;
  guint batch = bet->number % BATCHES;
  g_autofree char *first_name = g_strdup_printf ("Hilo, %u", thread);
  g_autofree char *last_name = g_strdup_printf ("Lote \"%u\"", batch);
  g_autofree char *document = g_strdup_printf ("%u%04u%02u", thread + 1,
                                               batch, check->row_in_batch);

  g_assert_cmpuint (thread, <, THREADS);
  g_assert_cmpuint (bet->number / BATCHES, ==, thread);
  if (check->row_in_batch == 0)
    {
      /* A new batch: never seen before, and after the same thread's
       * earlier batches. */
      g_assert_false (check->seen[bet->number]);
      check->seen[bet->number] = TRUE;
      g_assert_cmpint (check->last_batch[thread], <, (int) batch);
      check->last_batch[thread] = (int) batch;
      check->current = bet->number;
    }
  else
    g_assert_cmpuint (bet->number, ==, check->current);

  g_assert_cmpstr (bet->first_name, ==, first_name);
  g_assert_cmpstr (bet->last_name, ==, last_name);
  g_assert_cmpstr (bet->document, ==, document);
  check->row_in_batch = (check->row_in_batch + 1) % ROWS;
  check->total++;

  return TRUE;
}

static void
test_concurrent_appends (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = lottery_file_store_open (fixture->path,
                                                            &error);
  GThread *threads[THREADS];
  AppendJob jobs[THREADS];
  g_autofree ContiguityCheck *check = g_new0 (ContiguityCheck, 1);
  guint64 size;
  guint i;

  g_assert_no_error (error);
  for (i = 0; i < THREADS; i++)
    {
      jobs[i].storage = storage;
      jobs[i].thread = i;
      threads[i] = g_thread_new ("append", append_thread, &jobs[i]);
    }
  for (i = 0; i < THREADS; i++)
    g_thread_join (threads[i]);

  size = store_size (storage);
  g_assert_true (lottery_store_close (storage, &error));
  g_assert_no_error (error);
  {
    g_autofree char *contents = NULL;
    gsize len;

    contents = unit_read_file (fixture->path, &len);
    g_assert_cmpuint (len, ==, size);
  }

  for (i = 0; i < THREADS; i++)
    check->last_batch[i] = -1;
  g_assert_true (lottery_bet_rows_read (fixture->path, FALSE,
                                            check_contiguous, check, NULL,
                                            &error));
  g_assert_no_error (error);
  g_assert_cmpuint (check->total, ==, THREADS * BATCHES * ROWS);
  g_assert_cmpuint (check->row_in_batch, ==, 0);
  for (i = 0; i < THREADS; i++)
    g_assert_cmpint (check->last_batch[i], ==, BATCHES - 1);
}

static void
test_open_cuts_partial_row (Fixture       *fixture,
                            gconstpointer  user_data)
{
  static const struct { const char *before; const char *after; } cases[] = {
    { "1,A,B,1,1990-01-01,7\r\n1,C,D,2,1990-", "1,A,B,1,1990-01-01,7\r\n" },
    { "1,A,B,1,1990-01-01,7\r\n1,C,D,2,1990-01-01,75",
      "1,A,B,1,1990-01-01,7\r\n" },
    { "1,A,B,1,1990-01-01,7", "" },
    { "1,A,B,1,1990-01-01,7\r\n", "1,A,B,1,1990-01-01,7\r\n" },
  };
  guint i;

  g_test_summary ("With storage.adopt, a bets.csv without a journal "
                  "(written by other means) is adopted with a warning; if it ends in the middle of a "
                  "row, it is cut back to its last whole row, so the next "
                  "batch starts on a line of its own.");

  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      g_test_trap_assert_stderr ("*action: adopt | result: success*");
      return;
    }
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR);

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(LotteryStore) storage = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *contents = NULL;
      g_autofree char *expected = NULL;
      gsize len;

      g_remove (fixture->journal);
      g_file_set_contents (fixture->path, cases[i].before, -1, &error);
      g_assert_no_error (error);
      storage = lottery_file_store_open_full (fixture->path,
                                              LOTTERY_FILE_STORE_ADOPT, NULL,
                                              NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (store_size (storage), ==,
                        strlen (cases[i].after));
      append_batch (storage, 1, 1, "1,E,F,3,1990-01-01,9\r\n", 22, &error);
      g_assert_no_error (error);
      g_assert_true (lottery_store_close (storage, NULL));

      g_file_get_contents (fixture->path, &contents, &len, &error);
      g_assert_no_error (error);
      expected = g_strconcat (cases[i].after, "1,E,F,3,1990-01-01,9\r\n", NULL);
      g_assert_cmpstr (contents, ==, expected);
    }
}

/* ---- the journal ---- */

static gboolean
collect_record (const LotteryStoreRecord *record,
                gpointer                    user_data)
{
  g_array_append_val ((GArray *) user_data, *record);
  return TRUE;
}

static GArray *
reopen (Fixture  *fixture,
        guint64  *size)
{
  g_autoptr(GArray) records = g_array_new (FALSE, TRUE,
                                           sizeof (LotteryStoreRecord));
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;

  storage = lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_SYNC,
                                       collect_record, records, &error);
  g_assert_no_error (error);
  g_assert_nonnull (storage);
  *size = store_size (storage);
  g_assert_true (lottery_store_close (storage, &error));

  return g_steal_pointer (&records);
}

/* Agency 1: batches 1 (2 bets) and 2 (refused, no rows); agency 2:
 * batch 1 (1 bet); agency 1 finishes. */
static const char journal_rows[] =
  "1,A,B,1,1990-01-01,7574\r\n1,C,D,2,1990-01-01,1\r\n"
  "2,E,F,3,1990-01-01,7574\r\n";
#define ROWS_1 47 /* agency 1's two rows */

static void
write_journaled (Fixture *fixture)
{
  LotteryStoreRecord group[] = {
    { LOTTERY_STORE_RECORD_BATCH, 1, 1, 2, ROWS_1 },
    { LOTTERY_STORE_RECORD_BATCH, 1, 2, 0, 0 },
  };
  LotteryStoreRecord second = { LOTTERY_STORE_RECORD_BATCH, 2, 1, 1,
                                  sizeof journal_rows - 1 - ROWS_1 };
  LotteryStoreRecord finish = { LOTTERY_STORE_RECORD_FINISH, 1, 2, 0, 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  guint64 ticket = 0;

  g_remove (fixture->path);
  g_remove (fixture->journal);
  g_assert_cmpint (journal_rows[ROWS_1 - 1], ==, '\n');
  g_assert_cmpint (journal_rows[ROWS_1 - 2], ==, '\r');
  storage = lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_SYNC,
                                       NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (lottery_store_append (storage, journal_rows, group, 2,
                                         &ticket, &error));
  g_assert_no_error (error);
  /* On return each record's end is where its batch ends. */
  g_assert_cmpuint (group[0].end, ==, ROWS_1);
  g_assert_cmpuint (group[1].end, ==, ROWS_1);
  g_assert_true (lottery_store_append (storage, journal_rows + ROWS_1,
                                         &second, 1, &ticket, &error));
  g_assert_true (lottery_store_append (storage, NULL, &finish, 1, &ticket,
                                         &error));
  g_assert_true (lottery_file_store_sync (LOTTERY_FILE_STORE (storage), ticket, &error));
  g_assert_no_error (error);
  g_assert_true (lottery_store_close (storage, &error));
}

static void
assert_record (const LotteryStoreRecord *record,
               char                        type,
               guint32                     agency,
               guint32                     sequence,
               guint32                     count,
               guint64                     end)
{
  g_assert_cmpint (record->type, ==, type);
  g_assert_cmpuint (record->agency, ==, agency);
  g_assert_cmpuint (record->sequence, ==, sequence);
  g_assert_cmpuint (record->count, ==, count);
  /* G_MAXUINT64: where the batch ends is the store's own business. */
  if (end != G_MAXUINT64)
    g_assert_cmpuint (record->end, ==, end);
}

static void
test_journal_replay (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GArray) records = NULL;
  g_autofree char *contents = NULL;
  guint64 size;
  gsize len;

  g_test_summary ("Every batch, stored or refused, and every finish is "
                  "journaled in order, and replayed on open.");

  write_journaled (fixture);
  records = reopen (fixture, &size);
  g_assert_cmpuint (records->len, ==, 4);
  assert_record (&g_array_index (records, LotteryStoreRecord, 0),
                 'B', 1, 1, 2, ROWS_1);
  assert_record (&g_array_index (records, LotteryStoreRecord, 1),
                 'B', 1, 2, 0, ROWS_1);
  assert_record (&g_array_index (records, LotteryStoreRecord, 2),
                 'B', 2, 1, 1, sizeof journal_rows - 1);
  assert_record (&g_array_index (records, LotteryStoreRecord, 3),
                 'F', 1, 2, 0, sizeof journal_rows - 1);
  g_assert_cmpuint (size, ==, sizeof journal_rows - 1);
  contents = unit_read_file (fixture->path, &len);
  g_assert_cmpmem (contents, len, journal_rows, sizeof journal_rows - 1);
  g_free (contents);
  contents = unit_read_file (fixture->journal, &len);
  g_assert_cmpuint (len, ==, 4 * 32);
}

static void
write_bytes (const char *path,
             const char *data,
             gsize       len)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
}

static void
test_journal_torn_data (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autofree char *journal = NULL;
  gsize journal_len, cut;

  g_test_summary ("A crash at any byte of bets.csv: on open, the file is cut "
                  "back to the end of the last batch that is whole, and only "
                  "the journal records of whole batches are replayed.");

  write_journaled (fixture);
  journal = unit_read_file (fixture->journal, &journal_len);

  for (cut = 0; cut < sizeof journal_rows; cut++)
    {
      g_autoptr(GArray) records = NULL;
      g_autofree char *contents = NULL;
      guint64 size, expected;
      gsize len;

      write_bytes (fixture->path, journal_rows, cut);
      write_bytes (fixture->journal, journal, journal_len);
      records = reopen (fixture, &size);

      expected = cut == sizeof journal_rows - 1 ? cut
                 : cut >= ROWS_1 ? ROWS_1 : 0;
      g_assert_cmpuint (size, ==, expected);
      contents = unit_read_file (fixture->path, &len);
      g_assert_cmpmem (contents, len, journal_rows, expected);
      g_assert_cmpuint (records->len, ==,
                        expected == ROWS_1 ? 2 : expected == 0 ? 0 : 4);
      g_free (contents);
      contents = unit_read_file (fixture->journal, &len);
      g_assert_cmpuint (len, ==, records->len * 32);
    }
}

static void
test_journal_torn_journal (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autofree char *journal = NULL;
  gsize journal_len, cut;

  g_test_summary ("A crash at any byte of the journal: whole records are "
                  "kept, a torn one is dropped, and bets.csv is cut back to "
                  "the last batch still journaled.");

  write_journaled (fixture);
  journal = unit_read_file (fixture->journal, &journal_len);

  for (cut = 0; cut <= journal_len; cut++)
    {
      static const guint64 ends[] = { 0, ROWS_1, ROWS_1,
                                      sizeof journal_rows - 1,
                                      sizeof journal_rows - 1 };
      g_autoptr(GArray) records = NULL;
      guint64 size;
      guint whole = (guint) (cut / 32);

      /* An empty journal is a crash before the first record: the rows
       * of that batch were never acknowledged and go. */
      write_bytes (fixture->path, journal_rows, sizeof journal_rows - 1);
      write_bytes (fixture->journal, journal, cut);
      records = reopen (fixture, &size);
      g_assert_cmpuint (records->len, ==, whole);
      g_assert_cmpuint (size, ==, ends[whole]);
    }
}

static void
test_journal_damaged (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autofree char *journal = NULL;
  g_autoptr(GArray) records = NULL;
  gsize journal_len;
  guint64 size;

  g_test_summary ("A journal record that fails its checksum (a block of "
                  "zeros after a power cut) ends the journal there.");

  write_journaled (fixture);
  journal = unit_read_file (fixture->journal, &journal_len);
  memset (journal + 32 * 2, 0, 32); /* agency 2's batch */
  write_bytes (fixture->journal, journal, journal_len);
  records = reopen (fixture, &size);
  g_assert_cmpuint (records->len, ==, 2);
  g_assert_cmpuint (size, ==, ROWS_1);

  /* A flipped bit anywhere in a record is caught too. */
  write_journaled (fixture);
  journal = (g_free (journal), unit_read_file (fixture->journal, &journal_len));
  journal[32 + 9] ^= 0x10;
  write_bytes (fixture->journal, journal, journal_len);
  g_clear_pointer (&records, g_array_unref);
  records = reopen (fixture, &size);
  g_assert_cmpuint (records->len, ==, 1);
}

typedef struct
{
  LotteryStore *storage;
  guint           agency;
} SyncJob;

static gpointer
sync_thread (gpointer user_data)
{
  SyncJob *job = user_data;
  guint i;

  for (i = 1; i <= 50; i++)
    {
      g_autoptr(GError) error = NULL;
      char row[64];
      int len = g_snprintf (row, sizeof row, "%u,A,B,%u,1990-01-01,1\r\n",
                            job->agency, i);

      g_assert_true (append_batch (job->storage, job->agency, i, row,
                                   (gsize) len, &error));
      g_assert_no_error (error);
    }

  return NULL;
}

static void
test_sync_concurrent (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  g_autoptr(GArray) records = NULL;
  guint32 last[5] = { 0, };
  GThread *threads[4];
  SyncJob jobs[4];
  guint64 size;
  guint i;

  g_test_summary ("Agencies appending and syncing at once (group commit) "
                  "all return, and every batch is journaled once, in each "
                  "agency's order.");

  storage = lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_SYNC,
                                       NULL, NULL, &error);
  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      jobs[i].storage = storage;
      jobs[i].agency = i + 1;
      threads[i] = g_thread_new ("sync", sync_thread, &jobs[i]);
    }
  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_true (lottery_store_close (storage, &error));

  records = reopen (fixture, &size);
  g_assert_cmpuint (records->len, ==, 4 * 50);
  for (i = 0; i < records->len; i++)
    {
      const LotteryStoreRecord *r =
        &g_array_index (records, LotteryStoreRecord, i);

      g_assert_cmpuint (r->sequence, ==, last[r->agency] + 1);
      last[r->agency] = r->sequence;
    }
}

#define N_REQUESTS 64

typedef struct
{
  guint order[N_REQUESTS + 1];
  guint n_done;
  guint n_failed;
} SyncOrder;

typedef struct
{
  SyncOrder *order;
  guint      index;
} SyncRequest;

static void
sync_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autofree SyncRequest *request = user_data;
  g_autoptr(GError) error = NULL;

  if (!lottery_store_sync_finish (LOTTERY_STORE (source), result, &error))
    request->order->n_failed++;
  request->order->order[request->order->n_done++] = request->index;
}

static void
test_sync_async_order (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  SyncOrder order = { { 0, }, 0, 0 };
  guint64 tickets[N_REQUESTS];
  guint i;

  g_test_summary ("Asynchronous syncs complete in the order they were asked "
                  "for, requests with nothing to sync included, and many "
                  "requests share few fdatasync () rounds.");

  storage = lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_SYNC,
                                       NULL, NULL, &error);
  g_assert_no_error (error);
  for (i = 0; i < N_REQUESTS; i++)
    {
      LotteryStoreRecord record = { LOTTERY_STORE_RECORD_BATCH, 1, 0, 1,
                                      22 };

      record.sequence = i + 1;
      /* Every third request has nothing of its own to sync. */
      tickets[i] = 0;
      if (i % 3 != 2)
        g_assert_true (lottery_store_append (storage,
                                               "1,E,F,3,1990-01-01,9\r\n",
                                               &record, 1, &tickets[i],
                                               &error));
      g_assert_no_error (error);
    }
  /* Asked for once everything is written: the first sync covers all. */
  for (i = 0; i < N_REQUESTS; i++)
    {
      SyncRequest *request = g_new0 (SyncRequest, 1);

      request->order = &order;
      request->index = i;
      lottery_store_sync_async (storage, tickets[i], NULL, sync_done_cb,
                                  request);
    }
  while (order.n_done < N_REQUESTS)
    g_main_context_iteration (NULL, TRUE);

  g_assert_cmpuint (order.n_failed, ==, 0);
  for (i = 0; i < N_REQUESTS; i++)
    g_assert_cmpuint (order.order[i], ==, i);
  g_assert_cmpuint (lottery_store_get_sync_count (storage), ==, 1);
  g_assert_true (lottery_store_close (storage, &error));

  /* Once closed, what was not synced cannot be vouched for. */
  {
    SyncRequest *request = g_new0 (SyncRequest, 1);

    request->order = &order;
    lottery_store_sync_async (storage, G_MAXUINT64, NULL, sync_done_cb,
                                request);
    while (order.n_done == N_REQUESTS)
      g_main_context_iteration (NULL, TRUE);
    g_assert_cmpuint (order.n_failed, ==, 1);
  }
}

static void
test_journal_without_csv (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;

  g_test_summary ("A journal whose bets.csv is gone (removed to start a new "
                  "lottery, the journal forgotten) is refused with a clear "
                  "error, not replayed against a new file.");

  write_journaled (fixture);
  g_remove (fixture->path);
  storage = lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_SYNC,
                                       NULL, NULL, &error);
  g_assert_null (storage);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "bets.csv.journal"));
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
}

static void
store_result_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* bets.csv renamed over while the store writes: the draw reads the
 * store's own file, the path's new file is never taken for it, and the
 * next sync refuses loudly (sync) or at once (none). */
static void
test_replaced (Fixture       *fixture,
               gconstpointer  user_data)
{
  LotteryFileStoreFlags flags = GPOINTER_TO_UINT (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  g_autofree char *forged = g_build_filename (fixture->dir, "forged", NULL);
  GMainContext *context = g_main_context_default ();
  LotteryStoreRecord record = { LOTTERY_STORE_RECORD_BATCH, 1, 1, 1, 0 };
  static const char row[] = "1,A,B,7,1990-01-01,7574\r\n";
  GAsyncResult *result = NULL;
  guint64 ticket = 0;

  if (unit_run_in_subprocess ("*action: storage | result: fail | "
                         "file: *bets.csv*"))
    return;

  storage = lottery_file_store_open_full (fixture->path, flags, NULL, NULL,
                                          &error);
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (forged, "9,F,G,1,1990-01-01,7574\r\n",
                                      -1, NULL));
  g_assert_cmpint (g_rename (forged, fixture->path), ==, 0);

  record.end = strlen (row);
  g_assert_true (lottery_store_append (storage, row, &record, 1, &ticket,
                                       &error));
  lottery_store_sync_async (storage, ticket, NULL, store_result_cb,
                            &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  g_assert_false (lottery_store_sync_finish (storage, result, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_REPLACED);
  g_assert_nonnull (strstr (error->message, fixture->path));
  g_clear_object (&result);
  g_clear_error (&error);

  /* Nothing more is taken, and the draw does not read the forged file. */
  record.end = strlen (row);
  g_assert_false (lottery_store_append (storage, row, &record, 1, NULL,
                                        &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_REPLACED);
  g_clear_error (&error);
  g_assert_null (lottery_store_draw (storage, 9, NULL, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_REPLACED);
  lottery_store_close (storage, NULL);
}

/* The journal deleted under the store: the next sync says which file. */
static void
test_journal_deleted (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;

  if (unit_run_in_subprocess ("*action: storage | result: fail | "
                         "file: *bets.csv*bets.csv.journal*"))
    return;

  storage = lottery_file_store_open_full (fixture->path,
                                          LOTTERY_FILE_STORE_SYNC, NULL, NULL,
                                          &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_remove (fixture->journal), ==, 0);
  g_assert_false (append_batch (storage, 1, 1, "1,A,B,1,1990-01-01,7\r\n",
                                22, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_REPLACED);
  g_assert_nonnull (strstr (error->message, fixture->journal));
  lottery_store_close (storage, NULL);
}

/* FIFOs and devices are refused at open, saying what they are. */
static void
test_open_not_regular (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;

  g_assert_cmpint (mkfifo (fixture->path, 0600), ==, 0);
  storage = lottery_file_store_open (fixture->path, &error);
  g_assert_null (storage);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_assert_nonnull (strstr (error->message, "FIFO"));
  g_assert_nonnull (strstr (error->message, "storage.path"));
  g_assert_nonnull (strstr (error->message, fixture->path));
  g_clear_error (&error);

  storage = lottery_file_store_open ("/dev/null", &error);
  g_assert_null (storage);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_assert_nonnull (strstr (error->message, "character device"));
}

static gboolean
collect_adopted (const LotteryStoreRecord *record,
                 gpointer                  user_data)
{
  if (record->type == LOTTERY_STORE_RECORD_ADOPTED)
    g_array_append_val ((GArray *) user_data, *record);
  return TRUE;
}

/* Opens @fixture's files as a lottery of @agencies (with sync); it must
 * work. */
static LotteryStore *
open_lottery (Fixture                *fixture,
              LotteryFileStoreFlags   flags,
              guint                   agencies,
              LotteryStoreRecordFunc  func,
              gpointer                user_data)
{
  g_autoptr(GError) error = NULL;
  LotteryStore *storage;

  storage = lottery_file_store_open_lottery (fixture->path,
                                             flags | LOTTERY_FILE_STORE_SYNC,
                                             agencies, func, user_data,
                                             &error);
  g_assert_no_error (error);

  return storage;
}

/* Opening them as a lottery of @agencies is refused as another
 * lottery's, with every one of @needles in the message, and leaves
 * nothing open. */
static void
assert_lottery_refused (Fixture            *fixture,
                        guint               agencies,
                        const char * const *needles)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  guint i;

  storage = lottery_file_store_open_lottery (fixture->path,
                                             LOTTERY_FILE_STORE_SYNC,
                                             agencies, NULL, NULL, &error);
  g_assert_null (storage);
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_MISMATCH);
  for (i = 0; needles[i] != NULL; i++)
    if (strstr (error->message, needles[i]) == NULL)
      g_error ("“%s” not in: %s", needles[i], error->message);
}

#define NEEDLES(...) ((const char * const []) { __VA_ARGS__, NULL })

/* A bets.csv without its journal is refused unless adopted; adopted,
 * each agency gets the bets it holds there, at every start. */
static void
test_adopt (Fixture       *fixture,
            gconstpointer  user_data)
{
  g_autoptr(GArray) adopted = g_array_new (FALSE, FALSE,
                                           sizeof (LotteryStoreRecord));
  static const guint expected[][2] = { { 1, 2 }, { 3, 1 } };
  guint start, i;

  if (unit_run_in_subprocess ("*action: adopt | result: success*agencies: 3*"))
    return;

  g_assert_true (g_file_set_contents (fixture->path,
                                      "1,A,B,1,1990-01-01,7\r\n"
                                      "3,C,D,2,1990-01-01,7574\r\n"
                                      "1,E,F,3,1990-01-01,9\r\n", -1, NULL));
  assert_lottery_refused (fixture, 3,
                          NEEDLES (fixture->path, fixture->journal,
                                   "storage.adopt"));
  g_assert_false (g_file_test (fixture->journal, G_FILE_TEST_EXISTS));

  /* Adopted, then replayed the same way after a restart. */
  for (start = 0; start < 2; start++)
    {
      g_autoptr(LotteryStore) storage = NULL;

      g_array_set_size (adopted, 0);
      storage = open_lottery (fixture, LOTTERY_FILE_STORE_ADOPT, 3,
                              collect_adopted, adopted);
      g_assert_cmpuint (adopted->len, ==, G_N_ELEMENTS (expected));
      for (i = 0; i < adopted->len; i++)
        {
          const LotteryStoreRecord *r = &g_array_index (adopted,
                                                        LotteryStoreRecord, i);

          g_assert_cmpuint (r->agency, ==, expected[i][0]);
          g_assert_cmpuint (r->count, ==, expected[i][1]);
        }
      g_assert_true (lottery_store_close (storage, NULL));
    }
}

/* A bets.csv adopted with too low a lottery.agencies would drop the
 * agencies above it and record the wrong count for good: refused, naming
 * the agency, and the right count is still taken afterwards. */
static void
test_adopt_too_few_agencies (Fixture       *fixture,
                             gconstpointer  user_data)
{
  g_autoptr(LotteryStore) storage = NULL;
  g_autoptr(GArray) adopted = g_array_new (FALSE, FALSE,
                                           sizeof (LotteryStoreRecord));

  if (unit_run_in_subprocess ("*action: adopt | result: success*agencies: 3*"))
    return;

  g_assert_true (g_file_set_contents (fixture->path,
                                      "1,A,B,1,1990-01-01,7\r\n"
                                      "3,C,D,2,1990-01-01,7574\r\n", -1,
                                      NULL));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(LotteryStore) refused = NULL;

    refused = lottery_file_store_open_lottery (fixture->path,
                                               LOTTERY_FILE_STORE_ADOPT |
                                               LOTTERY_FILE_STORE_SYNC,
                                               2, NULL, NULL, &error);
    g_assert_null (refused);
    g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_MISMATCH);
    g_assert_nonnull (strstr (error->message, "agency 3"));
    g_assert_nonnull (strstr (error->message, "lottery.agencies is 2"));
  }
  storage = open_lottery (fixture, LOTTERY_FILE_STORE_ADOPT, 3,
                          collect_adopted, adopted);
  g_assert_cmpuint (adopted->len, ==, 2);
  g_assert_true (lottery_store_close (storage, NULL));
}

/* The agency count is part of the lottery: another count is refused,
 * naming both numbers. */
static void
test_agencies_recorded (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  LotteryStore *storage = open_lottery (fixture, 0, 2, NULL, NULL);

  append_batch (storage, 1, 1, "1,A,B,1,1990-01-01,7\r\n", 22, &error);
  g_assert_no_error (error);
  g_assert_true (lottery_store_close (storage, NULL));
  g_object_unref (storage);

  assert_lottery_refused (fixture, 3,
                          NEEDLES ("of 2 agencies", "lottery.agencies is 3",
                                   fixture->journal));
  storage = open_lottery (fixture, 0, 2, NULL, NULL);
  g_assert_cmpuint (store_size (storage), ==, 22);
  g_assert_true (lottery_store_close (storage, NULL));
  g_object_unref (storage);
}

/* A journal written before the header existed is still read; the first
 * start that records a count fixes it. */
static void
test_agencies_old_journal (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) records = g_array_new (FALSE, FALSE,
                                           sizeof (LotteryStoreRecord));
  /* No count given: no header, as before it existed. */
  LotteryStore *storage = open_lottery (fixture, 0, 0, NULL, NULL);

  append_batch (storage, 2, 1, "2,A,B,1,1990-01-01,7\r\n", 22, &error);
  g_assert_no_error (error);
  g_assert_true (lottery_store_close (storage, NULL));
  g_object_unref (storage);

  storage = open_lottery (fixture, 0, 4, collect_record, records);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_true (lottery_store_close (storage, NULL));
  g_object_unref (storage);

  assert_lottery_refused (fixture, 2, NEEDLES ("of 4 agencies"));
}

/* A full disk (here a file size limit) on a journal-only write is cut
 * back and retried: the store is not broken, and nothing is lost. */
static void
test_journal_no_space (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryStore) storage = NULL;
  g_autoptr(GArray) records = g_array_new (FALSE, FALSE,
                                           sizeof (LotteryStoreRecord));
  LotteryStoreRecord refused[64];
  struct rlimit old, low;
  guint64 ticket = 0;
  guint i;

  storage = lottery_file_store_open_full (fixture->path,
                                          LOTTERY_FILE_STORE_SYNC, NULL, NULL,
                                          &error);
  g_assert_no_error (error);
  /* Refused batches: records without rows, so the journal outgrows
   * bets.csv and the limit hits the journal alone. */
  for (i = 0; i < G_N_ELEMENTS (refused); i++)
    refused[i] = (LotteryStoreRecord) { LOTTERY_STORE_RECORD_BATCH, 1,
                                        i + 1, 0, 0 };
  g_assert_true (lottery_store_append (storage, "", refused,
                                       G_N_ELEMENTS (refused), &ticket,
                                       &error));
  g_assert_true (lottery_file_store_sync (LOTTERY_FILE_STORE (storage), ticket,
                                          &error));

  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &old), ==, 0);
  low = old;
  low.rlim_cur = 64 * 32 + 16;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &low), ==, 0);
  g_assert_false (append_batch (storage, 1, 65, "1,A,B,1,1990-01-01,7\r\n",
                                22, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (error->message, "try again"));
  g_clear_error (&error);

  /* Space again: the same records go to disk, and more are taken. */
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &old), ==, 0);
  g_assert_true (append_batch (storage, 1, 66, "1,C,D,2,1990-01-01,7\r\n",
                               22, &error));
  g_assert_no_error (error);
  g_assert_true (lottery_store_close (storage, NULL));
  g_clear_object (&storage);

  storage = lottery_file_store_open_full (fixture->path,
                                          LOTTERY_FILE_STORE_SYNC,
                                          collect_record, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 66);
  g_assert_cmpuint (g_array_index (records, LotteryStoreRecord, 65).sequence,
                    ==, 66);
  g_assert_cmpuint (store_size (storage), ==, 44);
  g_assert_true (lottery_store_close (storage, NULL));
}

/* ---- the LotteryStore contract: what any store must do ---- */

typedef LotteryStore *(*StoreOpenFunc) (Fixture                *fixture,
                                        LotteryStoreRecordFunc  func,
                                        gpointer                user_data,
                                        GError                **error);

static LotteryStore *
open_file_store_sync (Fixture                *fixture,
                      LotteryStoreRecordFunc  func,
                      gpointer                user_data,
                      GError                **error)
{
  return lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_SYNC,
                                       func, user_data, error);
}

static LotteryStore *
open_file_store_none (Fixture                *fixture,
                      LotteryStoreRecordFunc  func,
                      gpointer                user_data,
                      GError                **error)
{
  return lottery_file_store_open_full (fixture->path, LOTTERY_FILE_STORE_NONE,
                                       func, user_data, error);
}

#ifdef HAVE_POSTGRESQL
/* A lottery of its own (named after the fixture's directory) in the
 * database LOTTERY_TEST_PG_DSN names; tests/integration/test-postgres.py
 * runs this path against its throwaway cluster. */
static LotteryStore *
open_pg_store (Fixture                *fixture,
               LotteryStoreRecordFunc  func,
               gpointer                user_data,
               GError                **error)
{
  g_autofree char *name = g_path_get_basename (fixture->dir);
  g_autoptr(LotteryStore) store =
    lottery_pg_store_new (g_getenv ("LOTTERY_TEST_PG_DSN"), name, 2);

  if (!lottery_store_recover (store, func, user_data, NULL, error))
    return NULL;

  return g_steal_pointer (&store);
}
#endif

typedef struct
{
  guint   n_done;
  guint   order[2];
  GError *error;
} SyncWait;

static void
contract_synced_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  SyncWait *wait = user_data;
  GError *error = NULL;

  if (!lottery_store_sync_finish (LOTTERY_STORE (source), result, &error) &&
      wait->error == NULL)
    wait->error = error;
  else
    g_clear_error (&error);
  wait->n_done++;
}

/* Stores @records and waits until they are durable; a request with
 * nothing to sync, made after it, must complete after it. */
static void
contract_store (LotteryStore       *store,
                const char         *rows,
                LotteryStoreRecord *records,
                guint               n_records)
{
  g_autoptr(GError) error = NULL;
  SyncWait first = { 0, }, second = { 0, };
  guint64 ticket = 0;

  g_assert_true (lottery_store_append (store, rows, records, n_records,
                                       &ticket, &error));
  g_assert_no_error (error);
  lottery_store_sync_async (store, ticket, NULL, contract_synced_cb, &first);
  lottery_store_sync_async (store, 0, NULL, contract_synced_cb, &second);
  while (second.n_done == 0)
    {
      g_main_context_iteration (NULL, TRUE);
      g_assert_true (first.n_done == 1 || second.n_done == 0);
    }
  g_assert_no_error (first.error);
  g_assert_no_error (second.error);
}

static void
contract_check_bets (LotteryStore *store)
{
  const char * const agency1[] = { "1", NULL };
  const char * const agency2[] = { "3", NULL };
  g_autoptr(GArray) bets = g_array_new (FALSE, FALSE, sizeof (LotteryBet));
  g_autoptr(GPtrArray) winners = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (lottery_store_load_bets (store, FALSE, collect_bet, bets,
                                          NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (bets->len, ==, 3);
  g_assert_cmpstr (g_array_index (bets, LotteryBet, 0).document, ==, "1");
  g_assert_cmpstr (g_array_index (bets, LotteryBet, 1).document, ==, "2");
  g_assert_cmpstr (g_array_index (bets, LotteryBet, 2).document, ==, "3");
  g_array_set_size (bets, 0);
  g_assert_true (lottery_store_load_bets (store, TRUE, collect_bet, bets,
                                          NULL, &error));
  g_assert_cmpuint (bets->len, ==, 2);

  winners = lottery_store_draw (store, 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (winners->len, ==, 2);
  assert_documents (winners->pdata[0], agency1);
  assert_documents (winners->pdata[1], agency2);
}

static void
test_store_contract (Fixture       *fixture,
                     gconstpointer  user_data)
{
  StoreOpenFunc open_store = (StoreOpenFunc) user_data;
  static const char rows[] =
    "1,A,B,1,1990-01-01,7574\r\n1,C,D,2,1990-01-01,1\r\n"
    "2,E,F,3,1990-01-01,7574\r\n";
  LotteryStoreRecord group[] = {
    { LOTTERY_STORE_RECORD_BATCH, 1, 1, 2, ROWS_1 },
    { LOTTERY_STORE_RECORD_BATCH, 1, 2, 0, 0 },
    { LOTTERY_STORE_RECORD_BATCH, 2, 1, 1, sizeof rows - 1 - ROWS_1 },
  };
  LotteryStoreRecord finish = { LOTTERY_STORE_RECORD_FINISH, 1, 2, 0, 0 };
  g_autoptr(LotteryStore) store = NULL;
  g_autoptr(GArray) records = g_array_new (FALSE, TRUE,
                                           sizeof (LotteryStoreRecord));
  g_autoptr(GError) error = NULL;
  guint64 ticket = 0;

  g_test_summary ("Through the LotteryStore interface only, as any store "
                  "must: a group of batches and a finish stored and synced "
                  "in order, streamed back, drawn, replayed in order after a "
                  "reopen, and refused once closed.");
#ifdef HAVE_POSTGRESQL
  if (open_store == open_pg_store && g_getenv ("LOTTERY_TEST_PG_DSN") == NULL)
    {
      g_test_skip ("LOTTERY_TEST_PG_DSN is not set (test-postgres.py sets it)");
      return;
    }
#endif

  store = open_store (fixture, collect_record, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 0);
  g_assert_nonnull (lottery_store_get_location (store));

  contract_store (store, rows, group, G_N_ELEMENTS (group));
  contract_store (store, NULL, &finish, 1);
  contract_check_bets (store);

  g_assert_true (lottery_store_close (store, &error));
  g_assert_no_error (error);
  g_assert_true (lottery_store_close (store, &error));
  g_assert_false (lottery_store_append (store, NULL, &finish, 1, &ticket,
                                        &error));
  g_assert_true (error->domain == LOTTERY_STORE_ERROR);
  g_assert_cmpuint (lottery_error_to_wire_code (error), ==,
                    LOTTERY_ERROR_STORAGE);
  g_clear_error (&error);
  g_clear_object (&store);

  /* What recovery replays is what was stored, in order. */
  store = open_store (fixture, collect_record, records, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 4);
  assert_record (&g_array_index (records, LotteryStoreRecord, 0), 'B', 1, 1,
                 2, G_MAXUINT64);
  assert_record (&g_array_index (records, LotteryStoreRecord, 1), 'B', 1, 2,
                 0, G_MAXUINT64);
  assert_record (&g_array_index (records, LotteryStoreRecord, 2), 'B', 2, 1,
                 1, G_MAXUINT64);
  assert_record (&g_array_index (records, LotteryStoreRecord, 3), 'F', 1, 2,
                 0, G_MAXUINT64);
  contract_check_bets (store);
  g_assert_true (lottery_store_close (store, &error));
  g_assert_no_error (error);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("LotteryStore: bets.csv rows byte for byte as Python's "
                  "csv module writes and reads them, whole batches under "
                  "concurrent appends, damaged rows, and the draw.");

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/storage/append/bytes", test_append_bytes);
  ADD ("/storage/append/reopen", test_append_reopen);
  ADD ("/storage/append/closed", test_append_closed);
  ADD ("/storage/append/concurrent", test_concurrent_appends);
  ADD ("/storage/open/fails", test_open_fails);
  ADD ("/storage/open/partial-row", test_open_cuts_partial_row);
  ADD ("/storage/journal/replay", test_journal_replay);
  ADD ("/storage/journal/torn-data", test_journal_torn_data);
  ADD ("/storage/journal/torn-journal", test_journal_torn_journal);
  ADD ("/storage/journal/damaged", test_journal_damaged);
  ADD ("/storage/journal/without-csv", test_journal_without_csv);
  g_test_add ("/storage/guard/replaced-sync", Fixture,
              GUINT_TO_POINTER (LOTTERY_FILE_STORE_SYNC), fixture_setup,
              test_replaced, fixture_teardown);
  g_test_add ("/storage/guard/replaced-none", Fixture,
              GUINT_TO_POINTER (LOTTERY_FILE_STORE_NONE), fixture_setup,
              test_replaced, fixture_teardown);
  ADD ("/storage/guard/journal-deleted", test_journal_deleted);
  ADD ("/storage/guard/not-regular", test_open_not_regular);
  ADD ("/storage/guard/adopt", test_adopt);
  ADD ("/storage/guard/adopt-too-few-agencies", test_adopt_too_few_agencies);
  ADD ("/storage/guard/agencies", test_agencies_recorded);
  ADD ("/storage/guard/agencies-old-journal", test_agencies_old_journal);
  ADD ("/storage/guard/journal-no-space", test_journal_no_space);
  ADD ("/storage/sync/concurrent", test_sync_concurrent);
  ADD ("/storage/sync/async-order", test_sync_async_order);
  ADD ("/storage/load/roundtrip", test_load_roundtrip);
  ADD ("/storage/load/winners-only", test_load_winners_only);
  ADD ("/storage/load/stop", test_load_stop);
  ADD ("/storage/load/blank-lines", test_load_blank_lines);
  ADD ("/storage/load/damaged", test_load_damaged);
  ADD ("/storage/load/damaged-winner", test_load_damaged_winner);
  ADD ("/storage/load/too-long", test_load_too_long);
  ADD ("/storage/load/missing", test_load_missing);
  ADD ("/storage/load/cancelled", test_load_cancelled);
  ADD ("/storage/load/python-csv", test_python_reads_back);
  ADD ("/storage/draw/by-agency", test_draw);
  ADD ("/storage/draw/empty", test_draw_empty);
  ADD ("/storage/draw/foreign-agencies", test_draw_foreign);

#undef ADD

  g_test_add ("/store/contract/file-sync", Fixture, open_file_store_sync,
              fixture_setup, test_store_contract, fixture_teardown);
  g_test_add ("/store/contract/file-none", Fixture, open_file_store_none,
              fixture_setup, test_store_contract, fixture_teardown);
#ifdef HAVE_POSTGRESQL
  g_test_add ("/store/contract/postgresql", Fixture, open_pg_store,
              fixture_setup, test_store_contract, fixture_teardown);
#endif

  return g_test_run ();
}
