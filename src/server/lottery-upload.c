/* lottery-upload.c: one agency's batches and its FINISH. Batches queued
 * behind each other go to a worker as one LotteryBatchJob; every group
 * and the FINISH are answered once on disk, in order, through the
 * connection's LotteryReplyOrder.
 *
 * Owns the job or FINISH in flight (at most one: the connection reads
 * nothing more meanwhile). Runs on the main context; the job runs in a
 * worker thread.
 */
#include "config.h"

#include "lottery-upload.h"
#include "lottery-batch-job.h"
#include "lottery-log.h"

struct _LotteryUpload
{
  GObject parent_instance;

  LotteryState      *state;     /* (owned) */
  LotteryStore      *storage;   /* (owned) */
  LotteryFrameIO    *io;        /* (owned): frames queued behind a batch */
  LotteryReplyOrder *answers;   /* (owned) */
  guint              agency;
  gboolean           busy;      /* a batch job or a FINISH runs */
  guint32            finishing; /* the FINISH waiting for the disk */
};

enum
{
  SIGNAL_IDLE,
  SIGNAL_FINISHED,
  SIGNAL_MALFORMED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryUpload, lottery_upload, G_TYPE_OBJECT)

static void
lottery_upload_finalize (GObject *object)
{
  LotteryUpload *self = LOTTERY_UPLOAD (object);

  g_clear_object (&self->state);
  g_clear_object (&self->storage);
  g_clear_object (&self->io);
  g_clear_object (&self->answers);

  G_OBJECT_CLASS (lottery_upload_parent_class)->finalize (object);
}

static void
lottery_upload_class_init (LotteryUploadClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_upload_finalize;

  /**
   * LotteryUpload::idle:
   *
   * The batch job or the FINISH in flight is over (its answers may
   * still wait for the disk): the owner may read on.
   */
  signals[SIGNAL_IDLE] =
    g_signal_new ("idle", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * LotteryUpload::finished:
   * @draw_due: this FINISH was the last one
   *
   * The FINISH is on disk and answered; emitted before ::idle.
   */
  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);

  /**
   * LotteryUpload::malformed:
   *
   * A BATCH frame turned out malformed once its bets were read: it was
   * answered with an ERROR and used no sequence number; the connection
   * must close.
   */
  signals[SIGNAL_MALFORMED] =
    g_signal_new ("malformed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
lottery_upload_init (LotteryUpload *self)
{
}

/* Returns: (transfer full): the upload of the connection that reads
 * through @io and answers through @answers */
LotteryUpload *
lottery_upload_new (LotteryState      *state,
                    LotteryStore      *storage,
                    LotteryFrameIO    *io,
                    LotteryReplyOrder *answers)
{
  LotteryUpload *self = g_object_new (LOTTERY_TYPE_UPLOAD, NULL);

  self->state = g_object_ref (state);
  self->storage = g_object_ref (storage);
  self->io = g_object_ref (io);
  self->answers = g_object_ref (answers);
  return self;
}

/* The agency that HELLO (and AUTH) made this connection's. */
void
lottery_upload_set_agency (LotteryUpload *self,
                           guint          agency)
{
  g_return_if_fail (LOTTERY_IS_UPLOAD (self));

  self->agency = agency;
}

/* Returns: whether a batch job or a FINISH is in flight */
gboolean
lottery_upload_is_busy (LotteryUpload *self)
{
  g_return_val_if_fail (LOTTERY_IS_UPLOAD (self), FALSE);

  return self->busy;
}

static void
batch_synced_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  LotteryUpload *self = LOTTERY_UPLOAD (g_task_get_source_object (task));
  LotteryBatchJob *job = lottery_batch_job_run_finish (G_ASYNC_RESULT (task));
  g_autoptr(GError) error = NULL;

  /* Written but not known to be on disk: not acknowledged. The storage
   * refuses more until a restart sorts out what is there. */
  if (!lottery_store_sync_finish (LOTTERY_STORE (source), result, &error))
    lottery_batch_job_fail_stored (job, error);
  if (lottery_reply_order_answer_batches (self->answers, self->agency, job))
    g_signal_emit (self, signals[SIGNAL_MALFORMED], 0);
}

static void
batch_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  LotteryUpload *self = LOTTERY_UPLOAD (source);
  LotteryBatchJob *job = lottery_batch_job_run_finish (result);

  self->busy = FALSE;
  /* Answers keep their order: every group waits its turn, also one
   * with nothing written. */
  lottery_reply_order_wait_for_disk (self->answers,
                                     lottery_batch_job_get_ticket (job),
                                     batch_synced_cb, g_object_ref (result));
  g_signal_emit (self, signals[SIGNAL_IDLE], 0);
}

