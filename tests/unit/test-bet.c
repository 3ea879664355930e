/* test-bet.c: validation and agency-file rows (bets.csv rows: test-bet-row.c). */
#include "config.h"

#include "unit-utils.h"
#include "lottery-bet.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"

#include <stdlib.h>
#include <string.h>

static gboolean
set_field (LotteryBetField field,
           const char     *value,
           GError        **error)
{
  LotteryBet bet = { 0 };

  return lottery_bet_set_field (&bet, field, value, strlen (value), error);
}

static void
assert_field_ok (LotteryBetField field,
                 const char     *value)
{
  g_autoptr(GError) error = NULL;

  g_test_message ("%s “%s” is accepted", lottery_bet_field_name (field),
                  value);
  g_assert_true (set_field (field, value, &error));
  g_assert_no_error (error);
}

static void
assert_field_bad (LotteryBetField field,
                  const char     *value)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *shown = g_strescape (value, NULL);

  g_test_message ("%s “%s” is rejected", lottery_bet_field_name (field),
                  shown);
  g_assert_false (set_field (field, value, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
  /* The message names the column, as the operator sees it. */
  g_assert_nonnull (strstr (error->message, lottery_bet_field_name (field)));
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

static void
assert_name_ok (const char *value)
{
  assert_field_ok (LOTTERY_BET_FIELD_FIRST_NAME, value);
  assert_field_ok (LOTTERY_BET_FIELD_LAST_NAME, value);
}

static void
assert_name_bad (const char *value)
{
  assert_field_bad (LOTTERY_BET_FIELD_FIRST_NAME, value);
  assert_field_bad (LOTTERY_BET_FIELD_LAST_NAME, value);
}

static void
test_name_empty (void)
{
  g_autoptr(GError) error = NULL;

  assert_name_bad ("");

  g_assert_false (set_field (LOTTERY_BET_FIELD_LAST_NAME, "", &error));
  g_assert_cmpstr (error->message, ==, "APELLIDO is empty");
}

static void
test_name_length (void)
{
  g_autofree char *max = g_strnfill (LOTTERY_NAME_MAX, 'a');
  g_autofree char *over = g_strnfill (LOTTERY_NAME_MAX + 1, 'a');
  GString *accented = g_string_new (NULL);
  LotteryBet bet = { 0 };
  g_autoptr(GError) error = NULL;
  guint i;

  assert_name_ok ("A");
  assert_name_ok (max);
  assert_name_bad (over);

  /* The limit is in bytes: 50 two-byte letters fit, 51 do not. */
  for (i = 0; i < LOTTERY_NAME_MAX / 2; i++)
    g_string_append (accented, "ñ");
  g_assert_cmpuint (accented->len, ==, LOTTERY_NAME_MAX);
  assert_name_ok (accented->str);
  g_string_append (accented, "ñ");
  assert_name_bad (accented->str);
  g_string_free (accented, TRUE);

  g_assert_true (lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_FIRST_NAME,
                                        max, strlen (max), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (bet.first_name_len, ==, LOTTERY_NAME_MAX);
  g_assert_cmpstr (bet.first_name, ==, max);
}

static void
test_name_control (void)
{
  static const char * const bad[] = {
    "Ana\tMaría", "Ana\nMaría", "Ana\rMaría", "\x01" "Ana", "Ana\x1f",
    "Ana\x7f", "\x1b[31mAna",
  };
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_name_bad (bad[i]);

  /* An embedded NUL counts too: the length, not the terminator, rules. */
  {
    LotteryBet bet = { 0 };

    g_assert_false (lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_FIRST_NAME,
                                           "Ana\0X", 5, &error));
    g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
    g_clear_error (&error);
  }

  g_assert_false (set_field (LOTTERY_BET_FIELD_FIRST_NAME, "Ana\tB", &error));
  g_assert_cmpstr (error->message, ==,
                   "NOMBRE contains a control character at byte 4");
}

static void
test_name_c1_control (void)
{
  g_autoptr(GError) error = NULL;

  /* U+0080, U+0085 (NEL) and U+009F are C1 controls. */
  assert_name_bad ("Ana\xc2\x80");
  assert_name_bad ("\xc2\x85" "Ana");
  assert_name_bad ("An\xc2\x9f" "a");
  /* U+00A0 (no-break space) and U+00A1 just past the range are letters
   * or punctuation, not controls. */
  assert_name_ok ("Ana\xc2\xa0María");
  assert_name_ok ("\xc2\xa1" "Ana!");

  g_assert_false (set_field (LOTTERY_BET_FIELD_LAST_NAME, "Pérez\xc2\x85",
                             &error));
  g_assert_cmpstr (error->message, ==,
                   "APELLIDO contains a control character at byte 7");
}

static void
test_name_invalid_utf8 (void)
{
  static const char * const bad[] = {
    "Ana\xff",             /* never valid */
    "Ana\xc3",             /* sequence cut short */
    "\xc3(Ana",            /* continuation missing */
    "Ana\xc0\x80",         /* overlong NUL */
    "Ana\xed\xa0\x80",     /* surrogate */
    "Ana\xf4\x90\x80\x80", /* beyond U+10FFFF */
    "Mar\xe9" "a",         /* Latin-1, not UTF-8 */
  };
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_name_bad (bad[i]);

  g_assert_false (set_field (LOTTERY_BET_FIELD_FIRST_NAME, "José\xff",
                             &error));
  g_assert_cmpstr (error->message, ==,
                   "NOMBRE is not valid UTF-8 at byte 6");
}

/* The rule, said independently of the validator: valid UTF-8 and no
 * character of category Cc. */
static gboolean
name_rule (const char *value,
           gsize       len)
{
  const char *p;

  if (len == 0 || len > LOTTERY_NAME_MAX || !g_utf8_validate_len (value, len, NULL))
    return FALSE;
  for (p = value; p < value + len; p = g_utf8_next_char (p))
    if (g_unichar_type (g_utf8_get_char (p)) == G_UNICODE_CONTROL)
      return FALSE;

  return TRUE;
}

static void
check_name_bytes (const guchar *bytes,
                  gsize         len)
{
  g_autoptr(GError) error = NULL;
  LotteryBet bet = { 0 };
  gboolean expected = name_rule ((const char *) bytes, len);
  gboolean ok = lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_LAST_NAME,
                                       (const char *) bytes, len, &error);

  if (ok != expected)
    g_error ("name of %u bytes %02x %02x %02x: validator says %d, rule %d",
             (guint) len, bytes[0], len > 1 ? bytes[1] : 0,
             len > 2 ? bytes[2] : 0, ok, expected);
  g_assert_true (ok == (error == NULL));
}

/* Every sequence of one and two bytes, and every three-byte one that
 * starts with a lead byte (the validator has a fast path for common
 * letters; it must agree with the rule on every input, not only on
 * names that look like names). */
static void
test_name_all_short (void)
{
  guchar b[3];
  guint i, j, k;

  for (i = 0; i < 256; i++)
    {
      b[0] = (guchar) i;
      check_name_bytes (b, 1);
      for (j = 0; j < 256; j++)
        {
          b[1] = (guchar) j;
          check_name_bytes (b, 2);
          if (i < 0xe0 || i > 0xef || (j >= 0x20 && j < 0x7f && j != 0x41))
            continue;
          for (k = 0; k < 256; k++)
            {
              b[2] = (guchar) k;
              check_name_bytes (b, 3);
            }
        }
    }
}

static void
test_name_accents (void)
{
  static const char * const good[] = {
    "José", "María José", "Müller", "Łukasz", "Nuñez", "Ñandú", "Zoë",
    "Ærøskøbing", "Đorđe", "李", "Ελένη", "D'Angelo", "Pérez-García",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    assert_name_ok (good[i]);
}

static void
test_name_punctuation (void)
{
  static const char * const good[] = {
    "Ana, María", "O\"Brien", "\"", "\"\"", ",", " ", "a|b", "100%", "x;y",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    assert_name_ok (good[i]);
}

static void
test_document (void)
{
  static const char * const good[] = {
    "0", "1", "12345678", "00000000000000000000", "99999999999999999999",
  };
  static const char * const bad[] = {
    "", "123456789012345678901", "12a", "-1", "+1", " 1", "1 ", "1.0",
    "1,0", "١٢٣", "0x1f", "12:34", "1/2",
  };
  LotteryBet bet = { 0 };
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    assert_field_ok (LOTTERY_BET_FIELD_DOCUMENT, good[i]);
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_field_bad (LOTTERY_BET_FIELD_DOCUMENT, bad[i]);

  g_assert_true (lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_DOCUMENT,
                                        "30904465", 8, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (bet.document, ==, "30904465");
  g_assert_cmpuint (bet.document_len, ==, 8);

  g_assert_false (set_field (LOTTERY_BET_FIELD_DOCUMENT, "12a", &error));
  g_assert_cmpstr (error->message, ==,
                   "DOCUMENTO “12a” must be 1 to 20 digits");
}

static void
test_birthdate (void)
{
  static const char * const good[] = {
    "1999-03-17", "2000-02-29", "2024-02-29", "1900-02-28", "0001-01-01",
    "9999-12-31", "2023-01-31", "2023-04-30", "2023-12-31",
  };
  static const char * const bad[] = {
    "1900-02-29", "2023-02-29", "2100-02-29", "2023-13-01", "2023-00-10",
    "2023-01-00", "2023-01-32", "2023-04-31", "0000-01-01", "1999-3-17",
    "1999/03/17", "17-03-1999", "1999-03-17 ", " 1999-03-17", "19990317",
    "1999-03-1a", "", "1999-03-170", "+999-03-17", "1999--3-17",
  };
  LotteryBet bet = { 0 };
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    assert_field_ok (LOTTERY_BET_FIELD_BIRTHDATE, good[i]);
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_field_bad (LOTTERY_BET_FIELD_BIRTHDATE, bad[i]);

  g_assert_true (lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_BIRTHDATE,
                                        "2000-02-29", 10, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (bet.birthdate, ==, "2000-02-29");

  g_assert_false (set_field (LOTTERY_BET_FIELD_BIRTHDATE, "2023-13-01",
                             &error));
  g_assert_cmpstr (error->message, ==,
                   "NACIMIENTO “2023-13-01” is not a calendar date "
                   "YYYY-MM-DD");
}

/* A calendar date written YYYY-MM-DD, said with GDate. */
static gboolean
date_rule (const char *value)
{
  static const int digits[] = { 0, 1, 2, 3, 5, 6, 8, 9 };
  guint i;

  if (strlen (value) != 10 || value[4] != '-' || value[7] != '-')
    return FALSE;
  for (i = 0; i < G_N_ELEMENTS (digits); i++)
    if (!g_ascii_isdigit (value[digits[i]]))
      return FALSE;

  return g_date_valid_dmy ((GDateDay) atoi (value + 8),
                           (GDateMonth) atoi (value + 5),
                           (GDateYear) atoi (value));
}

static void
check_date (const char *value,
            gsize       len)
{
  g_autofree char *copy = g_strndup (value, len);
  gboolean expected = len == strlen (copy) && date_rule (copy);
  gboolean ok = lottery_bet_set_field (&(LotteryBet) { 0 },
                                       LOTTERY_BET_FIELD_BIRTHDATE, value,
                                       len, NULL);

  if (ok != expected)
    {
      g_autofree char *shown = g_strescape (copy, NULL);
      g_error ("NACIMIENTO “%s” (%u bytes): validator says %d, GDate %d",
               shown, (guint) len, ok, expected);
    }
}

/* Every day of some years (leap or not, by 4, 100 and 400) and the days
 * around them, and every byte at every position of two dates: the
 * date's shape is checked a word at a time, and must refuse what
 * GDate's reading of the rule refuses. */
static void
test_birthdate_all (void)
{
  static const guint years[] = { 0, 1, 4, 100, 400, 1900, 1999, 2000, 2024, 9999 };
  static const char * const dates[] = { "2000-02-29", "1999-12-31" };
  guint y, m, d, i, pos, byte;

  for (y = 0; y < G_N_ELEMENTS (years); y++)
    for (m = 0; m <= 13; m++)
      for (d = 0; d <= 32; d++)
        {
          char value[16];

          g_snprintf (value, sizeof value, "%04u-%02u-%02u", years[y], m, d);
          check_date (value, 10);
        }

  for (i = 0; i < G_N_ELEMENTS (dates); i++)
    for (pos = 0; pos < 10; pos++)
      for (byte = 0; byte < 256; byte++)
        {
          char value[11];

          memcpy (value, dates[i], 11);
          value[pos] = (char) byte;
          check_date (value, 10);
        }
}

/* Documents of every length up to one too many, each with a byte that
 * is not a digit (next to the digits in ASCII, or high) at every
 * position, in a DOCUMENTO field and in a row: digits are checked
 * several at a time. */
static void
test_document_every_position (void)
{
  static const char bad[] = { '/', ':', ' ', 'a', '\0', '\x80', '\xb0', '\xb9', '\xf9' };
  guint len, pos, k;

  for (len = 1; len <= LOTTERY_DOCUMENT_MAX + 1; len++)
    for (pos = 0; pos <= len; pos++)
      for (k = 0; k < G_N_ELEMENTS (bad); k++)
        {
          char document[LOTTERY_DOCUMENT_MAX + 2];
          g_autoptr(GString) line = NULL;
          LotteryBet bet = { 0 };
          gboolean expected = pos == len && len <= LOTTERY_DOCUMENT_MAX;
          guint i;

          for (i = 0; i < len; i++)
            document[i] = i == pos ? bad[k] : (char) ('0' + (i * 7 + 3) % 10);
          document[len] = '\0';
          g_assert_true (lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_DOCUMENT,
                                                document, len, NULL) == expected);
          g_assert_true (lottery_all_digits (document, len) == (pos == len));
          if (expected)
            g_assert_cmpmem (bet.document, bet.document_len, document, len);

          line = g_string_new ("Ana,Pérez,");
          g_string_append_len (line, document, len);
          g_string_append (line, ",1999-03-17,7");
          g_assert_true (lottery_bet_parse_line (&bet, line->str, line->len,
                                                 NULL) == expected);
          if (expected)
            g_assert_cmpmem (bet.document, bet.document_len, document, len);
        }
}

static void
test_number (void)
{
  static const struct { const char *text; guint32 value; } good[] = {
    { "0", 0 }, { "7574", 7574 }, { "0007574", 7574 },
    { "4294967295", G_MAXUINT32 }, { "0000000001", 1 },
  };
  static const char * const bad[] = {
    "", "4294967296", "9999999999", "00004294967296", "12345678901", "-1",
    "+1", "12a", "1.5", " 7", "7 ", "0x10",
  };
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      LotteryBet bet = { 0 };

      bet.number = 1234;
      g_assert_true (lottery_bet_set_field (&bet, LOTTERY_BET_FIELD_NUMBER,
                                            good[i].text,
                                            strlen (good[i].text), &error));
      g_assert_no_error (error);
      g_assert_cmpuint (bet.number, ==, good[i].value);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    assert_field_bad (LOTTERY_BET_FIELD_NUMBER, bad[i]);

  g_assert_false (set_field (LOTTERY_BET_FIELD_NUMBER, "4294967296", &error));
  g_assert_cmpstr (error->message, ==,
                   "NUMERO “4294967296” must be an integer from 0 to "
                   "4294967295");
}

static void
test_set_fields (void)
{
  const char *values[] = { "Ana", "Pérez", "12345678", "1990-05-17", "7574" };
  const char *bad_values[] = { "Ana", "Pérez", "1234x", "1990-05-17", "1" };
  gsize lens[LOTTERY_BET_N_FIELDS];
  LotteryBet bet = { 0 };
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    lens[i] = strlen (values[i]);
  g_assert_true (lottery_bet_set_fields (&bet, values, lens, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (bet.first_name, ==, "Ana");
  g_assert_cmpstr (bet.last_name, ==, "Pérez");
  g_assert_cmpuint (bet.last_name_len, ==, strlen ("Pérez"));
  g_assert_cmpstr (bet.document, ==, "12345678");
  g_assert_cmpstr (bet.birthdate, ==, "1990-05-17");
  g_assert_cmpuint (bet.number, ==, 7574);

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    lens[i] = strlen (bad_values[i]);
  g_assert_false (lottery_bet_set_fields (&bet, bad_values, lens, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
  g_assert_nonnull (strstr (error->message, "DOCUMENTO"));
}

static void
test_field_names (void)
{
  g_assert_cmpstr (lottery_bet_field_name (LOTTERY_BET_FIELD_FIRST_NAME), ==,
                   "NOMBRE");
  g_assert_cmpstr (lottery_bet_field_name (LOTTERY_BET_FIELD_LAST_NAME), ==,
                   "APELLIDO");
  g_assert_cmpstr (lottery_bet_field_name (LOTTERY_BET_FIELD_DOCUMENT), ==,
                   "DOCUMENTO");
  g_assert_cmpstr (lottery_bet_field_name (LOTTERY_BET_FIELD_BIRTHDATE), ==,
                   "NACIMIENTO");
  g_assert_cmpstr (lottery_bet_field_name (LOTTERY_BET_FIELD_NUMBER), ==,
                   "NUMERO");
}

static LotteryBet *
parse_line (const char *line,
            GError    **error)
{
  g_autoptr(LotteryBet) bet = lottery_bet_new ();

  if (!lottery_bet_parse_line (bet, line, strlen (line), error))
    return NULL;

  return g_steal_pointer (&bet);
}

static void
test_parse_line_plain (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryBet) bet = parse_line ("Santiago Lionel,Lorca,30904465,"
                                          "1999-03-17,7574", &error);

  g_assert_no_error (error);
  g_assert_nonnull (bet);
  g_assert_cmpuint (bet->agency, ==, 0);
  g_assert_cmpstr (bet->first_name, ==, "Santiago Lionel");
  g_assert_cmpuint (bet->first_name_len, ==, 15);
  g_assert_cmpstr (bet->last_name, ==, "Lorca");
  g_assert_cmpstr (bet->document, ==, "30904465");
  g_assert_cmpstr (bet->birthdate, ==, "1999-03-17");
  g_assert_cmpuint (bet->number, ==, 7574);
}

/* The row as the rules say, from the public pieces: split, then each
 * field set on its own, in order. */
static gboolean
parse_line_reference (LotteryBet *bet,
                      const char *line,
                      gsize       len,
                      GError    **error)
{
  g_autofree LotteryCsvField *fields = g_new (LotteryCsvField, 6);
  g_autofree char *scratch = g_malloc (len + 1);
  int n = lottery_csv_split (line, len, fields, 6, scratch, error);
  int field;

  if (n < 0)
    return FALSE;
  if (n != LOTTERY_BET_N_FIELDS)
    {
      g_set_error_literal (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET,
                           "field count");
      return FALSE;
    }
  for (field = 0; field < LOTTERY_BET_N_FIELDS; field++)
    if (!lottery_bet_set_field (bet, (LotteryBetField) field,
                                fields[field].data, fields[field].len, error))
      return FALSE;

  return TRUE;
}

static gboolean
same_bet (const LotteryBet *a,
          const LotteryBet *b)
{
  return a->number == b->number &&
         a->first_name_len == b->first_name_len &&
         strcmp (a->first_name, b->first_name) == 0 &&
         a->last_name_len == b->last_name_len &&
         strcmp (a->last_name, b->last_name) == 0 &&
         a->document_len == b->document_len &&
         strcmp (a->document, b->document) == 0 &&
         strcmp (a->birthdate, b->birthdate) == 0;
}

/* Rows made of every combination of awkward fields: the parser takes
 * common rows in one pass and must accept, refuse and read each row
 * exactly as the split-then-validate reference does, with the same
 * message. */
static void
test_parse_line_same_as_reference (void)
{
  g_autofree char *long_name = g_strnfill (LOTTERY_NAME_MAX, 'a');
  g_autofree char *too_long_name = g_strnfill (LOTTERY_NAME_MAX + 1, 'a');
  g_autofree char *long_accents = g_strnfill (LOTTERY_NAME_MAX - 2, 'b');
  g_autofree char *accents_100 = g_strconcat (long_accents, "é", NULL);
  g_autofree char *accents_101 = g_strconcat (long_name, "é", NULL);
  const char *names[] = {
    "", "a", "José", "abcdefgh", "abcdefghi", "María de los Ángeles",
    "O'Brien-Núñez", "\"Ana, María\"", "\"O\"\"B\"", "a\"b", "a\tb",
    "a\x7f" "b", "\xc2\x80", "\xc2\xa0", "\xe2\x82\xac", "\xe1\x80\x80",
    "\xed\xa0\x80", "x\xc3", "\xc3", "\xf0\x9f\x98\x80", "abcdefg\xc3",
    "abcdefgh\xc3\xa9", " ", long_name, too_long_name, accents_100,
    accents_101,
  };
  const char *documents[] = {
    "30904465", "", "1", "99999999999999999999", "999999999999999999999",
    "12a", "\"123\"",
  };
  const char *dates[] = {
    "1999-03-17", "2000-02-29", "1900-02-29", "2000-13-01", "0000-01-01",
    "1999-3-17", "1999-03-17x", "\"1999-03-17\"",
  };
  const char *numbers[] = {
    "7574", "", "0", "0007574", "4294967295", "4294967296", "12345678901",
    "1,2", "7574 ", "\"7\"",
  };
  guint a, b, d, t, u;

  for (a = 0; a < G_N_ELEMENTS (names); a++)
    for (b = 0; b < G_N_ELEMENTS (names); b++)
      for (d = 0; d < G_N_ELEMENTS (documents); d++)
        for (t = 0; t < G_N_ELEMENTS (dates); t++)
          for (u = 0; u < G_N_ELEMENTS (numbers); u++)
            {
              g_autofree char *line = g_strjoin (",", names[a], names[b],
                                                 documents[d], dates[t],
                                                 numbers[u], NULL);
              g_autoptr(GError) error = NULL;
              g_autoptr(GError) expected_error = NULL;
              LotteryBet bet = { 0 }, expected = { 0 };
              gboolean ok, expected_ok;

              /* Every pair of names, with one awkward field at a time
               * among valid others (index 0). */
              if ((d != 0) + (t != 0) + (u != 0) > 1)
                continue;
              ok = lottery_bet_parse_line (&bet, line, strlen (line), &error);
              expected_ok = parse_line_reference (&expected, line,
                                                  strlen (line),
                                                  &expected_error);
              if (ok != expected_ok || (ok && !same_bet (&bet, &expected)))
                {
                  g_autofree char *shown = g_strescape (line, NULL);
                  g_error ("row “%s”: parsed %d, reference %d", shown, ok,
                           expected_ok);
                }
              if (!ok && strcmp (expected_error->message, "field count") != 0)
                g_assert_cmpstr (error->message, ==, expected_error->message);
            }
}

static void
test_parse_line_quoted (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryBet) bet = NULL;
  g_autoptr(LotteryBet) all_quoted = NULL;

  bet = parse_line ("\"Ana, María\",\"O\"\"Brien\",12345678,2000-02-29,0",
                    &error);
  g_assert_no_error (error);
  g_assert_nonnull (bet);
  g_assert_cmpstr (bet->first_name, ==, "Ana, María");
  g_assert_cmpuint (bet->first_name_len, ==, strlen ("Ana, María"));
  g_assert_cmpstr (bet->last_name, ==, "O\"Brien");
  g_assert_cmpuint (bet->last_name_len, ==, 7);
  g_assert_cmpstr (bet->document, ==, "12345678");
  g_assert_cmpstr (bet->birthdate, ==, "2000-02-29");
  g_assert_cmpuint (bet->number, ==, 0);

  /* Every field may be quoted, digits included. */
  all_quoted = parse_line ("\"\"\"\",\"a\"\"\"\"b\",\"1\",\"1990-01-01\","
                           "\"4294967295\"", &error);
  g_assert_no_error (error);
  g_assert_nonnull (all_quoted);
  g_assert_cmpstr (all_quoted->first_name, ==, "\"");
  g_assert_cmpstr (all_quoted->last_name, ==, "a\"\"b");
  g_assert_cmpstr (all_quoted->document, ==, "1");
  g_assert_cmpuint (all_quoted->number, ==, G_MAXUINT32);
}

static void
test_parse_line_field_count (void)
{
  static const struct { const char *line; const char *message; } cases[] = {
    { "Ana,Pérez,1,1990-01-01",
      "expected 5 fields (NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO), "
      "found 4" },
    { "Ana,Pérez,1,1990-01-01,7,8",
      "expected 5 fields (NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO), "
      "found 6" },
    { "Ana,Pérez,1,1990-01-01,7,",
      "expected 5 fields (NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO), "
      "found 6" },
    { "", "expected 5 fields (NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO), "
          "found 1" },
    { "Ana,Pérez,1,1990-01-01,7,8,9", NULL },
    { "a,b,c,d,e,f,g,h,i,j,k", NULL },
    /* A quoted comma does not split. */
    { "\"Ana,Pérez\",1,1990-01-01,7",
      "expected 5 fields (NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO), "
      "found 4" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(LotteryBet) bet = NULL;

      g_test_message ("row “%s”", cases[i].line);
      bet = parse_line (cases[i].line, &error);
      g_assert_null (bet);
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
      if (cases[i].message != NULL)
        g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

static void
test_parse_line_invalid (void)
{
  static const struct { const char *line; const char *field; } cases[] = {
    { ",Pérez,1,1990-01-01,7", "NOMBRE" },
    { "Ana,,1,1990-01-01,7", "APELLIDO" },
    { "Ana,Pérez,,1990-01-01,7", "DOCUMENTO" },
    { "Ana,Pérez,12.5,1990-01-01,7", "DOCUMENTO" },
    { "Ana,Pérez,1,1990-02-30,7", "NACIMIENTO" },
    { "Ana,Pérez,1,1990-01-01,", "NUMERO" },
    { "Ana,Pérez,1,1990-01-01, 7", "NUMERO" },
    { "Ana,Pérez,1,1990-01-01,7\r", "NUMERO" },
    { "\"Ana\tB\",Pérez,1,1990-01-01,7", "NOMBRE" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(LotteryBet) bet = NULL;

      bet = parse_line (cases[i].line, &error);
      g_assert_null (bet);
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
      g_assert_nonnull (strstr (error->message, cases[i].field));
    }
}

static void
test_parse_line_bad_quotes (void)
{
  static const char * const lines[] = {
    "\"Ana,Pérez,1,1990-01-01,7",
    "\"Ana\"x,Pérez,1,1990-01-01,7",
    "An\"a,Pérez,1,1990-01-01,7",
    "Ana,Pérez,1,1990-01-01,\"7",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(LotteryBet) bet = parse_line (lines[i], &error);

      g_assert_null (bet);
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
    }
}

static void
test_parse_line_long (void)
{
  /* Longer than the parser's stack scratch even once unescaped: it
   * must switch to the heap and still unescape correctly (then reject
   * the name's length). */
  g_autoptr(GString) line = g_string_new ("\"");
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryBet) bet = NULL;
  guint i;

  for (i = 0; i < 1100; i++)
    g_string_append (line, "\"\"");
  g_string_append (line, "\",Pérez,1,1990-01-01,7");
  g_assert_cmpuint (line->len, >, 2 * 1024);

  bet = parse_line (line->str, &error);
  g_assert_null (bet);
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
  g_assert_cmpstr (error->message, ==, "NOMBRE is longer than 100 bytes");
}

static void
test_has_won (void)
{
  static const struct { guint32 number; gboolean won; } cases[] = {
    { 7574, TRUE }, { 7573, FALSE }, { 7575, FALSE }, { 0, FALSE },
    { 75740, FALSE }, { 17574, FALSE }, { G_MAXUINT32, FALSE },
  };
  LotteryBet bet = { 0 };
  guint i;

  g_assert_cmpuint (LOTTERY_WINNING_NUMBER, ==, 7574);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      bet.number = cases[i].number;
      g_assert_cmpint (lottery_bet_has_won (&bet), ==, cases[i].won);
    }
}

static void
test_copy (void)
{
  g_autoptr(LotteryBet) bet = lottery_bet_new ();
  g_autoptr(LotteryBet) copy = NULL;

  g_assert_cmpuint (bet->agency, ==, 0);
  g_assert_cmpuint (bet->first_name_len, ==, 0);
  g_assert_cmpstr (bet->first_name, ==, "");

  unit_set_bet (bet, 9, "Ana", "Pérez", "1", "1990-01-01", "5");
  copy = lottery_bet_copy (bet);
  g_assert_true (copy != bet);
  g_assert_cmpmem (copy, sizeof *copy, bet, sizeof *bet);
}

static void
test_format_uint (void)
{
  static const struct { guint64 value; const char *text; } cases[] = {
    { 0, "0" }, { 7, "7" }, { 10, "10" }, { 7574, "7574" },
    { G_MAXUINT32, "4294967295" }, { G_MAXUINT64, "18446744073709551615" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char out[24];
      gsize len;

      memset (out, '#', sizeof out);
      len = lottery_format_uint (cases[i].value, out);
      g_assert_cmpmem (out, len, cases[i].text, strlen (cases[i].text));
      g_assert_cmpint (out[len], ==, '#');
    }
}

static void
test_printable (void)
{
  g_autofree char *plain = lottery_printable ("Ana", 3);
  g_autofree char *controls = lottery_printable ("a\nb\x01|c\x7f", 7);
  g_autofree char *nul = lottery_printable ("a\0b", 3);
  g_autofree char *invalid = lottery_printable ("x\xff", 2);
  g_autofree char *long_text = NULL;
  g_autofree char *cut = NULL;
  g_autofree char *many = g_strnfill (100, 'x');
  GString *accents = g_string_new (NULL);
  guint i;

  g_assert_cmpstr (plain, ==, "Ana");
  g_assert_cmpstr (controls, ==, "a\\x0ab\\x01/c\\x7f");
  g_assert_cmpstr (nul, ==, "a\\x00b");
  g_assert_true (g_utf8_validate (invalid, -1, NULL));
  g_assert_true (g_str_has_prefix (invalid, "x"));

  long_text = lottery_printable (many, 100);
  g_assert_true (g_str_has_suffix (long_text, "…"));
  g_assert_cmpuint (strlen (long_text), ==, 40 + strlen ("…"));

  /* Cutting at 40 bytes may split a two-byte letter: still UTF-8. */
  g_string_append_c (accents, 'x');
  for (i = 0; i < 30; i++)
    g_string_append (accents, "ñ");
  cut = lottery_printable (accents->str, accents->len);
  g_assert_true (g_utf8_validate (cut, -1, NULL));
  g_string_free (accents, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("LotteryBet: the validation rules shared by client and "
                  "server, agency-file rows and bets.csv rows.");

  g_test_add_func ("/bet/validate/name/empty", test_name_empty);
  g_test_add_func ("/bet/validate/name/length", test_name_length);
  g_test_add_func ("/bet/validate/name/control", test_name_control);
  g_test_add_func ("/bet/validate/name/c1-control", test_name_c1_control);
  g_test_add_func ("/bet/validate/name/invalid-utf8", test_name_invalid_utf8);
  g_test_add_func ("/bet/validate/name/accents", test_name_accents);
  g_test_add_func ("/bet/validate/name/all-short", test_name_all_short);
  g_test_add_func ("/bet/validate/name/punctuation", test_name_punctuation);
  g_test_add_func ("/bet/validate/document-digits", test_document);
  g_test_add_func ("/bet/validate/birthdate", test_birthdate);
  g_test_add_func ("/bet/validate/birthdate-all", test_birthdate_all);
  g_test_add_func ("/bet/validate/document-every-position",
                   test_document_every_position);
  g_test_add_func ("/bet/validate/number", test_number);
  g_test_add_func ("/bet/validate/set-fields", test_set_fields);
  g_test_add_func ("/bet/field-names", test_field_names);
  g_test_add_func ("/bet/parse-line/plain", test_parse_line_plain);
  g_test_add_func ("/bet/parse-line/quoted", test_parse_line_quoted);
  g_test_add_func ("/bet/parse-line/same-as-reference",
                   test_parse_line_same_as_reference);
  g_test_add_func ("/bet/parse-line/field-count", test_parse_line_field_count);
  g_test_add_func ("/bet/parse-line/invalid", test_parse_line_invalid);
  g_test_add_func ("/bet/parse-line/bad-quotes", test_parse_line_bad_quotes);
  g_test_add_func ("/bet/parse-line/long", test_parse_line_long);
  g_test_add_func ("/bet/has-won", test_has_won);
  g_test_add_func ("/bet/copy", test_copy);
  g_test_add_func ("/bet/format-uint", test_format_uint);
  g_test_add_func ("/bet/printable", test_printable);

  return g_test_run ();
}
