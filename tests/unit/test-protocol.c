/* test-protocol.c: frames, encoders, decoders and their defences. */
#include "config.h"

#include "unit-utils.h"
#include "lottery-bet-private.h"
#include "lottery-bet-row.h"
#include "lottery-error.h"
#include "lottery-protocol.h"
#include "lottery-stream.h"

#include <string.h>

/* Decodes the body of the frame in @frame (@len bytes, prefix
 * included), from an exactly sized heap copy so that any read past the
 * end is caught by valgrind or MALLOC_CHECK_. */
static gboolean
decode_frame (const guint8   *frame,
              gsize           len,
              guint8        **copy,
              LotteryMessage *message,
              GError        **error)
{
  gsize body_len = 0;

  g_assert_cmpuint (len, >=, LOTTERY_FRAME_PREFIX);
  g_assert_cmpuint (len, <=, LOTTERY_FRAME_MAX);
  if (!lottery_frame_parse_prefix (frame, &body_len, error))
    return FALSE;
  g_assert_cmpuint (body_len, ==, len - LOTTERY_FRAME_PREFIX);

  *copy = g_memdup2 (frame + LOTTERY_FRAME_PREFIX, body_len);
  return lottery_message_decode (*copy, body_len, message, error);
}

/* Decodes @body and walks every item of a BATCH or WINNERS to its end:
 * what a receiver does with a message before it trusts it. */
static gboolean
decode_fully (const guint8 *body,
              gsize         len,
              GError      **error)
{
  g_autofree guint8 *copy = g_memdup2 (body, len);
  LotteryMessage message;
  LotteryBatchReader reader;

  if (!lottery_message_decode (len > 0 ? copy : NULL, len, &message, error))
    return FALSE;

  if (message.type == LOTTERY_MESSAGE_BATCH)
    {
      lottery_batch_reader_init (&reader, &message);
      while (reader.remaining > 0)
        {
          LotteryBet bet = { 0 };

          if (!lottery_batch_reader_next (&reader, &bet, error))
            return FALSE;
          g_assert_cmpuint (bet.first_name_len, ==, strlen (bet.first_name));
          g_assert_true (g_utf8_validate (bet.first_name, -1, NULL));
        }
      return lottery_batch_reader_end (&reader, error);
    }
  if (message.type == LOTTERY_MESSAGE_WINNERS)
    {
      lottery_batch_reader_init (&reader, &message);
      while (reader.remaining > 0)
        {
          const char *document;
          gsize doc_len;

          if (!lottery_winners_reader_next (&reader, &document, &doc_len,
                                            error))
            return FALSE;
          g_assert_cmpuint (doc_len, >=, 1);
          g_assert_cmpuint (doc_len, <=, LOTTERY_DOCUMENT_MAX);
        }
      return lottery_batch_reader_end (&reader, error);
    }

  return TRUE;
}

static void
assert_bets_equal (const LotteryBet *a,
                   const LotteryBet *b)
{
  g_assert_cmpmem (a->first_name, a->first_name_len,
                   b->first_name, b->first_name_len);
  g_assert_cmpmem (a->last_name, a->last_name_len,
                   b->last_name, b->last_name_len);
  g_assert_cmpmem (a->document, a->document_len, b->document, b->document_len);
  g_assert_cmpstr (a->birthdate, ==, b->birthdate);
  g_assert_cmpuint (a->number, ==, b->number);
}

static void
test_prefix (void)
{
  static const struct { guint32 len; gboolean ok; } cases[] = {
    { 0, FALSE }, { 1, TRUE }, { 7, TRUE }, { LOTTERY_FRAME_BODY_MAX, TRUE },
    { LOTTERY_FRAME_BODY_MAX + 1, FALSE }, { LOTTERY_FRAME_MAX, FALSE },
    { 0x01000000, FALSE }, { G_MAXUINT32, FALSE },
  };
  guint i;

  g_assert_cmpint (LOTTERY_FRAME_BODY_MAX, ==, 8188);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      guint8 prefix[4];
      gsize body_len = 12345;
      g_autoptr(GError) error = NULL;
      guint32 v = cases[i].len;

      prefix[0] = (guint8) (v >> 24);
      prefix[1] = (guint8) (v >> 16);
      prefix[2] = (guint8) (v >> 8);
      prefix[3] = (guint8) v;
      g_test_message ("length prefix %u", v);
      if (cases[i].ok)
        {
          g_assert_true (lottery_frame_parse_prefix (prefix, &body_len,
                                                     &error));
          g_assert_no_error (error);
          g_assert_cmpuint (body_len, ==, v);
        }
      else
        {
          g_autofree char *expected =
            g_strdup_printf ("Message length %u is outside 1..8188", v);

          g_assert_false (lottery_frame_parse_prefix (prefix, &body_len,
                                                      &error));
          g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
          g_assert_cmpstr (error->message, ==, expected);
          g_assert_cmpuint (body_len, ==, 12345);
        }
    }
}

static void
test_roundtrip_hello (void)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  static const guint8 wire[] = { 0, 0, 0, 7, 0x01, 0, 2, 0x00, 0x01, 0x86, 0xa0 };
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  gsize len = lottery_message_encode_hello (frame, 100000);

  /* Byte for byte: the README documents this layout. */
  g_assert_cmpmem (frame, len, wire, sizeof wire);
  g_assert_true (decode_frame (frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_HELLO);
  g_assert_cmpuint (message.hello.version, ==, LOTTERY_PROTOCOL_VERSION);
  g_assert_cmpuint (message.hello.agency, ==, 100000);
}

/* AUTH and CHALLENGE carry 32 bytes each, byte for byte. */
static void
test_roundtrip_auth (void)
{
  static const LotteryMessageType types[] = {
    LOTTERY_MESSAGE_AUTH, LOTTERY_MESSAGE_CHALLENGE,
  };
  guint8 payload[32];
  guint i;

  G_STATIC_ASSERT (LOTTERY_AUTH_PROOF_LEN == 32);
  G_STATIC_ASSERT (LOTTERY_AUTH_NONCE_LEN == 32);
  for (i = 0; i < sizeof payload; i++)
    payload[i] = (guint8) (0xff - i);

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      guint8 frame[LOTTERY_FRAME_MAX];
      guint8 wire[4 + 1 + 32] = { 0, 0, 0, 33, (guint8) types[i] };
      g_autofree guint8 *copy = NULL;
      LotteryMessage message;
      g_autoptr(GError) error = NULL;
      gsize len;

      /* Whatever the encoder does not write must not pass for payload. */
      memset (frame, 0xaa, sizeof frame);
      len = types[i] == LOTTERY_MESSAGE_AUTH
              ? lottery_message_encode_auth (frame, payload)
              : lottery_message_encode_challenge (frame, payload);
      g_test_message ("%s", lottery_message_type_name (types[i]));
      memcpy (wire + 5, payload, sizeof payload);
      g_assert_cmpmem (frame, len, wire, sizeof wire);
      g_assert_true (decode_frame (frame, len, &copy, &message, &error));
      g_assert_no_error (error);
      g_assert_cmpint (message.type, ==, types[i]);
      if (types[i] == LOTTERY_MESSAGE_AUTH)
        g_assert_cmpmem (message.auth.proof, 32, payload, sizeof payload);
      else
        g_assert_cmpmem (message.challenge.nonce, 32, payload, sizeof payload);
      /* The payload is borrowed from the decoded buffer. */
      g_assert_true ((types[i] == LOTTERY_MESSAGE_AUTH
                        ? message.auth.proof
                        : message.challenge.nonce) == copy + 1);
    }
}