/* Takes @first and the BATCH frames queued right behind it: one thread
 * hop, one write to bets.csv and one reply write per group. */
void
lottery_upload_start_batches (LotteryUpload        *self,
                              GBytes               *first,
                              const LotteryMessage *message)
{
  LotteryBatchJob *job;
  LotteryMessage next;
  GBytes *frame;

  g_return_if_fail (LOTTERY_IS_UPLOAD (self));
  g_return_if_fail (!self->busy);

  job = lottery_batch_job_new (self->state, self->storage, self->agency);
  lottery_batch_job_add (job, first, message);
  while (lottery_batch_job_get_n_batches (job) < LOTTERY_BATCH_JOB_MAX &&
         (frame = lottery_frame_io_peek_frame (self->io)) != NULL)
    {
      gsize len;
      const guint8 *body = g_bytes_get_data (frame, &len);

      if (body[0] != LOTTERY_MESSAGE_BATCH ||
          !lottery_message_decode (body, len, &next, NULL))
        break;
      lottery_batch_job_add (job, frame, &next);
      g_bytes_unref (lottery_frame_io_pop_frame (self->io));
    }

  self->busy = TRUE;
  /* The task holds the upload until the job is back. */
  lottery_batch_job_run_async (job, self, batch_done_cb, NULL);
}

static void
log_finish_failed (LotteryUpload *self,
                   const GError  *error)
{
  g_autofree char *reason = lottery_log_error_value (error);

  lottery_log (LOTTERY_LOG_ERROR, "finish", "fail", "agency: %u | error: %s",
               self->agency, reason);
}

static void
finish_synced_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(LotteryUpload) self = user_data;
  guint32 last_sequence = self->finishing;
  g_autoptr(GError) error = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  gboolean draw_due = FALSE;
  guint64 stored;

  self->busy = FALSE;
  if (!lottery_store_sync_finish (LOTTERY_STORE (source), result, &error) ||
      !lottery_state_finish_agency (self->state, self->agency, last_sequence,
                                    &draw_due, &error))
    {
      log_finish_failed (self, error);
      lottery_reply_order_send_error (self->answers, error, last_sequence);
    }
  else
    {
      stored = lottery_state_get_agency_bets (self->state, self->agency);
      lottery_log (G_LOG_LEVEL_INFO, "finish", "success",
                   "agency: %u | cantidad: %" G_GUINT64_FORMAT, self->agency,
                   stored);
      lottery_reply_order_send (self->answers, frame,
                                lottery_message_encode_finished (frame,
                                                                 stored));
      g_signal_emit (self, signals[SIGNAL_FINISHED], 0, draw_due);
    }

  g_signal_emit (self, signals[SIGNAL_IDLE], 0);
}

/* FINISH is journaled, and answered once on disk like a batch, so a
 * restarted server still knows the agency is done. The record is 32
 * bytes into the page cache: written here, on the main thread. */
void
lottery_upload_finish (LotteryUpload        *self,
                       const LotteryMessage *message)
{
  LotteryStoreRecord record = { LOTTERY_STORE_RECORD_FINISH, 0, 0, 0, 0 };
  g_autoptr(GError) error = NULL;
  guint32 last_sequence = message->finish.last_sequence;
  guint64 ticket;

  g_return_if_fail (LOTTERY_IS_UPLOAD (self));

  record.agency = self->agency;
  record.sequence = last_sequence;
  if (!lottery_state_check_finish (self->state, self->agency, last_sequence,
                                   &error) ||
      !lottery_store_append (self->storage, NULL, &record, 1, &ticket,
                             &error))
    {
      log_finish_failed (self, error);
      lottery_reply_order_error_in_order (self->answers, error, last_sequence,
                                          self->busy);
      return;
    }

  /* Nothing else of this agency is handled until it is answered. */
  self->busy = TRUE;
  self->finishing = last_sequence;
  lottery_reply_order_wait_for_disk (self->answers, ticket, finish_synced_cb,
                                     g_object_ref (self));
}
