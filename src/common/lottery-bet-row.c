/* lottery-bet-row.c: the bets.csv row format, both ways.
 *
 * A row is what the course's store_bets () wrote with Python's csv
 * module: agency,first_name,last_name,document,birthdate,number, CRLF.
 * The formatter (batch workers) and the parser (the draw, reading back)
 * live here together so the two cannot drift apart. Plain functions:
 * no state, no lock, any thread.
 */
#include "config.h"

#include "lottery-bet-row.h"
#include "lottery-bet-private.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-store.h"

#include <glib/gi18n-lib.h>

#include <inttypes.h>
#include <string.h>

/* Python's csv.QUOTE_MINIMAL: quote only when the field holds the
 * delimiter, the quote character or a line-end character. The field is
 * searched a word at a time for any of them (or another control
 * character, which a valid name does not hold) while it is copied; only
 * a field where the search found one is looked at byte by byte. */
static inline char *
append_csv_field (char       *out,
                  const char *value,
                  gsize       len)
{
  guint64 found = 0;
  gsize i;

  if (len >= 8)
    {
      guint64 w;

      for (i = 0; i + 8 < len; i += 8)
        {
          w = lottery_load8 (value + i);
          memcpy (out + i, &w, 8);
          found |= lottery_csv_quote_or_control (w);
        }
      w = lottery_load8 (value + len - 8);
      memcpy (out + len - 8, &w, 8);
      found |= lottery_csv_quote_or_control (w);
    }
  else if (len >= 4)
    {
      guint32 lo, hi;

      memcpy (&lo, value, 4);
      memcpy (&hi, value + len - 4, 4);
      memcpy (out, &lo, 4);
      memcpy (out + len - 4, &hi, 4);
      found = lottery_csv_quote_or_control (lo | ((guint64) hi << 32));
    }
  else
    for (i = 0; i < len; i++)
      {
        out[i] = value[i];
        found |= (guchar) value[i] < 0x20 || value[i] == ',' || value[i] == '"';
      }

  /* Copied as it was read; quoted below, over that copy, if need be. */
  if (G_LIKELY (found == 0))
    return out + len;

  for (i = 0; i < len; i++)
    if (value[i] == ',' || value[i] == '"' || value[i] == '\r' ||
        value[i] == '\n')
      break;
  if (i == len)
    return out + len;

  *out++ = '"';
  for (i = 0; i < len; i++)
    {
      if (value[i] == '"')
        *out++ = '"';
      *out++ = value[i];
    }
  *out++ = '"';

  return out;
}

/* The row the original store_bets () wrote with Python's csv module:
 * agency,first_name,last_name,document,birthdate,number and CRLF.
 * @out must hold LOTTERY_BET_ROW_MAX bytes; returns the row's length. */
gsize
lottery_bet_format_row (const LotteryBet *bet,
                        char             *out)
{
  char *p = out;

  p += lottery_format_u32 (bet->agency, p);
  *p++ = ',';
  p = append_csv_field (p, bet->first_name, bet->first_name_len);
  *p++ = ',';
  p = append_csv_field (p, bet->last_name, bet->last_name_len);
  *p++ = ',';
  lottery_copy_short (p, bet->document, bet->document_len);
  p += bet->document_len;
  *p++ = ',';
  memcpy (p, bet->birthdate, LOTTERY_BIRTHDATE_LEN);
  p += LOTTERY_BIRTHDATE_LEN;
  *p++ = ',';
  p += lottery_format_u32 (bet->number, p);
  *p++ = '\r';
  *p++ = '\n';

  return (gsize) (p - out);
}

/* Is the last field of @line the winning number? The number is always
 * last and never quoted, so this needs no CSV parsing; it reads the
 * digits as the full parser would, leading zeros included. Static, so
 * the draw's loop gets it inlined (an exported function in a -fPIC
 * library is not). */
static inline gboolean
row_has_won (const char *line,
             gsize       len)
{
  const char *comma = memrchr (line, ',', len);
  const char *p;
  guint64 v = 0;

  if (comma == NULL || comma + 1 == line + len ||
      (gsize) (line + len - comma - 1) > LOTTERY_NUMBER_MAX_DIGITS)
    return FALSE;
  for (p = comma + 1; p < line + len; p++)
    {
      if (*p < '0' || *p > '9')
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
    }

  return v == LOTTERY_WINNING_NUMBER;
}

