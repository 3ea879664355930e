/* lottery-uploader-batches.c: the bets of an agency's session and the
 * batch pipeline that sends them.
 *
 * Runs on the uploader's thread, inside its session. The bets come from
 * the bets file or the single --bet; batches are pipelined: up to
 * LOTTERY_UPLOADER_WINDOW of them are on the wire before the first
 * acknowledgement is needed, and the server answers them in order, so
 * a round trip is paid once per window, not per batch. Each ACK is
 * checked against what was sent; then the FINISH, whose count is
 * checked too.
 *
 * After a reconnection the uploader re-reads the file, skips exactly as
 * many valid bets as the WELCOME says the server used up, whatever the
 * batch size, and numbers its next batch after the server's last. That
 * is why the bets file must be a regular file, opened once and rewound.
 * A file with fewer valid bets than the server took, or, for an agency
 * already finished, a different number, is not the file that was
 * uploaded: the run fails and says how many bets were not played.
 */
#include "config.h"

#include "lottery-uploader-private.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-progress.h"
#include "lottery-protocol.h"
#include "lottery-server-text.h"

#include <glib/gi18n.h>
#include <string.h>

#define MAX_REPORTED_ROWS  100

/* ---- the bets ---- */

typedef struct
{
  LotteryCsvReader *reader; /* NULL in single-bet mode */
  gboolean          single_sent;
} BetSource;

static gboolean
is_header (const char *line,
           gsize       len)
{
  return len >= 7 && g_ascii_strncasecmp (line, "NOMBRE,", 7) == 0;
}

/* One invalid row (@n), counted and, the first time it is met, logged
 * with file and line. */
static void
reject_row (LotteryUploader *self,
            guint64          n,
            const char      *reason)
{
  if (n <= self->reported_line)
    return;

  self->reported_line = n;
  self->rejected_rows++;
  lottery_uploader_progress_pause (self);
  if (self->rejected_rows <= MAX_REPORTED_ROWS)
    {
      g_autofree char *file = lottery_log_value (self->bets_file);
      g_autofree char *error = lottery_log_value (reason);

      lottery_log (G_LOG_LEVEL_WARNING, "leer_apuesta", "fail",
                   "file: %s | line: %" G_GUINT64_FORMAT " | error: %s", file,
                   n, error);
    }
  else if (self->rejected_rows == MAX_REPORTED_ROWS + 1)
    lottery_log (G_LOG_LEVEL_WARNING, "leer_apuesta", "fail",
                 "error: more invalid rows; only the first %d are shown",
                 MAX_REPORTED_ROWS);
  lottery_uploader_progress_resume (self);
}

/* Next valid bet: 1 (in @bet), 2 (already added to @encoder, when
 * given), end: 0, read error: -1. Invalid rows, and lines too long to
 * be one, are reported by reject_row (). */
