/* lottery-bet-private.h: byte helpers shared by the bet's parsers,
 * formatter and encoder, inline so that the per-bet path has no call
 * per field. Not for use outside src/common. */
#pragma once

#include <glib.h>
#include <string.h>

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

G_END_DECLS
