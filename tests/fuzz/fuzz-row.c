/* fuzz-row.c: libFuzzer target for bets.csv rows and the CSV reader.
 *
 * The input is parsed as one bets.csv row (lottery_bet_parse_row ())
 * and as one row of an agency's file (lottery_bet_parse_line ()), then
 * read as a whole file with LotteryCsvReader, each line parsed as a
 * bets.csv row as lottery_bet_rows_read () does. Every bet that
 * parses is formatted back with lottery_bet_format_row () and must
 * parse to the same bet: the server reads bets.csv back for the draw,
 * so a row it writes but cannot read, or reads differently, is a lost
 * or altered bet. An agency's row added straight into a batch (the
 * client's one-pass path) must give the bytes its parsed bet gives.
 */
#include "config.h"

#include "fuzz-common.h"
#include "lottery-bet.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-bet-row.h"
#include "lottery-protocol.h"

#include <gio/gio.h>
#include <string.h>

static gboolean
same_bet (const LotteryBet *a,
          const LotteryBet *b)
{
  return a->agency == b->agency &&
         a->number == b->number &&
         a->first_name_len == b->first_name_len &&
         memcmp (a->first_name, b->first_name, a->first_name_len) == 0 &&
         a->last_name_len == b->last_name_len &&
         memcmp (a->last_name, b->last_name, a->last_name_len) == 0 &&
         a->document_len == b->document_len &&
         memcmp (a->document, b->document, a->document_len) == 0 &&
         memcmp (a->birthdate, b->birthdate, LOTTERY_BIRTHDATE_LEN) == 0;
}

static void
check_round_trip (const LotteryBet *bet)
{
  /* Exactly the documented size, so that a longer row is caught. */
  g_autofree char *row = g_malloc (LOTTERY_BET_ROW_MAX);
  g_autoptr(GError) error = NULL;
  LotteryBet again;
  gsize len;

  len = lottery_bet_format_row (bet, row);
  if (len < 2 || row[len - 2] != '\r' || row[len - 1] != '\n')
    g_error ("a formatted row does not end with CRLF");

  if (!lottery_bet_parse_row (row, len - 2, &again, &error))
    g_error ("the formatted row '%s' does not parse: %s",
             lottery_printable (row, len - 2), error->message);
  if (!same_bet (bet, &again))
    g_error ("the formatted row '%s' parses to another bet",
             lottery_printable (row, len - 2));
}

static void
parse_one_row (const char *line,
               gsize       len)
{
  LotteryBet bet;

  if (lottery_bet_parse_row (line, len, &bet, NULL))
    check_round_trip (&bet);
}

/* Reads @data as a file and checks that every line handed out is the
 * input's bytes between line ends, then parses it. */
static void
read_file (const guint8 *data,
           gsize         size)
{
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GError) error = NULL;
  guint64 line_number = 0;
  gsize start = 0;
  const char *line;
  gsize len;

  stream = g_memory_input_stream_new_from_data (data, (gssize) size, NULL);
  reader = lottery_csv_reader_new (stream, "fuzz");

  while (lottery_csv_reader_next_line (reader, &line, &len, NULL, &error))
    {
      guint64 end = lottery_csv_reader_get_offset (reader);
      const char *expected = (const char *) data + start;
      gsize expected_len;
      g_autofree char *copy = NULL;

      line_number++;
      if (end <= start || end > size ||
          lottery_csv_reader_get_line_number (reader) != line_number)
        g_error ("line %" G_GUINT64_FORMAT " ends at offset %" G_GUINT64_FORMAT
                 " after %" G_GSIZE_FORMAT, line_number, end, start);

      expected_len = (gsize) end - start;
      if (expected[expected_len - 1] == '\n')
        expected_len--;
      else if (end != size)
        g_error ("line %" G_GUINT64_FORMAT " has no line end", line_number);
      if (expected_len > 0 && expected[expected_len - 1] == '\r')
        expected_len--;
      if (line_number == 1 && expected_len >= 3 &&
          memcmp (expected, "\xef\xbb\xbf", 3) == 0)
        {
          expected += 3;
          expected_len -= 3;
        }
      if (len != expected_len || memcmp (line, expected, len) != 0)
        g_error ("line %" G_GUINT64_FORMAT " is not the input's bytes",
                 line_number);
      start = (gsize) end;

      /* Empty lines are skipped, as lottery_bet_rows_read () does. */
      if (len == 0)
        continue;
      /* An exact copy: the reader's block would hide a read past it. */
      copy = g_memdup2 (line, len);
      parse_one_row (copy, len);
    }

  /* Inputs beyond -max_len may hold a line longer than a block. */
  if (g_error_matches (error, LOTTERY_BETS_FILE_ERROR,
                       LOTTERY_BETS_FILE_ERROR_INVALID_ROW))
    return;
  if (error != NULL)
    g_error ("reading from memory failed: %s", error->message);
  if (start != size)
    g_error ("the reader stopped at %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
             " bytes", start, size);
}

