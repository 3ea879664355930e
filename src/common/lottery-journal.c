/* lottery-journal.c: bets.csv and its journal as a pair of files:
 * opening them, reading the journal back, recovery at open, the
 * header's agency count, and checking that the paths still name them.
 * The record format is lottery-journal-record.c; taking a bets.csv
 * found without a journal is lottery-journal-adopt.c.
 *
 * bets.csv keeps the course's six columns, so it cannot say which batch
 * a row came from. Beside it, bets.csv.journal holds one fixed-size
 * record per batch (agency, sequence number, bets, and where the batch
 * ends in bets.csv) and one per agency that finished. At open, the
 * journal is read back to the last whole record whose rows are all in
 * bets.csv, and both files are cut there: rows of a batch whose record
 * never made it are not kept, so every row belongs to a batch that was
 * written whole and acknowledged at most once.
 *
 * Plain functions over a LotteryJournal; no lock of their own: the
 * file store calls them under its lock, or before anyone else can see
 * the files (open), on the thread that opens the store.
 */
#include "config.h"

#include "lottery-journal.h"
#include "lottery-journal-private.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* @format takes the path and then the errno text. */
gboolean
lottery_journal_fail_errno (GError    **error,
                            int         saved,
                            const char *format,
                            ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       format, args);
  va_end (args);

  return FALSE;
}

/* write () until done; on failure @saved_errno says why (ENOSPC for a
 * write that took nothing). */
gboolean
lottery_fd_write_all (int         fd,
                      const void *data,
                      gsize       len,
                      int        *saved_errno)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = write (fd, (const char *) data + done, len - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *saved_errno = n < 0 ? errno : ENOSPC;
          return FALSE;
        }
      done += (gsize) n;
    }

  return TRUE;
}

/* Reads the journal's first @limit bytes record by record, stopping at
 * the first record that is not whole and consistent: torn, out of order,
 * or past the end of bets.csv (or @max_end). @good gets how many bytes
 * were good and @data_end where the last good batch ends in bets.csv.
 * Fails only on a read error: damage is not an error, it is cut. */
gboolean
lottery_journal_scan (LotteryJournal         *self,
                      guint64                 limit,
                      guint64                 max_end,
                      LotteryStoreRecordFunc  func,
                      gpointer                user_data,
                      guint64                *good,
                      guint64                *data_end,
                      GError                **error)
{
  guint8 buf[RECORD_SIZE * 256];
  guint64 offset = 0;
  guint64 end = 0;

  while (offset + RECORD_SIZE <= limit)
    {
      gsize want = (gsize) MIN (sizeof buf, (limit - offset) / RECORD_SIZE *
                                            RECORD_SIZE);
      ssize_t got = pread (self->fd, buf, want, (off_t) offset);
      gsize i;

      if (got < 0 && errno == EINTR)
        continue;
      if (got < 0)
        return lottery_journal_fail_errno (error, errno,
                                           N_("Cannot read journal %s: %s"),
                                           self->path, g_strerror (errno));
      if (got < RECORD_SIZE)
        break;
      for (i = 0; i + RECORD_SIZE <= (gsize) got; i += RECORD_SIZE)
        {
          LotteryStoreRecord record;

          if (buf[i + 2] == LOTTERY_JOURNAL_RECORD_HEADER)
            {
              if (!lottery_journal_decode_header (self, buf + i))
                goto done;
              offset += RECORD_SIZE;
              continue;
            }
          if (!lottery_journal_decode (buf + i, &record) || record.end < end ||
              record.end > MIN (self->data_size, max_end))
            goto done;
          if (func != NULL && !func (&record, user_data))
            goto done;
          end = record.end;
          offset += RECORD_SIZE;
        }
    }

done:
  *good = offset;
  *data_end = end;
  return TRUE;
}

/* Does bets.csv have a line end just before @end? After a power cut
 * the file's length can be on disk before its last block. */