static void
test_roundtrip_finish (void)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  gsize len = lottery_message_encode_finish (frame, 0xdeadbeef);

  g_assert_cmpuint (len, ==, 4 + 5);
  g_assert_true (decode_frame (frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_FINISH);
  g_assert_cmpuint (message.finish.last_sequence, ==, 0xdeadbeef);
}

static void
test_roundtrip_empty (void)
{
  static const LotteryMessageType types[] = {
    LOTTERY_MESSAGE_QUERY, LOTTERY_MESSAGE_PING, LOTTERY_MESSAGE_PONG,
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      guint8 frame[LOTTERY_FRAME_MAX];
      g_autofree guint8 *copy = NULL;
      LotteryMessage message;
      g_autoptr(GError) error = NULL;
      gsize len = lottery_message_encode_empty (frame, types[i]);

      g_assert_cmpuint (len, ==, 5);
      g_assert_true (decode_frame (frame, len, &copy, &message, &error));
      g_assert_no_error (error);
      g_assert_cmpint (message.type, ==, types[i]);
    }
}

static void
test_roundtrip_welcome (void)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  /* Counts past 32 bits travel whole. */
  gsize len = lottery_message_encode_welcome (frame, 42,
                                              LOTTERY_WELCOME_FINISHED |
                                              LOTTERY_WELCOME_DRAW_DONE,
                                              G_GUINT64_CONSTANT (0x123456789),
                                              G_GUINT64_CONSTANT (0x123456700));

  g_assert_true (decode_frame (frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WELCOME);
  g_assert_cmpuint (message.welcome.version, ==, LOTTERY_PROTOCOL_VERSION);
  g_assert_cmpuint (message.welcome.last_sequence, ==, 42);
  g_assert_cmpuint (message.welcome.flags, ==, 3);
  g_assert_cmpuint (message.welcome.consumed, ==,
                    G_GUINT64_CONSTANT (0x123456789));
  g_assert_cmpuint (message.welcome.stored, ==,
                    G_GUINT64_CONSTANT (0x123456700));
}

/* A version 1 server's WELCOME has no counts: the agency must learn the
 * version to refuse it, not a length error; a WELCOME of this version
 * must carry them, and never more stored than taken. */