static int
next_bet (LotteryUploader     *self,
          BetSource           *source,
          LotteryBet          *bet,
          LotteryBatchEncoder *encoder,
          guint64             *line_number,
          GCancellable        *cancellable,
          GError             **error)
{
  const char *line;
  gsize len;

  if (source->reader == NULL)
    {
      if (source->single_sent)
        return 0;
      source->single_sent = TRUE;
      *bet = *self->single_bet;
      *line_number = 1;
      return 1;
    }

  for (;;)
    {
      g_autoptr(GError) row_error = NULL;
      guint64 n;

      g_autoptr(GError) read_error = NULL;

      if (!lottery_csv_reader_next_line (source->reader, &line, &len,
                                         cancellable, &read_error))
        {
          if (read_error == NULL)
            return 0;
          if (g_error_matches (read_error, LOTTERY_BETS_FILE_ERROR,
                               LOTTERY_BETS_FILE_ERROR_INVALID_ROW))
            {
              /* A line too long: one bad row, already skipped. */
              reject_row (self,
                          lottery_csv_reader_get_line_number (source->reader),
                          _("line too long"));
              continue;
            }
          /* A local file problem, not a network one: never retried. */
          if (g_error_matches (read_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_propagate_error (error, g_steal_pointer (&read_error));
          else
            lottery_fail_as (error, LOTTERY_BETS_FILE_ERROR,
                             LOTTERY_BETS_FILE_ERROR_UNREADABLE, read_error);
          return -1;
        }

      n = lottery_csv_reader_get_line_number (source->reader);
      if (len == 0 || (n == 1 && is_header (line, len)))
        continue;
      /* The common row goes straight into the batch. */
      if (encoder != NULL &&
          lottery_batch_encoder_add_line (encoder, line, len))
        {
          *line_number = n;
          return 2;
        }
      if (lottery_bet_parse_line (bet, line, len, &row_error))
        {
          *line_number = n;
          return 1;
        }

      reject_row (self, n, row_error->message);
    }
}

/* ---- the pipeline ---- */

/* Waits for the answer to the oldest batch in flight. */
static gboolean
read_batch_reply (LotteryUploader *self,
                  GCancellable    *cancellable,
                  GError         **error)
{
  LotteryUploaderInFlight *oldest = &self->window[self->window_head];
  LotteryMessage message;

  if (!lottery_uploader_read_message (self, &message, cancellable, error))
    return FALSE;

  if (message.type == LOTTERY_MESSAGE_ACK &&
      message.ack.sequence == oldest->sequence)
    {
      if (message.ack.count != oldest->count)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("The server acknowledged %u of the %u bets of "
                                "batch %u: it did not store what was sent"),
                             message.ack.count, oldest->count,
                             oldest->sequence);
      self->session_stored += oldest->count;
      if (self->single_bet != NULL)
        lottery_log (G_LOG_LEVEL_INFO, "apuesta_enviada", "success",
                     "dni: %s | numero: %u", self->single_bet->document,
                     self->single_bet->number);
      lottery_log (G_LOG_LEVEL_DEBUG, "enviar_lote", "success",
                   "lote: %u | cantidad: %u", oldest->sequence, oldest->count);
    }
  else if (message.type == LOTTERY_MESSAGE_ERROR &&
           message.error.code == LOTTERY_ERROR_INVALID_BET &&
           message.error.sequence == oldest->sequence)
    {
      /* The server's checks disagree with ours: this batch is lost,
       * the rest goes on, and the exit status will say so. */
      g_autofree char *text = lottery_server_text (message.error.text,
                                                   message.error.len);

      self->rejected_batches++;
      lottery_uploader_progress_pause (self);
      if (self->single_bet != NULL)
        lottery_log (LOTTERY_LOG_ERROR, "apuesta_enviada", "fail",
                     "dni: %s | numero: %u | error: %s",
                     self->single_bet->document, self->single_bet->number,
                     text);
      else
        lottery_log (LOTTERY_LOG_ERROR, "enviar_lote", "fail",
                     "lote: %u | lines: %" G_GUINT64_FORMAT "-%"
                     G_GUINT64_FORMAT " | error: %s", oldest->sequence,
                     oldest->first_line, oldest->last_line, text);
      lottery_uploader_progress_resume (self);
    }
  else if (message.type == LOTTERY_MESSAGE_ERROR)
    return lottery_uploader_server_error (self, &message, error);
  else
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Expected the answer to batch %u, got %s"),
                         oldest->sequence,
                         lottery_message_type_name (message.type));

  self->bets_done += oldest->count;
  self->answered_bets += oldest->count;
  if (self->progress != NULL)
    lottery_progress_update (self->progress, self->bets_done, self->bets_read,
                             self->read_offset, self->read_all);

  self->answered = oldest->sequence;
  self->window_head = (self->window_head + 1) % LOTTERY_UPLOADER_WINDOW;
  self->window_len--;
  return TRUE;
}

