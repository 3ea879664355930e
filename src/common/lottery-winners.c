/* lottery-winners.c: the draw's outcome, owned by LotteryState: whether
 * and when the winners were drawn or why the draw failed, each agency's
 * winners packed, and the winners queries parked until then.
 *
 * It has no lock of its own: the state's GMutex, borrowed at creation,
 * guards every field here as it guards the agencies' records, so the
 * state's single-lock rule is unchanged. Functions named _locked expect
 * the caller to hold it; the others take it. Queries, the outcome and
 * their answers come on the main context, answers after the lock is
 * dropped; a cancellation may withdraw a query from any thread. Once
 * the draw is done the packed winners never change, so they are read
 * without the lock from then on.
 */
#include "config.h"

#include "lottery-winners.h"
#include "lottery-bet.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>

#include <string.h>

typedef struct
{
  GTask *task;
  gulong handler;
} ParkedQuery;

struct _LotteryWinners
{
  GMutex  *lock;      /* (not owned): the state's, guards all below */
  GCond    draw_cond; /* signalled when the draw completes or fails */
  guint    agencies;
  GBytes **packed;    /* [agencies], agency id - 1, once drawn: documents,
                       * each a length byte and its digits, as in WINNERS */
  gboolean draw_done;
  gint64   draw_time; /* wall clock, µs since the epoch, once drawn */
  GError  *draw_error;
  GQueue   parked;    /* ParkedQuery * */
};

static void
parked_query_free (ParkedQuery *pq)
{
  GCancellable *cancellable = g_task_get_cancellable (pq->task);

  if (pq->handler != 0)
    g_cancellable_disconnect (cancellable, pq->handler);
  g_object_unref (pq->task);
  g_free (pq);
}

/* @lock: the state's, which must outlive the returned unit */
LotteryWinners *
lottery_winners_new (guint   agencies,
                     GMutex *lock)
{
  LotteryWinners *self = g_new0 (LotteryWinners, 1);

  self->lock = lock;
  self->agencies = agencies;
  self->packed = g_new0 (GBytes *, agencies);
  g_cond_init (&self->draw_cond);
  g_queue_init (&self->parked);

  return self;
}

void
lottery_winners_free (LotteryWinners *self)
{
  guint i;

  /* Parked queries hold a reference on the state, so there are none
   * left when it goes. */
  g_assert (g_queue_is_empty (&self->parked));

  for (i = 0; i < self->agencies; i++)
    g_clear_pointer (&self->packed[i], g_bytes_unref);
  g_free (self->packed);
  g_clear_error (&self->draw_error);
  g_cond_clear (&self->draw_cond);
  g_free (self);
}

/* Whether the draw took place and, if @draw_time is given, when (0
 * before it). */
