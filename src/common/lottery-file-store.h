/* lottery-file-store.h: LotteryFileStore, the LotteryStore kept in
 * bets.csv and its journal. */
#pragma once

#include "lottery-store.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_FILE_STORE (lottery_file_store_get_type ())
G_DECLARE_FINAL_TYPE (LotteryFileStore, lottery_file_store, LOTTERY, FILE_STORE, GObject)

typedef enum
{
  LOTTERY_FILE_STORE_NONE = 0,
  LOTTERY_FILE_STORE_SYNC = 1 << 0, /* a sync waits for the disk */
} LotteryFileStoreFlags;

LotteryStore *lottery_file_store_new       (const char             *path,
                                            LotteryFileStoreFlags   flags);
LotteryStore *lottery_file_store_open_full (const char             *path,
                                            LotteryFileStoreFlags   flags,
                                            LotteryStoreRecordFunc  func,
                                            gpointer                user_data,
                                            GError                **error);
LotteryStore *lottery_file_store_open      (const char             *path,
                                            GError                **error);
const char   *lottery_file_store_get_path  (LotteryFileStore       *self);
guint64       lottery_file_store_get_size  (LotteryFileStore       *self);
gboolean      lottery_file_store_sync      (LotteryFileStore       *self,
                                            guint64                 ticket,
                                            GError                **error);

G_END_DECLS