static gboolean
send_batch (LotteryUploader     *self,
            LotteryBatchEncoder *encoder,
            guint32              sequence,
            guint64              first_line,
            guint64              last_line,
            GCancellable        *cancellable,
            GError             **error)
{
  LotteryUploaderInFlight *slot;
  gsize len;

  if (self->window_len == LOTTERY_UPLOADER_WINDOW &&
      !read_batch_reply (self, cancellable, error))
    return FALSE;

  len = lottery_batch_encoder_finish (encoder, sequence);
  if (!lottery_uploader_write_frame (self, encoder->frame, len, cancellable,
                                     error))
    return FALSE;

  slot = &self->window[(self->window_head + self->window_len) %
                       LOTTERY_UPLOADER_WINDOW];
  slot->sequence = sequence;
  slot->count = encoder->count;
  slot->first_line = first_line;
  slot->last_line = last_line;
  self->window_len++;

  return TRUE;
}

/* The bets file, opened once for the whole run: a FIFO is never
 * opened twice, and the open never blocks. Only a regular file can be
 * read again after a reconnection; anything else is refused, as a
 * setting (exit status 2). */
gboolean
lottery_uploader_open_bets_file (LotteryUploader *self,
                                 GError         **error)
{
  g_autoptr(GError) local_error = NULL;

  self->reader = lottery_csv_reader_new_for_regular_file (self->bets_file,
                                                          &local_error);
  if (self->reader != NULL)
    return TRUE;
  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE))
    return lottery_fail_as (error, LOTTERY_CONFIG_ERROR,
                            LOTTERY_CONFIG_ERROR_INVALID, local_error);
  return lottery_fail_as (error, LOTTERY_BETS_FILE_ERROR,
                          LOTTERY_BETS_FILE_ERROR_UNREADABLE, local_error);
}

/* From the first bet again, for a new session. */
static gboolean
open_source (LotteryUploader *self,
             BetSource       *source,
             GError         **error)
{
  g_autoptr(GError) local_error = NULL;

  memset (source, 0, sizeof *source);
  if (self->single_bet != NULL)
    return TRUE;

  if (!lottery_csv_reader_rewind (self->reader, &local_error))
    return lottery_fail_as (error, LOTTERY_BETS_FILE_ERROR,
                            LOTTERY_BETS_FILE_ERROR_UNREADABLE, local_error);
  source->reader = self->reader;

  return TRUE;
}

void
lottery_uploader_close_bets_file (LotteryUploader *self)
{
  g_autofree char *file = NULL;

  if (self->reader == NULL)
    return;

  g_clear_pointer (&self->reader, lottery_csv_reader_free);
  file = lottery_log_value (self->bets_file);
  lottery_log (G_LOG_LEVEL_INFO, "close_bets_file", "success", "file: %s",
               file);
}

/* The file holds @in_file valid bets but the server took @held of this
 * agency: not the file that was uploaded (or not all of it). */
static gboolean
fail_mismatch (LotteryUploader *self,
               guint64          in_file,
               guint64          held,
               GError         **error)
{
  g_autofree char *file_text = g_strdup_printf ("%" G_GUINT64_FORMAT, in_file);
  g_autofree char *held_text = g_strdup_printf ("%" G_GUINT64_FORMAT, held);
  const char *file = self->bets_file != NULL ? self->bets_file : "--bet";

  self->mismatch = TRUE;
  self->file_bets = in_file;
  if (in_file < held)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("The server holds %s bets of agency %u, but %s has "
                            "only %s valid rows: it is not the file that was "
                            "uploaded, and nothing is sent"),
                         held_text, self->agency, file, file_text);
  return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                       N_("Agency %u already finished with %s bets, but %s "
                          "has %s valid rows: the rest were not played"),
                       self->agency, held_text, file, file_text);
}

/* Skips the first @skip valid bets (the server used them up) and sends
 * the rest in batches numbered from @last_sequence + 1, then waits for
 * all answers; sets @n_batches to the last batch number. For an agency
 * already @finished it only counts the bets, which must be @skip. */
