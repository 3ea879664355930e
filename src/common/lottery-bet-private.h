/* lottery-bet-private.h: byte helpers shared by the bet's parsers,
 * formatter and encoder, inline so that the per-bet path has no call
 * per field. Not for use outside src/common and its unit tests. */
#pragma once

#include <glib.h>
#include <string.h>

#include "lottery-bet.h"

G_BEGIN_DECLS

#define LOTTERY_ONES  G_GUINT64_CONSTANT (0x0101010101010101)
#define LOTTERY_HIGHS G_GUINT64_CONSTANT (0x8080808080808080)

static inline guint64
lottery_load8 (const void *p)
{
  guint64 w;

  memcpy (&w, p, 8);
  return w;
}

/* The high bit of each byte of @w that is below @n (n <= 0x80): exact
 * as a yes/no answer, and its lowest set bit marks the first such
 * byte (little-endian). */
static inline guint64
lottery_bytes_below (guint64 w,
                     guchar  n)
{
  return (w - LOTTERY_ONES * n) & ~w & LOTTERY_HIGHS;
}

/* Non-zero if any byte of @w is a control character below 0x20, the
 * comma or the double quote: a byte that may need CSV quoting. */
static inline guint64
lottery_csv_quote_or_control (guint64 w)
{
  return lottery_bytes_below (w, 0x20) |
         lottery_bytes_below (w ^ (LOTTERY_ONES * ','), 1) |
         lottery_bytes_below (w ^ (LOTTERY_ONES * '"'), 1);
}

/* Up to eight bytes of @p (@len from 4 to 8) as one word: the first and
 * last four, overlapping; the bytes a search looks for are all kept. */
static inline guint64
lottery_load_4_to_8 (const void *p,
                     gsize       len)
{
  guint32 lo, hi;

  memcpy (&lo, p, 4);
  memcpy (&hi, (const guchar *) p + len - 4, 4);
  return lo | ((guint64) hi << 32);
}

/* Are all eight bytes of @w ASCII digits? High nibbles 3, and adding 6
 * carries no low nibble out (no byte carries into the next: each is
 * at most 0x3f by then). */
static inline gboolean
lottery_digits8 (guint64 w)
{
  return (w & (LOTTERY_ONES * 0xf0)) == LOTTERY_ONES * 0x30 &&
         ((w + LOTTERY_ONES * 6) & (LOTTERY_ONES * 0xf0)) == LOTTERY_ONES * 0x30;
}

/* Copies @len (at most 255) bytes with no call: whole words, the last
 * one overlapping, for the short strings of a bet. */
static inline void
lottery_copy_short (void       *dest,
                    const void *src,
                    gsize       len)
{
  guchar *d = dest;
  const guchar *s = src;
  gsize i;

  if (len >= 8)
    {
      for (i = 0; i + 8 < len; i += 8)
        memcpy (d + i, s + i, 8);
      memcpy (d + len - 8, s + len - 8, 8);
    }
  else if (len >= 4)
    {
      memcpy (d, s, 4);
      memcpy (d + len - 4, s + len - 4, 4);
    }
  else
    for (i = 0; i < len; i++)
      d[i] = s[i];
}

gsize lottery_bet_wire_from_line (const char   *line,
                                  gsize         len,
                                  guint8       *out);
gsize lottery_bet_row_from_wire (const guint8 *p,
                                 const guint8 *end,
                                 guint32       agency,
                                 char         *out,
                                 gsize        *row_len);

/* @value in decimal, two digits at a time, without a terminator;
 * returns its length. */
static inline gsize
lottery_format_u32 (guint32 value,
                    char   *out)
{
  static const char pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";
  gsize n = value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 :
            value < 10000 ? 4 : value < 100000 ? 5 : value < 1000000 ? 6 :
            value < 10000000 ? 7 : value < 100000000 ? 8 :
            value < 1000000000 ? 9 : 10;
  char *p = out + n;

  while (value >= 100)
    {
      guint pair = (value % 100) * 2;

      value /= 100;
      p -= 2;
      p[0] = pairs[pair];
      p[1] = pairs[pair + 1];
    }
  if (value >= 10)
    {
      p -= 2;
      p[0] = pairs[value * 2];
      p[1] = pairs[value * 2 + 1];
    }
  else
    *--p = (char) ('0' + value);

  return n;
}

/* ---- the checks of a bet's fields, inline for the per-bet paths ---- */

