/* lottery-pg-writer.c: the PostgreSQL store's `lottery-db` thread. It
 * alone talks to the database on the store's connection: it takes the
 * queued jobs in order, stores consecutive groups in one round (one
 * transaction, lottery-pg-round.c), takes and gives back leases
 * (lottery-pg-lease.c) and renews them, and settles the sync requests
 * after each COMMIT. When the database cannot be reached it fails what
 * is queued as `unavailable` (retried by the agencies), connects again
 * with a growing pause, and logs the outage and the return once each.
 *
 * Threads: `lottery-db` only. `conn`, `down`, the pauses and
 * `renew_at` are its own; the queue, the outcomes and `poisoned` are
 * under the store's lock, never held while the database is talked to.
 */
#include "config.h"

#include "lottery-pg-store-private.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-pg-db.h"
#include "lottery-pg-lease.h"
#include "lottery-pg-round.h"

#include <glib/gi18n-lib.h>

/* The database thread: whether its connection is up, connecting again
 * when the pause is over. The first failure of an outage and the return
 * are logged, once each. */
static gboolean
db_connected (LotteryPgStore *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *where = NULL;
  gint64 now;

  if (self->conn != NULL)
    return TRUE;
  now = g_get_monotonic_time ();
  if (now < self->reconnect_at)
    return FALSE;

  self->conn = lottery_pg_connect (self->dsn, self->location, &error);
  if (self->conn == NULL)
    {
      /* Once per outage: why it does not come back (a changed password
       * is not a network cut). */
      if (!self->reconnect_logged)
        {
          g_autofree char *message = lottery_log_error_value (error);

          where = lottery_log_value (self->location);
          lottery_log (G_LOG_LEVEL_WARNING, "database", "fail",
                       "dsn: %s | reconnected: false | error: %s", where,
                       message);
          self->reconnect_logged = TRUE;
        }
      self->reconnect_pause = MIN (MAX (self->reconnect_pause * 2,
                                        G_USEC_PER_SEC / 10),
                                   RECONNECT_MAX_USEC);
      self->reconnect_at = now + self->reconnect_pause;
      return FALSE;
    }

  where = lottery_log_value (self->location);
  lottery_log (G_LOG_LEVEL_INFO, "database", "success",
               "dsn: %s | reconnected: true", where);
  self->down = FALSE;
  self->reconnect_logged = FALSE;
  self->reconnect_pause = 0;
  /* Leases whose connections closed during the outage: free them now,
   * not when they run out, so their agencies may go on elsewhere. */
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, self->unreleased);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      if (lottery_pg_lease_release (self->conn, self->lottery_id,
                                    GPOINTER_TO_UINT (key), self->holder,
                                    NULL))
        g_hash_table_iter_remove (&iter);
  }
  /* Leases were not renewed meanwhile: renew them now. */
  self->renew_at = now;

  return TRUE;
}

/* The database thread: @error came with the connection lost. */
static void
db_lost (LotteryPgStore *self,
         const GError   *error)
{
  if (!self->down)
    {
      g_autofree char *message = lottery_log_error_value (error);
      g_autofree char *where = lottery_log_value (self->location);

      lottery_log (LOTTERY_LOG_ERROR, "database", "fail",
                   "dsn: %s | error: %s", where, message);
    }
  self->down = TRUE;
  g_clear_pointer (&self->conn, PQfinish);
  self->reconnect_at = 0;
}

/* For a group, or with @lease for a claim. */
static GError *
unavailable_error (LotteryPgStore *self,
                   gboolean        lease)
{
  /* Sent to the agency: the server's log names the database. */
  if (lease)
    return lottery_error_new (LOTTERY_STORE_ERROR,
                              LOTTERY_STORE_ERROR_UNAVAILABLE,
                              N_("The lottery’s database cannot be "
                                "reached; try again"));

  return lottery_error_new (LOTTERY_STORE_ERROR,
                            LOTTERY_STORE_ERROR_UNAVAILABLE,
                            N_("The lottery’s database cannot be reached; "
                              "the batch may not be stored, resume from "
                              "what the server reports"));
}

/* The database thread: *@error came with the connection lost; it is
 * logged (once per outage) and replaced by what the agency is told. */
static void
lost_as_unavailable (LotteryPgStore  *self,
                     GError         **error,
                     gboolean         lease)
{
  db_lost (self, *error);
  g_clear_error (error);
  *error = unavailable_error (self, lease);
}

