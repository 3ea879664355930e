/* lottery-uploader.c: an agency's session with the central server.
 *
 * Runs in one thread, with blocking GIO calls that a GCancellable can
 * interrupt. Batches are pipelined: up to WINDOW of them are on the wire
 * before the first acknowledgement is needed, and the server answers
 * them in order, so a round trip is paid once per window, not per batch.
 *
 * If the connection breaks, or the server is not up yet, the session is
 * retried with backoff for about five seconds. The server's WELCOME says
 * how many of this agency's bets its batches used up (stored or
 * refused) and the last batch number; the uploader re-reads the file,
 * skips exactly that many valid bets, whatever the batch size, and
 * numbers its next batch after the server's last: nothing is sent
 * twice. That is why the bets file must be a regular file, opened once
 * and rewound. A file with fewer valid bets than the server took, or,
 * for an agency already finished, a different number, is not the file
 * that was uploaded: the run fails and says how many bets were not
 * played.
 *
 * The server is not trusted: every count it returns is checked, what it
 * sends is bounded and sanitised, and every answer but the draw itself
 * must come within the timeout.
 */
#include "config.h"

#include "lottery-uploader.h"
#include "lottery-auth.h"
#include "lottery-connect.h"
#include "lottery-csv-reader.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-progress.h"
#include "lottery-protocol.h"
#include "lottery-server-text.h"
#include "lottery-stream.h"

#include <glib/gi18n.h>
#include <string.h>

/* 128 batches (about 800 KiB) in flight: enough to cover the server's
 * wait for the disk (storage.sync) at full speed. */
#define WINDOW             128
#define OUTPUT_BUFFER_SIZE (64 * 1024)
#define RETRY_BUDGET_USEC  (5 * G_USEC_PER_SEC)
/* When the server itself says "wait" (agency_busy: the agency's old
 * connection, cut by the network, is still held; unavailable: its disk
 * or database is out for now), longer than the server takes to notice
 * a vanished peer (TCP keepalive: 30 s idle + 4 probes 5 s apart = 50 s). */
#define WAIT_BUDGET_USEC   (65 * G_USEC_PER_SEC)
#define BACKOFF_FIRST_MS   100
#define BACKOFF_MAX_MS     1000
#define CONNECT_TIMEOUT_S  5
#define MAX_REPORTED_ROWS  100

typedef struct
{
  guint32 sequence;
  guint   count;
  guint64 first_line;
  guint64 last_line;
} InFlight;

struct _LotteryUploader
{
  GObject parent_instance;

  guint              agency;
  char              *address;
  guint              batch_max_amount;
  char              *bets_file;
  LotteryBet        *single_bet;
  gboolean           has_token;
  guint8             token[LOTTERY_AUTH_TOKEN_LEN]; /* secret */
  gboolean           warned_open;   /* said the server asked for no token */
  GTlsDatabase      *tls_database;  /* NULL: plain TCP */
  guint              timeout;       /* seconds for an answer */
  LotteryCsvReader  *reader;        /* the bets file, opened once */
  gboolean           refused;       /* the session ended on a server ERROR */

  GIOStream         *connection;    /* TCP, or TLS over it */
  guint8            *rbuf;
  guint8            *obuf;          /* frames not yet written */
  gsize              olen;
  InFlight           window[WINDOW];
  guint              window_head;
  guint              window_len;

  guint64            reported_line; /* invalid rows up to here were logged */
  guint64            rejected_rows;
  guint64            rejected_batches;
  guint64            held_bets;     /* the WELCOME's bets used up, this session */
  guint64            held_stored;   /* of those, stored */
  guint64            session_stored; /* acknowledged in this session */
  guint64            answered_bets; /* bets used up, as far as we know */
  gboolean           mismatch;      /* the file is not what the server has */
  guint64            file_bets;     /* valid bets in the file, if mismatch */
  gboolean           uploaded;      /* this process sent the FINISH */
  guint32            answered;      /* last batch the server answered */
  gboolean           finish_answered;
  GPtrArray         *winners;

