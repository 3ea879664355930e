/* lottery-state.c: the shared state of one lottery.
 *
 * One GMutex guards everything here: the counters, the agencies'
 * records (LotteryAgencyTable, lottery-agency-table.c) and the draw's
 * outcome (LotteryWinners, lottery-winners.c); neither unit has a lock
 * of its own. Batches are committed from worker threads while
 * connections claim, finish and query from the main context, so every
 * method takes the lock, never does I/O under it, and returns copies.
 * Signals and notifications are emitted after the lock is dropped, so
 * handlers may call back in.
 *
 * A winners query that arrives before the draw does not block anyone:
 * LotteryWinners parks it as a GTask and returns it when the draw
 * completes.
 */
#include "config.h"

#include "lottery-state.h"
#include "lottery-agency-table.h"
#include "lottery-error.h"
#include "lottery-winners.h"

#include <glib/gi18n-lib.h>

struct _LotteryState
{
  GObject parent_instance;

  GMutex              lock;    /* guards all below, *records, *winners */
  guint               agencies;
  LotteryAgencyTable *records; /* (owned) */
  guint               finished;
  gboolean            draw_started;
  gboolean            draw_announced; /* by a shared store: a finish
                                       * stored before it still counts */
  guint64             bets_stored;
  LotteryWinners     *winners; /* (owned): the draw's outcome, parked queries */
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
lottery_state_finalize (GObject *object)
{
  LotteryState *self = LOTTERY_STATE (object);

  g_clear_pointer (&self->winners, lottery_winners_free);
  g_clear_pointer (&self->records, lottery_agency_table_free);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (lottery_state_parent_class)->finalize (object);
}

static void
lottery_state_constructed (GObject *object)
{
  LotteryState *self = LOTTERY_STATE (object);

  G_OBJECT_CLASS (lottery_state_parent_class)->constructed (object);

  self->records = lottery_agency_table_new (self->agencies);
  self->winners = lottery_winners_new (self->agencies, &self->lock);
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

  return lottery_winners_get_done_locked (self->winners, NULL);
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

  return lottery_agency_table_get_bets (self->records, agency);
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

  n = lottery_agency_table_copy_status (self->records, first, n, status);
  *draw_done = lottery_winners_get_done_locked (self->winners, draw_time);

  return n;
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

  return lottery_agency_table_claim (self->records, agency, last_sequence,
                                     consumed, stored, finished, error);
}

/* A shared store read where the claimed @agency stands (another server
 * may have stored its batches or its finish since this one last saw
 * it): the state takes the store's word. Main context. */
void
lottery_state_set_agency_position (LotteryState *self,
                                   guint         agency,
                                   guint32       last_sequence,
                                   guint64       consumed,
                                   guint64       stored,
                                   gboolean      finished)
{
  gint64 stored_change;
  int finished_change;

  g_return_if_fail (LOTTERY_IS_STATE (self));
  g_return_if_fail (agency >= 1 && agency <= self->agencies);

  {
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

    lottery_agency_table_set_position (self->records, agency, last_sequence,
                                       consumed, stored, finished,
                                       &stored_change, &finished_change);
    self->bets_stored = (guint64) ((gint64) self->bets_stored + stored_change);
    self->finished = (guint) ((int) self->finished + finished_change);
  }
  if (finished_change != 0)
    g_object_notify_by_pspec (G_OBJECT (self),
                              properties[PROP_FINISHED_AGENCIES]);
}

/* A shared store says that every agency finished (some on other
 * servers) and the lottery is drawn. Returns TRUE when the caller is to
 * read the winners (lottery_state_complete_draw ()); FALSE when a draw
 * was already started here. Main context. */
gboolean
lottery_state_announce_draw (LotteryState *self)
{
  g_autoptr(GMutexLocker) locker = NULL;
  gboolean due;

  g_return_val_if_fail (LOTTERY_IS_STATE (self), FALSE);

  locker = g_mutex_locker_new (&self->lock);
  self->draw_announced = TRUE;
  due = !self->draw_started;
  self->draw_started = TRUE;

  return due;
}

/* A shared store's view of every agency (several servers serve the
 * lottery): what the status shows of those this server does not hold.
 * Main context. */
void
lottery_state_set_shared_view (LotteryState              *self,
                               const LotteryAgencyStatus *view,
                               guint                      n_agencies)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_if_fail (LOTTERY_IS_STATE (self));
  g_return_if_fail (n_agencies == self->agencies);

  locker = g_mutex_locker_new (&self->lock);
  lottery_agency_table_set_view (self->records, view);
}