/* The database thread: @group is decided; @error (nullable) is why it
 * failed, and its agencies' later groups fail too until they are
 * claimed again, as the server counted what was not stored. */
static void
decide_group (LotteryPgStore *self,
              LotteryPgGroup *group,
              const GError   *error)
{
  g_mutex_lock (&self->lock);
  if (error != NULL)
    {
      gint64 *ticket = g_new (gint64, 1);

      *ticket = (gint64) group->ticket;
      g_hash_table_replace (self->failed, ticket, g_error_copy (error));
      for (guint i = 0; i < group->n_records; i++)
        g_hash_table_add (self->poisoned,
                          GUINT_TO_POINTER (group->records[i].agency));
    }
  self->decided = MAX (self->decided, group->ticket);
  g_mutex_unlock (&self->lock);
}

/* Why @group must fail without being tried, if it must: an earlier
 * group of one of its agencies failed, and the state counted it. */
static GError *
poisoned_error (LotteryPgStore *self,
                LotteryPgGroup *group)
{
  gboolean poisoned = FALSE;

  g_mutex_lock (&self->lock);
  for (guint j = 0; j < group->n_records && !poisoned; j++)
    poisoned = g_hash_table_contains (self->poisoned,
                                      GUINT_TO_POINTER (group->records[j].agency));
  g_mutex_unlock (&self->lock);
  if (!poisoned)
    return NULL;

  return lottery_error_new (LOTTERY_STORE_ERROR,
                            LOTTERY_STORE_ERROR_UNAVAILABLE,
                            N_("An earlier batch of agency %u was not "
                              "stored; connect again to resume"),
                            group->records[0].agency);
}

/* The database thread: stores @round (LotteryPgGroup, not owned). */
static void
store_round (LotteryPgStore *self,
             GPtrArray      *round)
{
  g_autoptr(GError) error = NULL;

  if (round->len == 0)
    return;
  if (!db_connected (self))
    error = unavailable_error (self, FALSE);
  else if (lottery_pg_round_store (self->conn, self->lottery_id, round,
                                   &error))
    {
      for (guint i = 0; i < round->len; i++)
        decide_group (self, g_ptr_array_index (round, i), NULL);
      g_mutex_lock (&self->lock);
      self->sync_count++;
      g_mutex_unlock (&self->lock);
      return;
    }
  else if (PQstatus (self->conn) != CONNECTION_OK)
    lost_as_unavailable (self, &error, FALSE);
  else if (round->len > 1)
    {
      /* One group's conflict (a batch number another server used)
       * must not fail the others: each alone. */
      for (guint i = 0; i < round->len; i++)
        {
          g_autoptr(GPtrArray) alone = g_ptr_array_new ();
          LotteryPgGroup *group = g_ptr_array_index (round, i);
          g_autoptr(GError) poison = poisoned_error (self, group);

          /* An earlier group of its agency may have failed just now. */
          if (poison != NULL)
            {
              decide_group (self, group, poison);
              continue;
            }
          g_ptr_array_add (alone, group);
          store_round (self, alone);
        }
      return;
    }
  else
    {
      g_autofree char *message = lottery_log_error_value (error);
      g_autofree char *where = lottery_log_value (self->location);

      lottery_log (LOTTERY_LOG_ERROR, "database", "fail", "dsn: %s | "
                   "agency: %u | error: %s", where,
                   ((LotteryPgGroup *) g_ptr_array_index (round, 0))->records[0].agency,
                   message);
    }

  for (guint i = 0; i < round->len; i++)
    decide_group (self, g_ptr_array_index (round, i), error);
}