  LotteryProgress   *progress;      /* NULL: no progress line */
  guint64            bets_done;     /* answered (or held from before) */
  guint64            bets_read;     /* valid rows read from the file */
  guint64            read_offset;   /* bytes of the file read */
  gboolean           read_all;
};

G_DEFINE_FINAL_TYPE (LotteryUploader, lottery_uploader, G_TYPE_OBJECT)

static void
lottery_uploader_finalize (GObject *object)
{
  LotteryUploader *self = LOTTERY_UPLOADER (object);

  g_clear_object (&self->connection);
  g_free (self->address);
  g_free (self->bets_file);
  g_clear_pointer (&self->reader, lottery_csv_reader_free);
  g_clear_pointer (&self->single_bet, lottery_bet_free);
  g_clear_object (&self->tls_database);
  g_free (self->rbuf);
  g_free (self->obuf);
  g_clear_pointer (&self->winners, g_ptr_array_unref);
  g_clear_pointer (&self->progress, lottery_progress_free);
  lottery_auth_wipe (self->token, sizeof self->token);

  G_OBJECT_CLASS (lottery_uploader_parent_class)->finalize (object);
}

static void
lottery_uploader_class_init (LotteryUploaderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_uploader_finalize;
}

static void
lottery_uploader_init (LotteryUploader *self)
{
  self->rbuf = g_malloc (LOTTERY_FRAME_MAX);
  self->obuf = g_malloc (OUTPUT_BUFFER_SIZE);
  self->winners = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->winners, NULL);
}

LotteryUploader *
lottery_uploader_new (guint       agency,
                      const char *address,
                      guint       batch_max_amount)
{
  LotteryUploader *self = g_object_new (LOTTERY_TYPE_UPLOADER, NULL);

  self->agency = agency;
  self->address = g_strdup (address);
  self->batch_max_amount = batch_max_amount;
  self->timeout = 30;

  return self;
}

void
lottery_uploader_set_bets_file (LotteryUploader *self,
                                const char      *path)
{
  g_free (self->bets_file);
  self->bets_file = g_strdup (path);
}

void
lottery_uploader_set_single_bet (LotteryUploader  *self,
                                 const LotteryBet *bet)
{
  g_clear_pointer (&self->single_bet, lottery_bet_free);
  self->single_bet = lottery_bet_copy (bet);
}

/* Speaks TLS and trusts only the CAs of @database; NULL: plain TCP. */
void
lottery_uploader_set_tls_database (LotteryUploader *self,
                                   GTlsDatabase    *database)
{
  g_set_object (&self->tls_database, database);
}

/* The longest wait for any answer but the draw, in seconds. */
void
lottery_uploader_set_timeout (LotteryUploader *self,
                              guint            timeout_s)
{
  g_return_if_fail (timeout_s > 0);

  self->timeout = timeout_s;
}

/* Shows @progress (transfer full) while uploading; it is cleared when
 * lottery_uploader_run () returns. */
void
lottery_uploader_set_progress (LotteryUploader *self,
                               LotteryProgress *progress)
{
  g_clear_pointer (&self->progress, lottery_progress_free);
  self->progress = progress;
}

/* The agency's token (LOTTERY_AUTH_TOKEN_LEN bytes, copied), to answer
 * a server that asks for proof of it; NULL for none. */
void
lottery_uploader_set_token (LotteryUploader *self,
                            const guint8    *token)
{
  self->has_token = token != NULL;
  if (token != NULL)
    memcpy (self->token, token, sizeof self->token);
  else
    lottery_auth_wipe (self->token, sizeof self->token);
}

/* NULL-terminated; valid once lottery_uploader_run () succeeded. */
const char * const *
lottery_uploader_get_winners (LotteryUploader *self)
{
  return (const char * const *) self->winners->pdata;
}

guint64
lottery_uploader_get_rejected_rows (LotteryUploader *self)
{
  return self->rejected_rows;
}

