/* lottery-journal-private.h: what the journal's units (the file pair,
 * the record format, adoption) share among themselves; not for the
 * store or the server. */
#pragma once

#include "lottery-journal.h"

G_BEGIN_DECLS

/* Short for the record size, in the journal's units. */
#define RECORD_SIZE LOTTERY_JOURNAL_RECORD_SIZE

/* The header record's type byte ('B', 'F' and 'A' are the store's). */
#define LOTTERY_JOURNAL_RECORD_HEADER 'H'

gboolean lottery_journal_fail_errno    (GError              **error,
                                        int                   saved,
                                        const char           *format,
                                        ...) G_GNUC_PRINTF (3, 4);

void     lottery_journal_encode_header (guint8               *out,
                                        const LotteryJournal *journal);
gboolean lottery_journal_decode_header (LotteryJournal       *journal,
                                        const guint8         *in);

gboolean lottery_journal_cut_data      (LotteryJournal       *journal,
                                        guint64               end,
                                        GError              **error);
gboolean lottery_journal_adopt         (LotteryJournal       *journal,
                                        gboolean              sync,
                                        GError              **error);

G_END_DECLS
