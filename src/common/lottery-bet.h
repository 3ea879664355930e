/* lottery-bet.h: a bet and its validation (its bets.csv row form is
 * lottery-bet-row.h). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A bet wins when its number is this one. */
#define LOTTERY_WINNING_NUMBER 7574

#define LOTTERY_NAME_MAX       100 /* bytes of UTF-8 */
#define LOTTERY_DOCUMENT_MAX   20  /* digits */
#define LOTTERY_BIRTHDATE_LEN  10  /* YYYY-MM-DD */
#define LOTTERY_NUMBER_MAX_DIGITS 10

typedef enum
{
  LOTTERY_BET_FIELD_FIRST_NAME,
  LOTTERY_BET_FIELD_LAST_NAME,
  LOTTERY_BET_FIELD_DOCUMENT,
  LOTTERY_BET_FIELD_BIRTHDATE,
  LOTTERY_BET_FIELD_NUMBER,
  LOTTERY_BET_N_FIELDS
} LotteryBetField;

/* Fixed-size so that readers can fill one on the stack per row without
 * allocating; the strings are NUL-terminated and their lengths kept. */
typedef struct
{
  guint32 agency;
  guint32 number;
  guint8  first_name_len;
  guint8  last_name_len;
  guint8  document_len;
  char    first_name[LOTTERY_NAME_MAX + 1];
  char    last_name[LOTTERY_NAME_MAX + 1];
  char    document[LOTTERY_DOCUMENT_MAX + 1];
  char    birthdate[LOTTERY_BIRTHDATE_LEN + 1];
} LotteryBet;

LotteryBet *lottery_bet_new              (void);
LotteryBet *lottery_bet_copy             (const LotteryBet *bet);
void        lottery_bet_free             (LotteryBet       *bet);

const char *lottery_bet_field_name       (LotteryBetField   field);

gboolean    lottery_bet_set_field        (LotteryBet       *bet,
                                          LotteryBetField   field,
                                          const char       *value,
                                          gsize             len,
                                          GError          **error);
gboolean    lottery_bet_set_fields       (LotteryBet       *bet,
                                          const char      **values,
                                          const gsize      *lens,
                                          GError          **error);
gboolean    lottery_bet_set_text_fields  (LotteryBet       *bet,
                                          const char      **values,
                                          const gsize      *lens,
                                          GError          **error);
gboolean    lottery_bet_parse_line       (LotteryBet       *bet,
                                          const char       *line,
                                          gsize             len,
                                          GError          **error);

gboolean    lottery_bet_has_won          (const LotteryBet *bet);

gboolean    lottery_all_digits           (const char       *value,
                                          gsize             len);
gsize       lottery_format_uint          (guint64           value,
                                          char             *out);
char       *lottery_printable            (const char       *value,
                                          gsize             len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryBet, lottery_bet_free)

G_END_DECLS
