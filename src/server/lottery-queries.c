/* lottery-queries.c: one connection's answers to STATUS (counts, open
 * to anyone) and QUERY (an agency's winners, parked in LotteryState
 * until the draw). STATUS answers are made a frame at a time as the
 * peer reads (LotteryFrameIO's producer), at most 4 a second.
 *
 * Owns the parked query (its cancellable) and the timer of a STATUS
 * waiting for its turn. Main context.
 */
#include "config.h"

#include "lottery-queries.h"
#include "lottery-log.h"
#include "lottery-protocol.h"
#include "lottery-status-reply.h"
#include "lottery-bet.h"

#include <string.h>

/* A connection gets at most 4 STATUS answers a second; one asked for
 * sooner waits for its turn, and nothing behind it is read meanwhile. */
#define STATUS_INTERVAL_USEC (G_USEC_PER_SEC / 4)
/* All connections together put at most this many agencies' counts a
 * second into STATUS answers (20 answers a second at 100,000 agencies),
 * so that STATUS loopers cost the agencies' uploads little CPU. Each
 * frame is charged as it is made: a peer that does not read stalls at
 * its reply cap and is charged only for that, so it cannot take the
 * turns of those that read. The schedule is shared by every
 * connection; main context only. */
#define STATUS_AGENCIES_PER_SEC 2000000
static gint64 status_schedule; /* when the server may start the next */

struct _LotteryQueries
{
  GObject parent_instance;

  LotteryState      *state;        /* (owned) */
  LotteryFrameIO    *io;           /* (owned) */
  LotteryReplyOrder *answers;      /* (owned) */
  GCancellable      *cancellable;  /* (owned): withdraws a parked query */
  char              *peer;         /* (owned) */
  guint              agency;
  gboolean           parked;       /* a QUERY waits in the state */
  gboolean           stopped;
  guint              status_timer; /* a STATUS waiting for its turn */
  gint64             status_next;  /* earliest time of the next answer */
};

enum
{
  SIGNAL_DONE,
  SIGNAL_FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryQueries, lottery_queries, G_TYPE_OBJECT)

static void
lottery_queries_finalize (GObject *object)
{
  LotteryQueries *self = LOTTERY_QUERIES (object);

  g_clear_object (&self->state);
  g_clear_object (&self->io);
  g_clear_object (&self->answers);
  g_clear_object (&self->cancellable);
  g_free (self->peer);

  G_OBJECT_CLASS (lottery_queries_parent_class)->finalize (object);
}

static void
lottery_queries_class_init (LotteryQueriesClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_queries_finalize;

  /**
   * LotteryQueries::done:
   *
   * A parked query was answered or a waiting STATUS had its turn: the
   * owner may read on.
   */
  signals[SIGNAL_DONE] =
    g_signal_new ("done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * LotteryQueries::failed:
   * @error: (type GLib.Error): why (no draw, the server is stopping)
   *
   * The parked query cannot be answered: the owner answers @error and
   * closes. Emitted before ::done.
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
lottery_queries_init (LotteryQueries *self)
{
  self->cancellable = g_cancellable_new ();
}

/* Returns: (transfer full): the queries of the connection from @peer */
LotteryQueries *
lottery_queries_new (LotteryState      *state,
                     LotteryFrameIO    *io,
                     LotteryReplyOrder *answers,
                     const char        *peer)
{
  LotteryQueries *self = g_object_new (LOTTERY_TYPE_QUERIES, NULL);

  self->state = g_object_ref (state);
  self->io = g_object_ref (io);
  self->answers = g_object_ref (answers);
  self->peer = g_strdup (peer);
  return self;
}

void
lottery_queries_set_agency (LotteryQueries *self,
                            guint           agency)
{
  g_return_if_fail (LOTTERY_IS_QUERIES (self));

  self->agency = agency;
}

/* Returns: whether a QUERY is parked until the draw */
gboolean
lottery_queries_is_parked (LotteryQueries *self)
{
  g_return_val_if_fail (LOTTERY_IS_QUERIES (self), FALSE);

  return self->parked;
}

/* Returns: whether a STATUS waits for its turn (read nothing more) */
gboolean
lottery_queries_is_holding (LotteryQueries *self)
{
  g_return_val_if_fail (LOTTERY_IS_QUERIES (self), FALSE);

  return self->status_timer != 0;
}

/* The connection is closed: a parked query is withdrawn, a waiting
 * STATUS is dropped. */
void
lottery_queries_stop (LotteryQueries *self)
{
  g_return_if_fail (LOTTERY_IS_QUERIES (self));

  self->stopped = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->status_timer, g_source_remove);
}

/* Streams the answer as the peer reads it; the frame I/O hands up no
 * frame until it is whole, so a connection has one STATUS at a time. */
/* A LotteryFrameProducer: the next frame of a STATUS answer, charged
 * to the server's schedule for the counts it holds. */
static gsize
produce_status (guint8   *frame,
                gboolean *done,
                gpointer  user_data)
{
  LotteryStatusReply *reply = user_data;
  guint before = lottery_status_reply_get_sent (reply);
  gsize len = lottery_status_reply_next (frame, done, reply);
  gint64 cost = (gint64) (lottery_status_reply_get_sent (reply) - before) *
                G_USEC_PER_SEC / STATUS_AGENCIES_PER_SEC;

  status_schedule = MAX (status_schedule, g_get_monotonic_time ()) + cost;
  return len;
}

static void
answer_status (LotteryQueries *self)
{
  lottery_log (G_LOG_LEVEL_DEBUG, "status", "success", "ip: %s", self->peer);
  self->status_next = g_get_monotonic_time () + STATUS_INTERVAL_USEC;
  lottery_frame_io_send_produced (self->io, produce_status,
                                  lottery_status_reply_start (self->state),
                                  (GDestroyNotify) lottery_status_reply_free);
}

/* A STATUS that came too soon after the last one has its turn now. */
static gboolean status_due_cb (gpointer user_data);

/* Answers now if this connection's and the server's turns have come,
 * or arms the timer for the later of the two. */
static void
try_status (LotteryQueries *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 due = MAX (self->status_next, status_schedule);

  if (now >= due)
    {
      answer_status (self);
      return;
    }
  self->status_timer =
    g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) ((due - now) / 1000 + 1),
                        status_due_cb, g_object_ref (self), g_object_unref);
}

