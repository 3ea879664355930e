/* lottery-deadlines.c: the clocks of one connection: how long a peer
 * may take to finish a message, to say who it is, to read its answers,
 * and how long it may stay silent. Owns the two timeouts and the time
 * of the accept; reads the frame I/O's clocks. Main context only.
 */
#include "config.h"

#include "lottery-deadlines.h"
#include "lottery-error.h"

#include <glib/gi18n.h>

struct _LotteryDeadlines
{
  gint64 io_timeout;   /* usec to finish a started message */
  gint64 idle_timeout; /* usec of silence allowed */
  gint64 accepted;     /* when the connection came in */
};

/* Returns: (transfer full): the default clocks (10 s, 300 s), started
 * now */
LotteryDeadlines *
lottery_deadlines_new (void)
{
  LotteryDeadlines *self = g_new0 (LotteryDeadlines, 1);

  self->io_timeout = 10 * G_USEC_PER_SEC;
  self->idle_timeout = 300 * G_USEC_PER_SEC;
  self->accepted = g_get_monotonic_time ();
  return self;
}

void
lottery_deadlines_free (LotteryDeadlines *self)
{
  g_free (self);
}

void
lottery_deadlines_set (LotteryDeadlines *self,
                       guint             io_timeout_s,
                       guint             idle_timeout_s)
{
  self->io_timeout = (gint64) io_timeout_s * G_USEC_PER_SEC;
  self->idle_timeout = (gint64) idle_timeout_s * G_USEC_PER_SEC;
}

guint
lottery_deadlines_get_io_seconds (LotteryDeadlines *self)
{
  return (guint) (self->io_timeout / G_USEC_PER_SEC);
}

/* A client that starts a message must finish it within io_timeout (a
 * slow-loris holds nothing for long), must say something within
 * io_timeout of connecting, and may then stay silent for idle_timeout,
 * except while the server owes it an answer (@owed: a batch being
 * stored, a query waiting for the draw).
 *
 * Returns: what is late; with LOTTERY_LATE_MESSAGE, @error says what */
LotteryLate
lottery_deadlines_check (LotteryDeadlines *self,
                         LotteryFrameIO   *io,
                         gint64            now,
                         LotteryWait       wait,
                         gboolean          owed,
                         GError          **error)
{
  guint io_s = lottery_deadlines_get_io_seconds (self);
  guint idle_s = (guint) (self->idle_timeout / G_USEC_PER_SEC);

  /* A peer that does not read its answers would hold the connection
   * (and its agency) forever, also once it is closing. */
  if (lottery_frame_io_write_stalled (io, now, self->io_timeout))
    return LOTTERY_LATE_UNREAD;
  /* Before the TLS handshake nothing can be said to the client: the
   * gate keeps its deadline. */
  if (wait == LOTTERY_WAIT_REPLIES_ONLY)
    return LOTTERY_LATE_NONE;

  if (lottery_frame_io_frame_stalled (io, now, self->io_timeout))
    lottery_fail (error, LOTTERY_ERROR_TIMEOUT,
                  N_("A message was not completed within %u seconds"), io_s);
  /* Until it is an agency (HELLO, and AUTH with tokens), a connection
   * has io_timeout in all: PINGs do not keep a stranger's slot. */
  else if (wait == LOTTERY_WAIT_AUTH && now - self->accepted > self->io_timeout)
    lottery_fail (error, LOTTERY_ERROR_TIMEOUT,
                  N_("No AUTH came within %u seconds of connecting"), io_s);
  else if (wait == LOTTERY_WAIT_HELLO &&
           now - self->accepted > self->io_timeout)
    lottery_fail (error, LOTTERY_ERROR_TIMEOUT,
                  N_("No HELLO came within %u seconds of connecting"), io_s);
  else if (owed || lottery_frame_io_is_writing (io))
    {
      /* Silence is ours, not the client's. */
      lottery_frame_io_set_activity (io, now);
      return LOTTERY_LATE_NONE;
    }
  else if (now - lottery_frame_io_get_activity (io) > self->idle_timeout)
    lottery_fail (error, LOTTERY_ERROR_TIMEOUT,
                  N_("The connection was idle for %u seconds"), idle_s);
  else
    return LOTTERY_LATE_NONE;

  return LOTTERY_LATE_MESSAGE;
}
