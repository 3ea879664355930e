/* lottery-protocol.c: the wire format, as bytes in and bytes out: the
 * frame prefix and each message; the items of a BATCH and of WINNERS
 * are read (and a BATCH built) in lottery-batch-codec.c.
 *
 * Decoding never trusts a length: every read is checked against the end
 * of the buffer first, and a message must use its bytes exactly.
 */
#include "config.h"

#include "lottery-protocol.h"
#include "lottery-protocol-private.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <string.h>

const char *
lottery_message_type_name (guint8 type)
{
  switch (type)
    {
    case LOTTERY_MESSAGE_HELLO: return "HELLO";
    case LOTTERY_MESSAGE_BATCH: return "BATCH";
    case LOTTERY_MESSAGE_FINISH: return "FINISH";
    case LOTTERY_MESSAGE_QUERY: return "QUERY";
    case LOTTERY_MESSAGE_PING: return "PING";
    case LOTTERY_MESSAGE_AUTH: return "AUTH";
    case LOTTERY_MESSAGE_WELCOME: return "WELCOME";
    case LOTTERY_MESSAGE_ACK: return "ACK";
    case LOTTERY_MESSAGE_ERROR: return "ERROR";
    case LOTTERY_MESSAGE_FINISHED: return "FINISHED";
    case LOTTERY_MESSAGE_WINNERS: return "WINNERS";
    case LOTTERY_MESSAGE_PONG: return "PONG";
    case LOTTERY_MESSAGE_CHALLENGE: return "CHALLENGE";
    case LOTTERY_MESSAGE_STATUS: return "STATUS";
    case LOTTERY_MESSAGE_STATUS_REPLY: return "STATUS_REPLY";
    default: return "UNKNOWN";
    }
}

/* Checks the length prefix before anything is allocated or read. */
gboolean
lottery_frame_parse_prefix (const guint8 *prefix,
                            gsize        *body_len,
                            GError      **error)
{
  guint32 len = lottery_get_u32 (prefix);

  if (len == 0 || len > LOTTERY_FRAME_BODY_MAX)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Message length %u is outside 1..%d"),
                         len, LOTTERY_FRAME_BODY_MAX);

  *body_len = len;
  return TRUE;
}

static gboolean
expect_len (guint8  type,
            gsize   len,
            gsize   expected,
            GError **error)
{
  if (len != expected)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("%s message has %u bytes, expected %u"),
                         lottery_message_type_name (type), (guint) len,
                         (guint) expected);
  return TRUE;
}

