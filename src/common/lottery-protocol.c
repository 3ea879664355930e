/* lottery-protocol.c: the wire format, as bytes in and bytes out.
 *
 * Decoding never trusts a length: every read is checked against the end
 * of the buffer first, and a message must use its bytes exactly.
 */
#include "config.h"

#include "lottery-protocol.h"
#include "lottery-bet-private.h"
#include "lottery-bet-row.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <string.h>

static inline void
put_u16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static inline void
put_u32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static inline void
put_u64 (guint8 *p, guint64 v)
{
  put_u32 (p, (guint32) (v >> 32));
  put_u32 (p + 4, (guint32) v);
}

static inline guint16
get_u16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
get_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
         ((guint32) p[2] << 8) | (guint32) p[3];
}

static inline guint64
get_u64 (const guint8 *p)
{
  return ((guint64) get_u32 (p) << 32) | get_u32 (p + 4);
}

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
  guint32 len = get_u32 (prefix);

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
      message->hello.version = get_u16 (p);
      message->hello.agency = get_u32 (p + 2);
      return TRUE;

    case LOTTERY_MESSAGE_BATCH:
      if (plen < 6)
        return expect_len (type, plen, 6, error);
      message->batch.sequence = get_u32 (p);
      message->batch.count = get_u16 (p + 4);
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
      message->finish.last_sequence = get_u32 (p);
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
      if (plen == 7 && get_u16 (p) != LOTTERY_PROTOCOL_VERSION)
        {
          message->welcome.version = get_u16 (p);
          return TRUE;
        }
      if (!expect_len (type, plen, 23, error))
        return FALSE;
      message->welcome.version = get_u16 (p);
      message->welcome.last_sequence = get_u32 (p + 2);
      message->welcome.flags = p[6];
      message->welcome.consumed = get_u64 (p + 7);
      message->welcome.stored = get_u64 (p + 15);
      /* Refused bets are consumed but not stored. */
      if (message->welcome.stored > message->welcome.consumed)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("WELCOME says more bets stored than taken"));
      return TRUE;

    case LOTTERY_MESSAGE_ACK:
      if (!expect_len (type, plen, 6, error))
        return FALSE;
      message->ack.sequence = get_u32 (p);
      message->ack.count = get_u16 (p + 4);
      return TRUE;

    case LOTTERY_MESSAGE_ERROR:
      if (plen < 8)
        return expect_len (type, plen, 8, error);
      message->error.code = get_u16 (p);
      message->error.sequence = get_u32 (p + 2);
      message->error.len = get_u16 (p + 6);
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
      message->finished.stored = get_u64 (p);
      return TRUE;

    case LOTTERY_MESSAGE_WINNERS:
      if (plen < 3)
        return expect_len (type, plen, 3, error);
      message->winners.flags = p[0];
      message->winners.count = get_u16 (p + 1);
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
      message->status.draw_time = (gint64) (((guint64) get_u32 (p + 1) << 32) |
                                            get_u32 (p + 5));
      message->status.agencies = get_u32 (p + 9);
      message->status.first = get_u32 (p + 13);
      message->status.count = get_u16 (p + 17);
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

static gsize
finish_frame (guint8 *out,
              gsize   body_len)
{
  put_u32 (out, (guint32) body_len);
  return LOTTERY_FRAME_PREFIX + body_len;
}

gsize
lottery_message_encode_hello (guint8  *out,
                              guint32  agency)
{
  out[4] = LOTTERY_MESSAGE_HELLO;
  put_u16 (out + 5, LOTTERY_PROTOCOL_VERSION);
  put_u32 (out + 7, agency);
  return finish_frame (out, 7);
}

gsize
lottery_message_encode_finish (guint8  *out,
                               guint32  last_sequence)
{
  out[4] = LOTTERY_MESSAGE_FINISH;
  put_u32 (out + 5, last_sequence);
  return finish_frame (out, 5);
}

gsize
lottery_message_encode_auth (guint8       *out,
                             const guint8 *proof)
{
  out[4] = LOTTERY_MESSAGE_AUTH;
  memcpy (out + 5, proof, LOTTERY_AUTH_PROOF_LEN);
  return finish_frame (out, 1 + LOTTERY_AUTH_PROOF_LEN);
}

gsize
lottery_message_encode_challenge (guint8       *out,
                                  const guint8 *nonce)
{
  out[4] = LOTTERY_MESSAGE_CHALLENGE;
  memcpy (out + 5, nonce, LOTTERY_AUTH_NONCE_LEN);
  return finish_frame (out, 1 + LOTTERY_AUTH_NONCE_LEN);
}

gsize
lottery_message_encode_empty (guint8             *out,
                              LotteryMessageType  type)
{
  out[4] = (guint8) type;
  return finish_frame (out, 1);
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
  put_u16 (out + 5, LOTTERY_PROTOCOL_VERSION);
  put_u32 (out + 7, last_sequence);
  out[11] = flags;
  put_u64 (out + 12, consumed);
  put_u64 (out + 20, stored);
  return finish_frame (out, 24);
}

