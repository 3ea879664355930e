/* lottery-state.c: the shared state of one lottery.
 *
 * One GMutex guards everything here. Batches are committed from worker
 * threads while connections claim, finish and query from the main
 * context, so every method takes the lock, never does I/O under it, and
 * returns copies. Signals and notifications are emitted after the lock
 * is dropped, so handlers may call back in.
 *
 * A winners query that arrives before the draw does not block anyone:
 * it is parked here as a GTask and returned when the draw completes.
 */
#include "config.h"

#include "lottery-state.h"
#include "lottery-bet.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>

#include <string.h>

typedef struct
{
  guint32    last_sequence; /* last batch stored, 0 for none */
  guint64    bets;          /* stored */
  guint64    consumed;      /* in every batch that used its number,
                             * stored or refused: where the agency's
                             * file resumes, whatever its batch size */
  gboolean   connected;
  gboolean   finished;
  GBytes    *winners;       /* documents, once drawn: each a length
                             * byte and its digits, as in WINNERS */
} AgencyRecord;

typedef struct
{
  GTask *task;
  gulong handler;
} ParkedQuery;

struct _LotteryState
{
  GObject parent_instance;

  GMutex        lock;
  GCond         draw_cond; /* signalled when the draw completes or fails */
  guint         agencies;
  AgencyRecord *records;   /* [agencies], agency id - 1 */
  guint         finished;
  gboolean      draw_started;
  gboolean      draw_done;
  gint64        draw_time; /* wall clock, µs since the epoch, once drawn */
  GError       *draw_error;
  guint64       bets_stored;
  GQueue        parked;    /* ParkedQuery * */
};

enum
{
  PROP_0,
  PROP_AGENCIES,
  PROP_FINISHED_AGENCIES,
  PROP_DRAW_DONE,
  PROP_BETS_STORED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_AGENCY_FINISHED,
  SIGNAL_DRAW_COMPLETED,
  SIGNAL_TAKEOVER,
  SIGNAL_AGENCY_RELEASED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LotteryState, lottery_state, G_TYPE_OBJECT)

static void
parked_query_free (ParkedQuery *pq)
{
  GCancellable *cancellable = g_task_get_cancellable (pq->task);

  if (pq->handler != 0)
    g_cancellable_disconnect (cancellable, pq->handler);
  g_object_unref (pq->task);
  g_free (pq);
}

static void
lottery_state_finalize (GObject *object)
{
  LotteryState *self = LOTTERY_STATE (object);
  guint i;

  /* Parked queries hold a reference on us, so there are none left. */
  g_assert (g_queue_is_empty (&self->parked));

  for (i = 0; i < self->agencies; i++)
    g_clear_pointer (&self->records[i].winners, g_bytes_unref);
  g_free (self->records);
  g_clear_error (&self->draw_error);
  g_cond_clear (&self->draw_cond);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (lottery_state_parent_class)->finalize (object);
}

static void
lottery_state_constructed (GObject *object)
{
  LotteryState *self = LOTTERY_STATE (object);

  G_OBJECT_CLASS (lottery_state_parent_class)->constructed (object);

  self->records = g_new0 (AgencyRecord, self->agencies);
}

