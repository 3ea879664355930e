/* test-journal.c: bets.csv's journal on its own: the record format,
 * reading it back, and the recovery walk-back at open. */
#include "config.h"

#include "lottery-journal.h"

#include "unit-utils.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  char           *dir;
  char           *path;    /* dir/bets.csv */
  LotteryJournal  journal;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->dir = unit_make_tmp_dir ();
  fixture->path = g_build_filename (fixture->dir, "bets.csv", NULL);
  lottery_journal_init (&fixture->journal, fixture->path);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  lottery_journal_clear (&fixture->journal);
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
}

static void
test_record_layout (void)
{
  LotteryStoreRecord record = { LOTTERY_STORE_RECORD_BATCH, 0x01020304,
                                0x05060708, 0x090a0b0c,
                                G_GUINT64_CONSTANT (0x1112131415161718),
                                0x1a1b1c1d };
  LotteryStoreRecord back = { 0, };
  guint8 p[LOTTERY_JOURNAL_RECORD_SIZE];
  static const guint8 head[] = {
    'L', 'J', 'B', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1a, 0x1b, 0x1c, 0x1d,
  };
  guint32 h = 2166136261u;
  guint i;

  g_test_summary ("A record is 32 bytes: magic, type, big-endian fields, "
                  "and FNV-1a of the first 28 bytes.");

  lottery_journal_encode (p, &record);
  g_assert_cmpmem (p, sizeof head, head, sizeof head);
  for (i = 0; i < 28; i++)
    h = (h ^ p[i]) * 16777619u;
  g_assert_cmpuint (((guint32) p[28] << 24) | ((guint32) p[29] << 16) |
                    ((guint32) p[30] << 8) | p[31], ==, h);

  g_assert_true (lottery_journal_decode (p, &back));
  /* Field by field: the struct has padding at its end. */
  g_assert_cmpint (back.type, ==, record.type);
  g_assert_cmpuint (back.agency, ==, record.agency);
  g_assert_cmpuint (back.sequence, ==, record.sequence);
  g_assert_cmpuint (back.count, ==, record.count);
  g_assert_cmpuint (back.end, ==, record.end);
  g_assert_cmpuint (back.claimed, ==, record.claimed);
}

static void
test_record_claimed (void)
{
  LotteryStoreRecord refused = { LOTTERY_STORE_RECORD_BATCH, 2, 7, 0, 640,
                                 50 };
  LotteryStoreRecord old = { LOTTERY_STORE_RECORD_BATCH, 2, 8, 40, 900, 0 };
  LotteryStoreRecord finish = { LOTTERY_STORE_RECORD_FINISH, 2, 8, 0, 900,
                                99 };
  LotteryStoreRecord back;
  guint8 p[LOTTERY_JOURNAL_RECORD_SIZE];

  g_test_summary ("Bytes 24-27 of a batch record hold the bets it claimed, "
                  "so a refused batch still counts the agency's bets it "
                  "used up; a journal written before they were kept (0 "
                  "there) reads a stored batch as claiming what it stored.");

  lottery_journal_encode (p, &refused);
  g_assert_true (lottery_journal_decode (p, &back));
  g_assert_cmpuint (back.count, ==, 0);
  g_assert_cmpuint (back.claimed, ==, 50);

  lottery_journal_encode (p, &old);
  g_assert_cmpuint (p[24] | p[25] | p[26] | p[27], ==, 0);
  g_assert_true (lottery_journal_decode (p, &back));
  g_assert_cmpuint (back.count, ==, 40);
  g_assert_cmpuint (back.claimed, ==, 40);

  /* Only batches claim bets. */
  lottery_journal_encode (p, &finish);
  g_assert_cmpuint (p[24] | p[25] | p[26] | p[27], ==, 0);
  g_assert_true (lottery_journal_decode (p, &back));
  g_assert_cmpuint (back.claimed, ==, 0);
}

static void
test_record_bit_flips (void)
{
  LotteryStoreRecord record = { LOTTERY_STORE_RECORD_FINISH, 3, 9, 0, 640 };
  LotteryStoreRecord back;
  guint8 p[LOTTERY_JOURNAL_RECORD_SIZE];
  guint bit;

  g_test_summary ("Any single flipped bit, and a block of zeros, make a "
                  "record unreadable.");

  lottery_journal_encode (p, &record);
  for (bit = 0; bit < 8 * sizeof p; bit++)
    {
      p[bit / 8] ^= (guint8) (1u << (bit % 8));
      g_assert_false (lottery_journal_decode (p, &back));
      p[bit / 8] ^= (guint8) (1u << (bit % 8));
    }
  memset (p, 0, sizeof p);
  g_assert_false (lottery_journal_decode (p, &back));
}

