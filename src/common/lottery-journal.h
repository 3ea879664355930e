/* lottery-journal.h: bets.csv's journal: its record format, reading it
 * back, and recovery after a crash. */
#pragma once

#include <glib.h>

#include "lottery-store.h"

G_BEGIN_DECLS

#define LOTTERY_JOURNAL_RECORD_SIZE 32

/* bets.csv and its journal, open; the store's lock guards it. */
typedef struct
{
  char    *data_path;  /* bets.csv (owned) */
  char    *path;       /* bets.csv.journal (owned) */
  int      data_fd;    /* bets.csv, O_APPEND, or -1 */
  int      fd;         /* the journal, O_APPEND, or -1 */
  guint64  data_size;  /* bytes in bets.csv */
  guint64  size;       /* journal bytes, written or held: tickets */
} LotteryJournal;

void     lottery_journal_init      (LotteryJournal           *journal,
                                    const char               *data_path);
gboolean lottery_journal_open      (LotteryJournal           *journal,
                                    gboolean                  sync,
                                    GError                  **error);
gboolean lottery_journal_scan      (LotteryJournal           *journal,
                                    guint64                   limit,
                                    guint64                   max_end,
                                    LotteryStoreRecordFunc    func,
                                    gpointer                  user_data,
                                    guint64                  *good,
                                    guint64                  *data_end,
                                    GError                  **error);
gboolean lottery_journal_close     (LotteryJournal           *journal,
                                    GError                  **error);
void     lottery_journal_clear     (LotteryJournal           *journal);

void     lottery_journal_encode    (guint8                   *out,
                                    const LotteryStoreRecord *record);
gboolean lottery_journal_decode    (const guint8             *in,
                                    LotteryStoreRecord       *record);

gboolean lottery_fd_write_all      (int                       fd,
                                    const void               *data,
                                    gsize                     len,
                                    int                      *saved_errno);

G_END_DECLS