static void
lottery_state_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  LotteryState *self = LOTTERY_STATE (object);

  switch (prop_id)
    {
    case PROP_AGENCIES:
      g_value_set_uint (value, self->agencies);
      break;
    case PROP_FINISHED_AGENCIES:
      g_value_set_uint (value, lottery_state_get_finished_agencies (self));
      break;
    case PROP_DRAW_DONE:
      g_value_set_boolean (value, lottery_state_get_draw_done (self));
      break;
    case PROP_BETS_STORED:
      g_value_set_uint64 (value, lottery_state_get_bets_stored (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lottery_state_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  LotteryState *self = LOTTERY_STATE (object);

  switch (prop_id)
    {
    case PROP_AGENCIES:
      self->agencies = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lottery_state_class_init (LotteryStateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = lottery_state_constructed;
  object_class->finalize = lottery_state_finalize;
  object_class->get_property = lottery_state_get_property;
  object_class->set_property = lottery_state_set_property;

  /**
   * LotteryState:agencies:
   *
   * How many agencies take part; their ids are 1 to this number.
   */
  properties[PROP_AGENCIES] =
    g_param_spec_uint ("agencies", NULL, NULL, 1, G_MAXUINT, 1,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                       G_PARAM_STATIC_STRINGS);

  /**
   * LotteryState:finished-agencies:
   *
   * How many agencies have said they sent all their bets.
   */
  properties[PROP_FINISHED_AGENCIES] =
    g_param_spec_uint ("finished-agencies", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * LotteryState:draw-done:
   *
   * Whether the winners have been drawn.
   */
  properties[PROP_DRAW_DONE] =
    g_param_spec_boolean ("draw-done", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * LotteryState:bets-stored:
   *
   * Bets stored in this run, all agencies together. Not notified: it
   * changes from worker threads with every batch.
   */
  properties[PROP_BETS_STORED] =
    g_param_spec_uint64 ("bets-stored", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LotteryState::agency-finished:
   * @agency: the agency id
   *
   * An agency has sent all its bets.
   */
  signals[SIGNAL_AGENCY_FINISHED] =
    g_signal_new ("agency-finished", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);

  /**
   * LotteryState::draw-completed:
   *
   * The winners are known; parked queries have been answered.
   */
  signals[SIGNAL_DRAW_COMPLETED] =
    g_signal_new ("draw-completed", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);

  /**
   * LotteryState::takeover:
   * @agency: the agency id
   *
   * The agency proved who it is on a new connection while an old one
   * still holds it: the holder should close. Detailed by the agency's
   * number ("takeover::7"), so that only its holder hears it.
   */
  signals[SIGNAL_TAKEOVER] =
    g_signal_new ("takeover", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);

  /**
   * LotteryState::agency-released:
   * @agency: the agency id
   *
   * The agency's connection is done: what it stored is counted, and the
   * agency may be claimed again.
   */
  signals[SIGNAL_AGENCY_RELEASED] =
    g_signal_new ("agency-released", G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_UINT);
}

static void
lottery_state_init (LotteryState *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->draw_cond);
  g_queue_init (&self->parked);
  self->agencies = 1;
}

LotteryState *
lottery_state_new (guint agencies)
{
  g_return_val_if_fail (agencies > 0, NULL);

  return g_object_new (LOTTERY_TYPE_STATE, "agencies", agencies, NULL);
}

guint
lottery_state_get_agencies (LotteryState *self)
{
  g_return_val_if_fail (LOTTERY_IS_STATE (self), 0);

  return self->agencies;
}

guint
lottery_state_get_finished_agencies (LotteryState *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_STATE (self), 0);

  locker = g_mutex_locker_new (&self->lock);

  return self->finished;
}

gboolean
lottery_state_get_draw_done (LotteryState *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_STATE (self), FALSE);

  locker = g_mutex_locker_new (&self->lock);

  return self->draw_done;
}

guint64
lottery_state_get_bets_stored (LotteryState *self)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (LOTTERY_IS_STATE (self), 0);

  locker = g_mutex_locker_new (&self->lock);

  return self->bets_stored;
}

guint64
lottery_state_get_agency_bets (LotteryState *self,
                               guint         agency)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  g_return_val_if_fail (agency >= 1 && agency <= self->agencies, 0);

  return self->records[agency - 1].bets;
}

/* A copy of the counts, for the status view: per agency (index id - 1)
 * bets stored, finished, connected; whether and when (µs since the
 * epoch) the draw took place. Free with g_free (). */
LotteryAgencyStatus *
lottery_state_get_status (LotteryState *self,
                          gboolean     *draw_done,
                          gint64       *draw_time)
{
  guint agencies = lottery_state_get_agencies (self);
  LotteryAgencyStatus *status = g_new (LotteryAgencyStatus, agencies);

  lottery_state_get_status_range (self, 0, agencies, status, draw_done,
                                  draw_time);
  return status;
}

/* The counts of agencies @first + 1 to @first + @n into @status, and
 * whether and when the draw took place. Holds the lock for @n copies
 * only: a long answer takes its counts a frame at a time.
 *
 * Returns: how many agencies were copied (fewer past the last one) */
guint
lottery_state_get_status_range (LotteryState        *self,
                                guint                first,
                                guint                n,
                                LotteryAgencyStatus *status,
                                gboolean            *draw_done,
                                gint64              *draw_time)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  guint i;

  n = first < self->agencies ? MIN (n, self->agencies - first) : 0;
  for (i = 0; i < n; i++)
    {
      status[i].bets = self->records[first + i].bets;
      status[i].finished = self->records[first + i].finished;
      status[i].connected = self->records[first + i].connected;
    }
  *draw_done = self->draw_done;
  *draw_time = self->draw_done ? self->draw_time : 0;

  return n;
}

/* Called with the lock held. */
static AgencyRecord *
lookup_agency (LotteryState *self,
               guint         agency,
               GError      **error)
{
  if (agency < 1 || agency > self->agencies)
    {
      lottery_fail (error, LOTTERY_ERROR_UNKNOWN_AGENCY,
                    N_("Agency %u is not one of 1 to %u"), agency,
                    self->agencies);
      return NULL;
    }

  return &self->records[agency - 1];
}

/* A connection says it speaks for @agency. One live connection per
 * agency, so that its batches are stored in sequence. Tells the caller
 * where the agency left off: its last batch, the bets its batches used
 * up (@consumed) and of those the bets stored. */
gboolean
lottery_state_claim_agency (LotteryState *self,
                            guint         agency,
                            guint32      *last_sequence,
                            guint64      *consumed,
                            guint64      *stored,
                            gboolean     *finished,
                            GError      **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  AgencyRecord *record = lookup_agency (self, agency, error);

  if (record == NULL)
    return FALSE;
  if (record->connected)
    return lottery_fail (error, LOTTERY_ERROR_AGENCY_BUSY,
                         N_("Agency %u already has a connection"), agency);

  record->connected = TRUE;
  *last_sequence = record->last_sequence;
  *consumed = record->consumed;
  *stored = record->bets;
  *finished = record->finished;

  return TRUE;
}

void
lottery_state_release_agency (LotteryState *self,
                              guint         agency)
{
  {
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
    AgencyRecord *record = lookup_agency (self, agency, NULL);

    g_return_if_fail (record != NULL && record->connected);

    record->connected = FALSE;
  }
  /* Not under the lock: a takeover waiting for it claims it at once. */
  g_signal_emit (self, signals[SIGNAL_AGENCY_RELEASED], 0, agency);
}

/* Asks the connection holding @agency to close (::takeover); the agency
 * is free once it is done (::agency-released), its batch in flight
 * stored first. Main context. */
void
lottery_state_request_takeover (LotteryState *self,
                                guint         agency)
{
  char detail[16];

  g_return_if_fail (LOTTERY_IS_STATE (self));

  g_snprintf (detail, sizeof detail, "%u", agency);
  g_signal_emit (self, signals[SIGNAL_TAKEOVER],
                 g_quark_from_string (detail), agency);
}

/* May batch @sequence of @agency be stored now? */
gboolean
lottery_state_check_batch (LotteryState *self,
                           guint         agency,
                           guint32       sequence,
                           GError      **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  AgencyRecord *record = lookup_agency (self, agency, error);

  if (record == NULL)
    return FALSE;
  if (self->draw_done || self->draw_started)
    return lottery_fail (error, LOTTERY_ERROR_DRAW_DONE,
                         N_("The draw has already taken place"));
  if (record->finished)
    return lottery_fail (error, LOTTERY_ERROR_ALREADY_FINISHED,
                         N_("Agency %u has already finished"), agency);
  if (sequence != record->last_sequence + 1)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("Batch %u of agency %u is out of order: "
                            "expected batch %u"),
                         sequence, agency, record->last_sequence + 1);

  return TRUE;
}

