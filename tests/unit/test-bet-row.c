/* test-bet-row.c: the bets.csv row format: formatting, parsing back,
 * and the winning-number prefilter. */
#include "config.h"

#include "unit-utils.h"
#include "lottery-bet-row.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-store.h"

#include <string.h>

static void
assert_row (const LotteryBet *bet,
            const char       *expected)
{
  char row[LOTTERY_BET_ROW_MAX + 16];
  gsize len;

  memset (row, '#', sizeof row);
  len = lottery_bet_format_row (bet, row);
  g_assert_cmpmem (row, len, expected, strlen (expected));
  /* Nothing is written past the row. */
  g_assert_cmpint (row[len], ==, '#');
}

static void
test_format_row (void)
{
  LotteryBet bet;

  unit_set_bet (&bet, 1, "Santiago Lionel", "Lorca", "30904465", "1999-03-17",
           "7574");
  assert_row (&bet, "1,Santiago Lionel,Lorca,30904465,1999-03-17,7574\r\n");

  unit_set_bet (&bet, 3, "Ana, María", "O\"Brien", "12345678", "2000-02-29", "0");
  assert_row (&bet, "3,\"Ana, María\",\"O\"\"Brien\",12345678,2000-02-29,0\r\n");

  unit_set_bet (&bet, 100000, "\"", "\"\"", "00000000000000000001", "0001-01-01",
           "4294967295");
  assert_row (&bet, "100000,\"\"\"\",\"\"\"\"\"\",00000000000000000001,"
                    "0001-01-01,4294967295\r\n");

  /* Only the delimiter and quotes call for quoting, as in Python's
   * csv.QUOTE_MINIMAL: spaces, pipes, semicolons and accents do not. */
  unit_set_bet (&bet, 2, " Ñandú ", "a;b|c'd", "7", "1990-01-01", "12");
  assert_row (&bet, "2, Ñandú ,a;b|c'd,7,1990-01-01,12\r\n");

  unit_set_bet (&bet, 4, ",", "x,\"y\",z", "7", "1990-01-01", "7574");
  assert_row (&bet, "4,\",\",\"x,\"\"y\"\",z\",7,1990-01-01,7574\r\n");
}

/* Python's csv.QUOTE_MINIMAL, written out plainly, to hold the
 * formatter to. */