/* An agency's row read the long way: split, then each field set. */
static gboolean
parse_line_reference (LotteryBet *bet,
                      const char *line,
                      gsize       len)
{
  LotteryCsvField fields[LOTTERY_BET_N_FIELDS + 1];
  const char *values[LOTTERY_BET_N_FIELDS];
  gsize lens[LOTTERY_BET_N_FIELDS];
  g_autofree char *scratch = g_malloc (len + 1);
  int i;

  if (lottery_csv_split (line, len, fields, G_N_ELEMENTS (fields), scratch,
                         NULL) != LOTTERY_BET_N_FIELDS)
    return FALSE;
  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    {
      values[i] = fields[i].data;
      lens[i] = fields[i].len;
    }

  return lottery_bet_set_fields (bet, values, lens, NULL);
}

/* The client's one-pass path into a batch takes only rows that parse,
 * and writes the bytes that adding the parsed bet writes. */
static void
check_add_line (const char       *line,
                gsize             len,
                const LotteryBet *bet)
{
  g_autofree LotteryBatchEncoder *fast = g_new (LotteryBatchEncoder, 1);
  g_autofree LotteryBatchEncoder *full = g_new (LotteryBatchEncoder, 1);

  lottery_batch_encoder_init (fast, 1);
  if (!lottery_batch_encoder_add_line (fast, line, len))
    return;
  if (bet == NULL)
    g_error ("a row that does not parse went into a batch");
  lottery_batch_encoder_init (full, 1);
  /* The bets only: the header is written by lottery_batch_encoder_finish (). */
  if (!lottery_batch_encoder_add (full, bet) || fast->len != full->len ||
      memcmp (fast->frame + LOTTERY_FRAME_PREFIX + LOTTERY_BATCH_HEADER,
              full->frame + LOTTERY_FRAME_PREFIX + LOTTERY_BATCH_HEADER,
              fast->len - LOTTERY_FRAME_PREFIX - LOTTERY_BATCH_HEADER) != 0)
    g_error ("a row went into a batch as other bytes than its bet");
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  LotteryBet bet = { 0 }, reference = { 0 };
  gboolean ok;

  parse_one_row ((const char *) data, size);

  /* An agency's row has no agency; the server adds the connection's.
   * The one-pass parser must read it as split-then-validate does. */
  ok = lottery_bet_parse_line (&bet, (const char *) data, size, NULL);
  if (ok != parse_line_reference (&reference, (const char *) data, size))
    g_error ("the agency-row parser and split-then-validate disagree");
  if (ok)
    {
      bet.agency = reference.agency = 1;
      if (!same_bet (&bet, &reference))
        g_error ("the agency-row parser reads another bet");
      check_round_trip (&bet);
    }
  check_add_line ((const char *) data, size, ok ? &bet : NULL);

  read_file (data, size);

  return 0;
}