/* @count bets of @agency were found in an adopted storage file, without
 * the batches they came in: they are the agency's, before any batch. */
void
lottery_state_adopt_bets (LotteryState *self,
                          guint         agency,
                          guint         count)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  AgencyRecord *record = lookup_agency (self, agency, NULL);

  g_return_if_fail (record != NULL);

  record->bets += count;
  /* Taken and stored: a resume skips them whatever the batch size. */
  record->consumed += count;
  self->bets_stored += count;
}

/* Batch @sequence of @agency used its number: it carried @claimed bets
 * and @count of them were stored (0: refused). */
void
lottery_state_commit_batch (LotteryState *self,
                            guint         agency,
                            guint32       sequence,
                            guint         count,
                            guint         claimed)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  AgencyRecord *record = lookup_agency (self, agency, NULL);

  g_return_if_fail (record != NULL);
  g_return_if_fail (count <= claimed);

  record->last_sequence = sequence;
  record->bets += count;
  record->consumed += claimed;
  self->bets_stored += count;
}

/* Called with the lock held. */
static gboolean
check_finish_locked (LotteryState *self,
                     AgencyRecord *record,
                     guint         agency,
                     guint32       last_sequence,
                     GError      **error)
{
  if (record->finished)
    return lottery_fail (error, LOTTERY_ERROR_ALREADY_FINISHED,
                         N_("Agency %u has already finished"), agency);
  if (self->draw_started)
    return lottery_fail (error, LOTTERY_ERROR_DRAW_DONE,
                         N_("The draw has already taken place"));
  if (last_sequence != record->last_sequence)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("Agency %u says it sent %u batches, but %u were "
                            "stored"),
                         agency, last_sequence, record->last_sequence);

  return TRUE;
}

