/* lottery-bet.c: a bet and its validation.
 *
 * The client validates every row before sending it and the server
 * validates it again after decoding it; both go through
 * lottery_bet_set_field (), so the rules cannot drift apart. The
 * one-pass paths of lottery-bet-wire.c take only a stricter subset (the
 * common row, through the same inline checks) and leave everything
 * else to these; unit tests and fuzz targets compare the two.
 */
#include "config.h"

#include "lottery-bet.h"
#include "lottery-bet-private.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <string.h>

/* Bytes that a name's scan passes over without a second look: see
 * lottery_scan_name () in lottery-bet-private.h. */
const guint8 lottery_name_byte[256] = {
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

/* Is @value (of @len bytes, maybe empty) made of ASCII digits only? */
gboolean
lottery_all_digits (const char *value,
                    gsize       len)
{
  return lottery_digits_only (value, len);
}

static gboolean
validate_birthdate (const char *value,
                    gsize       len,
                    GError    **error)
{
  g_autofree char *shown = NULL;

  if (G_LIKELY (len == LOTTERY_BIRTHDATE_LEN &&
                lottery_birthdate_is_valid (value)))
    return TRUE;

  shown = lottery_printable (value, len);
  return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                       N_("NACIMIENTO “%s” is not a calendar date YYYY-MM-DD"),
                       shown);
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
  if (G_UNLIKELY (!lottery_name_passes (value, len, LOTTERY_NAME_BYTE_PLAIN)) &&
      !validate_name (field, value, len, error))
    return FALSE;
  lottery_store_string (dest, dest_len, value, len);

  return TRUE;
}

static inline gboolean
set_document (LotteryBet *bet,
              const char *value,
              gsize       len,
              GError    **error)
{
  if (G_UNLIKELY (len - 1 >= LOTTERY_DOCUMENT_MAX ||
                  !lottery_digits_only (value, len)))
    {
      g_autofree char *shown = lottery_printable (value, len);
      return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                           N_("DOCUMENTO “%s” must be 1 to %d digits"),
                           shown, LOTTERY_DOCUMENT_MAX);
    }
  lottery_store_string (bet->document, &bet->document_len, value, len);

  return TRUE;
}

static inline gboolean
set_birthdate (LotteryBet *bet,
               const char *value,
               gsize       len,
               GError    **error)
{
  if (G_UNLIKELY (len != LOTTERY_BIRTHDATE_LEN ||
                  !lottery_birthdate_is_valid (value)) &&
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
                  !lottery_read_digits (value, len, &v) || v > G_MAXUINT32))
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

static inline gboolean
parse_plain_line (LotteryBet *bet,
                  const char *line,
                  gsize       len)
{
  LotteryPlainRow row;

  if (!lottery_split_plain_line (line, len, &row))
    return FALSE;
  lottery_store_string (bet->first_name, &bet->first_name_len,
                        row.first_name, row.first_name_len);
  lottery_store_string (bet->last_name, &bet->last_name_len, row.last_name,
                        row.last_name_len);
  lottery_store_string (bet->document, &bet->document_len, row.document,
                        row.document_len);
  memcpy (bet->birthdate, row.birthdate, LOTTERY_BIRTHDATE_LEN);
  bet->birthdate[LOTTERY_BIRTHDATE_LEN] = '\0';
  bet->number = row.number;

  return TRUE;
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