guint64
lottery_uploader_get_rejected_batches (LotteryUploader *self)
{
  return self->rejected_batches;
}

/* Did the run fail because the server holds a different number of this
 * agency's bets than the file has valid rows? @in_file and @held get
 * the two counts. */
gboolean
lottery_uploader_get_mismatch (LotteryUploader *self,
                               guint64         *in_file,
                               guint64         *held)
{
  *in_file = self->file_bets;
  *held = self->held_bets;
  return self->mismatch;
}

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

/* A log line goes on a blank line of its own: the progress line is
 * blanked before it (progress_pause ()) and drawn again after it
 * (progress_resume ()), on the line below. */
static void
progress_pause (LotteryUploader *self)
{
  if (self->progress != NULL)
    lottery_progress_clear (self->progress);
}

static void
progress_resume (LotteryUploader *self)
{
  if (self->progress != NULL)
    lottery_progress_redraw (self->progress);
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
  progress_pause (self);
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
  progress_resume (self);
}

/* Next valid bet: 1, end: 0, read error: -1. Invalid rows, and lines
 * too long to be one, are reported by reject_row (). */
static int
next_bet (LotteryUploader *self,
          BetSource       *source,
          LotteryBet      *bet,
          guint64         *line_number,
          GCancellable    *cancellable,
          GError         **error)
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
      if (lottery_bet_parse_line (bet, line, len, &row_error))
        {
          *line_number = n;
          return 1;
        }

      reject_row (self, n, row_error->message);
    }
}

/* ---- replies ---- */

/* The server's ERROR as a GError with its code: it reached the server,
 * which refused, and says why (sanitised: it may reach a terminal). */
static gboolean
server_error (LotteryUploader      *self,
              const LotteryMessage *message,
              GError              **error)
{
  g_autofree char *text = lottery_server_text (message->error.text,
                                               message->error.len);
  /* A wire code is the local code of the same name. */
  int code = lottery_wire_code_is_known (message->error.code)
    ? message->error.code : LOTTERY_ERROR_FAILED;

  self->refused = TRUE;
  return lottery_fail (error, (LotteryError) code,
                       N_("The server at %s refused agency %u: %s"),
                       self->address, self->agency, text);
}

static gboolean
flush_output (LotteryUploader *self,
              GCancellable    *cancellable,
              GError         **error)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (self->connection));
  gsize len = self->olen;

  self->olen = 0;
  return len == 0 || lottery_stream_write (out, self->obuf, len, cancellable,
                                           error);
}

/* Frames are gathered and written 64 KiB at a time, and always before
 * waiting for an answer: fewer system calls, same order. */
static gboolean
write_frame (LotteryUploader *self,
             const guint8    *frame,
             gsize            len,
             GCancellable    *cancellable,
             GError         **error)
{
  if (self->olen + len > OUTPUT_BUFFER_SIZE &&
      !flush_output (self, cancellable, error))
    return FALSE;

  memcpy (self->obuf + self->olen, frame, len);
  self->olen += len;
  return TRUE;
}

static gboolean
read_message (LotteryUploader *self,
              LotteryMessage  *message,
              GCancellable    *cancellable,
              GError         **error)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (self->connection));

  return flush_output (self, cancellable, error) &&
         lottery_stream_read_message (in, self->rbuf, message, cancellable,
                                      error);
}

