/* lottery-bet-wire.c: the common bet between the wire and a row in one
 * pass, for the two per-bet hot paths: the client's agency row straight
 * into a BATCH, and the server's BATCH item straight into its bets.csv
 * row. Each decides only the common case and says so; anything else
 * goes through the full parser, validator and formatter of
 * lottery-bet.c and lottery-bet-row.c, which have the last word.
 * No state: any thread may call it.
 */
#include "config.h"

#include "lottery-bet.h"
#include "lottery-bet-private.h"
#include "lottery-protocol-private.h"

#include <string.h>

/* Copies one length-prefixed name of the wire to @out if it needs no
 * quoting; returns the byte after it in the wire, or NULL. */
static inline const guint8 *
take_unquoted_name (const guint8 *p,
                    const guint8 *end,
                    char        **out)
{
  gsize n;

  if (p >= end)
    return NULL;
  n = *p++;
  if ((gsize) (end - p) < n ||
      /* Bytes that need no CSV quoting: the name is written as it is. */
      !lottery_name_passes ((const char *) p, n, LOTTERY_NAME_BYTE_CSV))
    return NULL;
  lottery_copy_short (*out, p, n);
  *out += n;

  return p + n;
}

/**
 * lottery_bet_row_from_wire:
 * @p: the first byte of a bet as a BATCH carries it
 * @end: the end of the batch's items
 * @agency: the agency the row is for
 * @out: (out caller-allocates): at least LOTTERY_BET_ROW_MAX bytes
 * @row_len: (out): the row's length
 *
 * The common bet straight from the wire to its bets.csv row, in one
 * pass: the same row lottery_batch_reader_next () and
 * lottery_bet_format_row () make, without the copies into a LotteryBet
 * and a second look at the names for quoting.
 *
 * Returns: the wire bytes of the bet, or 0 when not decided here (an
 * invalid field, a name that needs quoting, a truncation): the caller
 * then takes the full path, which has the last word.
 */
gsize
lottery_bet_row_from_wire (const guint8 *p,
                           const guint8 *end,
                           guint32       agency,
                           char         *out,
                           gsize        *row_len)
{
  const guint8 *start = p;
  char *o = out;
  gsize n;
  guint32 number;

  o += lottery_format_u32 (agency, o);
  *o++ = ',';
  if ((p = take_unquoted_name (p, end, &o)) == NULL)
    return 0;
  *o++ = ',';
  if ((p = take_unquoted_name (p, end, &o)) == NULL)
    return 0;
  *o++ = ',';

  if (p >= end)
    return 0;
  n = *p++;
  if ((gsize) (end - p) < n + LOTTERY_BIRTHDATE_LEN + 4 ||
      n - 1 >= LOTTERY_DOCUMENT_MAX ||
      !lottery_digits_only ((const char *) p, n))
    return 0;
  lottery_copy_short (o, p, n);
  o += n;
  p += n;
  *o++ = ',';

  if (!lottery_birthdate_is_valid ((const char *) p))
    return 0;
  memcpy (o, p, LOTTERY_BIRTHDATE_LEN);
  o += LOTTERY_BIRTHDATE_LEN;
  p += LOTTERY_BIRTHDATE_LEN;
  *o++ = ',';

  number = lottery_get_u32 (p);
  p += 4;
  o += lottery_format_u32 (number, o);
  *o++ = '\r';
  *o++ = '\n';

  *row_len = (gsize) (o - out);
  return (gsize) (p - start);
}

/* A string to the wire: its length byte, then its bytes. */
static inline guint8 *
put_wire_string (guint8     *o,
                 const char *value,
                 gsize       len)
{
  *o++ = (guint8) len;
  lottery_copy_short (o, value, len);

  return o + len;
}

/**
 * lottery_bet_wire_from_line:
 * @line: an agency's row, without its line end
 * @len: its length
 * @out: (out caller-allocates): room for the longest bet on the wire
 *   (LOTTERY_BET_WIRE_MAX bytes)
 *
 * The common row, unquoted and valid, split and checked as
 * lottery_split_plain_line () decides for lottery_bet_parse_line () too, and
 * written straight in the form a BATCH carries, without the copies
 * into a LotteryBet and out of it again.
 *
 * Returns: the bet's length on the wire, or 0 when not decided here:
 *   the row then goes through lottery_bet_parse_line (), which has the
 *   last word and says what is wrong
 */
gsize
lottery_bet_wire_from_line (const char *line,
                            gsize       len,
                            guint8     *out)
{
  LotteryPlainRow row;
  guint8 *o = out;

  if (!lottery_split_plain_line (line, len, &row))
    return 0;
  o = put_wire_string (o, row.first_name, row.first_name_len);
  o = put_wire_string (o, row.last_name, row.last_name_len);
  o = put_wire_string (o, row.document, row.document_len);
  memcpy (o, row.birthdate, LOTTERY_BIRTHDATE_LEN);
  o += LOTTERY_BIRTHDATE_LEN;
  lottery_put_u32 (o, row.number);
  o += 4;

  return (gsize) (o - out);
}
