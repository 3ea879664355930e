/* lottery-storage.h: bets.csv, appended batch by batch, read back as a
 * stream. */
#pragma once

#include <gio/gio.h>

#include "lottery-bet.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_STORAGE (lottery_storage_get_type ())
G_DECLARE_FINAL_TYPE (LotteryStorage, lottery_storage, LOTTERY, STORAGE, GObject)

typedef enum
{
  LOTTERY_STORAGE_NONE = 0,
  LOTTERY_STORAGE_SYNC = 1 << 0, /* lottery_storage_sync () waits for disk */
} LotteryStorageFlags;

typedef enum
{
  LOTTERY_STORAGE_RECORD_BATCH = 'B',   /* a batch, stored or refused */
  LOTTERY_STORAGE_RECORD_FINISH = 'F',  /* the agency sent FINISH */
  LOTTERY_STORAGE_RECORD_ADOPTED = 'A', /* rows found without a journal */
} LotteryStorageRecordType;

/* One journal record. */
typedef struct
{
  LotteryStorageRecordType type;
  guint32 agency;
  guint32 sequence; /* the batch's; for FINISH, the agency's last */
  guint32 count;    /* bets the batch stored */
  guint64 end;      /* size of bets.csv with the batch in */
} LotteryStorageRecord;

/* Return FALSE to stop early. */
typedef gboolean (*LotteryStorageRecordFunc) (const LotteryStorageRecord *record,
                                              gpointer                    user_data);

/* Return FALSE to stop early. */
typedef gboolean (*LotteryBetFunc) (const LotteryBet *bet,
                                    gpointer          user_data);

LotteryStorage *lottery_storage_open_full      (const char      *path,
                                                LotteryStorageFlags flags,
                                                LotteryStorageRecordFunc func,
                                                gpointer         user_data,
                                                GError         **error);
LotteryStorage *lottery_storage_open           (const char      *path,
                                                GError         **error);
const char     *lottery_storage_get_path       (LotteryStorage  *self);
guint64         lottery_storage_get_size       (LotteryStorage  *self);
gboolean        lottery_storage_append         (LotteryStorage  *self,
                                                const char      *rows,
                                                LotteryStorageRecord *records,
                                                guint            n_records,
                                                guint64         *ticket,
                                                GError         **error);
gboolean        lottery_storage_sync           (LotteryStorage  *self,
                                                guint64          ticket,
                                                GError         **error);
void            lottery_storage_sync_async     (LotteryStorage  *self,
                                                guint64          ticket,
                                                GCancellable    *cancellable,
                                                GAsyncReadyCallback callback,
                                                gpointer         user_data);
gboolean        lottery_storage_sync_finish    (LotteryStorage  *self,
                                                GAsyncResult    *result,
                                                GError         **error);
guint64         lottery_storage_get_sync_count (LotteryStorage  *self);
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