/* Waits for the answer to the oldest batch in flight. */
static gboolean
read_batch_reply (LotteryUploader *self,
                  GCancellable    *cancellable,
                  GError         **error)
{
  InFlight *oldest = &self->window[self->window_head];
  LotteryMessage message;

  if (!read_message (self, &message, cancellable, error))
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
      progress_pause (self);
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
      progress_resume (self);
    }
  else if (message.type == LOTTERY_MESSAGE_ERROR)
    return server_error (self, &message, error);
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
  self->window_head = (self->window_head + 1) % WINDOW;
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
  InFlight *slot;
  gsize len;

  if (self->window_len == WINDOW &&
      !read_batch_reply (self, cancellable, error))
    return FALSE;

  len = lottery_batch_encoder_finish (encoder, sequence);
  if (!write_frame (self, encoder->frame, len, cancellable, error))
    return FALSE;

  slot = &self->window[(self->window_head + self->window_len) % WINDOW];
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
static gboolean
open_bets_file (LotteryUploader *self,
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

static void
close_bets_file (LotteryUploader *self)
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
static gboolean
upload (LotteryUploader *self,
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
  while ((r = next_bet (self, &source, &bet, &line, cancellable, error)) > 0)
    {
      self->bets_read++;
      if (self->bets_read <= skip)
        {
          self->bets_done++;
          continue;
        }
      if (finished)
        continue;
      if (!lottery_batch_encoder_add (encoder, &bet))
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

static gboolean
finish (LotteryUploader *self,
        guint32          n_batches,
        GCancellable    *cancellable,
        GError         **error)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  if (!write_frame (self, frame, lottery_message_encode_finish (frame, n_batches),
                    cancellable, error) ||
      !read_message (self, &message, cancellable, error))
    return FALSE;

  if (message.type == LOTTERY_MESSAGE_ERROR)
    return server_error (self, &message, error);
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
  progress_pause (self);
  lottery_log (G_LOG_LEVEL_INFO, "finish", "success",
               "cantidad: %" G_GUINT64_FORMAT, message.finished.stored);
  return TRUE;
}

/* A winner's document, as the server sent it: digits only, as every
 * document the client sends. */
static gboolean
check_document (LotteryUploader *self,
                const char      *document,
                gsize            len,
                GError         **error)
{
  gsize i;

  for (i = 0; i < len; i++)
    if (!g_ascii_isdigit (document[i]))
      {
        g_autofree char *shown = lottery_server_text (document, len);

        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("The server sent “%s” as a winner of agency "
                                "%u: not a document (digits only)"),
                             shown, self->agency);
      }

  return len > 0 ||
         lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                       N_("The server sent an empty winner document"));
}

/* The most winners the agency can have: one per bet the server stored
 * for it, in this run or earlier ones. */
static guint64
max_winners (LotteryUploader *self)
{
  return self->held_stored + self->session_stored;
}

/* Asks for this agency's winners; the answer comes after the draw, so
 * this may wait for the other agencies: without a timeout until the
 * first frame, then each frame within the timeout. */
static gboolean
query_winners (LotteryUploader *self,
               GCancellable    *cancellable,
               GError         **error)
{
  GSocket *socket = lottery_connect_get_socket (self->connection);
  guint8 frame[LOTTERY_FRAME_MAX];
  guint64 limit = max_winners (self);
  LotteryMessage message;

  g_ptr_array_set_size (self->winners, 0);

  if (!write_frame (self, frame,
                    lottery_message_encode_empty (frame, LOTTERY_MESSAGE_QUERY),
                    cancellable, error))
    return FALSE;
  /* The answer comes after the draw, once every agency has finished:
   * say so, so that a quiet wait does not look like a hang; the
   * progress line then says it again, below the log line. */
  progress_pause (self);
  lottery_log (G_LOG_LEVEL_INFO, "consulta_ganadores", "in_progress",
               "agency: %u", self->agency);
  if (self->progress != NULL && self->uploaded)
    lottery_progress_show_waiting (self->progress, self->bets_done);
  g_socket_set_timeout (socket, 0);

  do
    {
      LotteryBatchReader reader;

      if (!read_message (self, &message, cancellable, error))
        return FALSE;
      /* The draw is done: the rest of the answer follows at once. */
      g_socket_set_timeout (socket, self->timeout);
      if (message.type == LOTTERY_MESSAGE_ERROR)
        return server_error (self, &message, error);
      if (message.type != LOTTERY_MESSAGE_WINNERS)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("Expected WINNERS, got %s"),
                             lottery_message_type_name (message.type));
      /* An empty frame that is not the last would let a server keep the
       * client forever without a byte of winners. */
      if (message.winners.count == 0 &&
          !(message.winners.flags & LOTTERY_WINNERS_LAST))
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("The server sent an empty WINNERS frame that "
                                "is not the last"));
      if (self->winners->len + (guint64) message.winners.count > limit)
        {
          g_autofree char *bets = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                   limit);

          return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                               N_("The server sent more winners than the %s "
                                  "bets agency %u sent"), bets, self->agency);
        }

      lottery_batch_reader_init (&reader, &message);
      while (reader.remaining > 0)
        {
          const char *document;
          gsize len;

          if (!lottery_winners_reader_next (&reader, &document, &len, error) ||
              !check_document (self, document, len, error))
            return FALSE;
          g_ptr_array_add (self->winners, g_strndup (document, len));
        }
      if (!lottery_batch_reader_end (&reader, error))
        return FALSE;
    }
  while (!(message.winners.flags & LOTTERY_WINNERS_LAST));

  g_ptr_array_add (self->winners, NULL);
  return TRUE;
}

