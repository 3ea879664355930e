/* lottery-uploader.c: an agency's session with the central server.
 *
 * Runs in one thread, with blocking GIO calls that a GCancellable can
 * interrupt. Owns the object, the connection and its frame I/O, the
 * HELLO (and the token's challenge), the health check and the retries:
 * the bets and the batch pipeline are in lottery-uploader-batches.c,
 * the winners in lottery-uploader-winners.c.
 *
 * If the connection breaks, or the server is not up yet, the session is
 * retried with backoff for about five seconds. The server's WELCOME says
 * how many of this agency's bets its batches used up (stored or
 * refused) and the last batch number; the next session resumes after
 * them: nothing is sent twice.
 *
 * The server is not trusted: every count it returns is checked, what it
 * sends is bounded and sanitised, and every answer but the draw itself
 * must come within the timeout.
 */
#include "config.h"

#include "lottery-uploader.h"
#include "lottery-uploader-private.h"
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

/* ---- the progress line ---- */

/* A log line goes on a blank line of its own: the progress line is
 * blanked before it (lottery_uploader_progress_pause ()) and drawn
 * again after it (lottery_uploader_progress_resume ()), on the line
 * below. */
void
lottery_uploader_progress_pause (LotteryUploader *self)
{
  if (self->progress != NULL)
    lottery_progress_clear (self->progress);
}

void
lottery_uploader_progress_resume (LotteryUploader *self)
{
  if (self->progress != NULL)
    lottery_progress_redraw (self->progress);
}

/* ---- replies ---- */

/* The server's ERROR as a GError with its code: it reached the server,
 * which refused, and says why (sanitised: it may reach a terminal). */
gboolean
lottery_uploader_server_error (LotteryUploader      *self,
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
gboolean
lottery_uploader_write_frame (LotteryUploader *self,
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

gboolean
lottery_uploader_read_message (LotteryUploader *self,
                               LotteryMessage  *message,
                               GCancellable    *cancellable,
                               GError         **error)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (self->connection));

  return flush_output (self, cancellable, error) &&
         lottery_stream_read_message (in, self->rbuf, message, cancellable,
                                      error);
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
                                      CONNECT_TIMEOUT_S, &self->answering,
                                      cancellable, error);

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

  return lottery_uploader_write_frame (self, frame,
                                       lottery_message_encode_auth (frame,
                                                                    proof),
                                       cancellable, error) &&
         lottery_uploader_read_message (self, message, cancellable, error);
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

  if (!lottery_uploader_write_frame (self, frame,
                                     lottery_message_encode_hello (frame,
                                                                   self->agency),
                                     cancellable, error) ||
      !lottery_uploader_read_message (self, &message, cancellable, error))
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
    return lottery_uploader_server_error (self, &message, error);
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
  if (!lottery_uploader_upload (self, last_sequence, self->held_bets,
                                finished, &n_batches, cancellable, error) ||
      (!finished &&
       !lottery_uploader_finish (self, n_batches, cancellable, error)))
    return FALSE;

  return lottery_uploader_query_winners (self, cancellable, error);
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

  ok = lottery_uploader_write_frame (self, frame,
                                     lottery_message_encode_empty
                                       (frame, LOTTERY_MESSAGE_PING),
                                     cancellable, error) &&
       lottery_uploader_read_message (self, &message, cancellable, error);
  /* Such as a TLS server telling a client in the clear. */
  if (ok && message.type == LOTTERY_MESSAGE_ERROR)
    ok = lottery_uploader_server_error (self, &message, error);
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

/* A server that answered but cannot serve now (its database is out of
 * reach, or it is stopping): with several servers listed, the next
 * attempt starts at the one after it. The list turns round, so every
 * server is tried again in its turn. */
static void
turn_addresses (LotteryUploader *self,
                const GError    *error)
{
  g_auto(GStrv) addresses = NULL;
  g_autoptr(GPtrArray) turned = NULL;
  guint n;

  if (!g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_UNAVAILABLE) &&
      !g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_SHUTTING_DOWN))
    return;
  addresses = g_strsplit (self->address, ",", -1);
  n = g_strv_length (addresses);
  if (n < 2 || self->answering >= n)
    return;

  turned = g_ptr_array_new ();
  for (guint i = 1; i <= n; i++)
    g_ptr_array_add (turned, addresses[(self->answering + i) % n]);
  g_ptr_array_add (turned, NULL);
  g_free (self->address);
  self->address = g_strjoinv (",", (char **) turned->pdata);
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
  lottery_uploader_close_bets_file (self);

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
  if (self->single_bet == NULL &&
      !lottery_uploader_open_bets_file (self, error))
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
      turn_addresses (self, local_error);
      if (!sleep_cancellable (backoff, cancellable))
        {
          lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                             N_("Operation was cancelled"));
          return FALSE;
        }
      backoff = MIN (backoff * 2, BACKOFF_MAX_MS);
    }
}