/* Would lottery_state_finish_agency () accept this now? Lets the caller
 * make the finish durable before it counts. */
gboolean
lottery_state_check_finish (LotteryState *self,
                            guint         agency,
                            guint32       last_sequence,
                            GError      **error)
{
  g_autoptr(GMutexLocker) locker = NULL;
  AgencyRecord *record;

  g_return_val_if_fail (LOTTERY_IS_STATE (self), FALSE);

  locker = g_mutex_locker_new (&self->lock);
  record = lookup_agency (self, agency, error);

  return record != NULL &&
         check_finish_locked (self, record, agency, last_sequence, error);
}

/* @agency has sent batches 1..@last_sequence and nothing more. Sets
 * @draw_due when it was the last agency: the caller then runs the draw
 * and hands the outcome to lottery_state_complete_draw (). */
gboolean
lottery_state_finish_agency (LotteryState *self,
                             guint         agency,
                             guint32       last_sequence,
                             gboolean     *draw_due,
                             GError      **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  AgencyRecord *record = lookup_agency (self, agency, error);

  *draw_due = FALSE;

  if (record == NULL ||
      !check_finish_locked (self, record, agency, last_sequence, error))
    return FALSE;

  record->finished = TRUE;
  self->finished++;
  if (self->finished == self->agencies)
    {
      self->draw_started = TRUE;
      *draw_due = TRUE;
    }

  g_clear_pointer (&locker, g_mutex_locker_free);

  g_object_notify_by_pspec (G_OBJECT (self),
                            properties[PROP_FINISHED_AGENCIES]);
  g_signal_emit (self, signals[SIGNAL_AGENCY_FINISHED], 0, agency);

  return TRUE;
}

/* The documents of @winners one after the other, each a length byte
 * and its digits: about 10 bytes a winner instead of a string and a
 * pointer each, and shared by every query instead of copied. */
