/* gen-corpus.c: writes the fuzzers' seed corpus.
 *
 * Usage: lottery-gen-corpus DIR (normally tests/fuzz/corpus). Valid
 * frames and rows come from the project's own encoders and row
 * formatter, so the seeds follow the format when it changes; the broken
 * ones are valid seeds with one thing wrong, each named after it. The
 * output is the same on every run.
 */
#include "config.h"

#include "lottery-bet-row.h"
#include "lottery-protocol.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

static const char *corpus_dir;

static void
write_seed (const char *kind,
            const char *name,
            const void *data,
            gsize       len)
{
  g_autofree char *dir = g_build_filename (corpus_dir, kind, NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (g_mkdir_with_parents (dir, 0755) != 0 ||
      !g_file_set_contents (path, data, (gssize) len, &error))
    {
      g_printerr ("lottery-gen-corpus: cannot write %s: %s\n", path,
                  error != NULL ? error->message : g_strerror (errno));
      exit (EXIT_FAILURE);
    }
}

static void
write_row (const char *name,
           const char *row)
{
  write_seed ("row", name, row, strlen (row));
}

static void
set_field (LotteryBet     *bet,
           LotteryBetField field,
           const char     *value)
{
  g_autoptr(GError) error = NULL;

  if (!lottery_bet_set_field (bet, field, value, strlen (value), &error))
    g_error ("seed bet: %s", error->message);
}

static void
make_bet (LotteryBet *bet,
          guint32     agency,
          const char *first_name,
          const char *last_name,
          const char *document,
          const char *birthdate,
          guint32     number)
{
  memset (bet, 0, sizeof *bet);
  bet->agency = agency;
  set_field (bet, LOTTERY_BET_FIELD_FIRST_NAME, first_name);
  set_field (bet, LOTTERY_BET_FIELD_LAST_NAME, last_name);
  set_field (bet, LOTTERY_BET_FIELD_DOCUMENT, document);
  set_field (bet, LOTTERY_BET_FIELD_BIRTHDATE, birthdate);
  bet->number = number;
}

/* Names that need quoting or are at the limits: the interesting bets
 * for both the wire and bets.csv. */
static guint
awkward_bets (LotteryBet *bets)
{
  g_autofree char *quotes = g_strnfill (LOTTERY_NAME_MAX, '"');
  g_autofree char *long_name = g_strnfill (LOTTERY_NAME_MAX, 'x');
  guint n = 0;

  make_bet (&bets[n++], 1, "Santiago Lionel", "Lorca", "30904465",
            "1999-03-17", LOTTERY_WINNING_NUMBER);
  make_bet (&bets[n++], 2, "Pérez, Juan", "O'Brien", "1", "2000-02-29", 0);
  make_bet (&bets[n++], 3, "Ana \"la\" María", "Gómez", "12345678901234567890",
            "1970-01-01", G_MAXUINT32);
  make_bet (&bets[n++], 4, "王", "小明 😀", "007", "2024-12-31", 42);
  make_bet (&bets[n++], 999999999, quotes, quotes, "98765432109876543210",
            "9999-12-31", 4000000000u);
  make_bet (&bets[n++], 5, long_name, " Zoë ", "42", "0001-01-01", 1);

  return n;
}

static void
put_u16 (guint8 *p,
         guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static void
put_u32 (guint8 *p,
         guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static gsize
encode_batch (guint8           *out,
              const LotteryBet *bets,
              guint             n_bets,
              guint32           sequence)
{
  g_autofree LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  gsize len;
  guint i;

  lottery_batch_encoder_init (encoder, n_bets);
  for (i = 0; i < n_bets; i++)
    if (!lottery_batch_encoder_add (encoder, &bets[i]))
      break;
  len = lottery_batch_encoder_finish (encoder, sequence);
  memcpy (out, encoder->frame, len);

  return len;
}

static void
write_messages (void)
{
  guint8 out[LOTTERY_FRAME_MAX];
  guint8 stream[4 * LOTTERY_FRAME_MAX];
  LotteryBet bets[8];
  g_autofree LotteryBet *many = g_new (LotteryBet, LOTTERY_BATCH_MAX_BETS);
  const char *documents[] = { "30904465", "1", "12345678901234567890" };
  const char *full_documents[400];
  LotteryStatusEntry entries[LOTTERY_STATUS_MAX_ENTRIES + 10];
  guint n_bets = awkward_bets (bets);
  guint n_encoded;
  gsize len, slen;
  guint i;

  /* Every message type, valid. */
  write_seed ("message", "hello", out, lottery_message_encode_hello (out, 3));
  write_seed ("message", "finish", out, lottery_message_encode_finish (out, 12));
  write_seed ("message", "query", out,
              lottery_message_encode_empty (out, LOTTERY_MESSAGE_QUERY));
  write_seed ("message", "ping", out,
              lottery_message_encode_empty (out, LOTTERY_MESSAGE_PING));
  write_seed ("message", "pong", out,
              lottery_message_encode_empty (out, LOTTERY_MESSAGE_PONG));
  {
    guint8 bytes[32];

    memset (bytes, 0xa5, sizeof bytes);
    write_seed ("message", "auth", out,
                lottery_message_encode_auth (out, bytes));
    write_seed ("message", "challenge", out,
                lottery_message_encode_challenge (out, bytes));
  }
  write_seed ("message", "status", out,
              lottery_message_encode_empty (out, LOTTERY_MESSAGE_STATUS));
  write_seed ("message", "welcome", out,
              lottery_message_encode_welcome (out, 0, 0));
  write_seed ("message", "welcome-finished", out,
              lottery_message_encode_welcome (out, 41,
                                              LOTTERY_WELCOME_FINISHED |
                                              LOTTERY_WELCOME_DRAW_DONE));
  write_seed ("message", "ack", out, lottery_message_encode_ack (out, 7, 64));
  write_seed ("message", "error", out,
              lottery_message_encode_error (out, 1, 0,
                                            "Message length 0 is outside 1..8188"));
  write_seed ("message", "error-utf8", out,
              lottery_message_encode_error (out, 5, 3,
                                            "NACIMIENTO “1999-02-30” no es una fecha"));
  write_seed ("message", "error-empty", out,
              lottery_message_encode_error (out, 0, 0, ""));
  write_seed ("message", "finished", out,
              lottery_message_encode_finished (out, G_GUINT64_CONSTANT (1234567890123)));
  write_seed ("message", "winners-none", out,
              lottery_message_encode_winners (out, NULL, 0, &n_encoded));
  write_seed ("message", "winners-3", out,
              lottery_message_encode_winners (out, documents, 3, &n_encoded));
  for (i = 0; i < G_N_ELEMENTS (full_documents); i++)
    full_documents[i] = "12345678901234567890";
  /* The first of several frames: as many as fit, without the LAST flag. */
  write_seed ("message", "winners-full", out,
              lottery_message_encode_winners (out, full_documents,
                                              G_N_ELEMENTS (full_documents),
                                              &n_encoded));
  write_seed ("message", "status-reply-empty", out,
              lottery_message_encode_status_reply (out, 0, 0, 0, 1, NULL, 0,
                                                   &n_encoded));
  for (i = 0; i < G_N_ELEMENTS (entries); i++)
    {
      entries[i].bets = (guint64) i * 1000003;
      entries[i].flags = (guint8) (i % 4);
    }
  write_seed ("message", "status-reply-5", out,
              lottery_message_encode_status_reply (out, LOTTERY_STATUS_DRAW_DONE,
                                                   1700000000, 5, 1, entries, 5,
                                                   &n_encoded));
  write_seed ("message", "status-reply-full", out,
              lottery_message_encode_status_reply (out, 0, 0, 1000, 1, entries,
                                                   G_N_ELEMENTS (entries),
                                                   &n_encoded));

  write_seed ("message", "batch-1", out, encode_batch (out, bets, 1, 1));
  write_seed ("message", "batch-awkward", out,
              encode_batch (out, bets, n_bets, 2));
  /* Short bets until the frame is full, the last one's name padded so
   * that the frame is LOTTERY_FRAME_MAX bytes exactly: the largest. */
  for (i = 0; i < LOTTERY_BATCH_MAX_BETS; i++)
    {
      char document[16];

      g_snprintf (document, sizeof document, "%u", i + 1);
      make_bet (&many[i], 1, "A", "B", document, "1990-05-17", i);
    }
  len = encode_batch (out, many, LOTTERY_BATCH_MAX_BETS, 3);
  n_encoded = (guint) (out[9] << 8 | out[10]);
  if (len < LOTTERY_FRAME_MAX)
    {
      g_autofree char *padded = g_strnfill (1 + LOTTERY_FRAME_MAX - len, 'A');

      set_field (&many[n_encoded - 1], LOTTERY_BET_FIELD_FIRST_NAME, padded);
      len = encode_batch (out, many, n_encoded, 3);
    }
  write_seed ("message", "batch-full", out, len);

  /* Several frames in a row, as on a connection. */
  slen = lottery_message_encode_hello (stream, 1);
  slen += encode_batch (stream + slen, bets, 2, 1);
  slen += lottery_message_encode_finish (stream + slen, 1);
  slen += lottery_message_encode_empty (stream + slen, LOTTERY_MESSAGE_QUERY);
  write_seed ("message", "stream-agency", stream, slen);
  slen = lottery_message_encode_welcome (stream, 0, 0);
  slen += lottery_message_encode_ack (stream + slen, 1, 2);
  slen += lottery_message_encode_finished (stream + slen, 2);
  slen += lottery_message_encode_winners (stream + slen, documents, 2,
                                          &n_encoded);
  write_seed ("message", "stream-server", stream, slen);

  /* Broken framing. */
  write_seed ("message", "empty", "", 0);
  write_seed ("message", "prefix-short", "\0\0", 2);
  write_seed ("message", "prefix-zero", "\0\0\0\0", 4);
  len = lottery_message_encode_hello (out, 1);
  write_seed ("message", "prefix-only", out, LOTTERY_FRAME_PREFIX);
  write_seed ("message", "hello-truncated", out, len - 2);
  memset (stream, 0, LOTTERY_FRAME_MAX + 1);
  put_u32 (stream, LOTTERY_FRAME_BODY_MAX + 1);
  stream[LOTTERY_FRAME_PREFIX] = LOTTERY_MESSAGE_BATCH;
  write_seed ("message", "prefix-too-long", stream, LOTTERY_FRAME_MAX + 1);

  /* Broken messages. */
  write_seed ("message", "type-unknown", "\0\0\0\1\x7f", 5);
  len = lottery_message_encode_hello (out, 1);
  put_u16 (out + 5, 2);
  write_seed ("message", "hello-version-2", out, len);
  write_seed ("message", "ping-payload", "\0\0\0\2\x05\0", 6);
  len = encode_batch (out, bets, 1, 1);
  put_u16 (out + 9, 0);
  write_seed ("message", "batch-count-zero", out, len);
  put_u16 (out + 9, G_MAXUINT16);
  write_seed ("message", "batch-count-huge", out, len);
  /* Room for two by the decoder's count check; the second is missing. */
  put_u16 (out + 9, 2);
  write_seed ("message", "batch-count-missing", out, len);
  put_u16 (out + 9, 1);
  out[len] = 0;
  put_u32 (out, (guint32) (len + 1 - LOTTERY_FRAME_PREFIX));
  write_seed ("message", "batch-trailing-byte", out, len + 1);
  len = encode_batch (out, bets, 1, 1);
  /* The birthdate is just before the number that ends the bet. */
  memcpy (out + len - 4 - LOTTERY_BIRTHDATE_LEN, "1999-02-30",
          LOTTERY_BIRTHDATE_LEN);
  write_seed ("message", "batch-bad-date", out, len);
  len = lottery_message_encode_winners (out, documents, 3, &n_encoded);
  put_u16 (out + 6, 1000);
  write_seed ("message", "winners-count-huge", out, len);
  len = lottery_message_encode_error (out, 1, 0, "ab");
  out[13] = 0xff;
  write_seed ("message", "error-bad-utf8", out, len);
  len = lottery_message_encode_status_reply (out, 0, 0, 5, 1, entries, 5,
                                             &n_encoded);
  put_u32 (out + 18, 0);
  write_seed ("message", "status-reply-first-zero", out, len);
  put_u32 (out + 18, 2);
  write_seed ("message", "status-reply-past-last", out, len);
}

static void
write_rows (void)
{
  char row[LOTTERY_BET_ROW_MAX];
  LotteryBet bets[8];
  guint n_bets = awkward_bets (bets);
  static const char * const names[] = {
    "plain", "quoted-comma", "doubled-quote", "utf8", "longest", "long-name",
  };
  g_autoptr(GString) file = g_string_new (NULL);
  g_autofree char *name_101 = g_strnfill (LOTTERY_NAME_MAX + 1, 'x');
  g_autofree char *name_600 = g_strnfill (600, 'x');
  g_autofree char *too_long = NULL;
  g_autofree char *row_101 = NULL;
  guint i;

  /* bets.csv rows as the server writes them, without the line end. */
  for (i = 0; i < MIN (n_bets, G_N_ELEMENTS (names)); i++)
    {
      gsize len = lottery_bet_format_row (&bets[i], row);

      write_seed ("row", names[i], row, len - 2);
    }

  /* Whole files for the reader. */
  for (i = 0; i < 3; i++)
    {
      gsize len = lottery_bet_format_row (&bets[i], row);
      g_string_append_len (file, row, len);
    }
  write_seed ("row", "file-crlf", file->str, file->len);
  write_row ("file-bom-lf-no-end",
             "\xef\xbb\xbf" "1,Ana,Gómez,1,1980-01-01,7574\n"
             "\n"
             "2,Luis,Paz,2,1980-01-02,1\n"
             "3,\"Paz, Luis\",Rey,3,1980-01-03,2");
  write_row ("file-mixed",
             "1,Ana,Gómez,1,1980-01-01,7574\r\n"
             "\r\n"
             "2,Luis\r\n"
             "3,\"Paz,Luis,Rey,3,1980-01-03,2\n"
             "\r\r\n"
             "4,Ana,Gómez,1,1980-02-30,7574\r\n");

  /* A row of an agency's file: no agency column. */
  write_row ("agency-row", "Santiago Lionel,Lorca,30904465,1999-03-17,7574");
  write_row ("agency-row-quoted", "\"Lorca, Santiago\",\"O\"\"Brien\",1,2000-02-29,0");

  /* Rows with one thing wrong. */
  write_row ("empty", "");
  write_row ("commas", ",,,,,");
  write_row ("agency-zero", "0,Ana,Gómez,1,1980-01-01,7574");
  write_row ("agency-10-digits", "1000000000,Ana,Gómez,1,1980-01-01,7574");
  write_row ("agency-letters", "a1,Ana,Gómez,1,1980-01-01,7574");
  write_row ("fields-7", "1,Ana,Gómez,1,1980-01-01,7574,x");
  write_row ("fields-4", "1,Ana,Gómez,1");
  write_row ("quote-unterminated", "1,\"Ana,Gómez,1,1980-01-01,7574");
  write_row ("quote-then-text", "1,\"Ana\"x,Gómez,1,1980-01-01,7574");
  write_row ("quote-unquoted", "1,An\"a,Gómez,1,1980-01-01,7574");
  write_row ("quote-empty-field", "1,\"\",Gómez,1,1980-01-01,7574");
  row_101 = g_strdup_printf ("1,%s,Gómez,1,1980-01-01,7574", name_101);
  write_row ("name-101-bytes", row_101);
  write_row ("document-21-digits", "1,Ana,Gómez,123456789012345678901,1980-01-01,7574");
  write_row ("document-letter", "1,Ana,Gómez,12a4,1980-01-01,7574");
  write_row ("number-2^32", "1,Ana,Gómez,1,1980-01-01,4294967296");
  write_row ("number-11-digits", "1,Ana,Gómez,1,1980-01-01,00000007574");
  write_row ("number-negative", "1,Ana,Gómez,1,1980-01-01,-1");
  write_row ("date-1900-02-29", "1,Ana,Gómez,1,1900-02-29,7574");
  write_row ("date-month-13", "1,Ana,Gómez,1,1999-13-01,7574");
  write_row ("date-year-0", "1,Ana,Gómez,1,0000-01-01,7574");
  write_row ("name-tab", "1,An\ta,Gómez,1,1980-01-01,7574");
  write_row ("name-c1-control", "1,An\xc2\x85" "a,Gómez,1,1980-01-01,7574");
  write_row ("name-bad-utf8", "1,An\xc3\x28,Gómez,1,1980-01-01,7574");
  write_row ("name-overlong-utf8", "1,An\xc0\xaf,Gómez,1,1980-01-01,7574");
  write_row ("trailing-cr", "1,Ana,Gómez,1,1980-01-01,7574\r");
  /* Longer than any row the server writes. */
  too_long = g_strdup_printf ("1,\"%s\",Gómez,1,1980-01-01,7574", name_600);
  write_row ("too-long", too_long);
}

int
main (int    argc,
      char **argv)
{
  if (argc != 2)
    {
      g_printerr ("Usage: %s CORPUS_DIR\n", argv[0]);
      return EXIT_FAILURE;
    }
  corpus_dir = argv[1];

  write_messages ();
  write_rows ();

  return EXIT_SUCCESS;
}
