/* lottery-batch-codec.c: the items of a BATCH (bets) and of a WINNERS
 * answer (documents): the encoder that fills a BATCH frame bet by bet
 * (or, for the common row of an agency's file, straight from the row),
 * and the reader that takes bets or documents back out, checking every
 * length against the end of the message, one bet at a time (or
 * straight into its bets.csv row). The WINNERS encoder is with the
 * other messages in lottery-protocol.c. No I/O and no state: any thread
 * may call it.
 */
#include "config.h"

#include "lottery-protocol.h"
#include "lottery-protocol-private.h"
#include "lottery-bet-private.h"
#include "lottery-bet-row.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <string.h>

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
  lottery_put_u32 (p, bet->number);
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
  lottery_put_u32 (h + 1, sequence);
  lottery_put_u16 (h + 5, (guint16) encoder->count);

  return lottery_finish_frame (encoder->frame,
                               encoder->len - LOTTERY_FRAME_PREFIX);
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
  bet->number = lottery_get_u32 (reader->p);
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
