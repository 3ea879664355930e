/* lottery-bet-row.h: the bets.csv row format: a bet as one CSV row of
 * the course's six columns, written, parsed back, and read as a file. */
#pragma once

#include <gio/gio.h>

#include "lottery-bet.h"

G_BEGIN_DECLS

/* Longest row lottery_bet_format_row () can write: every name byte
 * doubled by quoting, plus quotes, commas, digits and CRLF. */
#define LOTTERY_BET_ROW_MAX    512

/* Return FALSE to stop early. */
typedef gboolean (*LotteryBetFunc) (const LotteryBet *bet,
                                    gpointer          user_data);

gsize       lottery_bet_format_row       (const LotteryBet *bet,
                                          char             *out);
gboolean    lottery_bet_parse_row        (const char       *line,
                                          gsize             len,
                                          LotteryBet       *bet,
                                          GError          **error);
gboolean    lottery_bet_row_has_won      (const char       *line,
                                          gsize             len);
gboolean    lottery_bet_rows_read        (const char       *path,
                                          gboolean          winners_only,
                                          LotteryBetFunc    func,
                                          gpointer          user_data,
                                          GCancellable     *cancellable,
                                          GError          **error);

G_END_DECLS
