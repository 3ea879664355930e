/* lottery-bet.c: a bet and its validation.
 *
 * The client validates every row before sending it and the server
 * validates it again after decoding it; both go through
 * lottery_bet_set_field (), so the rules cannot drift apart.
 */
#include "config.h"

#include "lottery-bet.h"
#include "lottery-bet-private.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <string.h>

LotteryBet *
lottery_bet_new (void)
{
  return g_new0 (LotteryBet, 1);
}

LotteryBet *
lottery_bet_copy (const LotteryBet *bet)
{
  g_return_val_if_fail (bet != NULL, NULL);

  return g_memdup2 (bet, sizeof *bet);
}

void
lottery_bet_free (LotteryBet *bet)
{
  g_free (bet);
}

/* The column names of the agencies' files (and of the single-bet
 * environment variables), so that a message points at what the
 * operator sees. */
const char *
lottery_bet_field_name (LotteryBetField field)
{
  static const char * const names[] = {
    "NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO",
  };

  g_return_val_if_fail (field < LOTTERY_BET_N_FIELDS, "?");

  return names[field];
}

/* A short, single-line, pipe-free rendering of untrusted bytes for error
 * messages and log values. */
char *
lottery_printable (const char *value,
                   gsize       len)
{
  const gsize max = 40;
  GString *out = g_string_sized_new (MIN (len, max) + 8);
  gsize i;

  for (i = 0; i < len && i < max; i++)
    {
      guchar c = (guchar) value[i];

      if (c < 0x20 || c == 0x7f)
        g_string_append_printf (out, "\\x%02x", c);
      else if (c == '|')
        g_string_append_c (out, '/');
      else
        g_string_append_c (out, (char) c);
    }
  if (len > max)
    g_string_append (out, "…");

  /* Truncation or raw bytes may have cut a sequence short. */
  if (!g_utf8_validate (out->str, out->len, NULL))
    {
      char *valid = g_utf8_make_valid (out->str, out->len);
      g_string_free (out, TRUE);
      return valid;
    }

  return g_string_free (out, FALSE);
}

/* The common case of a name, decided without a call: every byte
 * printable ASCII, or a two-byte sequence at or above U+00A0 (the
 * accented Latin letters), or a three-byte one from U+1000 to U+CFFF.
 * Nothing here is a control character or invalid UTF-8; anything else
 * (including every error) is left to validate_name () and to the full
 * row parser, which have the last word, so this can only be stricter,
 * never more lenient. (Byte by byte: names are short, and a word at a
 * time measured no faster.)
 *
 * @plain says which single bytes pass (NAME_BYTE_PLAIN or
 * NAME_BYTE_CSV). With @to_comma, the name is an unquoted field of an
 * agency's row: it ends at a comma (returned); otherwise it is all of
 * [@p, @end), and @end is returned. NULL: not decided here. */
/* Bytes that a name's scan passes over without a second look: 1, every
 * printable ASCII byte; 2, those an unquoted CSV field may also hold
 * (not the comma, not the quote). */
#define NAME_BYTE_PLAIN 1
#define NAME_BYTE_CSV   2

static const guint8 name_byte[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  3, 3, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline const char *
scan_name (const char *p,
           const char *end,
           guint8      plain,
           gboolean    to_comma)
{
  for (;;)
    {
      const guchar *s;
      guchar c;

      while (p < end && (name_byte[(guchar) *p] & plain) != 0)
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

static inline gboolean
name_is_plain (const char *value,
               gsize       len)
{
  return len - 1 < LOTTERY_NAME_MAX &&
         scan_name (value, value + len, NAME_BYTE_PLAIN, FALSE) != NULL;
}

static gboolean
validate_name (LotteryBetField field,
               const char     *value,
               gsize           len,
               GError        **error)
{
  gboolean non_ascii = FALSE;
  const char *bad;
  gsize i;

  if (len == 0)
    return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                         N_("%s is empty"), lottery_bet_field_name (field));
  if (len > LOTTERY_NAME_MAX)
    return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                         N_("%s is longer than %d bytes"),
                         lottery_bet_field_name (field), LOTTERY_NAME_MAX);

  /* One pass over the bytes. Above ASCII, the only control characters
   * are U+0080..U+009F (C1), which UTF-8 writes as C2 80..C2 9F; so the
   * characters need no decoding, and UTF-8 validity is checked once, for
   * the whole field, only when it holds a non-ASCII byte. */
  for (i = 0; i < len; i++)
    {
      guchar c = (guchar) value[i];

      if (G_LIKELY (c >= 0x20 && c < 0x7f))
        continue;
      if (c >= 0x80)
        {
          non_ascii = TRUE;
          if (c != 0xc2 || i + 1 == len || (guchar) value[i + 1] < 0x80 ||
              (guchar) value[i + 1] > 0x9f)
            continue;
        }
      return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                           N_("%s contains a control character at byte %d"),
                           lottery_bet_field_name (field), (int) i + 1);
    }

  if (non_ascii && !g_utf8_validate_len (value, len, &bad))
    return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                         N_("%s is not valid UTF-8 at byte %d"),
                         lottery_bet_field_name (field),
                         (int) (bad - value) + 1);

  return TRUE;
}