static gboolean
connect_to_server (LotteryUploader *self,
                   GCancellable    *cancellable,
                   GError         **error)
{
  /* The connect timeout stays for PING/PONG and HELLO/WELCOME (and the
   * TLS handshake): a server that accepts and never answers must not
   * hang us. */
  self->connection = lottery_connect (self->address, self->tls_database,
                                      CONNECT_TIMEOUT_S, cancellable, error);

  return self->connection != NULL;
}

static void
disconnect (LotteryUploader *self)
{
  if (self->connection == NULL)
    return;

  self->olen = 0;
  lottery_connect_close (self->connection);
  g_clear_object (&self->connection);
  lottery_log (G_LOG_LEVEL_INFO, "close_connection", "success", "server: %s",
               self->address);
}

/* The server asked for proof of the agency's token: answer its nonce
 * (the token itself never leaves) and read what comes next into
 * @message. Without a token, or with a wrong one, there is nothing to
 * retry. */
static gboolean
answer_challenge (LotteryUploader *self,
                  LotteryMessage  *message,
                  GCancellable    *cancellable,
                  GError         **error)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 proof[LOTTERY_AUTH_PROOF_LEN];

  if (!self->has_token)
    return lottery_fail (error, LOTTERY_ERROR_AUTH,
                         N_("The server requires a token for agency %u "
                            "(auth.token / CLI_AUTH_TOKEN / auth.token_file)"),
                         self->agency);

  /* The nonce lives in the read buffer: use it before the next read. */
  lottery_auth_compute_proof (self->token, self->agency,
                              message->challenge.nonce, proof);

  return write_frame (self, frame, lottery_message_encode_auth (frame, proof),
                      cancellable, error) &&
         read_message (self, message, cancellable, error);
}

/* One connection: HELLO, the batches the server lacks, FINISH unless it
 * was already accepted, QUERY. @welcomed tells whether the server
 * answered the HELLO (the retry budget then starts again). */
