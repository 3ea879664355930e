/* lottery-status-reply.c: the server's answer to a STATUS request.
 *
 * Counts only: per agency the bets stored in this run, whether it has
 * finished and whether it is connected; whether and when the draw took
 * place. Never a document or a winner. Read-only, and open to anyone
 * who can connect, like PING. Owns nothing: a copy of the counts, taken
 * under the state's lock, on the main context.
 */
#include "config.h"

#include "lottery-status-reply.h"
#include "lottery-protocol.h"

/* The STATUS_REPLY frames for the state as it is now, one after the
 * other, the last one flagged LOTTERY_STATUS_LAST. */
GBytes *
lottery_status_reply_new (LotteryState *state)
{
  g_autofree LotteryAgencyStatus *status = NULL;
  g_autofree LotteryStatusEntry *entries = NULL;
  guint agencies = lottery_state_get_agencies (state);
  GByteArray *out = g_byte_array_new ();
  guint8 frame[LOTTERY_FRAME_MAX];
  gboolean draw_done;
  gint64 draw_time;
  guint8 flags;
  guint i, sent = 0;

  status = lottery_state_get_status (state, &draw_done, &draw_time);
  entries = g_new (LotteryStatusEntry, agencies);
  for (i = 0; i < agencies; i++)
    {
      entries[i].bets = status[i].bets;
      entries[i].flags = 0;
      if (status[i].finished)
        entries[i].flags |= LOTTERY_AGENCY_FINISHED;
      if (status[i].connected)
        entries[i].flags |= LOTTERY_AGENCY_CONNECTED;
    }
  flags = draw_done ? LOTTERY_STATUS_DRAW_DONE : 0;

  do
    {
      guint encoded;
      gsize len = lottery_message_encode_status_reply (
        frame, flags, draw_time / G_USEC_PER_SEC, agencies, sent + 1,
        entries + sent, agencies - sent, &encoded);

      g_byte_array_append (out, frame, (guint) len);
      sent += encoded;
    }
  while (sent < agencies);

  return g_byte_array_free_to_bytes (out);
}