/* Reads @len ASCII digits of @p into @value; FALSE at the first byte
 * that is not one. Inline, so that each field's check is a short loop
 * of its own rather than a call. */
static inline gboolean
read_digits (const char *p,
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
all_digits (const char *p,
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

  return read_digits (p, len, &ignored);
}

/* Is @value (of @len bytes, maybe empty) made of ASCII digits only? */
gboolean
lottery_all_digits (const char *value,
                    gsize       len)
{
  return all_digits (value, len);
}

static guint
days_in_month (guint month,
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
birthdate_is_valid (const char *value)
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

  return day <= days_in_month (month, year);
}

static gboolean
validate_birthdate (const char *value,
                    gsize       len,
                    GError    **error)
{
  g_autofree char *shown = NULL;

  if (G_LIKELY (len == LOTTERY_BIRTHDATE_LEN && birthdate_is_valid (value)))
    return TRUE;

  shown = lottery_printable (value, len);
  return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                       N_("NACIMIENTO “%s” is not a calendar date YYYY-MM-DD"),
                       shown);
}

/* Keeps a checked string field (NUL-terminated, with its length). */
static inline void
store_string (char       *dest,
              guint8     *dest_len,
              const char *value,
              gsize       len)
{
  lottery_copy_short (dest, value, len);
  dest[len] = '\0';
  *dest_len = (guint8) len;
}

/* One setter per field, inline, so that a whole row is set without a
 * call per field (lottery_bet_set_fields () and the parsers). */
static inline gboolean
set_name (LotteryBetField field,
          char           *dest,
          guint8         *dest_len,
          const char     *value,
          gsize           len,
          GError        **error)
{
  if (G_UNLIKELY (!name_is_plain (value, len)) &&
      !validate_name (field, value, len, error))
    return FALSE;
  store_string (dest, dest_len, value, len);

  return TRUE;
}

static inline gboolean
set_document (LotteryBet *bet,
              const char *value,
              gsize       len,
              GError    **error)
{
  if (G_UNLIKELY (len - 1 >= LOTTERY_DOCUMENT_MAX ||
                  !all_digits (value, len)))
    {
      g_autofree char *shown = lottery_printable (value, len);
      return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                           N_("DOCUMENTO “%s” must be 1 to %d digits"),
                           shown, LOTTERY_DOCUMENT_MAX);
    }
  store_string (bet->document, &bet->document_len, value, len);

  return TRUE;
}

static inline gboolean
set_birthdate (LotteryBet *bet,
               const char *value,
               gsize       len,
               GError    **error)
{
  if (G_UNLIKELY (len != LOTTERY_BIRTHDATE_LEN || !birthdate_is_valid (value)) &&
      !validate_birthdate (value, len, error))
    return FALSE;
  memcpy (bet->birthdate, value, LOTTERY_BIRTHDATE_LEN);
  bet->birthdate[LOTTERY_BIRTHDATE_LEN] = '\0';

  return TRUE;
}

