/* lottery-batch-job.c: one group of an agency's batches (up to
 * LOTTERY_BATCH_JOB_MAX, in the order sent), checked against
 * LotteryState, formatted as bets.csv rows and appended to the storage
 * in one write; per batch, whether it was stored and why not.
 *
 * Owns the batches' frames until they are stored. Built and answered
 * on the main context; lottery_batch_job_run () runs in a worker thread
 * of GTask's pool. Knows nothing of sockets.
 */
#include "config.h"

#include "lottery-batch-job.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <glib/gi18n.h>
#include <string.h>

typedef struct
{
  GBytes         *frame;     /* (owned) (nullable): message's bytes,
                              * dropped once stored */
  LotteryMessage  message;
  gsize           rows_start;
  gsize           rows_end;
  GError         *error;     /* (owned) (nullable): why it was not stored */
} BatchItem;

struct _LotteryBatchJob
{
  BatchItem       items[LOTTERY_BATCH_JOB_MAX];
  guint           n_items;
  guint64         ticket;    /* from lottery_store_append (), or 0 */
  gint64          arrived;   /* monotonic, when the group was taken up */
  guint           agency;
  LotteryState   *state;     /* (owned) */
  LotteryStore   *storage;   /* (owned) */
};

/* Returns: (transfer full): an empty job for @agency's batches. */
LotteryBatchJob *
lottery_batch_job_new (LotteryState   *state,
                       LotteryStore   *storage,
                       guint           agency)
{
  LotteryBatchJob *job = g_new0 (LotteryBatchJob, 1);

  job->agency = agency;
  job->arrived = g_get_monotonic_time ();
  job->state = g_object_ref (state);
  job->storage = g_object_ref (storage);

  return job;
}

void
lottery_batch_job_free (LotteryBatchJob *job)
{
  guint i;

  for (i = 0; i < job->n_items; i++)
    {
      g_clear_pointer (&job->items[i].frame, g_bytes_unref);
      g_clear_error (&job->items[i].error);
    }
  g_object_unref (job->state);
  g_object_unref (job->storage);
  g_free (job);
}

/* Adds the BATCH @message decoded from @frame (which the job refs: the
 * message points into it). FALSE if the job is full. */
gboolean
lottery_batch_job_add (LotteryBatchJob      *job,
                       GBytes               *frame,
                       const LotteryMessage *message)
{
  BatchItem *item;

  g_return_val_if_fail (message->type == LOTTERY_MESSAGE_BATCH, FALSE);

  if (job->n_items == LOTTERY_BATCH_JOB_MAX)
    return FALSE;

  item = &job->items[job->n_items++];
  item->frame = g_bytes_ref (frame);
  item->message = *message;

  return TRUE;
}

guint
lottery_batch_job_get_n_batches (LotteryBatchJob *job)
{
  return job->n_items;
}

static void
log_stored_bets (const LotteryMessage *message)
{
  LotteryBatchReader reader;
  LotteryBet bet;

  lottery_batch_reader_init (&reader, message);
  while (reader.remaining > 0 &&
         lottery_batch_reader_next (&reader, &bet, NULL))
    lottery_log (G_LOG_LEVEL_DEBUG, "apuesta_almacenada", "success",
                 "dni: %s | numero: %u", bet.document, bet.number);
}

/* Each worker thread keeps its row buffer between jobs: after warm-up
 * no batch allocates. */
static GByteArray *
thread_rows_buffer (void)
{
  static GPrivate key = G_PRIVATE_INIT ((GDestroyNotify) g_byte_array_unref);
  GByteArray *rows = g_private_get (&key);

  if (rows == NULL)
    {
      rows = g_byte_array_sized_new (256 * 1024);
      g_private_set (&key, rows);
    }
  g_byte_array_set_size (rows, 0);

  return rows;
}

/* Validates one batch and appends its rows; on failure the rows are
 * taken back and item->error says why. */
static gboolean
format_batch (BatchItem  *item,
              guint       agency,
              GByteArray *rows)
{
  const LotteryMessage *msg = &item->message;
  LotteryBatchReader reader;

  item->rows_start = rows->len;

  lottery_batch_reader_init (&reader, msg);
  while (reader.remaining > 0)
    {
      guint len = rows->len;
      gsize row_len;

      g_byte_array_set_size (rows, len + LOTTERY_BET_ROW_MAX);
      row_len = lottery_batch_reader_next_row (&reader, agency,
                                               (char *) rows->data + len,
                                               &item->error);
      if (row_len == 0)
        {
          lottery_error_prefix (&item->error, N_("Bet %u of batch %u: "),
                          reader.index + 1, msg->batch.sequence);
          break;
        }
      rows->len = len + (guint) row_len;
    }
  if (item->error == NULL)
    lottery_batch_reader_end (&reader, &item->error);

  if (item->error != NULL)
    {
      g_byte_array_set_size (rows, (guint) item->rows_start);
      return FALSE;
    }

  item->rows_end = rows->len;
  return TRUE;
}

/* Does a refused batch still use up its sequence number? A bad batch
 * would be refused again, so the agency moves on past it; a batch the
 * server could not take (storage, order) may be sent again, and a
 * malformed frame closes the connection without using one. */
static gboolean
uses_sequence (const BatchItem *item)
{
  return item->error == NULL ||
         g_error_matches (item->error, LOTTERY_ERROR,
                          LOTTERY_ERROR_INVALID_BET);
}

/* Checks, formats and stores every batch of @job, each all or nothing,
 * and counts them in the state. Blocks on the storage: call it in a
 * worker thread (lottery_batch_job_run_async ()). */