gboolean
lottery_uploader_upload (LotteryUploader *self,
                         guint32          last_sequence,
                         guint64          skip,
                         gboolean         finished,
                         guint32         *n_batches,
                         GCancellable    *cancellable,
                         GError         **error)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  BetSource source;
  LotteryBet bet;
  guint64 line = 0, first_line = 0, last_line = 0;
  guint32 sequence = last_sequence;
  gboolean ok = FALSE;
  int r;

  self->window_head = self->window_len = 0;
  self->bets_done = self->bets_read = self->read_offset = 0;
  self->read_all = FALSE;
  if (!open_source (self, &source, error))
    goto out;

  lottery_batch_encoder_init (encoder, self->batch_max_amount);
  for (;;)
    {
      /* A bet that will be sent may go straight into the batch; one
       * skipped on resume, or after a FINISH, is only checked and
       * counted. */
      LotteryBatchEncoder *direct =
        (self->bets_read >= skip && !finished) ? encoder : NULL;

      r = next_bet (self, &source, &bet, direct, &line, cancellable, error);
      if (r <= 0)
        break;
      self->bets_read++;
      if (self->bets_read <= skip)
        {
          self->bets_done++;
          continue;
        }
      if (finished)
        continue;
      if (r == 1 && !lottery_batch_encoder_add (encoder, &bet))
        {
          sequence++;
          if (source.reader != NULL)
            self->read_offset = lottery_csv_reader_get_offset (source.reader);
          if (!send_batch (self, encoder, sequence, first_line, last_line,
                           cancellable, error))
            goto out;
          lottery_batch_encoder_init (encoder, self->batch_max_amount);
          if (!lottery_batch_encoder_add (encoder, &bet))
            g_assert_not_reached ();
        }
      if (encoder->count == 1)
        first_line = line;
      last_line = line;
    }
  if (r < 0)
    goto out;
  self->read_all = TRUE;

  if (self->bets_read < skip || (finished && self->bets_read != skip))
    {
      /* Checked before the last batch goes: nothing more is stored. */
      fail_mismatch (self, self->bets_read, skip, error);
      goto out;
    }

  if (encoder->count > 0)
    {
      sequence++;
      if (!send_batch (self, encoder, sequence, first_line, last_line,
                       cancellable, error))
        goto out;
    }

  while (self->window_len > 0)
    if (!read_batch_reply (self, cancellable, error))
      goto out;

  *n_batches = sequence;
  ok = TRUE;

out:
  g_free (encoder);
  return ok;
}

gboolean
lottery_uploader_finish (LotteryUploader *self,
                         guint32          n_batches,
                         GCancellable    *cancellable,
                         GError         **error)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  if (!lottery_uploader_write_frame (self, frame,
                                     lottery_message_encode_finish (frame,
                                                                    n_batches),
                                     cancellable, error) ||
      !lottery_uploader_read_message (self, &message, cancellable, error))
    return FALSE;

  if (message.type == LOTTERY_MESSAGE_ERROR)
    return lottery_uploader_server_error (self, &message, error);
  if (message.type != LOTTERY_MESSAGE_FINISHED)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Expected FINISHED, got %s"),
                         lottery_message_type_name (message.type));

  /* Every bet the server acknowledged (this session or before) and
   * none it refused: anything else means bets went missing. */
  if (message.finished.stored != self->held_stored + self->session_stored)
    {
      g_autofree char *stored = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                 message.finished.stored);
      g_autofree char *sent = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                               self->held_stored +
                                               self->session_stored);

      return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                           N_("The server says it stored %s bets of agency "
                              "%u, not %s as it acknowledged"),
                           stored, self->agency, sent);
    }

  self->finish_answered = TRUE;
  self->uploaded = TRUE;
  lottery_uploader_progress_pause (self);
  lottery_log (G_LOG_LEVEL_INFO, "finish", "success",
               "cantidad: %" G_GUINT64_FORMAT, message.finished.stored);
  return TRUE;
}