static gboolean
status_due_cb (gpointer user_data)
{
  LotteryQueries *self = user_data;

  self->status_timer = 0;
  if (self->stopped)
    return G_SOURCE_REMOVE;
  /* Another connection may have taken the server's turn meanwhile. */
  try_status (self);
  if (self->status_timer == 0)
    g_signal_emit (self, signals[SIGNAL_DONE], 0);
  return G_SOURCE_REMOVE;
}

/* Answers a STATUS now, or once its turn comes. */
void
lottery_queries_status (LotteryQueries *self)
{
  g_return_if_fail (LOTTERY_IS_QUERIES (self));
  g_return_if_fail (self->status_timer == 0);

  try_status (self);
}

/* A WINNERS answer made a frame at a time from the state's packed
 * documents, which every query shares. */
typedef struct
{
  GBytes *packed; /* (owned) */
  gsize   at;     /* next document */
  guint   left;   /* documents not yet in a frame */
} WinnersReply;

static void
winners_reply_free (gpointer data)
{
  WinnersReply *reply = data;

  g_bytes_unref (reply->packed);
  g_free (reply);
}

/* More documents than one frame holds (each at least 2 bytes), so that
 * the encoder flags only the frame that takes the rest as the last. */
#define WINNERS_CHUNK (LOTTERY_FRAME_BODY_MAX / 2 + 1)

/* A LotteryFrameProducer: the next WINNERS frame of @user_data. */
static gsize
winners_reply_next (guint8   *frame,
                    gboolean *done,
                    gpointer  user_data)
{
  WinnersReply *reply = user_data;
  guint n = MIN (reply->left, WINNERS_CHUNK);
  g_autofree char *text = g_malloc ((gsize) n * (LOTTERY_DOCUMENT_MAX + 1));
  g_autofree const char **docs = g_new (const char *, n);
  const guint8 *data = g_bytes_get_data (reply->packed, NULL);
  gsize at = reply->at;
  guint i, encoded;
  gsize len;

  for (i = 0; i < n; i++)
    {
      char *doc = text + (gsize) i * (LOTTERY_DOCUMENT_MAX + 1);

      memcpy (doc, data + at + 1, data[at]);
      doc[data[at]] = '\0';
      docs[i] = doc;
      at += 1 + data[at];
    }

  len = lottery_message_encode_winners (frame, docs, reply->left, &encoded);
  for (i = 0; i < encoded; i++)
    reply->at += 1 + data[reply->at];
  reply->left -= encoded;
  *done = reply->left == 0;
  return len;
}

static void
query_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(LotteryQueries) self = user_data;
  g_autoptr(GError) error = NULL;
  WinnersReply *reply;
  GBytes *packed;
  guint n = 0;

  self->parked = FALSE;
  packed = lottery_state_query_winners_finish_packed (LOTTERY_STATE (source),
                                                      result, &n, &error);
  if (packed == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_signal_emit (self, signals[SIGNAL_FAILED], 0, error);
      g_signal_emit (self, signals[SIGNAL_DONE], 0);
      return;
    }

  /* After every answer owed before it (the reply order sends now: a
   * query is handled only once nothing waits for the disk), made as
   * the peer reads it. */
  reply = g_new0 (WinnersReply, 1);
  reply->packed = packed;
  reply->left = n;
  lottery_frame_io_send_produced (self->io, winners_reply_next, reply,
                                  winners_reply_free);
  lottery_log (G_LOG_LEVEL_INFO, "consulta_ganadores", "success",
               "agency: %u | cant_ganadores: %u", self->agency, n);
  g_signal_emit (self, signals[SIGNAL_DONE], 0);
}

/* Answers the agency's winners once the draw has taken place. */
void
lottery_queries_winners (LotteryQueries *self)
{
  g_return_if_fail (LOTTERY_IS_QUERIES (self));
  g_return_if_fail (!self->parked);

  self->parked = TRUE;
  lottery_state_query_winners_async (self->state, self->agency,
                                     self->cancellable, query_done_cb,
                                     g_object_ref (self));
}