void
lottery_batch_job_run (LotteryBatchJob *job)
{
  GByteArray *rows = thread_rows_buffer ();
  LotteryStoreRecord records[LOTTERY_BATCH_JOB_MAX];
  g_autoptr(GError) state_error = NULL;
  GError *write_error = NULL;
  guint32 expected = 0;
  guint64 ticket = 0;
  guint n_records = 0;
  guint i;

  g_return_if_fail (job->n_items > 0);

  /* The state says whether this agency may store now and which batch
   * comes next; within the group, batches must follow on. */
  if (lottery_state_check_batch (job->state, job->agency,
                                 job->items[0].message.batch.sequence,
                                 &state_error))
    expected = job->items[0].message.batch.sequence;

  for (i = 0; i < job->n_items; i++)
    {
      BatchItem *item = &job->items[i];
      guint32 sequence = item->message.batch.sequence;

      if (state_error != NULL)
        item->error = g_error_copy (state_error);
      else if (sequence != expected)
        lottery_fail (&item->error, LOTTERY_ERROR_OUT_OF_ORDER,
                      N_("Batch %u of agency %u is out of order: expected "
                         "batch %u"), sequence, job->agency, expected);
      else
        {
          format_batch (item, job->agency, rows);
          expected++;
          /* Nothing behind a malformed frame is stored. */
          if (g_error_matches (item->error, LOTTERY_ERROR,
                               LOTTERY_ERROR_PROTOCOL))
            state_error = g_error_copy (item->error);
        }

      if (uses_sequence (item))
        {
          LotteryStoreRecord *record = &records[n_records++];

          record->type = LOTTERY_STORE_RECORD_BATCH;
          record->agency = job->agency;
          record->sequence = sequence;
          record->count = item->error == NULL ? item->message.batch.count : 0;
          record->end = item->error == NULL
                        ? item->rows_end - item->rows_start : 0;
          record->claimed = item->message.batch.count;
        }
    }

  /* Journaled before it counts, so a restarted server knows it has it.
   * The answers wait for the disk (lottery_batch_job_get_ticket ()), but
   * the next group may be written meanwhile: one sync then covers both. */
  if (n_records > 0 &&
      !lottery_store_append (job->storage, (const char *) rows->data,
                               records, n_records, &ticket, &write_error))
    {
      /* Nothing of the group is recorded: the agency may resend. */
      for (i = 0; i < job->n_items; i++)
        if (uses_sequence (&job->items[i]))
          {
            g_clear_error (&job->items[i].error);
            job->items[i].error = g_error_copy (write_error);
          }
      g_error_free (write_error);
      return;
    }

  for (i = 0; i < job->n_items; i++)
    {
      BatchItem *item = &job->items[i];
      gboolean stored = item->error == NULL;

      if (uses_sequence (item))
        lottery_state_commit_batch (job->state, job->agency,
                                    item->message.batch.sequence,
                                    stored ? item->message.batch.count : 0,
                                    item->message.batch.count);
      if (stored && lottery_log_enabled (G_LOG_LEVEL_DEBUG))
        log_stored_bets (&item->message);
      /* While the answer waits for the disk, only the sequence and count
       * are needed: the bets go now. */
      g_clear_pointer (&item->frame, g_bytes_unref);
      item->message.batch.data = NULL;
      item->message.batch.len = 0;
    }

  job->ticket = ticket;
}

static void
run_thread (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  LotteryBatchJob *job = task_data;

  lottery_batch_job_run (job);
  g_task_return_boolean (task, TRUE);
}

/* Runs @job (transfer full) in GTask's pool; @callback, on the caller's
 * main context, gets it back with lottery_batch_job_run_finish (). No
 * cancellable: batches that have started are stored whole, also when
 * the connection or the server stops meanwhile. */
void
lottery_batch_job_run_async (LotteryBatchJob     *job,
                             gpointer             source_object,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (source_object, NULL, callback,
                                      user_data);

  g_task_set_source_tag (task, lottery_batch_job_run_async);
  g_task_set_task_data (task, job, (GDestroyNotify) lottery_batch_job_free);
  g_task_run_in_thread (task, run_thread);
}

/* Returns: (transfer none): the job, alive as long as @result. */
LotteryBatchJob *
lottery_batch_job_run_finish (GAsyncResult *result)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);

  return g_task_get_task_data (G_TASK (result));
}

/* When the job was made (monotonic): the batches' latency starts there. */
gint64
lottery_batch_job_get_arrived (LotteryBatchJob *job)
{
  return job->arrived;
}

/* What lottery_store_sync_async () must wait for before the answers
 * go out; 0 if nothing was written. */
guint64
lottery_batch_job_get_ticket (LotteryBatchJob *job)
{
  return job->ticket;
}

/* The rows were written but not made durable: no batch counts as
 * stored. */
void
lottery_batch_job_fail_stored (LotteryBatchJob *job,
                               const GError    *error)
{
  guint i;

  for (i = 0; i < job->n_items; i++)
    if (job->items[i].error == NULL)
      job->items[i].error = g_error_copy (error);
}

/* Returns: (transfer none) (nullable): why batch @index was not stored,
 * or NULL if it was; @sequence and @count say which batch it is. */
const GError *
lottery_batch_job_get_result (LotteryBatchJob *job,
                              guint            index,
                              guint32         *sequence,
                              guint           *count)
{
  g_return_val_if_fail (index < job->n_items, NULL);

  *sequence = job->items[index].message.batch.sequence;
  *count = job->items[index].message.batch.count;

  return job->items[index].error;
}