static void
test_decode_welcome_counts (void)
{
  static const guint8 v1[] = { 0x81, 0, 1, 0, 0, 0, 9, 0 };
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  gsize len;

  g_assert_true (lottery_message_decode (v1, sizeof v1, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (message.welcome.version, ==, 1);

  len = lottery_message_encode_welcome (frame, 9, 0, 100, 90);
  g_assert_false (lottery_message_decode (frame + 4, 8, &message, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* stored (bytes 20..27 of the frame) above consumed */
  frame[4 + 1 + 2 + 4 + 1 + 8 + 7] = 101;
  g_assert_false (lottery_message_decode (frame + 4, len - 4, &message,
                                          &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
}

static void
test_roundtrip_ack (void)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  gsize len = lottery_message_encode_ack (frame, G_MAXUINT32, 409);

  g_assert_true (decode_frame (frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ACK);
  g_assert_cmpuint (message.ack.sequence, ==, G_MAXUINT32);
  g_assert_cmpuint (message.ack.count, ==, 409);
}

static void
test_roundtrip_error (void)
{
  static const char * const texts[] = {
    "", "Agency 7 is not one of 1 to 5",
    "DOCUMENTO “12a” must be 1 to 20 digits",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      guint8 frame[LOTTERY_FRAME_MAX];
      g_autofree guint8 *copy = NULL;
      LotteryMessage message;
      g_autoptr(GError) error = NULL;
      gsize len = lottery_message_encode_error (frame,
                                                LOTTERY_ERROR_INVALID_BET, 77,
                                                texts[i]);

      g_assert_true (decode_frame (frame, len, &copy, &message, &error));
      g_assert_no_error (error);
      g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ERROR);
      g_assert_cmpuint (message.error.code, ==, LOTTERY_ERROR_INVALID_BET);
      g_assert_cmpuint (message.error.sequence, ==, 77);
      g_assert_cmpmem (message.error.text, message.error.len,
                       texts[i], strlen (texts[i]));
    }
}

static void
test_roundtrip_error_long (void)
{
  /* Longer than a frame, in two-byte letters, with an odd start so
   * that the cut would fall inside a letter. */
  GString *text = g_string_new ("xy");
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  gsize len;

  while (text->len < 3 * LOTTERY_FRAME_MAX)
    g_string_append (text, "ñ");

  len = lottery_message_encode_error (frame, LOTTERY_ERROR_FAILED, 0,
                                      text->str);
  g_assert_cmpuint (len, <=, LOTTERY_FRAME_MAX);
  g_assert_cmpuint (len, >=, LOTTERY_FRAME_MAX - 1);
  g_assert_true (decode_frame (frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_true (g_utf8_validate_len (message.error.text, message.error.len,
                                      NULL));
  g_assert_cmpmem (message.error.text, message.error.len,
                   text->str, message.error.len);
  g_string_free (text, TRUE);
}

static void
test_roundtrip_finished (void)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  const guint64 stored = G_GUINT64_CONSTANT (0x0123456789abcdef);
  gsize len = lottery_message_encode_finished (frame, stored);

  g_assert_true (decode_frame (frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_FINISHED);
  g_assert_cmphex (message.finished.stored, ==, stored);
}

/* Encodes @documents as WINNERS frames, decodes them back and checks
 * that they hold the same documents in order, LAST only on the last;
 * returns the number of frames. */
static guint
roundtrip_winners (const char * const *documents,
                   guint               n_documents)
{
  guint done = 0;
  guint frames = 0;
  gboolean last = FALSE;

  while (!last)
    {
      guint8 frame[LOTTERY_FRAME_MAX];
      g_autofree guint8 *copy = NULL;
      LotteryMessage message;
      LotteryBatchReader reader;
      g_autoptr(GError) error = NULL;
      guint n_encoded = G_MAXUINT;
      gsize len;
      guint i;

      len = lottery_message_encode_winners (frame,
                                            documents != NULL
                                              ? documents + done : NULL,
                                            n_documents - done, &n_encoded);
      frames++;
      g_assert_cmpuint (len, <=, LOTTERY_FRAME_MAX);
      g_assert_cmpuint (n_encoded, <=, n_documents - done);
      g_assert_true (decode_frame (frame, len, &copy, &message, &error));
      g_assert_no_error (error);
      g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_WINNERS);
      g_assert_cmpuint (message.winners.count, ==, n_encoded);

      last = (message.winners.flags & LOTTERY_WINNERS_LAST) != 0;
      g_assert_cmpint (last, ==, done + n_encoded == n_documents);
      if (!last)
        g_assert_cmpuint (n_encoded, >, 0);

      lottery_batch_reader_init (&reader, &message);
      for (i = 0; i < n_encoded; i++)
        {
          const char *document;
          gsize doc_len;

          g_assert_true (lottery_winners_reader_next (&reader, &document,
                                                      &doc_len, &error));
          g_assert_no_error (error);
          g_assert_cmpmem (document, doc_len, documents[done + i],
                           strlen (documents[done + i]));
        }
      g_assert_true (lottery_batch_reader_end (&reader, &error));
      g_assert_no_error (error);
      done += n_encoded;
    }

  g_assert_cmpuint (done, ==, n_documents);
  return frames;
}

static void
test_roundtrip_winners (void)
{
  const char * const documents[] = { "1", "30904465", "99999999999999999999" };

  g_assert_cmpuint (roundtrip_winners (documents, 3), ==, 1);
}

static void
test_roundtrip_winners_empty (void)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  static const guint8 wire[] = { 0, 0, 0, 4, 0x85, LOTTERY_WINNERS_LAST, 0, 0 };
  guint n_encoded = 99;
  gsize len = lottery_message_encode_winners (frame, NULL, 0, &n_encoded);

  g_assert_cmpuint (n_encoded, ==, 0);
  g_assert_cmpmem (frame, len, wire, sizeof wire);
  g_assert_cmpuint (roundtrip_winners (NULL, 0), ==, 1);
}

static void
test_roundtrip_winners_split (void)
{
  g_autoptr(GPtrArray) documents = g_ptr_array_new_with_free_func (g_free);
  guint frames;
  guint i;

  /* 2000 documents of 8 to 20 digits are well over one frame. */
  for (i = 0; i < 2000; i++)
    g_ptr_array_add (documents,
                     g_strdup_printf ("%0*u", 8 + (int) (i % 13), i * 7919));
  g_ptr_array_add (documents, NULL);

  frames = roundtrip_winners ((const char * const *) documents->pdata, 2000);
  g_test_message ("2000 documents took %u frames", frames);
  g_assert_cmpuint (frames, >, 2);

  /* The most 20-digit documents one frame holds. */
  {
    g_autofree char *doc = g_strnfill (LOTTERY_DOCUMENT_MAX, '7');
    const char **many = g_new (const char *, 1000);
    guint8 frame[LOTTERY_FRAME_MAX];
    guint n_encoded;
    gsize len;

    for (i = 0; i < 1000; i++)
      many[i] = doc;
    len = lottery_message_encode_winners (frame, many, 1000, &n_encoded);
    g_assert_cmpuint (n_encoded, ==, (LOTTERY_FRAME_MAX - 8) / 21);
    g_assert_cmpuint (len, <=, LOTTERY_FRAME_MAX);
    g_assert_cmpuint (frame[5] & LOTTERY_WINNERS_LAST, ==, 0);
    g_assert_cmpuint (roundtrip_winners (many, 1000), ==, 3);
    g_free (many);
  }
}

static void
test_roundtrip_winners_exact_fit (void)
{
  /* 389 documents of 20 digits leave 15 bytes of the frame: a 14-digit
   * document (15 bytes) still fits exactly, a 15-digit one does not. */
  const guint full = (LOTTERY_FRAME_MAX - 8) / (LOTTERY_DOCUMENT_MAX + 1);
  g_autofree char *doc20 = g_strnfill (LOTTERY_DOCUMENT_MAX, '2');
  g_autofree char *doc14 = g_strnfill (14, '4');
  g_autofree char *doc15 = g_strnfill (15, '5');
  g_autofree const char **documents = g_new (const char *, full + 1);
  guint8 frame[LOTTERY_FRAME_MAX];
  guint n_encoded;
  gsize len;
  guint i;

  g_assert_cmpuint (full, ==, 389);
  for (i = 0; i < full; i++)
    documents[i] = doc20;

  documents[full] = doc14;
  len = lottery_message_encode_winners (frame, documents, full + 1,
                                        &n_encoded);
  g_assert_cmpuint (n_encoded, ==, full + 1);
  g_assert_cmpuint (len, ==, LOTTERY_FRAME_MAX);
  g_assert_cmpuint (frame[5] & LOTTERY_WINNERS_LAST, !=, 0);
  g_assert_cmpuint (roundtrip_winners (documents, full + 1), ==, 1);

  documents[full] = doc15;
  len = lottery_message_encode_winners (frame, documents, full + 1,
                                        &n_encoded);
  g_assert_cmpuint (n_encoded, ==, full);
  g_assert_cmpuint (len, ==, LOTTERY_FRAME_MAX - 15);
  g_assert_cmpuint (frame[5] & LOTTERY_WINNERS_LAST, ==, 0);
  g_assert_cmpuint (roundtrip_winners (documents, full + 1), ==, 2);
}

/* Names of every length and documents of every length, in one batch
 * each: the encoder copies short fields a word at a time, overlapping,
 * and must carry every byte of every length. */
static void
test_roundtrip_batch_lengths (void)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  guint n;

  for (n = 1; n <= LOTTERY_NAME_MAX; n++)
    {
      g_autofree char *first = g_malloc (n + 1);
      g_autofree char *last = g_malloc (n + 1);
      g_autofree char *document = g_malloc (n + 1);
      g_autofree guint8 *copy = NULL;
      g_autoptr(GError) error = NULL;
      LotteryMessage message;
      LotteryBatchReader reader;
      LotteryBet bet, again = { 0 };
      guint i, doc_len = MIN (n, LOTTERY_DOCUMENT_MAX);

      for (i = 0; i < n; i++)
        {
          first[i] = (char) ('a' + i % 26);
          last[i] = (char) ('A' + (i * 7) % 26);
          document[i] = (char) ('0' + (i * 3) % 10);
        }
      first[n] = last[n] = '\0';
      document[doc_len] = '\0';
      unit_set_bet (&bet, 0, first, last, document, "1990-01-01", "7574");

      lottery_batch_encoder_init (encoder, 1);
      g_assert_true (lottery_batch_encoder_add (encoder, &bet));
      g_assert_cmpuint (encoder->len, ==, LOTTERY_FRAME_PREFIX +
                        LOTTERY_BATCH_HEADER + lottery_bet_wire_size (&bet));
      g_assert_true (decode_frame (encoder->frame,
                                   lottery_batch_encoder_finish (encoder, n),
                                   &copy, &message, &error));
      lottery_batch_reader_init (&reader, &message);
      g_assert_true (lottery_batch_reader_next (&reader, &again, &error));
      g_assert_no_error (error);
      assert_bets_equal (&again, &bet);
    }
  g_free (encoder);
}

/* Where a BATCH frame's bets start. */
#define BETS_START (LOTTERY_FRAME_PREFIX + LOTTERY_BATCH_HEADER)

/* Adds @line as the client does: straight into the batch, or parsed
 * and then added. Returns whether it went the one-pass way. */
static gboolean
add_row (LotteryBatchEncoder *encoder,
         const char          *line)
{
  LotteryBet bet = { 0 };

  if (lottery_batch_encoder_add_line (encoder, line, strlen (line)))
    return TRUE;
  g_assert_true (lottery_bet_parse_line (&bet, line, strlen (line), NULL));
  g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  return FALSE;
}

static void
test_batch_add_line (void)
{
  g_autofree char *long_name = g_strnfill (LOTTERY_NAME_MAX, 'n');
  g_autofree char *too_long = g_strnfill (LOTTERY_NAME_MAX + 1, 'n');
  g_autofree char *long_row = g_strdup_printf ("%s,%s,7,1990-01-01,1",
                                               long_name, long_name);
  g_autofree char *too_long_row = g_strdup_printf ("%s,B,7,1990-01-01,1",
                                                   too_long);
  const char *lines[] = {
    "Santiago Lionel,Lorca,30904465,1999-03-17,7574",
    "\"Ana, María\",O'Brien,1,2000-02-29,0",               /* quoted */
    "A,\"B, C\",7,1990-01-01,12",                           /* quoted */
    "李,Ελένη,99999999999999999999,0001-01-01,4294967295",
    "A,B,7,1990-01-01,4294967296",                          /* refused */
    "A,B,7,1990-02-30,12",                                  /* refused */
    "A,B,12a4,1990-01-01,12",                               /* refused */
    "A,B,,1990-01-01,12",                                   /* refused */
    ",B,7,1990-01-01,12",                                   /* refused */
    "A,B\x7f,7,1990-01-01,12",                              /* refused */
    "A,B,7,1990-01-01",                                     /* refused */
    "A,B,7,1990-01-01,12,13",                               /* refused */
    "A,B,7,1990-01-01,",                                    /* refused */
    "\xc3\xb1,\xc2\x80,7,1990-01-01,12",                    /* refused */
    "  spaced  ,x,0012345678,2024-02-29,007",
    long_row,
    too_long_row,                                           /* refused */
  };
  g_autofree LotteryBatchEncoder *fast = g_new (LotteryBatchEncoder, 1);
  g_autofree LotteryBatchEncoder *full = g_new (LotteryBatchEncoder, 1);
  g_autofree char *big = NULL;
  g_autofree char *fill = NULL;
  guint i, taken = 0;
  gsize len;

  g_test_summary ("An agency's row added straight into a batch gives the "
                  "bytes that parsing it into a bet and adding the bet "
                  "give; a row that does not parse is never added; a full "
                  "batch, or one too near the frame's end for the longest "
                  "bet, takes nothing and is left as it was.");

  lottery_batch_encoder_init (fast, 64);
  lottery_batch_encoder_init (full, 64);
  for (i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      g_autoptr(GError) error = NULL;
      LotteryBet bet = { 0 };
      gboolean parsed = lottery_bet_parse_line (&bet, lines[i],
                                                strlen (lines[i]), &error);

      if (lottery_batch_encoder_add_line (fast, lines[i], strlen (lines[i])))
        {
          g_assert_true (parsed);
          taken++;
        }
      else if (parsed)
        g_assert_true (lottery_batch_encoder_add (fast, &bet));
      if (parsed)
        g_assert_true (lottery_batch_encoder_add (full, &bet));
      /* The bets; the header is written only by _finish (). */
      g_assert_cmpmem (fast->frame + BETS_START, fast->len - BETS_START,
                       full->frame + BETS_START, full->len - BETS_START);
      g_assert_cmpuint (fast->count, ==, full->count);
    }
  /* The common rows above took the one-pass path. */
  g_assert_cmpuint (taken, ==, 4);
  g_assert_cmpuint (full->count, ==, 6);

  /* A full batch takes no more, and says so without adding. */
  lottery_batch_encoder_init (fast, 1);
  g_assert_true (add_row (fast, lines[0]));
  len = fast->len;
  g_assert_false (lottery_batch_encoder_add_line (fast, lines[0],
                                                  strlen (lines[0])));
  g_assert_cmpuint (fast->count, ==, 1);
  g_assert_cmpuint (fast->len, ==, len);

  /* Near the frame's end: 33 of the longest bets and one of 123 bytes
   * leave exactly room for the longest; a bet then goes the one-pass
   * way, and the next (which would still fit) the full way. */
  big = g_strdup_printf ("%s,%s,12345678901234567890,1990-01-01,1",
                         long_name, long_name);
  fill = g_strdup_printf ("%.50s,%.50s,123456,1990-01-01,1", long_name,
                          long_name);
  lottery_batch_encoder_init (fast, 100);
  for (i = 0; i < 33; i++)
    add_row (fast, big);
  add_row (fast, fill);
  g_assert_cmpuint (fast->len, ==, LOTTERY_FRAME_MAX - LOTTERY_BET_WIRE_MAX);
  g_assert_true (add_row (fast, "A,B,7,1990-01-01,1"));
  len = fast->len;
  g_assert_false (lottery_batch_encoder_add_line (fast, "A,B,7,1990-01-01,1",
                                                  18));
  g_assert_cmpuint (fast->len, ==, len);
  g_assert_cmpuint (fast->count, ==, 35);
  g_assert_false (add_row (fast, "A,B,7,1990-01-01,1"));
  g_assert_cmpuint (fast->count, ==, 36);
  g_assert_cmpuint (fast->len, ==, len + 20);
}

static void
test_roundtrip_batch (void)
{
  LotteryBet bets[4];
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  LotteryBatchReader reader;
  g_autoptr(GError) error = NULL;
  gsize len;
  guint i;

  unit_set_bet (&bets[0], 0, "Santiago Lionel", "Lorca", "30904465", "1999-03-17",
           "7574");
  unit_set_bet (&bets[1], 0, "Ana, María", "O\"Brien", "1", "2000-02-29", "0");
  unit_set_bet (&bets[2], 0, "李", "Ελένη", "99999999999999999999", "0001-01-01",
           "4294967295");
  unit_set_bet (&bets[3], 0, "A", "B", "7", "1990-01-01", "12");
  bets[3].agency = 99; /* not on the wire */

  lottery_batch_encoder_init (encoder, 10);
  for (i = 0; i < G_N_ELEMENTS (bets); i++)
    g_assert_true (lottery_batch_encoder_add (encoder, &bets[i]));
  g_assert_cmpuint (encoder->count, ==, 4);
  len = lottery_batch_encoder_finish (encoder, 3);
  g_assert_cmpuint (len, ==, encoder->len);

  g_assert_true (decode_frame (encoder->frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_BATCH);
  g_assert_cmpuint (message.batch.sequence, ==, 3);
  g_assert_cmpuint (message.batch.count, ==, 4);

  lottery_batch_reader_init (&reader, &message);
  for (i = 0; i < G_N_ELEMENTS (bets); i++)
    {
      LotteryBet bet = { 0 };

      g_assert_true (lottery_batch_reader_next (&reader, &bet, &error));
      g_assert_no_error (error);
      assert_bets_equal (&bet, &bets[i]);
      g_assert_cmpuint (bet.agency, ==, 0);
    }
  g_assert_true (lottery_batch_reader_end (&reader, &error));
  g_assert_no_error (error);
  g_free (encoder);
}

static void
test_encoder_max_count (void)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  LotteryBet bet;
  gsize len_before;
  guint i;

  unit_set_bet (&bet, 0, "Ana", "Pérez", "12345678", "1990-05-17", "7574");

  lottery_batch_encoder_init (encoder, 3);
  for (i = 0; i < 3; i++)
    g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  len_before = encoder->len;
  g_assert_false (lottery_batch_encoder_add (encoder, &bet));
  g_assert_cmpuint (encoder->count, ==, 3);
  g_assert_cmpuint (encoder->len, ==, len_before);

  /* Re-initialised, the encoder starts a new, empty batch. */
  lottery_batch_encoder_init (encoder, 1);
  g_assert_cmpuint (encoder->count, ==, 0);
  g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  g_assert_false (lottery_batch_encoder_add (encoder, &bet));

  /* The limit is clamped to what a frame can hold at all. */
  lottery_batch_encoder_init (encoder, 0);
  g_assert_cmpuint (encoder->max_count, ==, 1);
  lottery_batch_encoder_init (encoder, G_MAXUINT);
  g_assert_cmpuint (encoder->max_count, ==, LOTTERY_BATCH_MAX_BETS);
  g_free (encoder);
}

static void
test_encoder_frame_limit (void)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  g_autofree char *long_name = g_strnfill (LOTTERY_NAME_MAX, 'n');
  g_autofree char *document = g_strnfill (LOTTERY_DOCUMENT_MAX, '1');
  g_autofree guint8 *copy = NULL;
  LotteryMessage message;
  g_autoptr(GError) error = NULL;
  LotteryBet bet;
  LotteryBet small;
  gsize wire, len;
  guint added = 0;

  unit_set_bet (&bet, 0, long_name, long_name, document, "1990-05-17", "7574");
  unit_set_bet (&small, 0, "A", "B", "1", "1990-05-17", "1");
  wire = lottery_bet_wire_size (&bet);
  g_assert_cmpuint (wire, ==, 3 + 100 + 100 + 20 + 10 + 4);
  g_assert_cmpuint (lottery_bet_wire_size (&small), ==, LOTTERY_BET_WIRE_MIN);

  lottery_batch_encoder_init (encoder, LOTTERY_BATCH_MAX_BETS);
  while (lottery_batch_encoder_add (encoder, &bet))
    added++;
  g_test_message ("%u long bets fit in one frame", added);
  g_assert_cmpuint (added, ==,
                    (LOTTERY_FRAME_MAX - LOTTERY_FRAME_PREFIX -
                     LOTTERY_BATCH_HEADER) / wire);
  g_assert_cmpuint (encoder->len, <=, LOTTERY_FRAME_MAX);
  g_assert_cmpuint (encoder->len + wire, >, LOTTERY_FRAME_MAX);

  /* One byte too many is refused; exactly what is left is taken. */
  {
    gsize left = LOTTERY_FRAME_MAX - encoder->len;
    g_autofree char *tail_name = NULL;
    LotteryBet too_big, exact;
    gsize len_before = encoder->len;

    g_assert_cmpuint (left, >, 3 + 100 + 1 + 1 + 10 + 4);
    g_assert_cmpuint (left, <, 3 + 100 + 100 + 1 + 10 + 4);
    tail_name = g_strnfill (left - (3 + 100 + 1 + 10 + 4) + 1, 't');
    unit_set_bet (&too_big, 0, long_name, tail_name, "1", "1990-05-17", "1");
    g_assert_cmpuint (lottery_bet_wire_size (&too_big), ==, left + 1);
    g_assert_false (lottery_batch_encoder_add (encoder, &too_big));
    g_assert_cmpuint (encoder->len, ==, len_before);

    tail_name[strlen (tail_name) - 1] = '\0';
    unit_set_bet (&exact, 0, long_name, tail_name, "1", "1990-05-17", "1");
    g_assert_cmpuint (lottery_bet_wire_size (&exact), ==, left);
    g_assert_true (lottery_batch_encoder_add (encoder, &exact));
    g_assert_cmpuint (encoder->len, ==, LOTTERY_FRAME_MAX);
    added++;
  }

  /* Nothing more fits, not even the smallest bet. */
  while (lottery_batch_encoder_add (encoder, &small))
    added++;
  g_assert_cmpuint (encoder->len, <=, LOTTERY_FRAME_MAX);
  g_assert_cmpuint (encoder->len + LOTTERY_BET_WIRE_MIN, >, LOTTERY_FRAME_MAX);

  len = lottery_batch_encoder_finish (encoder, 1);
  g_assert_true (decode_frame (encoder->frame, len, &copy, &message, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (message.batch.count, ==, added);
  g_assert_true (decode_fully (copy, len - LOTTERY_FRAME_PREFIX, &error));
  g_assert_no_error (error);
  g_free (encoder);
}

static void
test_encoder_smallest (void)
{
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  g_autoptr(GError) error = NULL;
  LotteryBet small;
  guint added = 0;
  gsize len;

  /* LOTTERY_BATCH_MAX_BETS smallest bets do fit in one frame. */
  unit_set_bet (&small, 0, "A", "B", "1", "1990-05-17", "1");
  lottery_batch_encoder_init (encoder, LOTTERY_BATCH_MAX_BETS);
  while (lottery_batch_encoder_add (encoder, &small))
    added++;
  g_assert_cmpuint (added, ==, LOTTERY_BATCH_MAX_BETS);
  len = lottery_batch_encoder_finish (encoder, 9);
  g_assert_cmpuint (len, <=, LOTTERY_FRAME_MAX);
  g_assert_true (decode_fully (encoder->frame + LOTTERY_FRAME_PREFIX,
                               len - LOTTERY_FRAME_PREFIX, &error));
  g_assert_no_error (error);
  g_free (encoder);
}

/* A hand-built BATCH body with one bet whose fields are given raw. */
static GByteArray *
raw_batch (guint16     count,
           const char *first_name,
           const char *last_name,
           const char *document,
           const char *birthdate,
           guint32     number)
{
  GByteArray *body = g_byte_array_new ();
  const char *strings[] = { first_name, last_name, document };
  guint8 header[] = { LOTTERY_MESSAGE_BATCH, 0, 0, 0, 1,
                      (guint8) (count >> 8), (guint8) count };
  guint8 num[] = { (guint8) (number >> 24), (guint8) (number >> 16),
                   (guint8) (number >> 8), (guint8) number };
  guint i;

  g_byte_array_append (body, header, sizeof header);
  for (i = 0; i < 3; i++)
    {
      guint8 n = (guint8) strlen (strings[i]);

      g_byte_array_append (body, &n, 1);
      g_byte_array_append (body, (const guint8 *) strings[i], n);
    }
  g_byte_array_append (body, (const guint8 *) birthdate, LOTTERY_BIRTHDATE_LEN);
  g_byte_array_append (body, num, sizeof num);

  return body;
}

static void
test_batch_reader_validates (void)
{
  static const struct
  {
    const char *first_name, *last_name, *document, *birthdate, *field;
  } cases[] = {
    { "Ana", "Pérez", "12a45678", "1990-05-17", "DOCUMENTO" },
    { "Ana", "Pérez", "", "1990-05-17", "DOCUMENTO" },
    { "Ana", "Pérez", "123456789012345678901", "1990-05-17", "DOCUMENTO" },
    { "Ana", "Pérez", "1", "1990-02-30", "NACIMIENTO" },
    { "Ana", "Pérez", "1", "1990/05/17", "NACIMIENTO" },
    { "", "Pérez", "1", "1990-05-17", "NOMBRE" },
    { "Ana\n", "Pérez", "1", "1990-05-17", "NOMBRE" },
    { "Ana", "P\xc3", "1", "1990-05-17", "APELLIDO" },
    { "Ana", "P\xc2\x85", "1", "1990-05-17", "APELLIDO" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) body = raw_batch (1, cases[i].first_name,
                                              cases[i].last_name,
                                              cases[i].document,
                                              cases[i].birthdate, 7574);
      g_autoptr(GError) error = NULL;

      g_test_message ("bad %s in a BATCH", cases[i].field);
      g_assert_false (decode_fully (body->data, body->len, &error));
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
      g_assert_nonnull (strstr (error->message, cases[i].field));
    }

  /* The same frame with a good bet passes: the failures above are the
   * fields', not the frame's. */
  {
    g_autoptr(GByteArray) body = raw_batch (1, "Ana", "Pérez", "1",
                                            "1990-05-17", G_MAXUINT32);
    g_autoptr(GError) error = NULL;

    g_assert_true (decode_fully (body->data, body->len, &error));
    g_assert_no_error (error);
  }
}

static void
test_batch_rows_one_pass (void)
{
  g_autofree char *long_name = g_strnfill (LOTTERY_NAME_MAX, 'n');
  g_autofree char *too_long = g_strnfill (LOTTERY_NAME_MAX + 1, 'n');
  /* ONE: the one-pass path decides it (stored); FULL: the full path
   * stores it (quoting, rarer letters); NO: refused. */
  enum { ONE, FULL, NO };
  const struct
  {
    const char *first, *last, *document, *birthdate;
    guint32     number;
    int         outcome;
  } cases[] = {
    { "Santiago Lionel", "Lorca", "30904465", "1999-03-17", 7574, ONE },
    { "Ana, María", "O\"Brien", "1", "2000-02-29", 0, FULL },
    { "A", "B, C", "7", "1990-01-01", 12, FULL },
    { "A", "O\"Brien", "7", "1990-01-01", 12, FULL },
    { "李", "Ελένη", "99999999999999999999", "0001-01-01", G_MAXUINT32, ONE },
    { "tab\there", "B", "7", "1990-01-01", 12, NO },
    { "A", "B\x7f", "7", "1990-01-01", 12, NO },
    { "\xc2\x9f", "B", "7", "1990-01-01", 12, NO },
    { "A\xc3", "B", "7", "1990-01-01", 12, NO },
    { "\xed\xa0\x80", "B", "7", "1990-01-01", 12, NO },
    { "\xe0\xa0\x80", "B", "7", "1990-01-01", 12, -1 },
    { "  spaced  ", "x", "0012345678", "2024-12-31", 1, ONE },
    { long_name, long_name, "7", "1990-01-01", 12, ONE },
    { too_long, "B", "7", "1990-01-01", 12, NO },
    { "\xc2\x80", "B", "7", "1990-01-01", 12, NO },
    { "\xff", "B", "7", "1990-01-01", 12, NO },
    { "\xc3\xb1", "\xed\x9f\xbf", "7", "1990-01-01", 12, FULL },
    { "A", "B", "12a4", "1990-01-01", 12, NO },
    { "A", "B", "123456789012345678901", "1990-01-01", 12, NO },
    { "A", "B", "7", "1990-02-30", 12, NO },
    { "A", "B", "7", "1990/01/01", 12, NO },
    { "A", "B", "7", "2023-02-29", 12, NO },
    { "A", "B", "7", "2024-02-29", 0, ONE },
  };
  guint i;

  g_test_summary ("The server's one-pass path from a BATCH to bets.csv rows "
                  "gives, bet for bet, the row or the refusal of the full "
                  "path (decode into a bet, then format), and decides the "
                  "common bets itself: quoting, UTF-8, lengths, digits and "
                  "dates.");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) body = NULL;
      char row[LOTTERY_BET_ROW_MAX], expected[LOTTERY_BET_ROW_MAX];
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) full_error = NULL;
      LotteryBatchReader fast, full;
      LotteryMessage message;
      LotteryBet bet = { 0 };
      gsize len, expected_len = 0, direct_len = 0, used;

      body = raw_batch (1, cases[i].first, cases[i].last, cases[i].document,
                        cases[i].birthdate, cases[i].number);
      g_assert_true (lottery_message_decode (body->data, body->len, &message,
                                             &error));
      g_assert_no_error (error);

      /* Whether the one-pass path itself took it. */
      used = lottery_bet_row_from_wire (message.batch.data,
                                        message.batch.data + message.batch.len,
                                        42, row, &direct_len);

      lottery_batch_reader_init (&fast, &message);
      lottery_batch_reader_init (&full, &message);
      len = lottery_batch_reader_next_row (&fast, 42, row, &error);
      bet.agency = 42;
      if (lottery_batch_reader_next (&full, &bet, &full_error))
        expected_len = lottery_bet_format_row (&bet, expected);

      g_test_message ("case %u: %s", i,
                      used > 0 ? "one pass" : len > 0 ? "full path"
                                                      : "refused");
      g_assert_cmpmem (row, len, expected, expected_len);
      if (cases[i].outcome >= 0)
        {
          g_assert_cmpint (used > 0, ==, cases[i].outcome == ONE);
          g_assert_cmpint (len > 0, ==, cases[i].outcome != NO);
        }
      if (used > 0)
        g_assert_cmpuint (direct_len, ==, len);
      if (len == 0)
        {
          g_assert_nonnull (full_error);
          g_assert_error (error, full_error->domain, full_error->code);
          g_assert_cmpstr (error->message, ==, full_error->message);
        }
      g_assert_true (fast.p == full.p);
      g_assert_cmpuint (fast.index, ==, full.index);
      g_assert_cmpuint (fast.remaining, ==, full.remaining);
    }
}

static void
test_batch_reader_structure (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) body = NULL;
  LotteryMessage message;
  LotteryBatchReader reader;
  LotteryBet bet = { 0 };

  /* Trailing bytes after the last bet. */
  body = raw_batch (1, "Ana", "Pérez", "1", "1990-05-17", 1);
  g_byte_array_append (body, (const guint8 *) "\0\0\0\0\0\0\0\0", 8);
  g_assert_false (decode_fully (body->data, body->len, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==,
                   "Message has 8 bytes after its last item");
  g_clear_error (&error);
  g_clear_pointer (&body, g_byte_array_unref);

  /* A name length running past the end. */
  body = raw_batch (1, "Ana", "Pérez", "1", "1990-05-17", 1);
  body->data[LOTTERY_BATCH_HEADER] = 200;
  g_assert_false (decode_fully (body->data, body->len, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "Item 1 is truncated");
  g_clear_error (&error);
  g_clear_pointer (&body, g_byte_array_unref);

  /* Two bets claimed, one and a bit present: the second is truncated. */
  body = raw_batch (2, "Ana", "Pérez", "1", "1990-05-17", 1);
  g_byte_array_append (body, (const guint8 *) "\x03" "Ana\x01" "B\x01" "1"
                       "1990-05", 15);
  g_assert_true (lottery_message_decode (body->data, body->len, &message,
                                         &error));
  g_assert_no_error (error);
  lottery_batch_reader_init (&reader, &message);
  g_assert_true (lottery_batch_reader_next (&reader, &bet, &error));
  g_assert_no_error (error);
  g_assert_false (lottery_batch_reader_next (&reader, &bet, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "Item 2 is truncated");
}

static void
test_decode_count (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) body = raw_batch (1, "A", "B", "1", "1990-05-17", 1);

  /* A batch of no bets is no batch, even with nothing after it. */
  {
    static const guint8 empty_batch[] = { 0x02, 0, 0, 0, 1, 0, 0 };

    g_assert_false (decode_fully (empty_batch, sizeof empty_batch, &error));
    g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
    g_assert_cmpstr (error->message, ==, "BATCH claims 0 bets in 0 bytes");
    g_clear_error (&error);
  }

  /* One minimal bet is 20 bytes: a count of 2 cannot fit. */
  g_assert_cmpuint (body->len, ==, LOTTERY_BATCH_HEADER + LOTTERY_BET_WIRE_MIN);
  body->data[6] = 2;
  g_assert_false (decode_fully (body->data, body->len, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "BATCH claims 2 bets in 20 bytes");
  g_clear_error (&error);

  body->data[5] = 0xff;
  body->data[6] = 0xff;
  g_assert_false (decode_fully (body->data, body->len, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* Zero bets is no batch. */
  body->data[5] = 0;
  body->data[6] = 0;
  g_assert_false (decode_fully (body->data, body->len, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* WINNERS: each document takes at least two bytes. */
  {
    static const guint8 winners[] = { 0x85, 1, 0, 3, 1, '1', 1 };

    g_assert_false (decode_fully (winners, sizeof winners, &error));
    g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
    g_assert_cmpstr (error->message, ==,
                     "WINNERS claims 3 documents in 3 bytes");
  }
}

static void
test_decode_winners_documents (void)
{
  static const guint8 empty_doc[] = { 0x85, 1, 0, 1, 0, 0 };
  static const guint8 long_doc[] = {
    0x85, 1, 0, 1, 21,
    '1', '2', '3', '4', '5', '6', '7', '8', '9', '0',
    '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '1',
  };
  g_autoptr(GError) error = NULL;

  g_assert_false (decode_fully (empty_doc, sizeof empty_doc, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "Document 1 has length 0");
  g_clear_error (&error);

  g_assert_false (decode_fully (long_doc, sizeof long_doc, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "Document 1 has length 21");
}

/* One valid frame of every type. */
static GPtrArray *
valid_frames (void)
{
  GPtrArray *frames =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  const char * const documents[] = { "30904465", "1", "12345678901234567890" };
  LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryBet bet;
  guint n_encoded;
  gsize len;

#define ADD_FRAME(expr) \
  G_STMT_START { \
    len = (expr); \
    g_ptr_array_add (frames, g_bytes_new (frame, len)); \
  } G_STMT_END

  ADD_FRAME (lottery_message_encode_hello (frame, 3));
  ADD_FRAME (lottery_message_encode_finish (frame, 12));
  ADD_FRAME (lottery_message_encode_empty (frame, LOTTERY_MESSAGE_QUERY));
  ADD_FRAME (lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PING));
  ADD_FRAME (lottery_message_encode_empty (frame, LOTTERY_MESSAGE_PONG));
  ADD_FRAME (lottery_message_encode_welcome (frame, 5, 1, 500, 480));
  ADD_FRAME (lottery_message_encode_ack (frame, 5, 100));
  ADD_FRAME (lottery_message_encode_error (frame, 4, 6, "out of order"));
  ADD_FRAME (lottery_message_encode_finished (frame, 123456));
  ADD_FRAME (lottery_message_encode_winners (frame, documents, 3, &n_encoded));
  ADD_FRAME (lottery_message_encode_auth (frame, (const guint8 *)
                                          "0123456789abcdef0123456789abcdef"));
  ADD_FRAME (lottery_message_encode_challenge (frame, (const guint8 *)
                                               "fedcba9876543210fedcba9876543210"));

#undef ADD_FRAME

  lottery_batch_encoder_init (encoder, 10);
  unit_set_bet (&bet, 0, "Ana, María", "O\"Brien", "12345678", "2000-02-29", "7574");
  g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  unit_set_bet (&bet, 0, "José", "Pérez", "1", "1990-05-17", "1");
  g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  len = lottery_batch_encoder_finish (encoder, 1);
  g_ptr_array_add (frames, g_bytes_new (encoder->frame, len));
  g_free (encoder);

  return frames;
}

static void
test_decode_truncated (void)
{
  g_autoptr(GPtrArray) frames = valid_frames ();
  guint i;

  for (i = 0; i < frames->len; i++)
    {
      gsize size;
      const guint8 *frame = g_bytes_get_data (frames->pdata[i], &size);
      const guint8 *body = frame + LOTTERY_FRAME_PREFIX;
      gsize body_len = size - LOTTERY_FRAME_PREFIX;
      g_autoptr(GError) error = NULL;
      gsize cut;

      g_test_message ("%s truncated", lottery_message_type_name (body[0]));
      g_assert_true (decode_fully (body, body_len, &error));
      g_assert_no_error (error);

      for (cut = 0; cut < body_len; cut++)
        {
          gsize header = body[0] == LOTTERY_MESSAGE_BATCH ? 6
                         : body[0] == LOTTERY_MESSAGE_WINNERS ? 3
                         : body[0] == LOTTERY_MESSAGE_ERROR ? 8
                         : body_len - 1;

          g_assert_false (decode_fully (body, cut, &error));
          g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
          /* Short of the fixed part, the message says by how much. */
          if (cut >= 1 && cut - 1 < header)
            {
              g_autofree char *expected =
                g_strdup_printf ("%s message has %" G_GSIZE_FORMAT " bytes, "
                                 "expected %" G_GSIZE_FORMAT,
                                 lottery_message_type_name (body[0]), cut - 1,
                                 header);
              g_assert_cmpstr (error->message, ==, expected);
            }
          g_clear_error (&error);
        }
    }
}

static void
test_decode_trailing (void)
{
  g_autoptr(GPtrArray) frames = valid_frames ();
  guint i;

  for (i = 0; i < frames->len; i++)
    {
      gsize size;
      const guint8 *frame = g_bytes_get_data (frames->pdata[i], &size);
      gsize body_len = size - LOTTERY_FRAME_PREFIX;
      g_autofree guint8 *longer = g_malloc0 (body_len + 3);
      g_autoptr(GError) error = NULL;
      guint extra;

      memcpy (longer, frame + LOTTERY_FRAME_PREFIX, body_len);
      g_test_message ("%s with trailing bytes",
                      lottery_message_type_name (longer[0]));
      for (extra = 1; extra <= 3; extra++)
        {
          g_assert_false (decode_fully (longer, body_len + extra, &error));
          g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
          g_clear_error (&error);
        }
    }
}

static void
test_decode_unknown_type (void)
{
  static const guint8 types[] = { 0x00, 0x07, 0x7f, 0x80, 0x88, 0xff };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *expected =
        g_strdup_printf ("Unknown message type 0x%02x", types[i]);
      guint8 body[8] = { types[i] };

      g_assert_false (decode_fully (body, 1, &error));
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
      g_assert_cmpstr (error->message, ==, expected);
      g_clear_error (&error);
      g_assert_false (decode_fully (body, sizeof body, &error));
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
      g_assert_cmpstr (lottery_message_type_name (types[i]), ==, "UNKNOWN");
    }
}

static void
test_decode_empty (void)
{
  g_autoptr(GError) error = NULL;
  LotteryMessage message;

  g_assert_false (lottery_message_decode (NULL, 0, &message, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "Empty message");
}

static void
test_decode_error_text (void)
{
  static const guint8 not_utf8[] = { 0x83, 0, 1, 0, 0, 0, 0, 0, 2, 0xc3, 0x28 };
  static const guint8 too_long[] = { 0x83, 0, 1, 0, 0, 0, 0, 0, 9, 'a', 'b' };
  g_autoptr(GError) error = NULL;

  g_assert_false (decode_fully (not_utf8, sizeof not_utf8, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "ERROR message text is not UTF-8");
  g_clear_error (&error);

  g_assert_false (decode_fully (too_long, sizeof too_long, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_assert_cmpstr (error->message, ==, "ERROR message has 10 bytes, expected 17");
}

static void
test_type_names (void)
{
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_HELLO), ==,
                   "HELLO");
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_BATCH), ==,
                   "BATCH");
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_WINNERS), ==,
                   "WINNERS");
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_PONG), ==,
                   "PONG");
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_AUTH), ==,
                   "AUTH");
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_CHALLENGE), ==,
                   "CHALLENGE");
}