static gboolean
ends_a_row (LotteryJournal *self,
            guint64         end,
            gboolean       *ends,
            GError        **error)
{
  char c = 0;
  ssize_t got;

  *ends = TRUE;
  if (end == 0)
    return TRUE;
  do
    got = pread (self->data_fd, &c, 1, (off_t) (end - 1));
  while (got < 0 && errno == EINTR);
  if (got < 0)
    return lottery_journal_fail_errno (error, errno,
                                       N_("Cannot read storage %s: %s"),
                                       self->data_path, g_strerror (errno));
  *ends = got == 1 && c == '\n';

  return TRUE;
}

/* Cuts bets.csv back to @end bytes, if it is longer. */
gboolean
lottery_journal_cut_data (LotteryJournal *self,
                          guint64         end,
                          GError        **error)
{
  if (end >= self->data_size)
    return TRUE;
  if (ftruncate (self->data_fd, (off_t) end) != 0)
    return lottery_journal_fail_errno (error, errno,
                                       N_("Cannot cut storage %s: %s"),
                                       self->data_path, g_strerror (errno));
  lottery_log (G_LOG_LEVEL_INFO, "recover", "success",
               "truncated_bytes: %" G_GUINT64_FORMAT, self->data_size - end);
  self->data_size = end;

  return TRUE;
}

/* Finds how much of the journal and bets.csv to keep, and cuts the
 * rest: a batch whose rows are not all there, or whose record is
 * missing, is not part of the lottery. */
static gboolean
recover (LotteryJournal *self,
         GError        **error)
{
  guint64 good, data_end;
  gboolean ends;

  if (!lottery_journal_scan (self, self->size, G_MAXUINT64, NULL, NULL,
                             &good, &data_end, error) ||
      !ends_a_row (self, data_end, &ends, error))
    return FALSE;
  /* Walk back over records whose last row is not on disk. */
  while (!ends)
    {
      if (!lottery_journal_scan (self, good, data_end - 1, NULL, NULL,
                                 &good, &data_end, error) ||
          !ends_a_row (self, data_end, &ends, error))
        return FALSE;
    }

  if (good < self->size)
    {
      if (ftruncate (self->fd, (off_t) good) != 0)
        return lottery_journal_fail_errno (error, errno,
                                           N_("Cannot cut journal %s: %s"),
                                           self->path, g_strerror (errno));
      lottery_log (G_LOG_LEVEL_INFO, "recover_journal", "success",
                   "truncated_bytes: %" G_GUINT64_FORMAT,
                   self->size - good);
      self->size = good;
    }

  return lottery_journal_cut_data (self, data_end, error);
}

/* What a file that is not a regular one is, for messages. */
static const char *
describe_file_type (mode_t mode)
{
  if (S_ISDIR (mode))
    return _("a directory");
  if (S_ISFIFO (mode))
    return _("a FIFO (named pipe)");
  if (S_ISCHR (mode))
    return _("a character device");
  if (S_ISBLK (mode))
    return _("a block device");
  if (S_ISSOCK (mode))
    return _("a socket");
  return _("not a regular file");
}

static int
open_file (const char *path,
           int         flags,
           guint64    *size,
           gboolean   *created,
           dev_t      *dev,
           ino_t      *ino,
           GError    **error)
{
  struct stat st = { 0 };
  int fd;

  errno = 0;
  *created = !g_file_test (path, G_FILE_TEST_EXISTS);
  /* Names, documents and birth dates: not for every user to read.
   * O_NONBLOCK: a FIFO must be refused, not waited on. */
  fd = g_open (path, flags | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK,
               0640);
  if (fd < 0 && errno == EISDIR && g_stat (path, &st) == 0)
    goto not_regular;
  if (fd < 0)
    {
      lottery_journal_fail_errno (error, errno,
                                  N_("Cannot open storage %s: %s"), path,
                                  g_strerror (errno));
      return -1;
    }
  if (fstat (fd, &st) != 0)
    goto cannot_use;
  if (!S_ISREG (st.st_mode))
    {
      g_close (fd, NULL);
      goto not_regular;
    }
  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_NONBLOCK) != 0)
    goto cannot_use;
  *size = (guint64) st.st_size;
  *dev = st.st_dev;
  *ino = st.st_ino;

  return fd;

cannot_use:
  {
    int saved = errno;

    g_close (fd, NULL);
    lottery_journal_fail_errno (error, saved,
                                N_("Cannot use storage %s: %s"), path,
                                g_strerror (saved));
    return -1;
  }

