/* fuzz-message.c: libFuzzer target for the wire decoder.
 *
 * The input is what a peer could send: frames one after another. Each
 * body is copied to a buffer of exactly its length so that
 * AddressSanitizer sees any read past it, decoded, and its items walked
 * as the server and the client walk them. A message that decodes whole
 * is then encoded again with the project's own encoders: every message
 * has a single encoding, so bytes that differ mean the decoder and the
 * encoder disagree, and the run aborts.
 *
 * A BATCH is also walked the way the server stores it, one bet straight
 * to its bets.csv row (lottery_batch_reader_next_row ()): each row and
 * each refusal must be the full path's, or the run aborts.
 *
 * The same input is also read through lottery_stream_read_message (), as
 * the client reads replies.
 */
#include "config.h"

#include "fuzz-common.h"
#include "lottery-bet-row.h"
#include "lottery-error.h"
#include "lottery-protocol.h"
#include "lottery-stream.h"

#include <gio/gio.h>
#include <string.h>

/* Aborts unless @frame is the frame of @body. */
static void
check_encoding (const LotteryMessage *message,
                const guint8         *body,
                gsize                 len,
                const guint8         *frame,
                gsize                 frame_len)
{
  gsize body_len = 0;

  if (frame_len != LOTTERY_FRAME_PREFIX + len ||
      !lottery_frame_parse_prefix (frame, &body_len, NULL) ||
      body_len != len ||
      memcmp (frame + LOTTERY_FRAME_PREFIX, body, len) != 0)
    g_error ("%s of %" G_GSIZE_FORMAT " bytes encodes back to %"
             G_GSIZE_FORMAT " different bytes",
             lottery_message_type_name (message->type), len,
             frame_len - LOTTERY_FRAME_PREFIX);
}

/* The server's one-pass path gives the full path's rows and refusals. */
static void
walk_batch_rows (const LotteryMessage *message)
{
  LotteryBatchReader fast, full;

  lottery_batch_reader_init (&fast, message);
  lottery_batch_reader_init (&full, message);
  while (full.remaining > 0)
    {
      char row[LOTTERY_BET_ROW_MAX], expected[LOTTERY_BET_ROW_MAX];
      g_autoptr(GError) fast_error = NULL;
      g_autoptr(GError) full_error = NULL;
      LotteryBet bet = { 0 };
      gsize len, expected_len = 0;

      len = lottery_batch_reader_next_row (&fast, 7, row, &fast_error);
      bet.agency = 7;
      if (lottery_batch_reader_next (&full, &bet, &full_error))
        expected_len = lottery_bet_format_row (&bet, expected);
      if (len != expected_len || memcmp (row, expected, len) != 0 ||
          (len == 0 && (fast_error == NULL || full_error == NULL ||
                        fast_error->domain != full_error->domain ||
                        fast_error->code != full_error->code ||
                        g_strcmp0 (fast_error->message,
                                   full_error->message) != 0)) ||
          fast.p != full.p || fast.index != full.index ||
          fast.remaining != full.remaining)
        g_error ("bet %u of a BATCH: the one-pass row differs from the "
                 "full path's", full.index + 1);
      if (len == 0)
        return;
    }
  if (lottery_batch_reader_end (&fast, NULL) !=
      lottery_batch_reader_end (&full, NULL))
    g_error ("a BATCH ends differently on the one-pass path");
}

static void
walk_batch (const LotteryMessage *message,
            const guint8         *body,
            gsize                 len)
{
  g_autofree LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  LotteryBatchReader reader;
  gsize frame_len;

  lottery_batch_encoder_init (encoder, message->batch.count);
  lottery_batch_reader_init (&reader, message);
  while (reader.remaining > 0)
    {
      LotteryBet bet = { 0 };

      if (!lottery_batch_reader_next (&reader, &bet, NULL))
        return;
      if (!lottery_batch_encoder_add (encoder, &bet))
        g_error ("bet %u of a decoded BATCH does not fit a new one",
                 reader.index);
    }
  if (!lottery_batch_reader_end (&reader, NULL))
    return;

  frame_len = lottery_batch_encoder_finish (encoder, message->batch.sequence);
  check_encoding (message, body, len, encoder->frame, frame_len);
}

static void
walk_winners (const LotteryMessage *message,
              const guint8         *body,
              gsize                 len)
{
  g_autoptr(GPtrArray) documents = g_ptr_array_new_with_free_func (g_free);
  g_autofree guint8 *frame = g_malloc (LOTTERY_FRAME_MAX);
  LotteryBatchReader reader;
  gboolean has_nul = FALSE;
  guint n_encoded = 0;
  gsize frame_len;

  lottery_batch_reader_init (&reader, message);
  while (reader.remaining > 0)
    {
      const char *document;
      gsize doc_len;

      if (!lottery_winners_reader_next (&reader, &document, &doc_len, NULL))
        return;
      has_nul |= memchr (document, '\0', doc_len) != NULL;
      g_ptr_array_add (documents, g_strndup (document, doc_len));
    }
  if (!lottery_batch_reader_end (&reader, NULL))
    return;

  /* The encoder takes C strings; a document with a NUL in it has no
   * such form, so there is nothing to compare. */
  if (has_nul)
    return;

  frame_len = lottery_message_encode_winners (frame,
                                              (const char * const *) documents->pdata,
                                              documents->len, &n_encoded);
  if (n_encoded != documents->len)
    g_error ("WINNERS with %u documents encodes back to %u",
             documents->len, n_encoded);
  /* The encoder sets LOTTERY_WINNERS_LAST itself, from what fits. */
  frame[LOTTERY_FRAME_PREFIX + 1] = message->winners.flags;
  check_encoding (message, body, len, frame, frame_len);
}