/* Writes @data and a journal of one batch record per end in @ends. */
static void
write_files (Fixture       *fixture,
             const char    *data,
             gsize          len,
             const guint64 *ends,
             guint          n_ends)
{
  g_autoptr(GByteArray) journal = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *journal_path = g_strconcat (fixture->path, ".journal",
                                               NULL);
  guint i;

  for (i = 0; i < n_ends; i++)
    {
      LotteryStoreRecord record = { LOTTERY_STORE_RECORD_BATCH, 1, i + 1, 1,
                                    ends[i] };
      guint8 p[LOTTERY_JOURNAL_RECORD_SIZE];

      lottery_journal_encode (p, &record);
      g_byte_array_append (journal, p, sizeof p);
    }
  g_file_set_contents (fixture->path, data, (gssize) len, &error);
  g_assert_no_error (error);
  g_file_set_contents (journal_path, (const char *) journal->data,
                       journal->len, &error);
  g_assert_no_error (error);
}

static gboolean
count_record (const LotteryStoreRecord *record,
              gpointer                  user_data)
{
  (*(guint *) user_data)++;
  return TRUE;
}

static void
test_scan_stops (Fixture       *fixture,
                 gconstpointer  user_data)
{
  static const guint64 ends[] = { 2, 4, 3, 6 };
  g_autoptr(GError) error = NULL;
  guint64 good = 99, data_end = 99;
  guint seen = 0;

  g_test_summary ("Reading the journal back stops at the first record that "
                  "goes backwards or past the end of bets.csv.");

  /* The third record goes backwards. */
  write_files (fixture, "A\nB\nC\n", 6, ends, G_N_ELEMENTS (ends));
  g_assert_true (lottery_journal_open (&fixture->journal, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fixture->journal.size, ==, 2 * 32);
  g_assert_true (lottery_journal_scan (&fixture->journal,
                                       fixture->journal.size, G_MAXUINT64,
                                       count_record, &seen, &good, &data_end,
                                       &error));
  g_assert_cmpuint (seen, ==, 2);
  g_assert_cmpuint (good, ==, 2 * 32);
  g_assert_cmpuint (data_end, ==, 4);

  /* @max_end stops it too. */
  g_assert_true (lottery_journal_scan (&fixture->journal,
                                       fixture->journal.size, 3, NULL, NULL,
                                       &good, &data_end, &error));
  g_assert_cmpuint (good, ==, 32);
  g_assert_cmpuint (data_end, ==, 2);
}

static void
test_open_walks_back (Fixture       *fixture,
                      gconstpointer  user_data)
{
  static const guint64 ends[] = { 2, 4 };
  g_autofree char *contents = NULL;
  gsize len;

  g_test_summary ("After a power cut bets.csv can be long enough but end in "
                  "zeros: the last batch whose last row does not end in a "
                  "line end is dropped, and both files are cut back.");

  write_files (fixture, "A\n\0\0", 4, ends, G_N_ELEMENTS (ends));
  g_assert_true (lottery_journal_open (&fixture->journal, TRUE, NULL));
  g_assert_cmpuint (fixture->journal.size, ==, 32);
  g_assert_cmpuint (fixture->journal.data_size, ==, 2);
  g_assert_true (lottery_journal_close (&fixture->journal, NULL));

  contents = unit_read_file (fixture->path, &len);
  g_assert_cmpmem (contents, len, "A\n", 2);
  g_free (contents);
  contents = unit_read_file (fixture->journal.path, &len);
  g_assert_cmpuint (len, ==, 32);
}

static void
test_open_adopts (Fixture       *fixture,
                  gconstpointer  user_data)
{
  LotteryStoreRecord record;
  g_autofree char *journal = NULL;
  gsize len;

  g_test_summary ("With storage.adopt, bets.csv without a journal is "
                  "adopted: its whole rows are kept under an adopted "
                  "record.");

  if (unit_run_in_subprocess ("*action: adopt | result: success*"))
    return;

  write_files (fixture, "A\nB", 3, NULL, 0);
  g_remove (fixture->journal.path);
  fixture->journal.adopt = TRUE;
  g_assert_true (lottery_journal_open (&fixture->journal, FALSE, NULL));
  g_assert_cmpuint (fixture->journal.data_size, ==, 2);
  g_assert_true (lottery_journal_close (&fixture->journal, NULL));

  journal = unit_read_file (fixture->journal.path, &len);
  g_assert_cmpuint (len, ==, 32);
  g_assert_true (lottery_journal_decode ((const guint8 *) journal, &record));
  g_assert_cmpint (record.type, ==, LOTTERY_STORE_RECORD_ADOPTED);
  g_assert_cmpuint (record.end, ==, 2);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("The journal of bets.csv: record format, scan and "
                  "recovery.");

  g_test_add_func ("/journal/record/layout", test_record_layout);
  g_test_add_func ("/journal/record/claimed", test_record_claimed);
  g_test_add_func ("/journal/record/bit-flips", test_record_bit_flips);
  g_test_add ("/journal/scan/stops", Fixture, NULL, fixture_setup,
              test_scan_stops, fixture_teardown);
  g_test_add ("/journal/open/walk-back", Fixture, NULL, fixture_setup,
              test_open_walks_back, fixture_teardown);
  g_test_add ("/journal/open/adopt", Fixture, NULL, fixture_setup,
              test_open_adopts, fixture_teardown);

  return g_test_run ();
}