not_regular:
  lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                     N_("storage.path: %s is %s, not a regular file: bets and "
                        "their journal need files that can be appended to, "
                        "synced and read back"),
                     path, describe_file_type (st.st_mode));
  return -1;
}

/* A new file's name is only durable once its directory is synced. */
static void
sync_directory (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd >= 0)
    {
      fsync (fd);
      g_close (fd, NULL);
    }
}

static gboolean
note_highest_agency (const LotteryStoreRecord *record,
                     gpointer                  user_data)
{
  guint32 *highest = user_data;

  *highest = MAX (*highest, record->agency);
  return TRUE;
}

/* The journal records which lottery it is (how many agencies, a random
 * id, when it began): a restart with another lottery.agencies would let
 * a new agency in after the draw, or leave one out of it. A journal
 * from before the header was recorded (or one just written for an
 * adopted bets.csv) takes this start's count, but only if that count
 * covers every agency it names: recorded too low, the header would drop
 * those agencies from the lottery and refuse every later start with the
 * right count. */
static gboolean
check_header (LotteryJournal *self,
              gboolean        sync,
              GError        **error)
{
  guint8 buf[RECORD_SIZE];
  int saved = 0;
  guint i;

  if (self->agencies == 0)
    return TRUE;
  if (self->has_header)
    {
      g_autofree char *lottery = NULL;

      if (self->header_agencies == self->agencies)
        return TRUE;
      lottery = lottery_journal_describe (self);
      lottery_error_set (error, LOTTERY_STORE_ERROR,
                         LOTTERY_STORE_ERROR_MISMATCH,
                         N_("%s and %s are a lottery of %u agencies (lottery "
                            "%s), but lottery.agencies is %u: start with "
                            "--agencies %u to carry on with it, or move both "
                            "files away to start a new lottery"),
                         self->data_path, self->path, self->header_agencies,
                         lottery, self->agencies, self->header_agencies);
      return FALSE;
    }

  {
    guint32 highest = 0;
    guint64 good, data_end;

    if (!lottery_journal_scan (self, self->size, G_MAXUINT64,
                               note_highest_agency, &highest, &good,
                               &data_end, error))
      return FALSE;
    if (highest > self->agencies)
      {
        lottery_error_set (error, LOTTERY_STORE_ERROR,
                           LOTTERY_STORE_ERROR_MISMATCH,
                           N_("%s and %s hold bets of agency %u, but "
                              "lottery.agencies is %u: start with "
                              "--agencies %u or more to carry on with "
                              "them, or move both files away to start a "
                              "new lottery"),
                           self->data_path, self->path, highest,
                           self->agencies, highest);
        return FALSE;
      }
  }

  self->has_header = TRUE;
  self->header_agencies = self->agencies;
  for (i = 0; i < sizeof self->id; i += 4)
    {
      guint32 r = g_random_int ();

      memcpy (self->id + i, &r, 4);
    }
  self->created = (guint32) (g_get_real_time () / G_USEC_PER_SEC);
  lottery_journal_encode_header (buf, self);
  if (!lottery_fd_write_all (self->fd, buf, RECORD_SIZE, &saved) ||
      (sync && fdatasync (self->fd) != 0))
    {
      saved = saved != 0 ? saved : errno;
      if (ftruncate (self->fd, (off_t) self->size) != 0)
        lottery_log (G_LOG_LEVEL_WARNING, "cut_journal", "fail",
                     "file: %s | error: %s", self->path, g_strerror (errno));
      return lottery_journal_fail_errno (error, saved,
                                         N_("Cannot write journal %s: %s"),
                                         self->path, g_strerror (saved));
    }
  self->size += RECORD_SIZE;

  return TRUE;
}

/* Do the paths still name the files being written? A bets.csv renamed
 * over, or deleted and created again, while the server runs would take
 * no more bets, yet a restart or a reader by path would find the other
 * file. */