static gboolean
session (LotteryUploader *self,
         gboolean        *welcomed,
         GCancellable    *cancellable,
         GError         **error)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  guint32 n_batches = 0;
  guint32 last_sequence;
  gboolean finished;

  *welcomed = FALSE;
  self->refused = FALSE;

  if (!connect_to_server (self, cancellable, error))
    return FALSE;

  if (!write_frame (self, frame, lottery_message_encode_hello (frame, self->agency),
                    cancellable, error) ||
      !read_message (self, &message, cancellable, error))
    return FALSE;
  if (message.type == LOTTERY_MESSAGE_CHALLENGE)
    {
      if (!answer_challenge (self, &message, cancellable, error))
        return FALSE;
    }
  else if (self->has_token && !self->warned_open &&
           message.type == LOTTERY_MESSAGE_WELCOME)
    {
      /* Not an error, but a token set here says tokens were meant to be
       * required there. */
      self->warned_open = TRUE;
      lottery_log (G_LOG_LEVEL_WARNING, "auth", "success",
                   "agency: %u | mode: open | warning: the server did not "
                   "ask for this agency's token", self->agency);
    }
  if (message.type == LOTTERY_MESSAGE_ERROR)
    return server_error (self, &message, error);
  if (message.type != LOTTERY_MESSAGE_WELCOME)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Expected WELCOME, got %s"),
                         lottery_message_type_name (message.type));

  *welcomed = TRUE;
  if (message.welcome.version != LOTTERY_PROTOCOL_VERSION)
    return lottery_fail (error, LOTTERY_ERROR_VERSION,
                         N_("The server speaks protocol version %u, not %d"),
                         message.welcome.version, LOTTERY_PROTOCOL_VERSION);
  last_sequence = message.welcome.last_sequence;
  self->held_bets = message.welcome.consumed;
  self->held_stored = message.welcome.stored;
  self->session_stored = 0;
  finished = (message.welcome.flags & LOTTERY_WELCOME_FINISHED) != 0;
  /* A server that forgot batches it answered was restarted without its
   * state: sending them again would store them twice. */
  if (self->finish_answered && !finished)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("The server had accepted the FINISH of agency %u "
                            "but no longer knows it: it lost its state "
                            "(restarted?), so nothing is sent again"),
                         self->agency);
  if (last_sequence < self->answered || self->held_bets < self->answered_bets)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("The server holds %u batches of agency %u but had "
                            "answered %u: it lost its state (restarted?), so "
                            "nothing is sent again"),
                         last_sequence, self->agency, self->answered);
  /* What the server says it holds is on its disk: as good as an ACK that
   * a cut connection never delivered, and progress for the retry budget. */
  self->answered = last_sequence;
  self->answered_bets = self->held_bets;
  lottery_log (G_LOG_LEVEL_INFO, "connect", "success",
               "server: %s | last_batch: %u | bets_held: %" G_GUINT64_FORMAT,
               self->address, last_sequence, self->held_bets);
  /* Each ACK and the FINISHED come within the timeout, or the server
   * is stuck; only the wait for the draw (query_winners ()) is open. */
  g_socket_set_timeout (lottery_connect_get_socket (self->connection),
                        self->timeout);

  /* A finished agency's file is read too: a different number of bets
   * means some were not played, which must not pass as done. */
  if (!upload (self, last_sequence, self->held_bets, finished, &n_batches,
               cancellable, error) ||
      (!finished && !finish (self, n_batches, cancellable, error)))
    return FALSE;

  return query_winners (self, cancellable, error);
}

/* The health check: one connection, PING, PONG. No retries, no agency
 * id: it says whether the server answers, nothing more. */
gboolean
lottery_uploader_ping (LotteryUploader *self,
                       GCancellable    *cancellable,
                       GError         **error)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  gboolean ok;

  if (!connect_to_server (self, cancellable, error))
    return FALSE;

  ok = write_frame (self, frame,
                    lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING),
                    cancellable, error) &&
       read_message (self, &message, cancellable, error);
  /* Such as a TLS server telling a client in the clear. */
  if (ok && message.type == LOTTERY_MESSAGE_ERROR)
    ok = server_error (self, &message, error);
  else if (ok && message.type != LOTTERY_MESSAGE_PONG)
    ok = lottery_fail (error, LOTTERY_ERROR_PROTOCOL, N_("Expected PONG, got %s"),
                       lottery_message_type_name (message.type));

  lottery_connect_close (self->connection);
  g_clear_object (&self->connection);
  return ok;
}

static gboolean
is_retryable (const GError *error)
{
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  if (error->domain == G_IO_ERROR || error->domain == G_RESOLVER_ERROR)
    return TRUE;

  return g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_AGENCY_BUSY) ||
         g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_SHUTTING_DOWN) ||
         g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_SERVER_FULL) ||
         g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_TIMEOUT) ||
         g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_UNAVAILABLE);
}

