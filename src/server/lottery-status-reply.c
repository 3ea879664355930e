/* lottery-status-reply.c: the server's answer to a STATUS request.
 *
 * Counts only: per agency the bets stored in this run, whether it has
 * finished and whether it is connected; whether and when the draw took
 * place. Never a document or a winner. Read-only, and open to anyone
 * who can connect, like PING. The answer is made a frame at a time, as
 * the peer reads it: each frame copies its agencies' counts under the
 * state's lock, so no answer is held whole and the lock is held for at
 * most one frame's counts. Main context.
 */
#include "config.h"

#include "lottery-status-reply.h"
#include "lottery-protocol.h"

struct _LotteryStatusReply
{
  LotteryState *state;    /* (owned) */
  guint         agencies;
  guint         sent;     /* agencies already in a frame */
  gboolean      started;
  gboolean      draw_done; /* as at the first frame */
  gint64        draw_time;
};

/* Returns: (transfer full): an answer for the state as it is from now
 * on, to be made with lottery_status_reply_next () */
LotteryStatusReply *
lottery_status_reply_start (LotteryState *state)
{
  LotteryStatusReply *reply = g_new0 (LotteryStatusReply, 1);

  reply->state = g_object_ref (state);
  reply->agencies = lottery_state_get_agencies (state);
  return reply;
}

/* How many agencies' counts are in the frames made so far. */
guint
lottery_status_reply_get_sent (LotteryStatusReply *reply)
{
  return reply->sent;
}

void
lottery_status_reply_free (LotteryStatusReply *reply)
{
  g_clear_object (&reply->state);
  g_free (reply);
}

/* A LotteryFrameProducer: the next STATUS_REPLY frame of @reply into
 * @frame; @done on the last one, which is flagged LOTTERY_STATUS_LAST. */
gsize
lottery_status_reply_next (guint8   *frame,
                           gboolean *done,
                           gpointer  user_data)
{
  LotteryStatusReply *reply = user_data;
  LotteryAgencyStatus status[LOTTERY_STATUS_MAX_ENTRIES];
  LotteryStatusEntry entries[LOTTERY_STATUS_MAX_ENTRIES];
  gboolean draw_done;
  gint64 draw_time;
  guint i, n, encoded;
  gsize len;

  n = lottery_state_get_status_range (reply->state, reply->sent,
                                      LOTTERY_STATUS_MAX_ENTRIES, status,
                                      &draw_done, &draw_time);
  /* One draw flag for the whole answer, as its first frame saw it. */
  if (!reply->started)
    {
      reply->started = TRUE;
      reply->draw_done = draw_done;
      reply->draw_time = draw_time;
    }
  for (i = 0; i < n; i++)
    {
      entries[i].bets = status[i].bets;
      entries[i].flags = 0;
      if (status[i].finished)
        entries[i].flags |= LOTTERY_AGENCY_FINISHED;
      if (status[i].connected)
        entries[i].flags |= LOTTERY_AGENCY_CONNECTED;
    }

  len = lottery_message_encode_status_reply (
    frame, reply->draw_done ? LOTTERY_STATUS_DRAW_DONE : 0,
    reply->draw_time / G_USEC_PER_SEC, reply->agencies, reply->sent + 1,
    entries, reply->agencies - reply->sent, &encoded);
  /* The encoder takes as many as a frame holds, which is what was
   * copied, and flags the frame that holds the rest as the last. */
  g_assert (encoded == n);
  reply->sent += encoded;
  *done = reply->sent >= reply->agencies;
  return len;
}

/* The whole answer at once, for a reader that needs it whole (the HTTP
 * status page, bounded by its own rules). */
GBytes *
lottery_status_reply_new (LotteryState *state)
{
  g_autoptr(LotteryStatusReply) reply = lottery_status_reply_start (state);
  GByteArray *out = g_byte_array_new ();
  guint8 frame[LOTTERY_FRAME_MAX];
  gboolean done = FALSE;

  while (!done)
    {
      gsize len = lottery_status_reply_next (frame, &done, reply);

      g_byte_array_append (out, frame, (guint) len);
    }

  return g_byte_array_free_to_bytes (out);
}