static inline gboolean
set_number (LotteryBet *bet,
            const char *value,
            gsize       len,
            GError    **error)
{
  guint64 v;

  if (G_UNLIKELY (len - 1 >= LOTTERY_NUMBER_MAX_DIGITS ||
                  !read_digits (value, len, &v) || v > G_MAXUINT32))
    {
      g_autofree char *shown = lottery_printable (value, len);
      return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                           N_("NUMERO “%s” must be an integer from 0 to %u"),
                           shown, G_MAXUINT32);
    }
  bet->number = (guint32) v;

  return TRUE;
}

gboolean
lottery_bet_set_field (LotteryBet     *bet,
                       LotteryBetField field,
                       const char     *value,
                       gsize           len,
                       GError        **error)
{
  g_return_val_if_fail (bet != NULL, FALSE);
  g_return_val_if_fail (value != NULL || len == 0, FALSE);

  switch (field)
    {
    case LOTTERY_BET_FIELD_FIRST_NAME:
      return set_name (field, bet->first_name, &bet->first_name_len,
                       value, len, error);
    case LOTTERY_BET_FIELD_LAST_NAME:
      return set_name (field, bet->last_name, &bet->last_name_len,
                       value, len, error);
    case LOTTERY_BET_FIELD_DOCUMENT:
      return set_document (bet, value, len, error);
    case LOTTERY_BET_FIELD_BIRTHDATE:
      return set_birthdate (bet, value, len, error);
    case LOTTERY_BET_FIELD_NUMBER:
      return set_number (bet, value, len, error);
    case LOTTERY_BET_N_FIELDS:
    default:
      g_return_val_if_reached (FALSE);
    }
}

static inline gboolean
set_text_fields (LotteryBet  *bet,
                 const char **values,
                 const gsize *lens,
                 GError     **error)
{
  return set_name (LOTTERY_BET_FIELD_FIRST_NAME, bet->first_name,
                   &bet->first_name_len, values[0], lens[0], error) &&
         set_name (LOTTERY_BET_FIELD_LAST_NAME, bet->last_name,
                   &bet->last_name_len, values[1], lens[1], error) &&
         set_document (bet, values[2], lens[2], error) &&
         set_birthdate (bet, values[3], lens[3], error);
}

gboolean
lottery_bet_set_fields (LotteryBet   *bet,
                        const char  **values,
                        const gsize  *lens,
                        GError      **error)
{
  return set_text_fields (bet, values, lens, error) &&
         set_number (bet, values[4], lens[4], error);
}

/* The four fields that are text on the wire (all but NUMERO, which a
 * BATCH carries as an integer), as lottery_bet_set_field () would set
 * them one by one. */
gboolean
lottery_bet_set_text_fields (LotteryBet   *bet,
                             const char  **values,
                             const gsize  *lens,
                             GError      **error)
{
  return set_text_fields (bet, values, lens, error);
}

/* Any row, split first and then validated field by field. */
static gboolean
parse_line_full (LotteryBet *bet,
                 const char *line,
                 gsize       len,
                 GError    **error)
{
  LotteryCsvField fields[LOTTERY_BET_N_FIELDS + 1];
  const char *values[LOTTERY_BET_N_FIELDS];
  gsize lens[LOTTERY_BET_N_FIELDS];
  char scratch_stack[1024];
  g_autofree char *scratch_heap = NULL;
  char *scratch = scratch_stack;
  int n;
  guint i;

  if (len > sizeof scratch_stack)
    scratch = scratch_heap = g_malloc (len);

  n = lottery_csv_split (line, len, fields, G_N_ELEMENTS (fields), scratch,
                         error);
  if (n < 0)
    return FALSE;
  if (n != LOTTERY_BET_N_FIELDS)
    return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                         N_("expected 5 fields (NOMBRE,APELLIDO,DOCUMENTO,"
                           "NACIMIENTO,NUMERO), found %d"), n);

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    {
      values[i] = fields[i].data;
      lens[i] = fields[i].len;
    }

  return lottery_bet_set_fields (bet, values, lens, error);
}

/* The fields of a common agency row, pointing into the line. */
typedef struct
{
  const char *first_name, *last_name, *document, *birthdate;
  gsize       first_name_len, last_name_len, document_len;
  guint32     number;
} PlainRow;