gsize
lottery_message_encode_ack (guint8  *out,
                            guint32  sequence,
                            guint16  count)
{
  out[4] = LOTTERY_MESSAGE_ACK;
  put_u32 (out + 5, sequence);
  put_u16 (out + 9, count);
  return finish_frame (out, 7);
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
  put_u16 (out + 5, code);
  put_u32 (out + 7, sequence);
  put_u16 (out + 11, (guint16) len);
  memcpy (out + 13, text, len);
  return finish_frame (out, 9 + len);
}

gsize
lottery_message_encode_finished (guint8  *out,
                                 guint64  stored)
{
  out[4] = LOTTERY_MESSAGE_FINISHED;
  put_u64 (out + 5, stored);
  return finish_frame (out, 9);
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
  put_u16 (out + 6, (guint16) i);
  *n_encoded = i;

  return finish_frame (out, (gsize) (p - out) - LOTTERY_FRAME_PREFIX);
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
      put_u32 (p, (guint32) (entries[i].bets >> 32));
      put_u32 (p + 4, (guint32) entries[i].bets);
      p[8] = entries[i].flags;
      p += LOTTERY_STATUS_ENTRY;
    }

  out[4] = LOTTERY_MESSAGE_STATUS_REPLY;
  out[5] = (guint8) ((flags & ~LOTTERY_STATUS_LAST) |
                     (n == n_entries ? LOTTERY_STATUS_LAST : 0));
  put_u32 (out + 6, (guint32) ((guint64) draw_time >> 32));
  put_u32 (out + 10, (guint32) draw_time);
  put_u32 (out + 14, agencies);
  put_u32 (out + 18, first);
  put_u16 (out + 22, (guint16) n);
  *n_encoded = n;

  return finish_frame (out, (gsize) (p - out) - LOTTERY_FRAME_PREFIX);
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
  entry->bets = ((guint64) get_u32 (p) << 32) | get_u32 (p + 4);
  entry->flags = p[8];
}

void
lottery_batch_encoder_init (LotteryBatchEncoder *encoder,
                            guint                max_count)
{
  encoder->len = LOTTERY_FRAME_PREFIX + LOTTERY_BATCH_HEADER;
  encoder->count = 0;
  encoder->max_count = CLAMP (max_count, 1, LOTTERY_BATCH_MAX_BETS);
}

static inline gsize
wire_size (const LotteryBet *bet)
{
  return 3 + bet->first_name_len + bet->last_name_len + bet->document_len +
         LOTTERY_BIRTHDATE_LEN + 4;
}

gsize
lottery_bet_wire_size (const LotteryBet *bet)
{
  return wire_size (bet);
}

/* Appends @bet; returns FALSE, leaving the batch as it was, when the
 * batch already holds max_count bets or the bet would not fit in the
 * frame. The fields are short: copied inline, without a call each. */
gboolean
lottery_batch_encoder_add (LotteryBatchEncoder *encoder,
                           const LotteryBet    *bet)
{
  guint8 *p;

  if (encoder->count >= encoder->max_count ||
      encoder->len + wire_size (bet) > LOTTERY_FRAME_MAX)
    return FALSE;

  p = encoder->frame + encoder->len;
  *p++ = bet->first_name_len;
  lottery_copy_short (p, bet->first_name, bet->first_name_len);
  p += bet->first_name_len;
  *p++ = bet->last_name_len;
  lottery_copy_short (p, bet->last_name, bet->last_name_len);
  p += bet->last_name_len;
  *p++ = bet->document_len;
  lottery_copy_short (p, bet->document, bet->document_len);
  p += bet->document_len;
  memcpy (p, bet->birthdate, LOTTERY_BIRTHDATE_LEN);
  p += LOTTERY_BIRTHDATE_LEN;
  put_u32 (p, bet->number);
  p += 4;

  encoder->len = (gsize) (p - encoder->frame);
  encoder->count++;

  return TRUE;
}

/* Appends the bet of an agency's row @line (without its line end),
 * parsed, checked and written into the batch in one pass, for the
 * common row. Returns FALSE, adding nothing, when the row is not the
 * common one (quoted or invalid), when the batch holds max_count bets,
 * or near the frame's end: the caller then parses the row with
 * lottery_bet_parse_line (), which says what is wrong with it, and adds
 * the bet with lottery_batch_encoder_add (), which says whether it fits. */
gboolean
lottery_batch_encoder_add_line (LotteryBatchEncoder *encoder,
                                const char          *line,
                                gsize                len)
{
  gsize n;

  if (encoder->count >= encoder->max_count ||
      encoder->len + LOTTERY_BET_WIRE_MAX > LOTTERY_FRAME_MAX)
    return FALSE;
  n = lottery_bet_wire_from_line (line, len, encoder->frame + encoder->len);
  if (n == 0)
    return FALSE;
  encoder->len += n;
  encoder->count++;

  return TRUE;
}