gboolean
lottery_bet_row_has_won (const char *line,
                         gsize       len)
{
  return row_has_won (line, len);
}

/* Parses and validates one bets.csv row (without its line end) into
 * @bet: six fields, the agency first. */
gboolean
lottery_bet_parse_row (const char *line,
                       gsize       len,
                       LotteryBet *bet,
                       GError    **error)
{
  char scratch[LOTTERY_BET_ROW_MAX];
  LotteryCsvField fields[7];
  const char *values[LOTTERY_BET_N_FIELDS];
  gsize lens[LOTTERY_BET_N_FIELDS];
  guint64 agency;
  int n, i;

  if (len > sizeof scratch)
    return lottery_store_fail (error, LOTTERY_STORE_ERROR_CORRUPT,
                               N_("row is too long"));

  n = lottery_csv_split (line, len, fields, G_N_ELEMENTS (fields), scratch,
                         error);
  if (n < 0)
    return FALSE;
  if (n != 6)
    return lottery_store_fail (error, LOTTERY_STORE_ERROR_CORRUPT,
                               N_("row does not have 6 fields"));
  if (fields[0].len == 0 || fields[0].len > 9 ||
      !lottery_all_digits (fields[0].data, fields[0].len) ||
      (agency = g_ascii_strtoull (fields[0].data, NULL, 10)) == 0)
    return lottery_store_fail (error, LOTTERY_STORE_ERROR_CORRUPT,
                               N_("agency is not a number"));

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    {
      values[i] = fields[i + 1].data;
      lens[i] = fields[i + 1].len;
    }
  memset (bet, 0, sizeof *bet);
  if (!lottery_bet_set_fields (bet, values, lens, error))
    return FALSE;
  bet->agency = (guint32) agency;

  return TRUE;
}

static gboolean
read_rows (LotteryCsvReader *reader,
           gboolean          winners_only,
           LotteryBetFunc    func,
           gpointer          user_data,
           GCancellable     *cancellable,
           GError          **error)
{
  g_autoptr(GError) local_error = NULL;
  const char *line;
  gsize len;

  while (lottery_csv_reader_next_line (reader, &line, &len, cancellable,
                                       &local_error))
    {
      LotteryBet bet;

      if (len == 0)
        continue;
      if (winners_only && !row_has_won (line, len))
        continue;
      if (!lottery_bet_parse_row (line, len, &bet, &local_error))
        return lottery_fail_wrap (error, LOTTERY_STORE_ERROR,
                                  LOTTERY_STORE_ERROR_CORRUPT, local_error,
                                  N_("%s:%" PRIu64 ": "),
                                  lottery_csv_reader_get_name (reader),
                                  lottery_csv_reader_get_line_number (reader));
      if (!func (&bet, user_data))
        return TRUE;
    }

  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  return TRUE;
}

/* Streams a bets.csv file back (the original load_bets ()): each row is
 * parsed and validated again, so a damaged file is reported, with its
 * line, not guessed at. With @winners_only, rows whose number is not
 * the winning one are skipped before they are parsed; that is what
 * makes the draw fast. */
gboolean
lottery_bet_rows_read (const char    *path,
                       gboolean       winners_only,
                       LotteryBetFunc func,
                       gpointer       user_data,
                       GCancellable  *cancellable,
                       GError       **error)
{
  g_autoptr(LotteryCsvReader) reader = NULL;

  reader = lottery_csv_reader_new_for_path (path, error);
  if (reader == NULL)
    return FALSE;

  return read_rows (reader, winners_only, func, user_data, cancellable,
                    error);
}

/* Like lottery_bet_rows_read (), from @stream (named @name in errors):
 * the store reads back the file it writes, not whatever its path names
 * now. */
gboolean
lottery_bet_rows_read_stream (GInputStream  *stream,
                              const char    *name,
                              gboolean       winners_only,
                              LotteryBetFunc func,
                              gpointer       user_data,
                              GCancellable  *cancellable,
                              GError       **error)
{
  g_autoptr(LotteryCsvReader) reader = lottery_csv_reader_new (stream, name);

  return read_rows (reader, winners_only, func, user_data, cancellable,
                    error);
}