/* Bytes that a name's scan passes over without a second look: 1, every
 * printable ASCII byte; 2, those an unquoted CSV field may also hold
 * (not the comma, not the quote). The table is in lottery-bet.c. */
#define LOTTERY_NAME_BYTE_PLAIN 1
#define LOTTERY_NAME_BYTE_CSV   2

extern const guint8 lottery_name_byte[256];

/* The common case of a name, decided without a call: every byte
 * printable ASCII, or a two-byte sequence at or above U+00A0 (the
 * accented Latin letters), or a three-byte one from U+1000 to U+CFFF.
 * Nothing here is a control character or invalid UTF-8; anything else
 * (including every error) is left to the validator and to the full
 * row parser, which have the last word, so this can only be stricter,
 * never more lenient. (Byte by byte: names are short, and a word at a
 * time measured no faster.)
 *
 * @plain says which single bytes pass (LOTTERY_NAME_BYTE_PLAIN or
 * LOTTERY_NAME_BYTE_CSV). With @to_comma, the name is an unquoted field
 * of an agency's row: it ends at a comma (returned); otherwise it is
 * all of [@p, @end), and @end is returned. NULL: not decided here. */
static inline const char *
lottery_scan_name (const char *p,
                   const char *end,
                   guint8      plain,
                   gboolean    to_comma)
{
  for (;;)
    {
      const guchar *s;
      guchar c;

      while (p < end && (lottery_name_byte[(guchar) *p] & plain) != 0)
        p++;
      if (p == end)
        return to_comma ? NULL : end;

      s = (const guchar *) p;
      c = *s;
      if (to_comma && c == ',')
        return p;
      if (c >= 0xc2 && c < 0xe0 && end - p >= 2 &&
          (s[1] & 0xc0) == 0x80 && (c != 0xc2 || s[1] >= 0xa0))
        p += 2;
      else if (c >= 0xe1 && c <= 0xec && end - p >= 3 &&
               (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80)
        p += 3;
      else
        return NULL;
    }
}

/* Is all of @value (@len bytes) a name of 1 to LOTTERY_NAME_MAX bytes
 * whose every byte passes @plain (as lottery_scan_name () takes it)?
 * FALSE means only "not decided here". */
static inline gboolean
lottery_name_passes (const char *value,
                     gsize       len,
                     guint8      plain)
{
  return len - 1 < LOTTERY_NAME_MAX &&
         lottery_scan_name (value, value + len, plain, FALSE) != NULL;
}

/* Reads @len ASCII digits of @p into @value; FALSE at the first byte
 * that is not one. Inline, so that each field's check is a short loop
 * of its own rather than a call. */
static inline gboolean
lottery_read_digits (const char *p,
                     gsize       len,
                     guint64    *value)
{
  guint64 v = 0;
  gsize i;

  for (i = 0; i < len; i++)
    {
      guint d = (guint) (guchar) p[i] - '0';

      if (d > 9)
        return FALSE;
      v = v * 10 + d;
    }
  *value = v;

  return TRUE;
}

/* Are the @len bytes at @p all ASCII digits? A word at a time, the
 * last word overlapping; documents are mostly 8 digits. */
static inline gboolean
lottery_digits_only (const char *p,
                     gsize       len)
{
  guint64 ignored;
  gsize i;

  if (len >= 8)
    {
      for (i = 0; i + 8 < len; i += 8)
        if (!lottery_digits8 (lottery_load8 (p + i)))
          return FALSE;
      return lottery_digits8 (lottery_load8 (p + len - 8));
    }
  if (len >= 4)
    return lottery_digits8 (lottery_load_4_to_8 (p, len));

  return lottery_read_digits (p, len, &ignored);
}

static inline guint
lottery_days_in_month (guint month,
                       guint year)
{
  static const guint8 days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  gboolean leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

  return days[month - 1] + (month == 2 && leap);
}

/* YYYY-MM-DD, a day of the calendar, year 1 to 9999. The shape is
 * checked a word at a time: the first eight bytes must be four digits,
 * a dash, two digits and a dash, and each byte is masked and compared
 * at once; only the values are then read byte by byte. */
static inline gboolean
lottery_birthdate_is_valid (const char *value)
{
  /* Little-endian constants are the same bytes read back, whatever the
   * machine's order: they are built from strings. */
  static const char shape_mask[8] = { '\xf0', '\xf0', '\xf0', '\xf0', '\xff', '\xf0', '\xf0', '\xff' };
  static const char shape[8] = { 0x30, 0x30, 0x30, 0x30, '-', 0x30, 0x30, '-' };
  static const char carry_add[8] = { 6, 6, 6, 6, 0, 6, 6, 0 };
  static const char carry_mask[8] = { '\xf0', '\xf0', '\xf0', '\xf0', 0, '\xf0', '\xf0', 0 };
  static const char carry_shape[8] = { 0x30, 0x30, 0x30, 0x30, 0, 0x30, 0x30, 0 };
  guint64 w = lottery_load8 (value);
  const guchar *v = (const guchar *) value;
  guint year, month, day, d8 = v[8] - (guint) '0', d9 = v[9] - (guint) '0';

  /* High nibbles 3 (and the dashes exact); then adding 6 must not carry
   * a digit's low nibble out, which leaves 0-9. No byte carries into
   * the next: each is at most 0x3f before the addition. */
  if ((w & lottery_load8 (shape_mask)) != lottery_load8 (shape) ||
      ((w + lottery_load8 (carry_add)) & lottery_load8 (carry_mask)) !=
        lottery_load8 (carry_shape) ||
      d8 > 9 || d9 > 9)
    return FALSE;

  year = (v[0] - '0') * 1000u + (v[1] - '0') * 100u + (v[2] - '0') * 10u +
         (v[3] - '0');
  month = (v[5] - '0') * 10u + (v[6] - '0');
  day = d8 * 10 + d9;
  if (year == 0 || month - 1 >= 12 || day == 0)
    return FALSE;
  if (day <= 28)
    return TRUE;

  return day <= lottery_days_in_month (month, year);
}

/* Keeps a checked string field (NUL-terminated, with its length). */
static inline void
lottery_store_string (char       *dest,
                      guint8     *dest_len,
                      const char *value,
                      gsize       len)
{
  lottery_copy_short (dest, value, len);
  dest[len] = '\0';
  *dest_len = (guint8) len;
}

/* The fields of a common agency row, pointing into the line. */
typedef struct
{
  const char *first_name, *last_name, *document, *birthdate;
  gsize       first_name_len, last_name_len, document_len;
  guint32     number;
} LotteryPlainRow;

static inline const char *
lottery_split_plain_name (const char  *p,
                          const char  *end,
                          const char **name,
                          gsize       *name_len)
{
  const char *comma = lottery_scan_name (p, end, LOTTERY_NAME_BYTE_CSV, TRUE);

  if (comma == NULL || (gsize) (comma - p) - 1 >= LOTTERY_NAME_MAX)
    return NULL;
  *name = p;
  *name_len = (gsize) (comma - p);

  return comma + 1;
}

/* The common row, unquoted and valid, split and checked in one pass.
 * FALSE means only "not decided here": the row then goes through
 * lottery_csv_split () and the setters, which have the last word and
 * say what is wrong. The one place that decides what the common row
 * is, for the parser into a bet and for the one into a batch. */
static inline gboolean
lottery_split_plain_line (const char      *line,
                          gsize            len,
                          LotteryPlainRow *row)
{
  const char *p = line;
  const char *end = line + len;
  guint64 number;

  p = lottery_split_plain_name (p, end, &row->first_name, &row->first_name_len);
  if (p == NULL)
    return FALSE;
  p = lottery_split_plain_name (p, end, &row->last_name, &row->last_name_len);
  if (p == NULL)
    return FALSE;

  for (row->document = p; end - p >= 8 && lottery_digits8 (lottery_load8 (p));
       p += 8)
    ;
  for (; p < end && (guint) (guchar) *p - '0' <= 9; p++)
    ;
  row->document_len = (gsize) (p - row->document);
  if (p == end || *p != ',' || row->document_len - 1 >= LOTTERY_DOCUMENT_MAX)
    return FALSE;
  p++;

  if (end - p < LOTTERY_BIRTHDATE_LEN + 2 || p[LOTTERY_BIRTHDATE_LEN] != ',' ||
      !lottery_birthdate_is_valid (p))
    return FALSE;
  row->birthdate = p;
  p += LOTTERY_BIRTHDATE_LEN + 1;

  if ((gsize) (end - p) - 1 >= LOTTERY_NUMBER_MAX_DIGITS ||
      !lottery_read_digits (p, (gsize) (end - p), &number) ||
      number > G_MAXUINT32)
    return FALSE;
  row->number = (guint32) number;

  return TRUE;
}

G_END_DECLS