/* How long after @started to keep retrying @error. */
static gint64
retry_deadline (gint64        started,
                const GError *error)
{
  if (g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_AGENCY_BUSY) ||
      g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_UNAVAILABLE))
    return started + WAIT_BUDGET_USEC;

  return started + RETRY_BUDGET_USEC;
}

/* Sleeps @ms unless @cancellable fires first; returns FALSE if it did. */
static gboolean
sleep_cancellable (guint         ms,
                   GCancellable *cancellable)
{
  GPollFD pfd;

  if (g_cancellable_make_pollfd (cancellable, &pfd))
    {
      g_poll (&pfd, 1, (int) ms);
      g_cancellable_release_fd (cancellable);
    }
  else
    g_usleep ((gulong) ms * 1000);

  return !g_cancellable_is_cancelled (cancellable);
}

static gboolean run (LotteryUploader *self,
                     GCancellable    *cancellable,
                     GError         **error);

/* Uploads every bet, finishes and fetches the winners, reconnecting as
 * needed. Blocks: run it in a thread. */
gboolean
lottery_uploader_run (LotteryUploader *self,
                      GCancellable    *cancellable,
                      GError         **error)
{
  gboolean ok = run (self, cancellable, error);

  if (self->progress != NULL)
    lottery_progress_clear (self->progress);
  close_bets_file (self);

  return ok;
}

static gboolean
run (LotteryUploader *self,
     GCancellable    *cancellable,
     GError         **error)
{
  gint64 started = g_get_monotonic_time ();
  guint backoff = BACKOFF_FIRST_MS;
  guint attempt = 0;

  g_return_val_if_fail (self->bets_file != NULL || self->single_bet != NULL,
                        FALSE);

  /* A file that cannot be read is the problem to report, before the
   * server is bothered or retried. */
  if (self->single_bet == NULL && !open_bets_file (self, error))
    return FALSE;

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      guint32 answered = self->answered;
      gboolean finish_answered = self->finish_answered;
      gboolean welcomed;
      gboolean ok;

      attempt++;
      ok = session (self, &welcomed, cancellable, &local_error);
      /* Log lines must not land on top of the progress line. */
      if (self->progress != NULL)
        lottery_progress_clear (self->progress);
      disconnect (self);
      if (ok)
        return TRUE;

      if (!is_retryable (local_error))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      /* The budget starts again only when the session got somewhere: a
       * server that welcomes and drops us at once is not progress. */
      if (welcomed && (self->answered != answered ||
                       self->finish_answered != finish_answered))
        {
          started = g_get_monotonic_time ();
          backoff = BACKOFF_FIRST_MS;
        }
      /* Say what happened: a server that refused was reached. */
      if (g_get_monotonic_time () + (gint64) backoff * 1000 >
          retry_deadline (started, local_error))
        {
          if (self->refused)
            g_propagate_error (error, g_steal_pointer (&local_error));
          else if (welcomed)
            lottery_fail_wrap (error, LOTTERY_ERROR, LOTTERY_ERROR_FAILED,
                               local_error,
                               N_("The server at %s stopped answering "
                                  "agency %u: "),
                               self->address, self->agency);
          else
            lottery_fail_wrap (error, LOTTERY_ERROR, LOTTERY_ERROR_FAILED,
                               local_error,
                               N_("Cannot reach the server at %s: "),
                               self->address);
          return FALSE;
        }

      {
        g_autofree char *reason = lottery_log_error_value (local_error);

        lottery_log (G_LOG_LEVEL_WARNING, "connect", "fail",
                     "server: %s | attempt: %u | retry_in_ms: %u | error: %s",
                     self->address, attempt, backoff,
                     reason);
      }
      if (!sleep_cancellable (backoff, cancellable))
        {
          lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             N_("Operation was cancelled"));
          return FALSE;
        }
      backoff = MIN (backoff * 2, BACKOFF_MAX_MS);
    }
}
