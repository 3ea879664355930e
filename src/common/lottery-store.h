/* lottery-store.h: LotteryStore, where the lottery's bets are kept.
 *
 * The server talks to its store only through this interface; bets.csv
 * with its journal (LotteryFileStore) is one implementation. See
 * docs/storage.md for each method's contract.
 */
#pragma once

#include <gio/gio.h>

#include "lottery-bet-row.h"

G_BEGIN_DECLS

#define LOTTERY_STORE_ERROR (lottery_store_error_quark ())

/* Local errors of a store; the server sends them as the wire code
 * "storage" (lottery_error_to_wire_code ()). Only append codes. */
typedef enum
{
  LOTTERY_STORE_ERROR_FAILED = 0,  /* anything else */
  LOTTERY_STORE_ERROR_CLOSED = 1,  /* the store was closed */
  LOTTERY_STORE_ERROR_BROKEN = 2,  /* an earlier write or sync failed: no
                                    * more until it is reopened */
  LOTTERY_STORE_ERROR_IO = 3,      /* a write failed; nothing of it kept */
  LOTTERY_STORE_ERROR_CORRUPT = 4, /* a stored row is not a valid bet */
  LOTTERY_STORE_ERROR_MISMATCH = 5, /* the files are another lottery's, or
                                     * bets without their journal */
  LOTTERY_STORE_ERROR_REPLACED = 6, /* the path no longer names the file
                                     * being written: nothing more taken */
  LOTTERY_STORE_ERROR_NO_SPACE = 7, /* the disk is full: nothing was lost,
                                     * try again later */
  LOTTERY_STORE_ERROR_UNAVAILABLE = 8, /* the database cannot be reached */
} LotteryStoreError;

GQuark   lottery_store_error_quark (void);
gboolean lottery_store_fail        (GError          **error,
                                    LotteryStoreError code,
                                    const char       *format,
                                    ...) G_GNUC_PRINTF (3, 4);

typedef enum
{
  LOTTERY_STORE_RECORD_BATCH = 'B',   /* a batch, stored or refused */
  LOTTERY_STORE_RECORD_FINISH = 'F',  /* the agency sent FINISH */
  LOTTERY_STORE_RECORD_ADOPTED = 'A', /* bets found without their batch's
                                       * record: `count` bets already held
                                       * for `agency` (0: an old journal's,
                                       * agencies unknown) */
} LotteryStoreRecordType;

/* What the store keeps about each batch and finish, and replays at
 * recovery. */
typedef struct
{
  LotteryStoreRecordType type;
  guint32 agency;
  guint32 sequence; /* the batch's; for FINISH, the agency's last */
  guint32 count;    /* bets the batch stored (0: refused) */
  guint64 end;      /* to append: the length of the batch's rows; after
                     * it, and when replayed: where the batch ends in the
                     * store (opaque; bets.csv: its size) */
  guint32 claimed;  /* bets the batch carried, stored or refused: the
                     * agency's bets it used up */
} LotteryStoreRecord;

/* Where an agency stands in a store that several servers share, as
 * lottery_store_claim_finish () reads it under the agency's lease. */
typedef struct
{
  guint32  last_sequence; /* the last batch stored, 0 for none */
  guint64  consumed;      /* bets its batches carried, stored or refused */
  guint64  stored;        /* bets stored */
  gboolean finished;
  gboolean connected;     /* in a view (::agencies-read): a server holds
                           * a live lease */
} LotteryStoreAgency;

/* Return FALSE to stop early. */
typedef gboolean (*LotteryStoreRecordFunc) (const LotteryStoreRecord *record,
                                            gpointer                  user_data);

#define LOTTERY_TYPE_STORE (lottery_store_get_type ())
G_DECLARE_INTERFACE (LotteryStore, lottery_store, LOTTERY, STORE, GObject)

struct _LotteryStoreInterface
{
  GTypeInterface g_iface;