static inline const char *
split_plain_name (const char  *p,
                  const char  *end,
                  const char **name,
                  gsize       *name_len)
{
  const char *comma = scan_name (p, end, NAME_BYTE_CSV, TRUE);

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
split_plain_line (const char *line,
                  gsize       len,
                  PlainRow   *row)
{
  const char *p = line;
  const char *end = line + len;
  guint64 number;

  p = split_plain_name (p, end, &row->first_name, &row->first_name_len);
  if (p == NULL)
    return FALSE;
  p = split_plain_name (p, end, &row->last_name, &row->last_name_len);
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
      !birthdate_is_valid (p))
    return FALSE;
  row->birthdate = p;
  p += LOTTERY_BIRTHDATE_LEN + 1;

  if ((gsize) (end - p) - 1 >= LOTTERY_NUMBER_MAX_DIGITS ||
      !read_digits (p, (gsize) (end - p), &number) || number > G_MAXUINT32)
    return FALSE;
  row->number = (guint32) number;

  return TRUE;
}

static inline gboolean
parse_plain_line (LotteryBet *bet,
                  const char *line,
                  gsize       len)
{
  PlainRow row;

  if (!split_plain_line (line, len, &row))
    return FALSE;
  store_string (bet->first_name, &bet->first_name_len, row.first_name,
                row.first_name_len);
  store_string (bet->last_name, &bet->last_name_len, row.last_name,
                row.last_name_len);
  store_string (bet->document, &bet->document_len, row.document,
                row.document_len);
  memcpy (bet->birthdate, row.birthdate, LOTTERY_BIRTHDATE_LEN);
  bet->birthdate[LOTTERY_BIRTHDATE_LEN] = '\0';
  bet->number = row.number;

  return TRUE;
}

/* Is all of [@p, @end) a name that bets.csv writes as it is: valid, and
 * holding no byte that needs CSV quoting (no comma, quote or control
 * character)? FALSE means only "not decided here". */
static inline gboolean
name_is_unquoted (const char *p,
                  const char *end)
{
  return (gsize) (end - p) - 1 < LOTTERY_NAME_MAX &&
         scan_name (p, end, NAME_BYTE_CSV, FALSE) != NULL;
}

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
      !name_is_unquoted ((const char *) p, (const char *) p + n))
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
      n - 1 >= LOTTERY_DOCUMENT_MAX || !all_digits ((const char *) p, n))
    return 0;
  lottery_copy_short (o, p, n);
  o += n;
  p += n;
  *o++ = ',';

  if (!birthdate_is_valid ((const char *) p))
    return 0;
  memcpy (o, p, LOTTERY_BIRTHDATE_LEN);
  o += LOTTERY_BIRTHDATE_LEN;
  p += LOTTERY_BIRTHDATE_LEN;
  *o++ = ',';

  number = ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
           ((guint32) p[2] << 8) | p[3];
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
 * split_plain_line () decides for lottery_bet_parse_line () too, and
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
  PlainRow row;
  guint8 *o = out;

  if (!split_plain_line (line, len, &row))
    return 0;
  o = put_wire_string (o, row.first_name, row.first_name_len);
  o = put_wire_string (o, row.last_name, row.last_name_len);
  o = put_wire_string (o, row.document, row.document_len);
  memcpy (o, row.birthdate, LOTTERY_BIRTHDATE_LEN);
  o += LOTTERY_BIRTHDATE_LEN;
  *o++ = (guint8) (row.number >> 24);
  *o++ = (guint8) (row.number >> 16);
  *o++ = (guint8) (row.number >> 8);
  *o++ = (guint8) row.number;

  return (gsize) (o - out);
}

/* One row of an agency's file: NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO
 * (CSV, fields may be quoted), without its line end. */
gboolean
lottery_bet_parse_line (LotteryBet *bet,
                        const char *line,
                        gsize       len,
                        GError    **error)
{
  if (G_LIKELY (parse_plain_line (bet, line, len)))
    return TRUE;

  return parse_line_full (bet, line, len, error);
}

gboolean
lottery_bet_has_won (const LotteryBet *bet)
{
  return bet->number == LOTTERY_WINNING_NUMBER;
}

/* Writes @value in decimal, without a terminator; returns its length. */
gsize
lottery_format_uint (guint64 value,
                     char   *out)
{
  char tmp[20];
  gsize n = 0, i;

  do
    {
      tmp[n++] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value != 0);

  for (i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];

  return n;
}