/* Random bodies, and valid frames with random damage, must be rejected
 * or accepted cleanly: never a crash, hang or out-of-bounds read. */
static void
test_decode_random (void)
{
  static const guint8 types[] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
    0x87, 0x00,
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (7574);
  g_autoptr(GPtrArray) frames = valid_frames ();
  guint8 body[LOTTERY_FRAME_BODY_MAX];
  guint iterations = g_test_slow () ? 200000 : 20000;
  guint accepted = 0;
  guint i;

  for (i = 0; i < iterations; i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len;
      gsize j;

      if (i % 2 == 0)
        {
          /* Random bytes behind a known type byte. */
          gsize max = g_rand_int_range (rand, 0, 8) == 0
                        ? LOTTERY_FRAME_BODY_MAX : 64;

          len = 1 + (gsize) g_rand_int_range (rand, 0, max);
          body[0] = types[g_rand_int_range (rand, 0, G_N_ELEMENTS (types))];
          for (j = 1; j < len; j++)
            body[j] = (guint8) g_rand_int (rand);
          /* Small counts give the readers something to walk. */
          if (g_rand_boolean (rand) && len > 7)
            {
              body[5] = 0;
              body[6] = (guint8) g_rand_int_range (rand, 0, 4);
            }
        }
      else
        {
          /* A valid frame, cut or extended and with a few bytes changed. */
          gsize size;
          GBytes *frame = frames->pdata[g_rand_int_range (rand, 0,
                                                          frames->len)];
          const guint8 *data = g_bytes_get_data (frame, &size);
          guint flips = g_rand_int_range (rand, 0, 4);

          len = size - LOTTERY_FRAME_PREFIX;
          memcpy (body, data + LOTTERY_FRAME_PREFIX, len);
          if (g_rand_boolean (rand))
            len = g_rand_int_range (rand, 0, len + 1);
          else if (g_rand_int_range (rand, 0, 4) == 0)
            {
              gsize more = g_rand_int_range (rand, 1, 8);

              for (j = 0; j < more; j++)
                body[len + j] = (guint8) g_rand_int (rand);
              len += more;
            }
          while (flips-- > 0 && len > 0)
            body[g_rand_int_range (rand, 0, len)] = (guint8) g_rand_int (rand);
        }

      if (decode_fully (body, len, &error))
        {
          g_assert_no_error (error);
          accepted++;
        }
      else
        {
          g_assert_nonnull (error);
          g_assert_true (error->domain == LOTTERY_ERROR);
          g_assert_true (error->code == LOTTERY_ERROR_PROTOCOL ||
                         error->code == LOTTERY_ERROR_INVALID_BET);
          g_assert_true (g_utf8_validate (error->message, -1, NULL));
        }
    }

  g_test_message ("%u of %u random messages were valid", accepted,
                  iterations);
  g_assert_cmpuint (accepted, >, 0);
  g_assert_cmpuint (accepted, <, iterations);
}