static GBytes *
pack_winners (GPtrArray *winners)
{
  GByteArray *packed = g_byte_array_new ();
  guint i;

  for (i = 0; i < winners->len; i++)
    {
      const char *doc = g_ptr_array_index (winners, i);
      guint8 len = (guint8) MIN (strlen (doc), LOTTERY_DOCUMENT_MAX);

      g_byte_array_append (packed, &len, 1);
      g_byte_array_append (packed, (const guint8 *) doc, len);
    }

  return g_byte_array_free_to_bytes (packed);
}

static GBytes *
copy_winners (GBytes *winners)
{
  return g_bytes_ref (winners);
}

/* Takes the draw's outcome (@winners: for agency i + 1, a GPtrArray of
 * documents; transfer full), answers the parked queries and emits
 * LotteryState::draw-completed. */
void
lottery_state_complete_draw (LotteryState *self,
                             GPtrArray    *winners)
{
  g_autoptr(GPtrArray) owned = winners;
  g_autoptr(GMutexLocker) locker = NULL;
  GQueue parked = G_QUEUE_INIT;
  ParkedQuery *pq;
  guint i;

  g_return_if_fail (LOTTERY_IS_STATE (self));
  g_return_if_fail (winners != NULL && winners->len == self->agencies);

  locker = g_mutex_locker_new (&self->lock);
  g_return_if_fail (self->draw_started && !self->draw_done);

  for (i = 0; i < self->agencies; i++)
    self->records[i].winners = pack_winners (g_ptr_array_index (winners, i));
  self->draw_done = TRUE;
  self->draw_time = g_get_real_time ();
  parked = self->parked;
  g_queue_init (&self->parked);
  g_cond_broadcast (&self->draw_cond);
  g_clear_pointer (&locker, g_mutex_locker_free);

  /* Records never change after the draw, so reading them unlocked is
   * safe from here on. */
  while ((pq = g_queue_pop_head (&parked)) != NULL)
    {
      guint agency = GPOINTER_TO_UINT (g_task_get_task_data (pq->task));

      g_task_return_pointer (pq->task,
                             copy_winners (self->records[agency - 1].winners),
                             (GDestroyNotify) g_bytes_unref);
      parked_query_free (pq);
    }

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DRAW_DONE]);
  g_signal_emit (self, signals[SIGNAL_DRAW_COMPLETED], 0);
}

static void
return_parked_error (LotteryState *self,
                     const GError *error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  GQueue parked = self->parked;
  ParkedQuery *pq;

  g_queue_init (&self->parked);
  g_clear_pointer (&locker, g_mutex_locker_free);

  while ((pq = g_queue_pop_head (&parked)) != NULL)
    {
      g_task_return_error (pq->task, g_error_copy (error));
      parked_query_free (pq);
    }
}

/* The draw could not be made (bets.csv unreadable): queries fail. */
void
lottery_state_fail_draw (LotteryState *self,
                         const GError *error)
{
  g_mutex_lock (&self->lock);
  g_clear_error (&self->draw_error);
  self->draw_error = g_error_copy (error);
  g_cond_broadcast (&self->draw_cond);
  g_mutex_unlock (&self->lock);

  return_parked_error (self, error);
}

/* Blocks until the draw completes or fails, or until @end_time (on the
 * monotonic clock); returns whether it completed. */
gboolean
lottery_state_wait_for_draw (LotteryState *self,
                             gint64        end_time)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  while (!self->draw_done && self->draw_error == NULL)
    if (!g_cond_wait_until (&self->draw_cond, &self->lock, end_time))
      break;

  return self->draw_done;
}

/* The server is stopping: parked queries fail with SHUTTING_DOWN. */
void
lottery_state_cancel_queries (LotteryState *self)
{
  g_autoptr(GError) error = lottery_error_new (LOTTERY_ERROR,
                                               LOTTERY_ERROR_SHUTTING_DOWN,
                                               N_("The server is stopping"));

  return_parked_error (self, error);
}

