/* lottery-journal.h: bets.csv's journal: its record format, reading it
 * back, and recovery after a crash. */
#pragma once

#include <glib.h>

#include <sys/types.h>

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

  /* Set before lottery_journal_open (). */
  guint    agencies;   /* lottery.agencies, recorded and checked (0: not) */
  gboolean adopt;      /* take a bets.csv found without its journal */

  /* Which files were opened: the paths must keep naming them. */
  dev_t    data_dev;
  ino_t    data_ino;
  dev_t    dev;
  ino_t    ino;

  /* The lottery's identity, from its header record ('H'). */
  gboolean has_header;
  guint32  header_agencies;
  guint8   id[16];
  guint32  created;    /* Unix time */
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
gboolean lottery_journal_check_paths (const LotteryJournal   *journal,
                                    GError                  **error);
char    *lottery_journal_describe  (const LotteryJournal     *journal);

void     lottery_journal_encode    (guint8                   *out,
                                    const LotteryStoreRecord *record);
gboolean lottery_journal_decode    (const guint8             *in,
                                    LotteryStoreRecord       *record);

gboolean lottery_fd_write_all      (int                       fd,
                                    const void               *data,
                                    gsize                     len,
                                    int                      *saved_errno);

G_END_DECLS