/* @body is the frame without its prefix: the type byte and payload. */
gboolean
lottery_message_decode (const guint8   *body,
                        gsize           len,
                        LotteryMessage *message,
                        GError        **error)
{
  const guint8 *p;
  gsize plen;
  guint8 type;

  if (len < 1)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL, N_("Empty message"));

  type = body[0];
  p = body + 1;
  plen = len - 1;
  memset (message, 0, sizeof *message);
  message->type = (LotteryMessageType) type;

  switch (type)
    {
    case LOTTERY_MESSAGE_HELLO:
      if (!expect_len (type, plen, 6, error))
        return FALSE;
      message->hello.version = lottery_get_u16 (p);
      message->hello.agency = lottery_get_u32 (p + 2);
      return TRUE;

    case LOTTERY_MESSAGE_BATCH:
      if (plen < 6)
        return expect_len (type, plen, 6, error);
      message->batch.sequence = lottery_get_u32 (p);
      message->batch.count = lottery_get_u16 (p + 4);
      message->batch.data = p + 6;
      message->batch.len = plen - 6;
      /* Reject an impossible count before anyone loops over it. */
      if (message->batch.count == 0 ||
          (gsize) message->batch.count * LOTTERY_BET_WIRE_MIN > message->batch.len)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("BATCH claims %u bets in %u bytes"),
                             message->batch.count,
                             (guint) message->batch.len);
      return TRUE;

    case LOTTERY_MESSAGE_FINISH:
      if (!expect_len (type, plen, 4, error))
        return FALSE;
      message->finish.last_sequence = lottery_get_u32 (p);
      return TRUE;

    case LOTTERY_MESSAGE_AUTH:
      if (!expect_len (type, plen, LOTTERY_AUTH_PROOF_LEN, error))
        return FALSE;
      message->auth.proof = p;
      return TRUE;

    case LOTTERY_MESSAGE_CHALLENGE:
      if (!expect_len (type, plen, LOTTERY_AUTH_NONCE_LEN, error))
        return FALSE;
      message->challenge.nonce = p;
      return TRUE;

    case LOTTERY_MESSAGE_QUERY:
    case LOTTERY_MESSAGE_PING:
    case LOTTERY_MESSAGE_PONG:
    case LOTTERY_MESSAGE_STATUS:
      return expect_len (type, plen, 0, error);

    case LOTTERY_MESSAGE_WELCOME:
      /* A version 1 server's WELCOME is shorter: decode its version so
       * that the agency can say which one it met. */
      if (plen == 7 && lottery_get_u16 (p) != LOTTERY_PROTOCOL_VERSION)
        {
          message->welcome.version = lottery_get_u16 (p);
          return TRUE;
        }
      if (!expect_len (type, plen, 23, error))
        return FALSE;
      message->welcome.version = lottery_get_u16 (p);
      message->welcome.last_sequence = lottery_get_u32 (p + 2);
      message->welcome.flags = p[6];
      message->welcome.consumed = lottery_get_u64 (p + 7);
      message->welcome.stored = lottery_get_u64 (p + 15);
      /* Refused bets are consumed but not stored. */
      if (message->welcome.stored > message->welcome.consumed)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("WELCOME says more bets stored than taken"));
      return TRUE;

    case LOTTERY_MESSAGE_ACK:
      if (!expect_len (type, plen, 6, error))
        return FALSE;
      message->ack.sequence = lottery_get_u32 (p);
      message->ack.count = lottery_get_u16 (p + 4);
      return TRUE;

    case LOTTERY_MESSAGE_ERROR:
      if (plen < 8)
        return expect_len (type, plen, 8, error);
      message->error.code = lottery_get_u16 (p);
      message->error.sequence = lottery_get_u32 (p + 2);
      message->error.len = lottery_get_u16 (p + 6);
      message->error.text = (const char *) p + 8;
      if (!expect_len (type, plen, 8 + message->error.len, error))
        return FALSE;
      if (!g_utf8_validate_len (message->error.text, message->error.len, NULL))
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("ERROR message text is not UTF-8"));
      return TRUE;

    case LOTTERY_MESSAGE_FINISHED:
      if (!expect_len (type, plen, 8, error))
        return FALSE;
      message->finished.stored = lottery_get_u64 (p);
      return TRUE;

    case LOTTERY_MESSAGE_WINNERS:
      if (plen < 3)
        return expect_len (type, plen, 3, error);
      message->winners.flags = p[0];
      message->winners.count = lottery_get_u16 (p + 1);
      message->winners.data = p + 3;
      message->winners.len = plen - 3;
      if ((gsize) message->winners.count * 2 > message->winners.len)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("WINNERS claims %u documents in %u bytes"),
                             message->winners.count,
                             (guint) message->winners.len);
      return TRUE;

    case LOTTERY_MESSAGE_STATUS_REPLY:
      if (plen < LOTTERY_STATUS_HEADER - 1)
        return expect_len (type, plen, LOTTERY_STATUS_HEADER - 1, error);
      message->status.flags = p[0];
      message->status.draw_time =
        (gint64) (((guint64) lottery_get_u32 (p + 1) << 32) |
                  lottery_get_u32 (p + 5));
      message->status.agencies = lottery_get_u32 (p + 9);
      message->status.first = lottery_get_u32 (p + 13);
      message->status.count = lottery_get_u16 (p + 17);
      message->status.data = p + LOTTERY_STATUS_HEADER - 1;
      if (!expect_len (type, plen, LOTTERY_STATUS_HEADER - 1 +
                       (gsize) message->status.count * LOTTERY_STATUS_ENTRY,
                       error))
        return FALSE;
      /* Agencies are 1..agencies; an empty frame is the whole answer
       * only when there are none. */
      if (message->status.first == 0 ||
          (guint64) message->status.first + message->status.count - 1 >
          message->status.agencies)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("STATUS_REPLY lists agencies %u to %u of %u"),
                             message->status.first,
                             message->status.first + message->status.count - 1,
                             message->status.agencies);
      return TRUE;

    default:
      return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                           N_("Unknown message type 0x%02x"), type);
    }
}