gboolean
lottery_journal_check_paths (const LotteryJournal *self,
                             GError              **error)
{
  const char *paths[] = { self->data_path, self->path };
  dev_t devs[] = { self->data_dev, self->dev };
  ino_t inos[] = { self->data_ino, self->ino };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      struct stat st;

      if (g_stat (paths[i], &st) != 0)
        {
          int saved = errno;

          lottery_fail_errno (error, LOTTERY_STORE_ERROR,
                              LOTTERY_STORE_ERROR_REPLACED, saved,
                              N_("%s, being written by this server, was "
                                 "moved or deleted; storing nothing more: "),
                              paths[i]);
          return FALSE;
        }
      if (st.st_dev != devs[i] || st.st_ino != inos[i])
        {
          lottery_error_set (error, LOTTERY_STORE_ERROR,
                             LOTTERY_STORE_ERROR_REPLACED,
                             N_("%s now names another file than the one this "
                                "server writes (it was renamed over or created "
                                "again); storing nothing more"), paths[i]);
          return FALSE;
        }
    }

  return TRUE;
}

void
lottery_journal_init (LotteryJournal *self,
                      const char     *data_path)
{
  self->data_path = g_strdup (data_path);
  self->path = g_strconcat (data_path, ".journal", NULL);
  self->data_fd = -1;
  self->fd = -1;
  self->data_size = 0;
  self->size = 0;
}

/**
 * lottery_journal_open:
 * @sync: make the files' creation and any repair durable
 *
 * Opens (creating if needed) bets.csv and its journal, and cuts back
 * what a crash left half written; a bets.csv without a journal is
 * adopted. Afterwards both files end at the same batch boundary.
 */
gboolean
lottery_journal_open (LotteryJournal *self,
                      gboolean        sync,
                      GError        **error)
{
  gboolean created, journal_created;

  self->data_fd = open_file (self->data_path, O_RDWR, &self->data_size,
                             &created, &self->data_dev, &self->data_ino,
                             error);
  if (self->data_fd < 0)
    return FALSE;
  self->fd = open_file (self->path, O_RDWR, &self->size, &journal_created,
                        &self->dev, &self->ino, error);
  if (self->fd < 0)
    return FALSE;
  if (sync && (created || journal_created))
    sync_directory (self->data_path);

  /* A journal without its bets.csv is most likely an old lottery's:
   * replaying it against a new file would skip or finish agencies. */
  if (created && self->size > 0)
    {
      lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                         N_("%s is missing but its journal %s is not: restore "
                            "%s, or move the journal away too to start a new "
                            "lottery"), self->data_path, self->path,
                         self->data_path);
      g_unlink (self->data_path);
      return FALSE;
    }

  if (journal_created && self->data_size > 0)
    {
      if (!lottery_journal_adopt (self, sync, error))
        return FALSE;
    }
  else if (!recover (self, error))
    return FALSE;

  return check_header (self, sync, error);
}

/* Closes both files; harmless twice. */
gboolean
lottery_journal_close (LotteryJournal *self,
                       GError        **error)
{
  gboolean ok = TRUE;

  if (self->data_fd >= 0)
    {
      if (!g_close (self->data_fd, error))
        ok = FALSE;
      self->data_fd = -1;
    }
  if (self->fd >= 0)
    {
      if (!g_close (self->fd, ok ? error : NULL))
        ok = FALSE;
      self->fd = -1;
    }

  return ok;
}

void
lottery_journal_clear (LotteryJournal *self)
{
  lottery_journal_close (self, NULL);
  g_clear_pointer (&self->data_path, g_free);
  g_clear_pointer (&self->path, g_free);
}

/* The lottery's identity, for messages: "id …, created …". */
char *
lottery_journal_describe (const LotteryJournal *self)
{
  g_autoptr(GDateTime) created = NULL;
  g_autofree char *when = NULL;
  g_autoptr(GString) id = g_string_new (NULL);
  gsize i;

  for (i = 0; i < sizeof self->id; i++)
    g_string_append_printf (id, "%02x", self->id[i]);
  created = g_date_time_new_from_unix_utc (self->created);
  when = created != NULL ? g_date_time_format_iso8601 (created) : NULL;

  return g_strdup_printf ("%s, created %s", id->str,
                          when != NULL ? when : "?");
}