void
lottery_state_release_agency (LotteryState *self,
                              guint         agency)
{
  {
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
    gboolean released = lottery_agency_table_release (self->records,
                                                      agency);

    if (!released)
      return;
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
  gboolean drawing = self->draw_started ||
                     lottery_winners_get_done_locked (self->winners, NULL);

  return lottery_agency_table_check_batch (self->records, agency, sequence,
                                           drawing, error);
}

/* @count bets of @agency were found in an adopted storage file, without
 * the batches they came in: they are the agency's, before any batch. */
void
lottery_state_adopt_bets (LotteryState *self,
                          guint         agency,
                          guint         count)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  g_return_if_fail (agency >= 1 && agency <= self->agencies);

  /* Taken and stored: a resume skips them whatever the batch size. */
  lottery_agency_table_add_bets (self->records, agency, 0, count, count);
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

  g_return_if_fail (agency >= 1 && agency <= self->agencies);
  g_return_if_fail (count <= claimed);

  lottery_agency_table_add_bets (self->records, agency, sequence, count,
                                 claimed);
  self->bets_stored += count;
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

  g_return_val_if_fail (LOTTERY_IS_STATE (self), FALSE);

  locker = g_mutex_locker_new (&self->lock);

  return lottery_agency_table_check_finish (self->records, agency,
                                            last_sequence, self->draw_started,
                                            error);
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

  *draw_due = FALSE;

  /* After a draw announced by a shared store, a finish being answered
   * is one the draw counted: it was stored before it. */
  if (!lottery_agency_table_finish (self->records, agency, last_sequence,
                                    self->draw_started &&
                                    !self->draw_announced, error))
    return FALSE;

  self->finished++;
  if (self->finished == self->agencies && !self->draw_started)
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

  g_return_if_fail (LOTTERY_IS_STATE (self));
  g_return_if_fail (winners != NULL && winners->len == self->agencies);

  locker = g_mutex_locker_new (&self->lock);
  g_return_if_fail (self->draw_started &&
                    !lottery_winners_get_done_locked (self->winners, NULL));

  lottery_winners_complete_locked (self->winners, winners, &parked);
  g_clear_pointer (&locker, g_mutex_locker_free);

  lottery_winners_answer (self->winners, &parked);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DRAW_DONE]);
  g_signal_emit (self, signals[SIGNAL_DRAW_COMPLETED], 0);
}

/* The draw could not be made (bets.csv unreadable): queries fail. */
void
lottery_state_fail_draw (LotteryState *self,
                         const GError *error)
{
  lottery_winners_fail (self->winners, error);
}

/* Blocks until the draw completes or fails, or until @end_time (on the
 * monotonic clock); returns whether it completed. */
gboolean
lottery_state_wait_for_draw (LotteryState *self,
                             gint64        end_time)
{
  return lottery_winners_wait (self->winners, end_time);
}

/* The server is stopping: parked queries fail with SHUTTING_DOWN. */
void
lottery_state_cancel_queries (LotteryState *self)
{
  g_autoptr(GError) error = lottery_error_new (LOTTERY_ERROR,
                                               LOTTERY_ERROR_SHUTTING_DOWN,
                                               N_("The server is stopping"));

  lottery_winners_cancel_parked (self->winners, error);
}

static void
query_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  GTask *task = user_data;
  LotteryState *self = g_task_get_source_object (task);

  lottery_winners_withdraw (self->winners, task, cancellable);
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
  GTask *task;
  gulong handler = 0;

  g_return_if_fail (LOTTERY_IS_STATE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lottery_state_query_winners_async);
  g_task_set_task_data (task, GUINT_TO_POINTER (agency), NULL);

  /* Connect before parking: a cancellation in between finds nothing
   * parked and is caught by the check under the lock. */
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable,
                                     G_CALLBACK (query_cancelled_cb),
                                     g_object_ref (task), g_object_unref);

  lottery_winners_query (self->winners, task, agency, cancellable, handler);
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

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  packed = g_task_propagate_pointer (G_TASK (result), error);
  if (packed == NULL)
    return NULL;
  *n_winners = lottery_winners_count_packed (packed);
  return packed;
}

/* Returns: (transfer full): the agency's winning documents as strings */
GStrv
lottery_state_query_winners_finish (LotteryState  *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_autoptr(GBytes) packed = NULL;
  guint n;

  packed = lottery_state_query_winners_finish_packed (self, result, &n,
                                                      error);
  if (packed == NULL)
    return NULL;
  return lottery_winners_unpack (packed, n);
}
