/* lottery-bet-private.h: byte helpers shared by the bet's parsers,
 * formatter and encoder, inline so that the per-bet path has no call
 * per field. Not for use outside src/common. */
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

G_END_DECLS
