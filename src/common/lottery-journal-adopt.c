/* lottery-journal-adopt.c: adopting a bets.csv found without its
 * journal: cutting it back to its last whole row, counting each
 * agency's rows, and writing one 'A' record per agency. Runs inside
 * lottery_journal_open (), on the thread that opens the store.
 */
#include "config.h"

#include "lottery-journal.h"
#include "lottery-journal-private.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>


/* A bets.csv that ends in the middle of a row (a write cut short)
 * cannot be appended to: the next row would be glued onto it. */
static guint64
last_row_end (LotteryJournal *self)
{
  char buf[4096];
  guint64 end = self->data_size;

  while (end > 0)
    {
      gsize n = (gsize) MIN (end, sizeof buf);
      const char *nl;

      if (pread (self->data_fd, buf, n, (off_t) (end - n)) != (ssize_t) n)
        break;
      nl = memrchr (buf, '\n', n);
      if (nl != NULL)
        {
          end = end - n + (guint64) (nl - buf) + 1;
          break;
        }
      end -= n;
    }

  return end;
}

/* Bets already held for each agency in the first @end bytes of
 * bets.csv, counted from the rows' first field: adoption resumes every
 * agency past what the file holds, not from zero. */
static GArray *
count_rows (LotteryJournal *self,
            guint64         end,
            GError        **error)
{
  g_autoptr(GArray) counts = g_array_new (FALSE, TRUE, sizeof (guint32));
  char buf[65536];
  guint64 offset = 0;
  guint32 agency = 0;
  gboolean at_start = TRUE, in_agency = FALSE;

  while (offset < end)
    {
      ssize_t got = pread (self->data_fd, buf,
                           (gsize) MIN (sizeof buf, end - offset),
                           (off_t) offset);
      ssize_t i;

      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0)
        {
          lottery_journal_fail_errno (error, got < 0 ? errno : EIO,
                                      N_("Cannot read storage %s: %s"),
                                      self->data_path,
                                      g_strerror (got < 0 ? errno : EIO));
          return NULL;
        }
      for (i = 0; i < got; i++)
        {
          char c = buf[i];

          if (at_start)
            {
              at_start = FALSE;
              in_agency = TRUE;
              agency = 0;
            }
          if (c == '\n')
            at_start = TRUE;
          else if (in_agency && g_ascii_isdigit (c) && agency < 100000000)
            agency = agency * 10 + (guint32) (c - '0');
          else if (in_agency)
            {
              in_agency = FALSE;
              /* Blank lines and damaged rows count for no agency; the
               * draw reports the damage with its line. */
              if (c == ',' && agency > 0 && agency <= 1000000)
                {
                  if (agency >= counts->len)
                    g_array_set_size (counts, agency + 1);
                  g_array_index (counts, guint32, agency)++;
                }
            }
        }
      offset += (guint64) got;
    }

  return g_steal_pointer (&counts);
}

/* bets.csv has rows but there is no journal (it was written by other
 * means, or the journal was removed). Refused unless storage.adopt is
 * set: then its whole rows are kept and recorded, one 'A' record per
 * agency with the bets it already has there. */
gboolean
lottery_journal_adopt (LotteryJournal *self,
                       gboolean        sync,
                       GError        **error)
{
  g_autoptr(GArray) counts = NULL;
  g_autoptr(GByteArray) records = g_byte_array_new ();
  guint64 end;
  guint32 agency;
  int saved = 0;

  if (!self->adopt)
    {
      /* Leave no empty journal behind: the next start would take it
       * for a lottery with no batches and cut bets.csv to nothing. */
      g_unlink (self->path);
      lottery_error_set (error, LOTTERY_STORE_ERROR,
                         LOTTERY_STORE_ERROR_MISMATCH,
                         N_("%s holds %" PRIu64 " bytes of bets but its "
                            "journal %s is missing: restore the journal, "
                            "move %s away to start a new lottery, or set "
                            "storage.adopt (--storage-adopt) to take its "
                            "bets as they are"),
                         self->data_path, self->data_size, self->path,
                         self->data_path);
      return FALSE;
    }

  end = last_row_end (self);
  if (!lottery_journal_cut_data (self, end, error))
    return FALSE;
  counts = count_rows (self, end, error);
  if (counts == NULL)
    return FALSE;

  lottery_log (G_LOG_LEVEL_WARNING, "adopt", "success",
               "storage: %s | bytes: %" G_GUINT64_FORMAT " | agencies: %u",
               self->data_path, self->data_size,
               counts->len > 0 ? counts->len - 1 : 0);
  for (agency = 1; agency < counts->len; agency++)
    {
      LotteryStoreRecord record = { LOTTERY_STORE_RECORD_ADOPTED, agency, 0,
                                    g_array_index (counts, guint32, agency),
                                    end };
      guint8 buf[RECORD_SIZE];

      if (record.count == 0)
        continue;
      lottery_journal_encode (buf, &record);
      g_byte_array_append (records, buf, RECORD_SIZE);
    }
  if (records->len == 0)
    {
      /* Only blank or damaged rows: still mark the file as adopted. */
      LotteryStoreRecord record = { LOTTERY_STORE_RECORD_ADOPTED, 0, 0, 0,
                                    end };
      guint8 buf[RECORD_SIZE];

      lottery_journal_encode (buf, &record);
      g_byte_array_append (records, buf, RECORD_SIZE);
    }

  if (sync && fdatasync (self->data_fd) != 0)
    return lottery_journal_fail_errno (error, errno,
                                       N_("Cannot sync storage %s: %s"),
                                       self->data_path, g_strerror (errno));
  if (!lottery_fd_write_all (self->fd, records->data, records->len, &saved))
    goto failed;
  if (sync && fdatasync (self->fd) != 0)
    {
      saved = errno;
      goto failed;
    }
  self->size = records->len;
  return TRUE;

failed:
  /* Leave no half record behind. */
  if (ftruncate (self->fd, 0) != 0)
    {
      int cut_errno = errno;
      g_autofree char *where = lottery_log_value (self->path);

      lottery_log (G_LOG_LEVEL_WARNING, "recover_journal", "fail",
                   "journal: %s | errno: %d | error: cannot cut the journal "
                   "back", where, cut_errno);
    }
  return lottery_journal_fail_errno (error, saved,
                                     N_("Cannot write journal %s: %s"),
                                     self->path, g_strerror (saved));
}