static void
walk_status_reply (const LotteryMessage *message,
                   const guint8         *body,
                   gsize                 len)
{
  g_autofree LotteryStatusEntry *entries = NULL;
  g_autofree guint8 *frame = g_malloc (LOTTERY_FRAME_MAX);
  guint n_encoded = 0;
  gsize frame_len;
  guint i;

  entries = g_new0 (LotteryStatusEntry, MAX (message->status.count, 1));
  for (i = 0; i < message->status.count; i++)
    lottery_status_reply_get_entry (message, i, &entries[i]);

  frame_len = lottery_message_encode_status_reply (frame,
                                                   message->status.flags,
                                                   message->status.draw_time,
                                                   message->status.agencies,
                                                   message->status.first,
                                                   entries,
                                                   message->status.count,
                                                   &n_encoded);
  if (n_encoded != message->status.count)
    g_error ("STATUS_REPLY with %u entries encodes back to %u",
             message->status.count, n_encoded);
  /* The encoder sets LOTTERY_STATUS_LAST itself, from what fits. */
  frame[LOTTERY_FRAME_PREFIX + 1] = message->status.flags;
  check_encoding (message, body, len, frame, frame_len);
}

static void
check_error (const LotteryMessage *message,
             const guint8         *body,
             gsize                 len)
{
  g_autofree guint8 *frame = g_malloc (LOTTERY_FRAME_MAX);
  g_autofree char *text = NULL;
  gsize frame_len;

  if (memchr (message->error.text, '\0', message->error.len) != NULL)
    return;

  text = g_strndup (message->error.text, message->error.len);
  frame_len = lottery_message_encode_error (frame, message->error.code,
                                            message->error.sequence, text);
  check_encoding (message, body, len, frame, frame_len);
}

/* Decodes one body as the receivers do, then checks its encoding. */
static void
decode_body (const guint8 *body,
             gsize         len)
{
  g_autofree guint8 *frame = g_malloc (LOTTERY_FRAME_MAX);
  LotteryMessage message;
  gsize frame_len = 0;

  if (!lottery_message_decode (body, len, &message, NULL))
    return;

  switch (message.type)
    {
    case LOTTERY_MESSAGE_BATCH:
      walk_batch_rows (&message);
      walk_batch (&message, body, len);
      return;
    case LOTTERY_MESSAGE_WINNERS:
      walk_winners (&message, body, len);
      return;
    case LOTTERY_MESSAGE_STATUS_REPLY:
      walk_status_reply (&message, body, len);
      return;
    case LOTTERY_MESSAGE_ERROR:
      check_error (&message, body, len);
      return;

    case LOTTERY_MESSAGE_HELLO:
      /* The encoders write only the version they speak. */
      if (message.hello.version != LOTTERY_PROTOCOL_VERSION)
        return;
      frame_len = lottery_message_encode_hello (frame, message.hello.agency);
      break;
    case LOTTERY_MESSAGE_WELCOME:
      if (message.welcome.version != LOTTERY_PROTOCOL_VERSION)
        return;
      frame_len = lottery_message_encode_welcome (frame,
                                                  message.welcome.last_sequence,
                                                  message.welcome.flags,
                                                  message.welcome.consumed,
                                                  message.welcome.stored);
      break;
    case LOTTERY_MESSAGE_FINISH:
      frame_len = lottery_message_encode_finish (frame,
                                                 message.finish.last_sequence);
      break;
    case LOTTERY_MESSAGE_ACK:
      frame_len = lottery_message_encode_ack (frame, message.ack.sequence,
                                              message.ack.count);
      break;
    case LOTTERY_MESSAGE_FINISHED:
      frame_len = lottery_message_encode_finished (frame,
                                                   message.finished.stored);
      break;
    case LOTTERY_MESSAGE_AUTH:
      frame_len = lottery_message_encode_auth (frame, message.auth.proof);
      break;
    case LOTTERY_MESSAGE_CHALLENGE:
      frame_len = lottery_message_encode_challenge (frame,
                                                    message.challenge.nonce);
      break;
    case LOTTERY_MESSAGE_QUERY:
    case LOTTERY_MESSAGE_PING:
    case LOTTERY_MESSAGE_PONG:
    case LOTTERY_MESSAGE_STATUS:
      frame_len = lottery_message_encode_empty (frame, message.type);
      break;
    default:
      g_error ("decoded a message of unknown type 0x%02x", message.type);
    }

  check_encoding (&message, body, len, frame, frame_len);
}

/* What the client does with a connection's bytes. */
static void
read_stream (const guint8 *data,
             gsize         size)
{
  g_autoptr(GInputStream) stream = NULL;
  g_autofree guint8 *buffer = g_malloc (LOTTERY_FRAME_MAX);
  LotteryMessage message;

  stream = g_memory_input_stream_new_from_data (data, (gssize) size, NULL);
  while (lottery_stream_read_message (stream, buffer, &message, NULL, NULL))
    ;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  gsize offset = 0;

  while (size - offset >= LOTTERY_FRAME_PREFIX)
    {
      g_autofree guint8 *body = NULL;
      gsize body_len = 0;

      if (!lottery_frame_parse_prefix (data + offset, &body_len, NULL))
        break;
      offset += LOTTERY_FRAME_PREFIX;
      /* A stream that ends inside a body is a closed connection. */
      if (size - offset < body_len)
        break;

      body = g_memdup2 (data + offset, body_len);
      decode_body (body, body_len);
      offset += body_len;
    }

  read_stream (data, size);

  return 0;
}