  gboolean    (*recover)        (LotteryStore           *store,
                                 LotteryStoreRecordFunc  func,
                                 gpointer                user_data,
                                 GCancellable           *cancellable,
                                 GError                **error);
  gboolean    (*append)         (LotteryStore           *store,
                                 const char             *rows,
                                 LotteryStoreRecord     *records,
                                 guint                   n_records,
                                 guint64                *ticket,
                                 GError                **error);
  void        (*sync_async)     (LotteryStore           *store,
                                 guint64                 ticket,
                                 GCancellable           *cancellable,
                                 GAsyncReadyCallback     callback,
                                 gpointer                user_data);
  gboolean    (*sync_finish)    (LotteryStore           *store,
                                 GAsyncResult           *result,
                                 GError                **error);
  gboolean    (*load_bets)      (LotteryStore           *store,
                                 gboolean                winners_only,
                                 LotteryBetFunc          func,
                                 gpointer                user_data,
                                 GCancellable           *cancellable,
                                 GError                **error);
  GPtrArray  *(*draw)           (LotteryStore           *store,
                                 guint                   n_agencies,
                                 GCancellable           *cancellable,
                                 GError                **error);
  const char *(*get_location)   (LotteryStore           *store);
  guint64     (*get_sync_count) (LotteryStore           *store);
  gboolean    (*close)          (LotteryStore           *store,
                                 GError                **error);

  /* Shared stores only (NULL otherwise): one live session per agency
   * across every server of the lottery. */
  void        (*claim_async)    (LotteryStore           *store,
                                 guint                   agency,
                                 GCancellable           *cancellable,
                                 GAsyncReadyCallback     callback,
                                 gpointer                user_data);
  gboolean    (*claim_finish)   (LotteryStore           *store,
                                 GAsyncResult           *result,
                                 LotteryStoreAgency     *position,
                                 GError                **error);
  void        (*release)        (LotteryStore           *store,
                                 guint                   agency);
};

gboolean    lottery_store_recover        (LotteryStore           *store,
                                          LotteryStoreRecordFunc  func,
                                          gpointer                user_data,
                                          GCancellable           *cancellable,
                                          GError                **error);
gboolean    lottery_store_append         (LotteryStore           *store,
                                          const char             *rows,
                                          LotteryStoreRecord     *records,
                                          guint                   n_records,
                                          guint64                *ticket,
                                          GError                **error);
void        lottery_store_sync_async     (LotteryStore           *store,
                                          guint64                 ticket,
                                          GCancellable           *cancellable,
                                          GAsyncReadyCallback     callback,
                                          gpointer                user_data);
gboolean    lottery_store_sync_finish    (LotteryStore           *store,
                                          GAsyncResult           *result,
                                          GError                **error);
gboolean    lottery_store_load_bets      (LotteryStore           *store,
                                          gboolean                winners_only,
                                          LotteryBetFunc          func,
                                          gpointer                user_data,
                                          GCancellable           *cancellable,
                                          GError                **error);
GPtrArray  *lottery_store_draw           (LotteryStore           *store,
                                          guint                   n_agencies,
                                          GCancellable           *cancellable,
                                          GError                **error);
const char *lottery_store_get_location   (LotteryStore           *store);
guint64     lottery_store_get_sync_count (LotteryStore           *store);
gboolean    lottery_store_close          (LotteryStore           *store,
                                          GError                **error);
gboolean    lottery_store_is_shared      (LotteryStore           *store);
void        lottery_store_claim_async    (LotteryStore           *store,
                                          guint                   agency,
                                          GCancellable           *cancellable,
                                          GAsyncReadyCallback     callback,
                                          gpointer                user_data);
gboolean    lottery_store_claim_finish   (LotteryStore           *store,
                                          GAsyncResult           *result,
                                          LotteryStoreAgency     *position,
                                          GError                **error);
void        lottery_store_release        (LotteryStore           *store,
                                          guint                   agency);

G_END_DECLS
