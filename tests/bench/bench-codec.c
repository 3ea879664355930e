/* bench-codec: the per-bet data path without the network, for
 * instruction counts under callgrind (see callgrind.sh).
 *
 *   bench-codec encode AGENCY_FILE FRAMES_FILE   parse + validate + encode
 *   bench-codec decode FRAMES_FILE ROWS_FILE     decode + validate + CSV rows
 *
 * Both stream: memory stays flat whatever the input size.
 */
#include "config.h"

#include "lottery-bet-row.h"
#include "lottery-csv-reader.h"
#include "lottery-protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
encode (const char *input,
        const char *output)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryCsvReader) reader = lottery_csv_reader_new_for_path (input, &error);
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  FILE *out = fopen (output, "wb");
  guint32 sequence = 0;
  const char *line;
  gsize len;

  if (reader == NULL || out == NULL)
    {
      g_printerr ("bench-codec: cannot open %s or %s\n", input, output);
      return 1;
    }

  lottery_batch_encoder_init (encoder, 128);
  while (lottery_csv_reader_next_line (reader, &line, &len, NULL, &error))
    {
      LotteryBet bet;

      /* As the client does: the common row straight into the batch. */
      if (lottery_batch_encoder_add_line (encoder, line, len))
        continue;
      if (!lottery_bet_parse_line (&bet, line, len, NULL))
        continue;
      if (!lottery_batch_encoder_add (encoder, &bet))
        {
          gsize n = lottery_batch_encoder_finish (encoder, ++sequence);
          fwrite (encoder->frame, 1, n, out);
          lottery_batch_encoder_init (encoder, 128);
          lottery_batch_encoder_add (encoder, &bet);
        }
    }
  if (encoder->count > 0)
    {
      gsize n = lottery_batch_encoder_finish (encoder, ++sequence);
      fwrite (encoder->frame, 1, n, out);
    }

  fclose (out);
  g_free (encoder);
  return error != NULL;
}

static int
decode (const char *input,
        const char *output)
{
  FILE *in = fopen (input, "rb");
  FILE *out = fopen (output, "wb");
  guint8 *frame = g_malloc (LOTTERY_FRAME_MAX);
  char *rows = g_malloc (LOTTERY_BATCH_MAX_BETS * LOTTERY_BET_ROW_MAX);
  guint64 bets = 0;

  if (in == NULL || out == NULL)
    {
      g_printerr ("bench-codec: cannot open %s or %s\n", input, output);
      return 1;
    }

  while (fread (frame, 1, LOTTERY_FRAME_PREFIX, in) == LOTTERY_FRAME_PREFIX)
    {
      LotteryMessage message;
      LotteryBatchReader reader;
      gsize body_len;
      char *p = rows;

      if (!lottery_frame_parse_prefix (frame, &body_len, NULL) ||
          fread (frame + LOTTERY_FRAME_PREFIX, 1, body_len, in) != body_len ||
          !lottery_message_decode (frame + LOTTERY_FRAME_PREFIX, body_len,
                                   &message, NULL))
        return 1;

      lottery_batch_reader_init (&reader, &message);
      while (reader.remaining > 0)
        {
          gsize n = lottery_batch_reader_next_row (&reader, 1, p, NULL);

          if (n == 0)
            return 1;
          p += n;
          bets++;
        }
      fwrite (rows, 1, p - rows, out);
    }

  fclose (in);
  fclose (out);
  g_free (frame);
  g_free (rows);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 4 && strcmp (argv[1], "encode") == 0)
    return encode (argv[2], argv[3]);
  if (argc == 4 && strcmp (argv[1], "decode") == 0)
    return decode (argv[2], argv[3]);

  g_printerr ("usage: bench-codec encode|decode INPUT OUTPUT\n");
  return 2;
}
