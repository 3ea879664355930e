/* lottery-journal-record.c: the journal's record format: encoding and
 * decoding its 32-byte batch, finish, adopted and header records, and
 * their checksum. No I/O. The record functions touch only their
 * arguments (any thread); decoding the header fills the LotteryJournal
 * it is given, so it runs where that journal is used: at open, or
 * under the file store's lock.
 */
#include "config.h"

#include "lottery-journal.h"
#include "lottery-journal-private.h"

#include <string.h>

/* A journal record on disk, 32 bytes, integers big-endian:
 *   0  "LJ"   magic
 *   2  u8     type: 'B' batch, 'F' finish, 'A' adopted rows
 *   3  u8     0
 *   4  u32    agency
 *   8  u32    sequence (batch) or last sequence (finish)
 *  12  u32    bets stored by the batch (0 for a refused batch)
 *  16  u64    size of bets.csv once the batch is in
 *  24  u32    bets the batch claimed, stored or refused (0 in journals
 *              written before it was kept: a stored batch then claimed
 *              what it stored)
 *  28  u32    FNV-1a of bytes 0..27
 * The checksum tells a whole record from one torn by a crash or a
 * block of zeros left by a power cut.
 *
 * A header record ('H') says which lottery the files are: written
 * first in a new journal (after the records of an older journal that
 * had none), it is never replayed:
 *   4  u32    lottery.agencies
 *   8  u8[16] random lottery id
 *  24  u32    creation time (Unix seconds)
 *  28  u32    FNV-1a of bytes 0..27 */
#define RECORD_HEADER LOTTERY_JOURNAL_RECORD_HEADER
#define RECORD_MAGIC_0 'L'
#define RECORD_MAGIC_1 'J'

static guint32
fnv1a (const guint8 *p,
       gsize         len)
{
  guint32 h = 2166136261u;

  while (len-- > 0)
    h = (h ^ *p++) * 16777619u;

  return h;
}

static void
put_u32 (guint8 *p, guint32 v)
{
  v = GUINT32_TO_BE (v);
  memcpy (p, &v, 4);
}

static guint32
get_u32 (const guint8 *p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_BE (v);
}

void
lottery_journal_encode (guint8                   *p,
                        const LotteryStoreRecord *record)
{
  guint64 end = GUINT64_TO_BE (record->end);

  memset (p, 0, RECORD_SIZE);
  p[0] = RECORD_MAGIC_0;
  p[1] = RECORD_MAGIC_1;
  p[2] = (guint8) record->type;
  put_u32 (p + 4, record->agency);
  put_u32 (p + 8, record->sequence);
  put_u32 (p + 12, record->count);
  memcpy (p + 16, &end, 8);
  if (record->type == LOTTERY_STORE_RECORD_BATCH)
    put_u32 (p + 24, record->claimed);
  put_u32 (p + 28, fnv1a (p, 28));
}

gboolean
lottery_journal_decode (const guint8       *p,
                        LotteryStoreRecord *record)
{
  guint64 end;

  if (p[0] != RECORD_MAGIC_0 || p[1] != RECORD_MAGIC_1 ||
      (p[2] != LOTTERY_STORE_RECORD_BATCH &&
       p[2] != LOTTERY_STORE_RECORD_FINISH &&
       p[2] != LOTTERY_STORE_RECORD_ADOPTED) ||
      get_u32 (p + 28) != fnv1a (p, 28))
    return FALSE;

  record->type = (LotteryStoreRecordType) p[2];
  record->agency = get_u32 (p + 4);
  record->sequence = get_u32 (p + 8);
  record->count = get_u32 (p + 12);
  memcpy (&end, p + 16, 8);
  record->end = GUINT64_FROM_BE (end);
  record->claimed = 0;
  if (record->type == LOTTERY_STORE_RECORD_BATCH)
    record->claimed = MAX (get_u32 (p + 24), record->count);

  return TRUE;
}

void
lottery_journal_encode_header (guint8               *p,
                               const LotteryJournal *self)
{
  memset (p, 0, RECORD_SIZE);
  p[0] = RECORD_MAGIC_0;
  p[1] = RECORD_MAGIC_1;
  p[2] = RECORD_HEADER;
  put_u32 (p + 4, self->header_agencies);
  memcpy (p + 8, self->id, sizeof self->id);
  put_u32 (p + 24, self->created);
  put_u32 (p + 28, fnv1a (p, 28));
}

/* Takes the first header found; a later one (there should be none)
 * only has to be whole. */
gboolean
lottery_journal_decode_header (LotteryJournal *self,
                               const guint8   *p)
{
  if (p[0] != RECORD_MAGIC_0 || p[1] != RECORD_MAGIC_1 ||
      p[2] != RECORD_HEADER || get_u32 (p + 28) != fnv1a (p, 28))
    return FALSE;
  if (self->has_header)
    return TRUE;

  self->has_header = TRUE;
  self->header_agencies = get_u32 (p + 4);
  memcpy (self->id, p + 8, sizeof self->id);
  self->created = get_u32 (p + 24);

  return TRUE;
}