/* Writes the header; the frame is encoder->frame[0 .. returned length). */
gsize
lottery_batch_encoder_finish (LotteryBatchEncoder *encoder,
                              guint32              sequence)
{
  guint8 *h = encoder->frame + LOTTERY_FRAME_PREFIX;

  g_return_val_if_fail (encoder->count > 0, 0);

  h[0] = LOTTERY_MESSAGE_BATCH;
  put_u32 (h + 1, sequence);
  put_u16 (h + 5, (guint16) encoder->count);

  return finish_frame (encoder->frame, encoder->len - LOTTERY_FRAME_PREFIX);
}

void
lottery_batch_reader_init (LotteryBatchReader   *reader,
                           const LotteryMessage *message)
{
  reader->index = 0;
  if (message->type == LOTTERY_MESSAGE_WINNERS)
    {
      reader->p = message->winners.data;
      reader->end = message->winners.data + message->winners.len;
      reader->remaining = message->winners.count;
    }
  else
    {
      g_return_if_fail (message->type == LOTTERY_MESSAGE_BATCH);
      reader->p = message->batch.data;
      reader->end = message->batch.data + message->batch.len;
      reader->remaining = message->batch.count;
    }
}

static gboolean
take_string (LotteryBatchReader *reader,
             const char        **value,
             gsize              *len,
             GError            **error)
{
  gsize n;

  if (reader->p >= reader->end)
    goto truncated;
  n = *reader->p++;
  if ((gsize) (reader->end - reader->p) < n)
    goto truncated;
  *value = (const char *) reader->p;
  *len = n;
  reader->p += n;
  return TRUE;

truncated:
  return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                       N_("Item %u is truncated"), reader->index + 1);
}

/* Decodes and validates the next bet; the agency is left for the caller
 * to set, as it comes from the connection, not from the message. */
gboolean
lottery_batch_reader_next (LotteryBatchReader *reader,
                           LotteryBet         *bet,
                           GError            **error)
{
  const char *values[LOTTERY_BET_FIELD_NUMBER];
  gsize lens[LOTTERY_BET_FIELD_NUMBER];
  guint i;

  g_return_val_if_fail (reader->remaining > 0, FALSE);

  for (i = 0; i < 3; i++)
    if (!take_string (reader, &values[i], &lens[i], error))
      return FALSE;
  if ((gsize) (reader->end - reader->p) < LOTTERY_BIRTHDATE_LEN + 4)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Item %u is truncated"), reader->index + 1);

  values[LOTTERY_BET_FIELD_BIRTHDATE] = (const char *) reader->p;
  lens[LOTTERY_BET_FIELD_BIRTHDATE] = LOTTERY_BIRTHDATE_LEN;
  if (!lottery_bet_set_text_fields (bet, values, lens, error))
    return FALSE;
  reader->p += LOTTERY_BIRTHDATE_LEN;
  bet->number = get_u32 (reader->p);
  reader->p += 4;

  reader->remaining--;
  reader->index++;
  return TRUE;
}

/* Decodes and validates the next bet, and writes its bets.csv row for
 * @agency to @out (LOTTERY_BET_ROW_MAX bytes): the same checks and the
 * same row as lottery_batch_reader_next () then lottery_bet_format_row (),
 * the common bet in one pass.
 *
 * Returns: the row's length, or 0 with @error set */
gsize
lottery_batch_reader_next_row (LotteryBatchReader *reader,
                               guint32             agency,
                               char               *out,
                               GError            **error)
{
  LotteryBet bet;
  gsize used, row_len = 0;

  g_return_val_if_fail (reader->remaining > 0, 0);

  used = lottery_bet_row_from_wire (reader->p, reader->end, agency, out,
                                    &row_len);
  if (G_LIKELY (used > 0))
    {
      reader->p += used;
      reader->remaining--;
      reader->index++;
      return row_len;
    }

  bet.agency = agency;
  if (!lottery_batch_reader_next (reader, &bet, error))
    return 0;

  return lottery_bet_format_row (&bet, out);
}

/* After the last item: the message must not carry anything more. */
gboolean
lottery_batch_reader_end (LotteryBatchReader *reader,
                          GError            **error)
{
  if (reader->remaining != 0)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Message ends after %u of %u items"),
                         reader->index, reader->index + reader->remaining);
  if (reader->p != reader->end)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Message has %u bytes after its last item"),
                         (guint) (reader->end - reader->p));
  return TRUE;
}

gboolean
lottery_winners_reader_next (LotteryBatchReader *reader,
                             const char        **document,
                             gsize              *len,
                             GError            **error)
{
  g_return_val_if_fail (reader->remaining > 0, FALSE);

  if (!take_string (reader, document, len, error))
    return FALSE;
  if (*len == 0 || *len > LOTTERY_DOCUMENT_MAX)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("Document %u has length %u"),
                         reader->index + 1, (guint) *len);

  reader->remaining--;
  reader->index++;
  return TRUE;
}