static void
test_stream_read (void)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint8 buffer[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  gsize len;

  len = lottery_message_encode_ack (frame, 4, 7);
  g_byte_array_append (data, frame, len);
  len = lottery_message_encode_error (frame, 5, 4, "bad");
  g_byte_array_append (data, frame, len);
  /* A prefix, then the connection ends half way through the body. */
  len = lottery_message_encode_hello (frame, 1);
  g_byte_array_append (data, frame, len - 2);

  stream = g_memory_input_stream_new_from_data (data->data, data->len, NULL);
  g_assert_true (lottery_stream_read_message (stream, buffer, &message, NULL,
                                              &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ACK);
  g_assert_cmpuint (message.ack.count, ==, 7);
  g_assert_true (lottery_stream_read_message (stream, buffer, &message, NULL,
                                              &error));
  g_assert_no_error (error);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ERROR);
  g_assert_cmpmem (message.error.text, message.error.len, "bad", 3);
  g_assert_false (lottery_stream_read_message (stream, buffer, &message, NULL,
                                               &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_clear_error (&error);
  g_assert_false (lottery_stream_read_message (stream, buffer, &message, NULL,
                                               &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_stream_bad_prefix (void)
{
  static const guint8 huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x01 };
  static const guint8 zero[] = { 0, 0, 0, 0, 0x05 };
  g_autoptr(GInputStream) huge_stream = NULL;
  g_autoptr(GInputStream) zero_stream = NULL;
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr(GError) error = NULL;
  GMemoryOutputStream *memory;
  guint8 buffer[LOTTERY_FRAME_MAX];
  guint8 frame[LOTTERY_FRAME_MAX];
  LotteryMessage message;
  gsize len;

  huge_stream = g_memory_input_stream_new_from_data (huge, sizeof huge, NULL);
  g_assert_false (lottery_stream_read_message (huge_stream, buffer, &message,
                                               NULL, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  zero_stream = g_memory_input_stream_new_from_data (zero, sizeof zero, NULL);
  g_assert_false (lottery_stream_read_message (zero_stream, buffer, &message,
                                               NULL, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  len = lottery_message_encode_finish (frame, 9);
  g_assert_true (lottery_stream_write (out, frame, len, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_output_stream_close (out, NULL, &error));
  memory = G_MEMORY_OUTPUT_STREAM (out);
  g_assert_cmpmem (g_memory_output_stream_get_data (memory),
                   g_memory_output_stream_get_data_size (memory), frame, len);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("The wire format: length prefixes, every message type's "
                  "encoder and decoder, batches and winners split over "
                  "frames, and malformed or random input.");

  g_test_add_func ("/protocol/prefix", test_prefix);
  g_test_add_func ("/protocol/roundtrip/hello", test_roundtrip_hello);
  g_test_add_func ("/protocol/roundtrip/auth-challenge", test_roundtrip_auth);
  g_test_add_func ("/protocol/roundtrip/finish", test_roundtrip_finish);
  g_test_add_func ("/protocol/roundtrip/empty", test_roundtrip_empty);
  g_test_add_func ("/protocol/roundtrip/welcome", test_roundtrip_welcome);
  g_test_add_func ("/protocol/decode/welcome-counts",
                   test_decode_welcome_counts);
  g_test_add_func ("/protocol/roundtrip/ack", test_roundtrip_ack);
  g_test_add_func ("/protocol/roundtrip/error", test_roundtrip_error);
  g_test_add_func ("/protocol/roundtrip/error-long", test_roundtrip_error_long);
  g_test_add_func ("/protocol/roundtrip/finished", test_roundtrip_finished);
  g_test_add_func ("/protocol/roundtrip/winners", test_roundtrip_winners);
  g_test_add_func ("/protocol/roundtrip/winners-empty",
                   test_roundtrip_winners_empty);
  g_test_add_func ("/protocol/roundtrip/winners-split",
                   test_roundtrip_winners_split);
  g_test_add_func ("/protocol/roundtrip/winners-exact-fit",
                   test_roundtrip_winners_exact_fit);
  g_test_add_func ("/protocol/roundtrip/batch", test_roundtrip_batch);
  g_test_add_func ("/protocol/batch/rows-one-pass", test_batch_rows_one_pass);
  g_test_add_func ("/protocol/batch/add-line", test_batch_add_line);
  g_test_add_func ("/protocol/roundtrip/batch-lengths",
                   test_roundtrip_batch_lengths);
  g_test_add_func ("/protocol/batch-encoder/max-count", test_encoder_max_count);
  g_test_add_func ("/protocol/batch-encoder/frame-limit",
                   test_encoder_frame_limit);
  g_test_add_func ("/protocol/batch-encoder/smallest", test_encoder_smallest);
  g_test_add_func ("/protocol/batch-reader/validates",
                   test_batch_reader_validates);
  g_test_add_func ("/protocol/batch-reader/structure",
                   test_batch_reader_structure);
  g_test_add_func ("/protocol/decode/count", test_decode_count);
  g_test_add_func ("/protocol/decode/winners-documents",
                   test_decode_winners_documents);
  g_test_add_func ("/protocol/decode/truncated", test_decode_truncated);
  g_test_add_func ("/protocol/decode/trailing", test_decode_trailing);
  g_test_add_func ("/protocol/decode/unknown-type", test_decode_unknown_type);
  g_test_add_func ("/protocol/decode/empty", test_decode_empty);
  g_test_add_func ("/protocol/decode/error-text", test_decode_error_text);
  g_test_add_func ("/protocol/decode/random", test_decode_random);
  g_test_add_func ("/protocol/type-names", test_type_names);
  g_test_add_func ("/protocol/stream/read", test_stream_read);
  g_test_add_func ("/protocol/stream/bad-prefix", test_stream_bad_prefix);

  return g_test_run ();
}