gsize
lottery_message_encode_hello (guint8  *out,
                              guint32  agency)
{
  out[4] = LOTTERY_MESSAGE_HELLO;
  lottery_put_u16 (out + 5, LOTTERY_PROTOCOL_VERSION);
  lottery_put_u32 (out + 7, agency);
  return lottery_finish_frame (out, 7);
}

gsize
lottery_message_encode_finish (guint8  *out,
                               guint32  last_sequence)
{
  out[4] = LOTTERY_MESSAGE_FINISH;
  lottery_put_u32 (out + 5, last_sequence);
  return lottery_finish_frame (out, 5);
}

gsize
lottery_message_encode_auth (guint8       *out,
                             const guint8 *proof)
{
  out[4] = LOTTERY_MESSAGE_AUTH;
  memcpy (out + 5, proof, LOTTERY_AUTH_PROOF_LEN);
  return lottery_finish_frame (out, 1 + LOTTERY_AUTH_PROOF_LEN);
}

gsize
lottery_message_encode_challenge (guint8       *out,
                                  const guint8 *nonce)
{
  out[4] = LOTTERY_MESSAGE_CHALLENGE;
  memcpy (out + 5, nonce, LOTTERY_AUTH_NONCE_LEN);
  return lottery_finish_frame (out, 1 + LOTTERY_AUTH_NONCE_LEN);
}

gsize
lottery_message_encode_empty (guint8             *out,
                              LotteryMessageType  type)
{
  out[4] = (guint8) type;
  return lottery_finish_frame (out, 1);
}

gsize
lottery_message_encode_welcome (guint8  *out,
                                guint32  last_sequence,
                                guint8   flags,
                                guint64  consumed,
                                guint64  stored)
{
  g_return_val_if_fail (stored <= consumed, 0);

  out[4] = LOTTERY_MESSAGE_WELCOME;
  lottery_put_u16 (out + 5, LOTTERY_PROTOCOL_VERSION);
  lottery_put_u32 (out + 7, last_sequence);
  out[11] = flags;
  lottery_put_u64 (out + 12, consumed);
  lottery_put_u64 (out + 20, stored);
  return lottery_finish_frame (out, 24);
}

gsize
lottery_message_encode_ack (guint8  *out,
                            guint32  sequence,
                            guint16  count)
{
  out[4] = LOTTERY_MESSAGE_ACK;
  lottery_put_u32 (out + 5, sequence);
  lottery_put_u16 (out + 9, count);
  return lottery_finish_frame (out, 7);
}

gsize
lottery_message_encode_error (guint8     *out,
                              guint16     code,
                              guint32     sequence,
                              const char *text)
{
  gsize max = LOTTERY_FRAME_BODY_MAX - 9;
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  gsize len = strlen (valid);
  const char *valid_end;

  /* The peer rejects an ERROR whose text is not UTF-8. */
  text = valid;

  /* Cut long texts at a character boundary so they stay UTF-8. */
  if (len > max)
    {
      g_utf8_validate_len (text, max, &valid_end);
      len = valid_end - text;
    }

  out[4] = LOTTERY_MESSAGE_ERROR;
  lottery_put_u16 (out + 5, code);
  lottery_put_u32 (out + 7, sequence);
  lottery_put_u16 (out + 11, (guint16) len);
  memcpy (out + 13, text, len);
  return lottery_finish_frame (out, 9 + len);
}