static void
query_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  GTask *task = user_data;
  LotteryState *self = g_task_get_source_object (task);
  ParkedQuery *found = NULL;
  GList *l;

  g_mutex_lock (&self->lock);
  for (l = self->parked.head; l != NULL; l = l->next)
    if (((ParkedQuery *) l->data)->task == task)
      {
        found = l->data;
        g_queue_delete_link (&self->parked, l);
        break;
      }
  g_mutex_unlock (&self->lock);

  if (found == NULL)
    return;

  /* We are inside the handler: g_cancellable_disconnect () would wait
   * for this very emission and deadlock. The handler must still go, as
   * it holds a reference on the task, which holds the cancellable: left
   * connected, neither would ever be freed. */
  g_signal_handler_disconnect (cancellable, found->handler);
  found->handler = 0;
  g_task_return_error_if_cancelled (found->task);
  parked_query_free (found);
}

/* Asks for @agency's winners. Answers at once after the draw; before
 * it, the query is parked and answered when the draw completes, without
 * holding a thread. Cancelling @cancellable withdraws it. */
void
lottery_state_query_winners_async (LotteryState        *self,
                                   guint                agency,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GMutexLocker) locker = NULL;
  GError *error = NULL;
  AgencyRecord *record;
  ParkedQuery *pq;
  gulong handler = 0;

  g_return_if_fail (LOTTERY_IS_STATE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lottery_state_query_winners_async);
  g_task_set_task_data (task, GUINT_TO_POINTER (agency), NULL);

  /* Connect before parking: a cancellation in between finds nothing
   * parked and is caught by the check under the lock below. */
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable,
                                     G_CALLBACK (query_cancelled_cb),
                                     g_object_ref (task), g_object_unref);

  locker = g_mutex_locker_new (&self->lock);
  record = lookup_agency (self, agency, &error);

  if (record != NULL && self->draw_done)
    {
      GBytes *docs = copy_winners (record->winners);

      g_clear_pointer (&locker, g_mutex_locker_free);
      if (handler != 0)
        g_cancellable_disconnect (cancellable, handler);
      g_task_return_pointer (task, docs, (GDestroyNotify) g_bytes_unref);
      return;
    }
  if (record != NULL && self->draw_error != NULL)
    error = g_error_copy (self->draw_error);
  if (error == NULL && g_cancellable_is_cancelled (cancellable))
    error = lottery_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               N_("Operation was cancelled"));
  if (error != NULL)
    {
      g_clear_pointer (&locker, g_mutex_locker_free);
      if (handler != 0)
        g_cancellable_disconnect (cancellable, handler);
      g_task_return_error (task, error);
      return;
    }

  pq = g_new0 (ParkedQuery, 1);
  pq->task = g_steal_pointer (&task);
  pq->handler = handler;
  g_queue_push_tail (&self->parked, pq);
}

/* Returns: (transfer full): the agency's winning documents, each a
 * length byte and its digits (as in a WINNERS frame), shared, not
 * copied; @n_winners: how many */
GBytes *
lottery_state_query_winners_finish_packed (LotteryState  *self,
                                           GAsyncResult  *result,
                                           guint         *n_winners,
                                           GError       **error)
{
  GBytes *packed;
  gsize len, at = 0;
  const guint8 *data;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  packed = g_task_propagate_pointer (G_TASK (result), error);
  if (packed == NULL)
    return NULL;
  data = g_bytes_get_data (packed, &len);
  for (*n_winners = 0; at < len; (*n_winners)++)
    at += 1 + data[at];
  return packed;
}

/* Returns: (transfer full): the agency's winning documents as strings */
GStrv
lottery_state_query_winners_finish (LotteryState  *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_autoptr(GBytes) packed = NULL;
  const guint8 *data;
  gsize len, at = 0;
  guint n, i;
  GStrv docs;

  packed = lottery_state_query_winners_finish_packed (self, result, &n,
                                                      error);
  if (packed == NULL)
    return NULL;
  data = g_bytes_get_data (packed, &len);
  docs = g_new0 (char *, n + 1);
  for (i = 0; i < n; i++)
    {
      docs[i] = g_strndup ((const char *) data + at + 1, data[at]);
      at += 1 + data[at];
    }
  return docs;
}
