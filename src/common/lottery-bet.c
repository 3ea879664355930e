/* lottery-bet.c: a bet and its validation.
 *
 * The client validates every row before sending it and the server
 * validates it again after decoding it; both go through
 * lottery_bet_set_field (), so the rules cannot drift apart.
 */
#include "config.h"

#include "lottery-bet.h"
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
  gsize i;

  for (i = 0; i < len; i++)
    if (value[i] < '0' || value[i] > '9')
      return FALSE;

  return TRUE;
}

static guint
parse_digits (const char *p,
              gsize       len)
{
  guint v = 0;
  gsize i;

  for (i = 0; i < len; i++)
    v = v * 10 + (guint) (p[i] - '0');

  return v;
}

static guint
days_in_month (guint month,
               guint year)
{
  static const guint8 days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  gboolean leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

  return days[month - 1] + (month == 2 && leap);
}

static gboolean
validate_birthdate (const char *value,
                    gsize       len,
                    GError    **error)
{
  guint year, month, day;

  if (len != LOTTERY_BIRTHDATE_LEN || value[4] != '-' || value[7] != '-' ||
      !lottery_all_digits (value, 4) || !lottery_all_digits (value + 5, 2) ||
      !lottery_all_digits (value + 8, 2))
    goto bad;

  year = parse_digits (value, 4);
  month = parse_digits (value + 5, 2);
  day = parse_digits (value + 8, 2);

  if (year == 0 || month < 1 || month > 12 || day < 1 ||
      day > days_in_month (month, year))
    goto bad;

  return TRUE;

bad:
  {
    g_autofree char *shown = lottery_printable (value, len);
    return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                         N_("NACIMIENTO “%s” is not a calendar date YYYY-MM-DD"),
                         shown);
  }
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
      if (!validate_name (field, value, len, error))
        return FALSE;
      memcpy (bet->first_name, value, len);
      bet->first_name[len] = '\0';
      bet->first_name_len = (guint8) len;
      return TRUE;

    case LOTTERY_BET_FIELD_LAST_NAME:
      if (!validate_name (field, value, len, error))
        return FALSE;
      memcpy (bet->last_name, value, len);
      bet->last_name[len] = '\0';
      bet->last_name_len = (guint8) len;
      return TRUE;

    case LOTTERY_BET_FIELD_DOCUMENT:
      if (len == 0 || len > LOTTERY_DOCUMENT_MAX ||
          !lottery_all_digits (value, len))
        {
          g_autofree char *shown = lottery_printable (value, len);
          return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                               N_("DOCUMENTO “%s” must be 1 to %d digits"),
                               shown, LOTTERY_DOCUMENT_MAX);
        }
      memcpy (bet->document, value, len);
      bet->document[len] = '\0';
      bet->document_len = (guint8) len;
      return TRUE;

    case LOTTERY_BET_FIELD_BIRTHDATE:
      if (!validate_birthdate (value, len, error))
        return FALSE;
      memcpy (bet->birthdate, value, len);
      bet->birthdate[len] = '\0';
      return TRUE;

    case LOTTERY_BET_FIELD_NUMBER:
      {
        guint64 v = 0;
        gsize i;

        if (len == 0 || len > LOTTERY_NUMBER_MAX_DIGITS ||
            !lottery_all_digits (value, len))
          goto bad_number;
        for (i = 0; i < len; i++)
          v = v * 10 + (guint64) (value[i] - '0');
        if (v > G_MAXUINT32)
          goto bad_number;
        bet->number = (guint32) v;
        return TRUE;

      bad_number:
        {
          g_autofree char *shown = lottery_printable (value, len);
          return lottery_fail (error, LOTTERY_ERROR_INVALID_BET,
                               N_("NUMERO “%s” must be an integer from 0 to %u"),
                               shown, G_MAXUINT32);
        }
      }

    case LOTTERY_BET_N_FIELDS:
    default:
      g_return_val_if_reached (FALSE);
    }
}

gboolean
lottery_bet_set_fields (LotteryBet   *bet,
                        const char  **values,
                        const gsize  *lens,
                        GError      **error)
{
  guint i;

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    if (!lottery_bet_set_field (bet, (LotteryBetField) i, values[i], lens[i],
                                error))
      return FALSE;

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