static void
append_reference_field (GString    *out,
                        const char *value)
{
  const char *p;

  if (strpbrk (value, ",\"\r\n") == NULL)
    {
      g_string_append (out, value);
      return;
    }
  g_string_append_c (out, '"');
  for (p = value; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

/* A comma or a quote at every position of names of every length up to
 * 40 bytes, accented or not: the formatter searches a name several
 * bytes at a time, and must find the byte wherever it lies. */
static void
test_format_row_every_position (void)
{
  static const char specials[] = { ',', '"' };
  guint len, pos, k;

  for (len = 1; len <= 40; len++)
    for (pos = 0; pos <= len; pos++)
      for (k = 0; k < G_N_ELEMENTS (specials); k++)
        {
          g_autoptr(GString) name = g_string_new (NULL);
          g_autoptr(GString) expected = g_string_new ("7,");
          LotteryBet bet;
          guint i;

          /* pos == len: no special byte at all; odd lengths hold an
           * accent (two bytes) in front. */
          if (len % 2 == 1 && len > 2 && pos > 1)
            g_string_append (name, "é");
          for (i = name->len; i < len; i++)
            g_string_append_c (name, i == pos ? specials[k] : (char) ('a' + i % 26));
          unit_set_bet (&bet, 7, name->str, "Pérez", "1", "1990-01-01", "3");
          append_reference_field (expected, name->str);
          g_string_append (expected, ",Pérez,1,1990-01-01,3\r\n");
          assert_row (&bet, expected->str);
        }
}

static void
test_format_row_longest (void)
{
  g_autofree char *quotes = g_strnfill (LOTTERY_NAME_MAX, '"');
  g_autofree char *digits = g_strnfill (LOTTERY_DOCUMENT_MAX, '9');
  g_autofree char *row = g_malloc (LOTTERY_BET_ROW_MAX);
  LotteryBet bet;
  LotteryCsvField fields[7];
  char scratch[LOTTERY_BET_ROW_MAX];
  g_autoptr(GError) error = NULL;
  gsize len;
  int n;

  unit_set_bet (&bet, G_MAXUINT32, quotes, quotes, digits, "9999-12-31",
           "4294967295");
  /* Exactly LOTTERY_BET_ROW_MAX bytes on the heap: valgrind and
   * MALLOC_CHECK_ catch any overrun. */
  len = lottery_bet_format_row (&bet, row);
  g_assert_cmpuint (len, <=, LOTTERY_BET_ROW_MAX);
  g_assert_cmpuint (len, ==, 10 + 1 + 202 + 1 + 202 + 1 + 20 + 1 + 10 + 1 +
                             10 + 2);

  /* The row splits back into the same six fields. */
  g_assert_cmpint (row[len - 2], ==, '\r');
  g_assert_cmpint (row[len - 1], ==, '\n');
  n = lottery_csv_split (row, len - 2, fields, G_N_ELEMENTS (fields), scratch,
                         &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 6);
  g_assert_cmpmem (fields[0].data, fields[0].len, "4294967295", 10);
  g_assert_cmpmem (fields[1].data, fields[1].len, quotes, LOTTERY_NAME_MAX);
  g_assert_cmpmem (fields[2].data, fields[2].len, quotes, LOTTERY_NAME_MAX);
  g_assert_cmpmem (fields[3].data, fields[3].len, digits,
                   LOTTERY_DOCUMENT_MAX);
  g_assert_cmpmem (fields[4].data, fields[4].len, "9999-12-31", 10);
  g_assert_cmpmem (fields[5].data, fields[5].len, "4294967295", 10);
}

static void
test_parse_roundtrip (void)
{
  LotteryBet bet, again;
  char row[LOTTERY_BET_ROW_MAX];
  g_autoptr(GError) error = NULL;
  gsize len;

  g_test_summary ("A formatted row parses back into the same bet, "
                  "terminators and lengths included.");

  unit_set_bet (&bet, 7, "Ana, \"la\" María", "Ñandú", "00012", "2000-02-29",
                "7574");
  len = lottery_bet_format_row (&bet, row);
  g_assert_true (lottery_bet_parse_row (row, len - 2, &again, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&again, sizeof again, &bet, sizeof bet);
}

static void
test_parse_errors (void)
{
  static const struct { const char *row; const char *message; } cases[] = {
    { "1,Ana,Pérez,1,1990-01-01", "row does not have 6 fields" },
    { "x,Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
    { "0,Ana,Pérez,1,1990-01-01,7", "agency is not a number" },
  };
  g_autofree char *name = g_strnfill (600, 'a');
  g_autofree char *long_row = g_strdup_printf ("1,%s,B,1,1990-01-01,7", name);
  LotteryBet bet;
  guint i;

  g_test_summary ("A damaged stored row is a store error (the wire says "
                  "\"storage\"), not a protocol one.");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (lottery_bet_parse_row (cases[i].row,
                                             strlen (cases[i].row), &bet,
                                             &error));
      g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CORRUPT);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      g_assert_cmpuint (lottery_error_to_wire_code (error), ==,
                        LOTTERY_ERROR_STORAGE);
    }

  {
    g_autoptr(GError) error = NULL;

    g_assert_false (lottery_bet_parse_row (long_row, strlen (long_row), &bet,
                                           &error));
    g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_CORRUPT);
    g_assert_cmpstr (error->message, ==, "row is too long");
  }
}

static void
test_has_won (void)
{
  static const struct { const char *row; gboolean won; } cases[] = {
    { "1,A,B,1,1990-01-01,7574", TRUE },
    { "1,A,B,1,1990-01-01,007574", TRUE },
    { "1,A,B,1,1990-01-01,17574", FALSE },
    { "1,A,B,1,1990-01-01,75740", FALSE },
    { "1,A,B,1,1990-01-01,", FALSE },
    { "1,A,B,1,1990-01-01,7574x", FALSE },
    { "1,A,B,1,1990-01-01,00000000007574", FALSE },
    { "7574", FALSE },
  };
  guint i;

  g_test_summary ("The draw's prefilter reads the last field as the parser "
                  "would: leading zeros count, anything else does not win.");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("row “%s”", cases[i].row);
      g_assert_cmpint (lottery_bet_row_has_won (cases[i].row,
                                                strlen (cases[i].row)), ==,
                       cases[i].won);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("The bets.csv row format: byte for byte what Python's csv "
                  "module writes, and parsed back strictly.");

  g_test_add_func ("/bet-row/format-row/awkward", test_format_row);
  g_test_add_func ("/bet-row/format-row/longest", test_format_row_longest);
  g_test_add_func ("/bet-row/format-row/every-position",
                   test_format_row_every_position);
  g_test_add_func ("/bet-row/parse/roundtrip", test_parse_roundtrip);
  g_test_add_func ("/bet-row/parse/errors", test_parse_errors);
  g_test_add_func ("/bet-row/has-won", test_has_won);

  return g_test_run ();
}
