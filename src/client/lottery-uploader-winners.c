/* lottery-uploader-winners.c: the agency's winners, the last step of
 * its session: the QUERY, the wait for the draw and the checks on what
 * the server sends back (bounded, digits only, no more than it stored).
 *
 * Runs on the uploader's thread, inside its session.
 */
#include "config.h"

#include "lottery-uploader-private.h"
#include "lottery-connect.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-progress.h"
#include "lottery-protocol.h"
#include "lottery-server-text.h"

#include <glib/gi18n.h>

/* A winner's document, as the server sent it: digits only, as every
 * document the client sends. */
static gboolean
check_document (LotteryUploader *self,
                const char      *document,
                gsize            len,
                GError         **error)
{
  gsize i;

  for (i = 0; i < len; i++)
    if (!g_ascii_isdigit (document[i]))
      {
        g_autofree char *shown = lottery_server_text (document, len);

        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("The server sent “%s” as a winner of agency "
                                "%u: not a document (digits only)"),
                             shown, self->agency);
      }

  return len > 0 ||
         lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                       N_("The server sent an empty winner document"));
}

/* The most winners the agency can have: one per bet the server stored
 * for it, in this run or earlier ones. */
static guint64
max_winners (LotteryUploader *self)
{
  return self->held_stored + self->session_stored;
}

/* Asks for this agency's winners; the answer comes after the draw, so
 * this may wait for the other agencies: without a timeout until the
 * first frame, then each frame within the timeout. */
gboolean
lottery_uploader_query_winners (LotteryUploader *self,
                                GCancellable    *cancellable,
                                GError         **error)
{
  GSocket *socket = lottery_connect_get_socket (self->connection);
  guint8 frame[LOTTERY_FRAME_MAX];
  guint64 limit = max_winners (self);
  LotteryMessage message;

  g_ptr_array_set_size (self->winners, 0);

  if (!lottery_uploader_write_frame (self, frame,
                                     lottery_message_encode_empty
                                       (frame, LOTTERY_MESSAGE_QUERY),
                                     cancellable, error))
    return FALSE;
  /* The answer comes after the draw, once every agency has finished:
   * say so, so that a quiet wait does not look like a hang; the
   * progress line then says it again, below the log line. */
  lottery_uploader_progress_pause (self);
  lottery_log (G_LOG_LEVEL_INFO, "consulta_ganadores", "in_progress",
               "agency: %u", self->agency);
  if (self->progress != NULL && self->uploaded)
    lottery_progress_show_waiting (self->progress, self->bets_done);
  g_socket_set_timeout (socket, 0);

  do
    {
      LotteryBatchReader reader;

      if (!lottery_uploader_read_message (self, &message, cancellable, error))
        return FALSE;
      /* The draw is done: the rest of the answer follows at once. */
      g_socket_set_timeout (socket, self->timeout);
      if (message.type == LOTTERY_MESSAGE_ERROR)
        return lottery_uploader_server_error (self, &message, error);
      if (message.type != LOTTERY_MESSAGE_WINNERS)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("Expected WINNERS, got %s"),
                             lottery_message_type_name (message.type));
      /* An empty frame that is not the last would let a server keep the
       * client forever without a byte of winners. */
      if (message.winners.count == 0 &&
          !(message.winners.flags & LOTTERY_WINNERS_LAST))
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("The server sent an empty WINNERS frame that "
                                "is not the last"));
      if (self->winners->len + (guint64) message.winners.count > limit)
        {
          g_autofree char *bets = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                                   limit);

          return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                               N_("The server sent more winners than the %s "
                                  "bets agency %u sent"), bets, self->agency);
        }

      lottery_batch_reader_init (&reader, &message);
      while (reader.remaining > 0)
        {
          const char *document;
          gsize len;

          if (!lottery_winners_reader_next (&reader, &document, &len, error) ||
              !check_document (self, document, len, error))
            return FALSE;
          g_ptr_array_add (self->winners, g_strndup (document, len));
        }
      if (!lottery_batch_reader_end (&reader, error))
        return FALSE;
    }
  while (!(message.winners.flags & LOTTERY_WINNERS_LAST));

  g_ptr_array_add (self->winners, NULL);
  return TRUE;
}
