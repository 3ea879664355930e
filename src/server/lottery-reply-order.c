/* lottery-reply-order.c: one connection's answers in the order of its
 * requests. An answer that waits for the disk (a batch's ACK, FINISHED)
 * holds back every answer after it; an ERROR found while a batch is
 * still in a worker is held until that batch has asked for its sync.
 *
 * Owns the count of answers waiting for the disk and the held ERROR;
 * writes through the connection's LotteryFrameIO. Runs on the main
 * context; the disk is waited for by the store's syncer, never here.
 */
#include "config.h"

#include "lottery-reply-order.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-metrics.h"
#include "lottery-protocol.h"

struct _LotteryReplyOrder
{
  GObject parent_instance;

  LotteryFrameIO *io;         /* (owned) */
  LotteryStore   *storage;    /* (owned) */
  guint           waiting;    /* answers waiting for the disk */
  GBytes         *held_error; /* (owned) (nullable) */
};

enum
{
  SIGNAL_RELEASED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryReplyOrder, lottery_reply_order, G_TYPE_OBJECT)

static void
lottery_reply_order_finalize (GObject *object)
{
  LotteryReplyOrder *self = LOTTERY_REPLY_ORDER (object);

  g_clear_object (&self->io);
  g_clear_object (&self->storage);
  g_clear_pointer (&self->held_error, g_bytes_unref);

  G_OBJECT_CLASS (lottery_reply_order_parent_class)->finalize (object);
}

static void
lottery_reply_order_class_init (LotteryReplyOrderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_reply_order_finalize;

  /**
   * LotteryReplyOrder::released:
   *
   * An answer that waited for the disk went out (or failed): the owner
   * may decide what comes next.
   */
  signals[SIGNAL_RELEASED] =
    g_signal_new ("released", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
lottery_reply_order_init (LotteryReplyOrder *self)
{
}

/* Returns: (transfer full): the answers of the connection that reads
 * and writes through @io and stores into @storage */
LotteryReplyOrder *
lottery_reply_order_new (LotteryFrameIO *io,
                         LotteryStore   *storage)
{
  LotteryReplyOrder *self = g_object_new (LOTTERY_TYPE_REPLY_ORDER, NULL);

  self->io = g_object_ref (io);
  self->storage = g_object_ref (storage);
  return self;
}

/* Sends @frame now, behind what is already queued. */
void
lottery_reply_order_send (LotteryReplyOrder *self,
                          const guint8      *frame,
                          gsize              len)
{
  g_return_if_fail (LOTTERY_IS_REPLY_ORDER (self));

  lottery_frame_io_send (self->io, frame, len);
}

/* @error as an ERROR frame in @frame (LOTTERY_FRAME_MAX bytes). */
static gsize
encode_error (guint8       *frame,
              const GError *error,
              guint32       sequence)
{
  /* The text travels in C, as log values do: the server's locale is
   * not the agency's. */
  return lottery_message_encode_error (frame, lottery_error_to_wire_code (error),
                                       sequence,
                                       lottery_error_get_untranslated (error));
}

/* Sends @error as an ERROR for @sequence now. */
void
lottery_reply_order_send_error (LotteryReplyOrder *self,
                                const GError      *error,
                                guint32            sequence)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  g_return_if_fail (LOTTERY_IS_REPLY_ORDER (self));

  lottery_frame_io_send (self->io, frame, encode_error (frame, error, sequence));
}

typedef struct
{
  LotteryReplyOrder   *order;     /* (owned) */
  GAsyncReadyCallback  callback;
  gpointer             user_data;
} DiskWait;

static void
disk_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  DiskWait *wait = user_data;
  g_autoptr(LotteryReplyOrder) self = wait->order;

  self->waiting--;
  wait->callback (source, result, wait->user_data);
  g_free (wait);
  g_signal_emit (self, signals[SIGNAL_RELEASED], 0);
}

/* Calls @callback (with the store as source: finish with
 * lottery_store_sync_finish ()) once @ticket is on disk and every
 * answer waiting before it went out. Ticket 0 waits for nothing but
 * its turn. */
void
lottery_reply_order_wait_for_disk (LotteryReplyOrder   *self,
                                   guint64              ticket,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  DiskWait *wait;

  g_return_if_fail (LOTTERY_IS_REPLY_ORDER (self));

  wait = g_new (DiskWait, 1);
  wait->order = g_object_ref (self);
  wait->callback = callback;
  wait->user_data = user_data;
  self->waiting++;
  lottery_store_sync_async (self->storage, ticket, NULL, disk_done_cb, wait);
}

/* Returns: how many answers wait for the disk */
guint
lottery_reply_order_get_waiting (LotteryReplyOrder *self)
{
  g_return_val_if_fail (LOTTERY_IS_REPLY_ORDER (self), 0);

  return self->waiting;
}