gsize
lottery_message_encode_finished (guint8  *out,
                                 guint64  stored)
{
  out[4] = LOTTERY_MESSAGE_FINISHED;
  lottery_put_u64 (out + 5, stored);
  return lottery_finish_frame (out, 9);
}

/* Encodes as many of @documents as fit in one frame and sets
 * LOTTERY_WINNERS_LAST when that was all of them. An answer with no
 * winners is one empty, last frame. */
gsize
lottery_message_encode_winners (guint8             *out,
                                const char * const *documents,
                                guint               n_documents,
                                guint              *n_encoded)
{
  guint8 *p = out + 8;
  guint8 *end = out + LOTTERY_FRAME_MAX;
  guint i;

  for (i = 0; i < n_documents && i < G_MAXUINT16; i++)
    {
      gsize len = strlen (documents[i]);

      g_assert (len > 0 && len <= LOTTERY_DOCUMENT_MAX);
      if ((gsize) (end - p) < len + 1)
        break;
      *p++ = (guint8) len;
      memcpy (p, documents[i], len);
      p += len;
    }

  out[4] = LOTTERY_MESSAGE_WINNERS;
  out[5] = i == n_documents ? LOTTERY_WINNERS_LAST : 0;
  lottery_put_u16 (out + 6, (guint16) i);
  *n_encoded = i;

  return lottery_finish_frame (out, (gsize) (p - out) - LOTTERY_FRAME_PREFIX);
}

/* Encodes as many of @entries (agencies @first, @first + 1, …) as fit
 * in one frame and sets LOTTERY_STATUS_LAST when that was all of them.
 * @draw_time is in seconds since the epoch, 0 before the draw. */
gsize
lottery_message_encode_status_reply (guint8                   *out,
                                     guint8                    flags,
                                     gint64                    draw_time,
                                     guint32                   agencies,
                                     guint32                   first,
                                     const LotteryStatusEntry *entries,
                                     guint                     n_entries,
                                     guint                    *n_encoded)
{
  guint8 *p = out + LOTTERY_FRAME_PREFIX + LOTTERY_STATUS_HEADER;
  guint n = MIN (n_entries, LOTTERY_STATUS_MAX_ENTRIES);
  guint i;

  g_return_val_if_fail (first >= 1, 0);

  for (i = 0; i < n; i++)
    {
      lottery_put_u32 (p, (guint32) (entries[i].bets >> 32));
      lottery_put_u32 (p + 4, (guint32) entries[i].bets);
      p[8] = entries[i].flags;
      p += LOTTERY_STATUS_ENTRY;
    }

  out[4] = LOTTERY_MESSAGE_STATUS_REPLY;
  out[5] = (guint8) ((flags & ~LOTTERY_STATUS_LAST) |
                     (n == n_entries ? LOTTERY_STATUS_LAST : 0));
  lottery_put_u32 (out + 6, (guint32) ((guint64) draw_time >> 32));
  lottery_put_u32 (out + 10, (guint32) draw_time);
  lottery_put_u32 (out + 14, agencies);
  lottery_put_u32 (out + 18, first);
  lottery_put_u16 (out + 22, (guint16) n);
  *n_encoded = n;

  return lottery_finish_frame (out, (gsize) (p - out) - LOTTERY_FRAME_PREFIX);
}

/* Entry @index (0-based; agency first + index) of a decoded
 * STATUS_REPLY; the decoder checked that it is there. */
void
lottery_status_reply_get_entry (const LotteryMessage *message,
                                guint                 index,
                                LotteryStatusEntry   *entry)
{
  const guint8 *p;

  g_return_if_fail (message->type == LOTTERY_MESSAGE_STATUS_REPLY);
  g_return_if_fail (index < message->status.count);

  p = message->status.data + (gsize) index * LOTTERY_STATUS_ENTRY;
  entry->bets = ((guint64) lottery_get_u32 (p) << 32) | lottery_get_u32 (p + 4);
  entry->flags = p[8];
}