gboolean
lottery_winners_get_done_locked (LotteryWinners *self,
                                 gint64         *draw_time)
{
  if (draw_time != NULL)
    *draw_time = self->draw_done ? self->draw_time : 0;

  return self->draw_done;
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

/* Records the draw's outcome (@winners: for agency i + 1, a GPtrArray
 * of documents; not taken), wakes the waiters and moves the parked
 * queries to @parked, to be answered with lottery_winners_answer ()
 * once the lock is dropped. */
void
lottery_winners_complete_locked (LotteryWinners *self,
                                 GPtrArray      *winners,
                                 GQueue         *parked)
{
  guint i;

  for (i = 0; i < self->agencies; i++)
    self->packed[i] = pack_winners (g_ptr_array_index (winners, i));
  self->draw_done = TRUE;
  self->draw_time = g_get_real_time ();
  *parked = self->parked;
  g_queue_init (&self->parked);
  g_cond_broadcast (&self->draw_cond);
}

/* Answers the queries that were parked in @parked. Without the lock:
 * the winners never change after the draw. */
void
lottery_winners_answer (LotteryWinners *self,
                        GQueue         *parked)
{
  ParkedQuery *pq;

  while ((pq = g_queue_pop_head (parked)) != NULL)
    {
      guint agency = GPOINTER_TO_UINT (g_task_get_task_data (pq->task));

      g_task_return_pointer (pq->task,
                             copy_winners (self->packed[agency - 1]),
                             (GDestroyNotify) g_bytes_unref);
      parked_query_free (pq);
    }
}

/* Every parked query fails with a copy of @error. */
void
lottery_winners_cancel_parked (LotteryWinners *self,
                               const GError   *error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (self->lock);
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

/* The draw could not be made: waiters wake, queries fail with @error,
 * those parked now and those to come. */
void
lottery_winners_fail (LotteryWinners *self,
                      const GError   *error)
{
  g_mutex_lock (self->lock);
  g_clear_error (&self->draw_error);
  self->draw_error = g_error_copy (error);
  g_cond_broadcast (&self->draw_cond);
  g_mutex_unlock (self->lock);

  lottery_winners_cancel_parked (self, error);
}

/* Blocks until the draw completes or fails, or until @end_time (on the
 * monotonic clock); returns whether it completed. */
gboolean
lottery_winners_wait (LotteryWinners *self,
                      gint64          end_time)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (self->lock);

  while (!self->draw_done && self->draw_error == NULL)
    if (!g_cond_wait_until (&self->draw_cond, self->lock, end_time))
      break;

  return self->draw_done;
}

/* A parked query's cancellable fired (@task: the query, its handler
 * running now): withdraws it, if it is still parked. */
void
lottery_winners_withdraw (LotteryWinners *self,
                          GTask          *task,
                          GCancellable   *cancellable)
{
  ParkedQuery *found = NULL;
  GList *l;

  g_mutex_lock (self->lock);
  for (l = self->parked.head; l != NULL; l = l->next)
    if (((ParkedQuery *) l->data)->task == task)
      {
        found = l->data;
        g_queue_delete_link (&self->parked, l);
        break;
      }
  g_mutex_unlock (self->lock);

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

/* Answers @task (transfer full; its task data the agency id) with the
 * agency's winners at once after the draw, or with the error when the
 * draw failed or the query is bad or cancelled; else parks it until the
 * draw. @handler: the cancellation handler already connected on
 * @cancellable, or 0. */
void
lottery_winners_query (LotteryWinners *self,
                       GTask          *task,
                       guint           agency,
                       GCancellable   *cancellable,
                       gulong          handler)
{
  g_autoptr(GTask) owned = task;
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (self->lock);
  GError *error = NULL;
  gboolean known = agency >= 1 && agency <= self->agencies;
  ParkedQuery *pq;

  if (!known)
    lottery_fail (&error, LOTTERY_ERROR_UNKNOWN_AGENCY,
                  N_("Agency %u is not one of 1 to %u"), agency,
                  self->agencies);

  if (known && self->draw_done)
    {
      GBytes *docs = copy_winners (self->packed[agency - 1]);

      g_clear_pointer (&locker, g_mutex_locker_free);
      if (handler != 0)
        g_cancellable_disconnect (cancellable, handler);
      g_task_return_pointer (task, docs, (GDestroyNotify) g_bytes_unref);
      return;
    }
  if (known && self->draw_error != NULL)
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
  pq->task = g_steal_pointer (&owned);
  pq->handler = handler;
  g_queue_push_tail (&self->parked, pq);
}

/* How many documents @packed holds. */
guint
lottery_winners_count_packed (GBytes *packed)
{
  const guint8 *data;
  gsize len, at = 0;
  guint n;

  data = g_bytes_get_data (packed, &len);
  for (n = 0; at < len; n++)
    at += 1 + data[at];
  return n;
}

/* Returns: (transfer full): the @n documents of @packed as strings */
GStrv
lottery_winners_unpack (GBytes *packed,
                        guint   n)
{
  const guint8 *data;
  gsize len, at = 0;
  guint i;
  GStrv docs;

  data = g_bytes_get_data (packed, &len);
  docs = g_new0 (char *, n + 1);
  for (i = 0; i < n; i++)
    {
      docs[i] = g_strndup ((const char *) data + at + 1, data[at]);
      at += 1 + data[at];
    }
  return docs;
}