typedef struct
{
  LotteryReplyOrder *order; /* (unowned): the wait holds it */
  GBytes            *frame; /* (owned) */
} OrderedFrame;

static void
ordered_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  OrderedFrame *ordered = user_data;
  g_autoptr(LotteryReplyOrder) self = g_object_ref (ordered->order);
  g_autoptr(GBytes) frame = ordered->frame;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);

  g_free (ordered);
  lottery_store_sync_finish (LOTTERY_STORE (source), result, NULL);
  lottery_frame_io_send (self->io, data, len);
}

/* Sends @frame after every answer still waiting for the disk: it takes
 * its turn in the same queue. */
static void
send_in_order (LotteryReplyOrder *self,
               GBytes            *frame)
{
  OrderedFrame *ordered;
  gsize len;
  const guint8 *data;

  if (self->waiting == 0)
    {
      data = g_bytes_get_data (frame, &len);
      lottery_frame_io_send (self->io, data, len);
      return;
    }

  ordered = g_new (OrderedFrame, 1);
  ordered->order = self;
  ordered->frame = g_bytes_ref (frame);
  lottery_reply_order_wait_for_disk (self, 0, ordered_cb, ordered);
}

/* An ERROR that must not overtake the answers of batches before it:
 * with @hold (a batch is still in a worker) it waits until
 * lottery_reply_order_release_held (). Only the first is kept: the
 * connection closes after it. */
void
lottery_reply_order_error_in_order (LotteryReplyOrder *self,
                                    const GError      *error,
                                    guint32            sequence,
                                    gboolean           hold)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autoptr(GBytes) bytes = NULL;

  g_return_if_fail (LOTTERY_IS_REPLY_ORDER (self));

  bytes = g_bytes_new (frame, encode_error (frame, error, sequence));
  if (hold)
    {
      if (self->held_error == NULL)
        self->held_error = g_steal_pointer (&bytes);
      return;
    }
  send_in_order (self, bytes);
}

/* The worker is done (and its answers, if any, wait for the disk): a
 * held ERROR takes its turn behind them. */
void
lottery_reply_order_release_held (LotteryReplyOrder *self)
{
  g_autoptr(GBytes) frame = NULL;

  g_return_if_fail (LOTTERY_IS_REPLY_ORDER (self));

  if (self->held_error == NULL)
    return;
  frame = g_steal_pointer (&self->held_error);
  send_in_order (self, frame);
}

/* Answers batch @sequence of @count bets of @agency with @error. */
void
lottery_reply_order_refuse_batch (LotteryReplyOrder *self,
                                  guint              agency,
                                  guint32            sequence,
                                  guint              count,
                                  const GError      *error)
{
  g_autofree char *reason = lottery_log_error_value (error);

  g_return_if_fail (LOTTERY_IS_REPLY_ORDER (self));

  lottery_log (LOTTERY_LOG_ERROR, "apuesta_recibida", "fail",
               "cantidad: %u", count);
  lottery_log (LOTTERY_LOG_ERROR, "rechazar_lote", "fail",
               "agency: %u | lote: %u | error: %s", agency, sequence,
               reason);
  lottery_reply_order_send_error (self, error, sequence);
}

/* Answers the batches of @job, in order: an ACK, or an ERROR. A
 * malformed frame is the last one answered: the connection closes.
 *
 * Returns: whether a frame was malformed */
gboolean
lottery_reply_order_answer_batches (LotteryReplyOrder *self,
                                    guint              agency,
                                    LotteryBatchJob   *job)
{
  guint i;

  g_return_val_if_fail (LOTTERY_IS_REPLY_ORDER (self), FALSE);

  for (i = 0; i < lottery_batch_job_get_n_batches (job); i++)
    {
      guint32 sequence;
      guint count;
      const GError *error = lottery_batch_job_get_result (job, i, &sequence,
                                                          &count);
      guint8 frame[LOTTERY_FRAME_MAX];

      lottery_metrics_count_batch (lottery_metrics_get_default (),
                                   lottery_metrics_classify_batch (error),
                                   lottery_batch_job_get_arrived (job));
      if (error != NULL)
        {
          lottery_reply_order_refuse_batch (self, agency, sequence, count,
                                            error);
          if (g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL))
            return TRUE;
        }
      else
        {
          lottery_log (G_LOG_LEVEL_INFO, "apuesta_recibida", "success",
                       "cantidad: %u", count);
          lottery_frame_io_send (self->io, frame,
                                 lottery_message_encode_ack (frame, sequence,
                                                             (guint16) count));
        }
    }
  return FALSE;
}
