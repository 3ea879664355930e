/* lottery-pg-listener.c: learning that the lottery is drawn, wherever
 * the last FINISH was stored. The draw's transaction announces it with
 * NOTIFY; this unit LISTENs on a connection of its own and, when told
 * (or when it finds the lottery drawn on connecting, after an outage in
 * which a notification may have been missed, or on its periodic look),
 * calls `drawn_func` once. Each look also reads every agency's row for
 * the status (`view_func`), also after the draw, as agencies leave.
 * Both run on this thread; the caller takes them to its main context.
 *
 * Threads: its own, `lottery-listen`, which alone touches the
 * connection; it waits on the connection's socket and on a pipe that
 * stop () writes to, so shutdown does not wait for a timeout. The
 * database being down is the writer's to log; this thread only retries.
 */
#include "config.h"

#include "lottery-pg-listener.h"
#include "lottery-pg-db.h"

#include <glib-unix.h>
#include <poll.h>
#include <unistd.h>

/* How often the lottery is looked at even without a notification, and
 * how long to wait before connecting again. */
#define LOOK_MSEC  2000
#define RETRY_MSEC 1000

struct _LotteryPgListener
{
  char           *dsn;
  gint64          lottery_id;
  guint           n_agencies;
  LotteryPgDrawnFunc drawn_func;
  LotteryPgViewFunc view_func;
  gpointer        user_data;
  int             wake[2];   /* stop () writes to wake[1] */
  gint            stopping;  /* (atomic): also without the pipe */
  GThread        *thread;
};

/* Is the lottery drawn? FALSE also when it cannot be told. */
static gboolean
is_drawn (PGconn *conn,
          gint64  lottery_id)
{
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT, lottery_id);
  const char *params[1] = { lottery };
  PGresult *result;
  gboolean drawn;

  result = lottery_pg_query (conn, "SELECT drawn IS NOT NULL FROM lottery "
                                   "WHERE id = $1", 1, params, NULL);
  if (result == NULL)
    return FALSE;
  drawn = PQntuples (result) == 1 && PQgetvalue (result, 0, 0)[0] == 't';
  PQclear (result);

  return drawn;
}

/* Every agency's row, to view_func (). Nothing when it cannot be read. */
static void
read_view (LotteryPgListener *self,
           PGconn            *conn)
{
  g_autofree char *lottery = g_strdup_printf ("%" G_GINT64_FORMAT,
                                              self->lottery_id);
  const char *params[1] = { lottery };
  LotteryStoreAgency *view;
  PGresult *result;

  result = lottery_pg_query (conn, "SELECT agency, bets_stored, finished, "
                                   "lease_expires > now() FROM lottery_agency "
                                   "WHERE lottery = $1", 1, params, NULL);
  if (result == NULL)
    return;
  view = g_new0 (LotteryStoreAgency, self->n_agencies);
  for (int row = 0; row < PQntuples (result); row++)
    {
      guint64 agency = g_ascii_strtoull (PQgetvalue (result, row, 0), NULL,
                                         10);

      if (agency < 1 || agency > self->n_agencies)
        continue;
      view[agency - 1].stored = g_ascii_strtoull (PQgetvalue (result, row, 1),
                                                  NULL, 10);
      view[agency - 1].finished = PQgetvalue (result, row, 2)[0] == 't';
      view[agency - 1].connected = PQgetvalue (result, row, 3)[0] == 't';
    }
  PQclear (result);
  self->view_func (view, self->n_agencies, self->user_data);
}

/* Waits until @fd is readable or stop () is called or @msec pass;
 * returns FALSE once stop () was called. */
static gboolean
wait_for (LotteryPgListener *self,
          int                fd,
          int                msec)
{
  struct pollfd fds[2] = {
    { self->wake[0], POLLIN, 0 },
    { fd, POLLIN, 0 },
  };

  if (poll (fds, fd >= 0 ? 2 : 1, msec) < 0)
    return !g_atomic_int_get (&self->stopping);

  return (fds[0].revents & POLLIN) == 0 &&
         !g_atomic_int_get (&self->stopping);
}

static gpointer
listen_thread (gpointer data)
{
  LotteryPgListener *self = data;
  g_autofree char *channel = g_strdup_printf ("%" G_GINT64_FORMAT,
                                              self->lottery_id);
  PGconn *conn = NULL;
  gboolean drawn = FALSE;

  for (;;)
    {
      PGnotify *notify;
      gboolean look = FALSE;

      if (conn == NULL)
        {
          conn = lottery_pg_connect (self->dsn, "", NULL);
          if (conn == NULL ||
              !lottery_pg_exec (conn, "LISTEN " LOTTERY_PG_DRAWN_CHANNEL, NULL))
            {
              g_clear_pointer (&conn, PQfinish);
              if (!wait_for (self, -1, RETRY_MSEC))
                break;
              continue;
            }
          /* A notification sent while no one listened is lost. */
          look = TRUE;
        }
      else if (!wait_for (self, PQsocket (conn), LOOK_MSEC))
        break;
      else if (!PQconsumeInput (conn))
        {
          g_clear_pointer (&conn, PQfinish);
          continue;
        }
      else
        look = TRUE;

      while ((notify = PQnotifies (conn)) != NULL)
        {
          look |= g_strcmp0 (notify->extra, channel) == 0;
          PQfreemem (notify);
        }
      if (!look)
        continue;
      if (!drawn && is_drawn (conn, self->lottery_id))
        {
          drawn = TRUE;
          self->drawn_func (self->user_data);
        }
      /* After the draw, so that the finishes it counted are in. */
      read_view (self, conn);
    }
  g_clear_pointer (&conn, PQfinish);

  return NULL;
}

/* Watches lottery @lottery_id of @dsn: @drawn_func once when it is
 * drawn, @view_func at each look, both on the listener's thread;
 * @user_data must outlive lottery_pg_listener_stop (). */
LotteryPgListener *
lottery_pg_listener_start (const char         *dsn,
                           gint64              lottery_id,
                           guint               n_agencies,
                           LotteryPgDrawnFunc  drawn_func,
                           LotteryPgViewFunc   view_func,
                           gpointer            user_data)
{
  LotteryPgListener *self = g_new0 (LotteryPgListener, 1);

  self->dsn = g_strdup (dsn);
  self->lottery_id = lottery_id;
  self->n_agencies = n_agencies;
  self->drawn_func = drawn_func;
  self->view_func = view_func;
  self->user_data = user_data;
  if (!g_unix_open_pipe (self->wake, FD_CLOEXEC, NULL))
    self->wake[0] = self->wake[1] = -1;
  self->thread = g_thread_new ("lottery-listen", listen_thread, self);

  return self;
}

/* Stops the thread and frees @listener; neither function is called
 * after this returns. */
void
lottery_pg_listener_stop (LotteryPgListener *self)
{
  g_atomic_int_set (&self->stopping, TRUE);
  if (self->wake[1] >= 0 && write (self->wake[1], "x", 1) < 0)
    g_warn_if_reached ();
  g_thread_join (self->thread);
  if (self->wake[0] >= 0)
    {
      close (self->wake[0]);
      close (self->wake[1]);
    }
  g_free (self->dsn);
  g_free (self);
}
