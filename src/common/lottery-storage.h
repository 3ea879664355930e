/* lottery-storage.h: bets.csv, appended batch by batch, read back as a
 * stream. */
#pragma once

#include <gio/gio.h>

#include "lottery-bet.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_STORAGE (lottery_storage_get_type ())
G_DECLARE_FINAL_TYPE (LotteryStorage, lottery_storage, LOTTERY, STORAGE, GObject)

/* Return FALSE to stop early. */
typedef gboolean (*LotteryBetFunc) (const LotteryBet *bet,
                                    gpointer          user_data);

LotteryStorage *lottery_storage_open           (const char      *path,
                                                GError         **error);
const char     *lottery_storage_get_path       (LotteryStorage  *self);
guint64         lottery_storage_get_size       (LotteryStorage  *self);
gboolean        lottery_storage_append         (LotteryStorage  *self,
                                                const char      *rows,
                                                gsize            len,
                                                GError         **error);
gboolean        lottery_storage_close          (LotteryStorage  *self,
                                                GError         **error);

gboolean        lottery_storage_parse_row      (const char      *line,
                                                gsize            len,
                                                LotteryBet      *bet,
                                                GError         **error);
gboolean        lottery_storage_load_bets      (const char      *path,
                                                gboolean         winners_only,
                                                LotteryBetFunc   func,
                                                gpointer         user_data,
                                                GCancellable    *cancellable,
                                                GError         **error);
GPtrArray      *lottery_storage_draw           (const char      *path,
                                                guint            n_agencies,
                                                GCancellable    *cancellable,
                                                GError         **error);

G_END_DECLS