/* The database thread: takes or gives back a lease. */
static void
run_lease (LotteryPgStore *self,
           LotteryPgGroup *job)
{
  g_autoptr(GError) error = NULL;
  LotteryStoreAgency position = { 0, };
  gboolean ok = FALSE;

  if (!db_connected (self))
    error = unavailable_error (self, TRUE);
  else if (job->kind == LOTTERY_PG_JOB_RELEASE)
    ok = lottery_pg_lease_release (self->conn, self->lottery_id, job->agency,
                                   self->holder, &error);
  else
    ok = lottery_pg_lease_claim (self->conn, self->lottery_id, job->agency,
                                 self->holder, &position, &error);
  if (!ok && self->conn != NULL && PQstatus (self->conn) != CONNECTION_OK)
    lost_as_unavailable (self, &error, TRUE);

  /* Only the leases of agencies served here are renewed: one whose
   * release was lost in an outage runs out. */
  if (job->kind == LOTTERY_PG_JOB_RELEASE)
    {
      g_hash_table_remove (self->held, GUINT_TO_POINTER (job->agency));
      if (!ok)
        g_hash_table_add (self->unreleased, GUINT_TO_POINTER (job->agency));
    }
  else if (ok)
    {
      g_hash_table_add (self->held, GUINT_TO_POINTER (job->agency));
      g_hash_table_remove (self->unreleased, GUINT_TO_POINTER (job->agency));
    }
  if (job->kind == LOTTERY_PG_JOB_CLAIM && ok)
    {
      /* Where the agency stands is read again: its groups are taken
       * again. */
      g_mutex_lock (&self->lock);
      g_hash_table_remove (self->poisoned, GUINT_TO_POINTER (job->agency));
      g_mutex_unlock (&self->lock);
    }
  if (job->task == NULL)
    return;
  if (ok)
    g_task_return_pointer (job->task, g_memdup2 (&position, sizeof position),
                           g_free);
  else
    g_task_return_error (job->task, g_steal_pointer (&error));
}

/* The database thread: renews the leases when it is time. */
static void
renew_leases (LotteryPgStore *self)
{
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_monotonic_time ();

  if (now < self->renew_at)
    return;
  if (!db_connected (self))
    {
      /* Down: wake up to connect again, which is logged when it works. */
      self->renew_at = MAX (self->reconnect_at, now + G_USEC_PER_SEC / 10);
      return;
    }
  self->renew_at = now + LOTTERY_PG_LEASE_RENEW_USEC;
  if (g_hash_table_size (self->held) > 0 &&
      !lottery_pg_lease_renew (self->conn, self->lottery_id, self->holder,
                               self->held, &error) &&
      PQstatus (self->conn) != CONNECTION_OK)
    db_lost (self, error);
}

/* The database thread: @jobs in order; consecutive groups share a
 * round, except those of agencies whose earlier group failed. */
static void
run_jobs (LotteryPgStore *self,
          GPtrArray      *jobs)
{
  g_autoptr(GPtrArray) round = g_ptr_array_new ();

  for (guint i = 0; i < jobs->len; i++)
    {
      LotteryPgGroup *job = g_ptr_array_index (jobs, i);
      g_autoptr(GError) poison = NULL;

      if (job->kind != LOTTERY_PG_JOB_GROUP)
        {
          store_round (self, round);
          g_ptr_array_set_size (round, 0);
          run_lease (self, job);
          continue;
        }

      poison = poisoned_error (self, job);
      if (poison != NULL)
        {
          /* Tickets are decided in order: the groups before it first,
           * or one of them could be acknowledged before it is stored. */
          store_round (self, round);
          g_ptr_array_set_size (round, 0);
          decide_group (self, job, poison);
        }
      else
        g_ptr_array_add (round, job);
    }
  store_round (self, round);
}

gpointer
lottery_pg_writer_thread (gpointer data)
{
  LotteryPgStore *self = data;

  for (;;)
    {
      g_autoptr(GPtrArray) jobs =
        g_ptr_array_new_with_free_func ((GDestroyNotify) lottery_pg_group_free);
      guint groups = 0;

      g_mutex_lock (&self->lock);
      while (g_queue_is_empty (&self->queue) && !self->stopping &&
             g_cond_wait_until (&self->queue_cond, &self->lock,
                                self->renew_at))
        ;
      if (g_queue_is_empty (&self->queue) && self->stopping)
        {
          g_mutex_unlock (&self->lock);
          break;
        }
      while (groups < ROUND_MAX && !g_queue_is_empty (&self->queue))
        {
          LotteryPgGroup *job = g_queue_pop_head (&self->queue);

          groups += job->kind == LOTTERY_PG_JOB_GROUP;
          g_ptr_array_add (jobs, job);
        }
      g_cond_broadcast (&self->space_cond);
      g_mutex_unlock (&self->lock);

      run_jobs (self, jobs);
      renew_leases (self);
      lottery_pg_store_settle (self);
    }

  /* Stopping: the agencies of this server are free at once. */
  if (self->conn != NULL)
    lottery_pg_lease_release (self->conn, self->lottery_id, 0, self->holder,
                              NULL);

  return NULL;
}
