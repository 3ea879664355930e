/* lottery-protocol.h: the wire format, as bytes in and bytes out.
 *
 * Every message is a frame: a 4-byte big-endian length, then that many
 * bytes: a 1-byte type and the type's payload. A whole frame, prefix
 * included, is at most LOTTERY_FRAME_MAX bytes. Integers are big-endian;
 * strings are a length byte and UTF-8 bytes. README describes each
 * message. Nothing here does I/O.
 */
#pragma once

#include <glib.h>

#include "lottery-bet.h"

G_BEGIN_DECLS

#define LOTTERY_PROTOCOL_VERSION 2
#define LOTTERY_FRAME_MAX        8192
#define LOTTERY_FRAME_PREFIX     4
#define LOTTERY_FRAME_BODY_MAX   (LOTTERY_FRAME_MAX - LOTTERY_FRAME_PREFIX)
/* type + sequence + count */
#define LOTTERY_BATCH_HEADER     (1 + 4 + 2)
/* The smallest encoded bet: 1-byte names and document. */
#define LOTTERY_BET_WIRE_MIN     (3 * 2 + LOTTERY_BIRTHDATE_LEN + 4)
/* The longest: two names and a document of their longest. */
#define LOTTERY_BET_WIRE_MAX     (3 + 2 * LOTTERY_NAME_MAX + LOTTERY_DOCUMENT_MAX + \
                                  LOTTERY_BIRTHDATE_LEN + 4)
#define LOTTERY_BATCH_MAX_BETS   ((LOTTERY_FRAME_BODY_MAX - LOTTERY_BATCH_HEADER) / LOTTERY_BET_WIRE_MIN)
/* CHALLENGE and AUTH payloads; lottery-auth.h says what they hold. */
#define LOTTERY_AUTH_NONCE_LEN   32
#define LOTTERY_AUTH_PROOF_LEN   32

typedef enum
{
  LOTTERY_MESSAGE_HELLO    = 0x01, /* u16 version, u32 agency */
  LOTTERY_MESSAGE_BATCH    = 0x02, /* u32 sequence, u16 count, bets */
  LOTTERY_MESSAGE_FINISH   = 0x03, /* u32 last sequence */
  LOTTERY_MESSAGE_QUERY    = 0x04, /* (empty) */
  LOTTERY_MESSAGE_PING     = 0x05, /* (empty) */
  LOTTERY_MESSAGE_AUTH     = 0x06, /* 32-byte client proof */
  LOTTERY_MESSAGE_WELCOME  = 0x81, /* u16 version, u32 last sequence, u8 flags,
                                    * u64 bets consumed, u64 bets stored */
  LOTTERY_MESSAGE_ACK      = 0x82, /* u32 sequence, u16 count */
  LOTTERY_MESSAGE_ERROR    = 0x83, /* u16 code, u32 sequence, u16 len, text */
  LOTTERY_MESSAGE_FINISHED = 0x84, /* u64 bets stored for the agency */
  LOTTERY_MESSAGE_WINNERS  = 0x85, /* u8 flags, u16 count, documents */
  LOTTERY_MESSAGE_PONG     = 0x86, /* (empty) */
  LOTTERY_MESSAGE_CHALLENGE = 0x87, /* 32-byte nonce */
  /* Operators' messages, numbered apart from the agency session's. */
  LOTTERY_MESSAGE_STATUS       = 0x10, /* (empty) */
  LOTTERY_MESSAGE_STATUS_REPLY = 0x90, /* u8 flags, u64 draw time, u32 agencies,
                                        * u32 first agency, u16 count, entries */
} LotteryMessageType;

/* WELCOME flags */
#define LOTTERY_WELCOME_FINISHED  (1 << 0) /* this agency already finished */
#define LOTTERY_WELCOME_DRAW_DONE (1 << 1)
/* WINNERS flags */
#define LOTTERY_WINNERS_LAST      (1 << 0) /* last WINNERS frame of the answer */
/* STATUS_REPLY flags */
#define LOTTERY_STATUS_LAST       (1 << 0) /* last STATUS_REPLY frame of the answer */
#define LOTTERY_STATUS_DRAW_DONE  (1 << 1)
/* STATUS_REPLY entry flags */
#define LOTTERY_AGENCY_FINISHED   (1 << 0)
#define LOTTERY_AGENCY_CONNECTED  (1 << 1)
/* type + flags + draw time + agencies + first + count */
#define LOTTERY_STATUS_HEADER     (1 + 1 + 8 + 4 + 4 + 2)
/* u64 bets stored + u8 flags */
#define LOTTERY_STATUS_ENTRY      (8 + 1)
#define LOTTERY_STATUS_MAX_ENTRIES ((LOTTERY_FRAME_BODY_MAX - LOTTERY_STATUS_HEADER) / LOTTERY_STATUS_ENTRY)

/* One agency in a STATUS_REPLY: counts only, never a bet or a winner. */
typedef struct
{
  guint64 bets;  /* bets stored for the agency in this run */
  guint8  flags; /* LOTTERY_AGENCY_FINISHED, LOTTERY_AGENCY_CONNECTED */
} LotteryStatusEntry;

/* A decoded message. Pointers borrow from the decoded buffer. */
typedef struct
{
  LotteryMessageType type;
  union
  {
    struct { guint16 version; guint32 agency; } hello;
    struct { guint32 sequence; guint16 count; const guint8 *data; gsize len; } batch;
    struct { guint32 last_sequence; } finish;
    struct { const guint8 *proof; } auth;      /* LOTTERY_AUTH_PROOF_LEN bytes */
    struct { const guint8 *nonce; } challenge; /* LOTTERY_AUTH_NONCE_LEN bytes */
    /* consumed: bets in every batch that used up a sequence number
     * (stored or refused); the agency skips that many of its bets. */
    struct { guint16 version; guint32 last_sequence; guint8 flags;
             guint64 consumed; guint64 stored; } welcome;
    struct { guint32 sequence; guint16 count; } ack;
    struct { guint16 code; guint32 sequence; const char *text; gsize len; } error;
    struct { guint64 stored; } finished;
    struct { guint8 flags; guint16 count; const guint8 *data; gsize len; } winners;
    struct { guint8 flags; gint64 draw_time; guint32 agencies; guint32 first;
             guint16 count; const guint8 *data; } status;
  };
} LotteryMessage;

const char *lottery_message_type_name      (guint8               type);

gboolean    lottery_frame_parse_prefix     (const guint8        *prefix,
                                            gsize               *body_len,
                                            GError             **error);
gboolean    lottery_message_decode         (const guint8        *body,
                                            gsize                len,
                                            LotteryMessage      *message,
                                            GError             **error);

/* Encoders write a whole frame (prefix included) into @out, which must
 * hold LOTTERY_FRAME_MAX bytes, and return its length. */
gsize       lottery_message_encode_hello   (guint8              *out,
                                            guint32              agency);
gsize       lottery_message_encode_finish  (guint8              *out,
                                            guint32              last_sequence);
gsize       lottery_message_encode_auth    (guint8              *out,
                                            const guint8        *proof);
gsize       lottery_message_encode_challenge (guint8            *out,
                                              const guint8      *nonce);
gsize       lottery_message_encode_empty   (guint8              *out,
                                            LotteryMessageType   type);
gsize       lottery_message_encode_welcome (guint8              *out,
                                            guint32              last_sequence,
                                            guint8               flags,
                                            guint64              consumed,
                                            guint64              stored);
gsize       lottery_message_encode_ack     (guint8              *out,
                                            guint32              sequence,
                                            guint16              count);
gsize       lottery_message_encode_error   (guint8              *out,
                                            guint16              code,
                                            guint32              sequence,
                                            const char          *text);
gsize       lottery_message_encode_finished (guint8             *out,
                                             guint64             stored);
gsize       lottery_message_encode_winners (guint8              *out,
                                            const char * const  *documents,
                                            guint                n_documents,
                                            guint               *n_encoded);
gsize       lottery_message_encode_status_reply (guint8                   *out,
                                                 guint8                    flags,
                                                 gint64                    draw_time,
                                                 guint32                   agencies,
                                                 guint32                   first,
                                                 const LotteryStatusEntry *entries,
                                                 guint                     n_entries,
                                                 guint                    *n_encoded);
void        lottery_status_reply_get_entry (const LotteryMessage *message,
                                            guint                 index,
                                            LotteryStatusEntry   *entry);

/* Building a BATCH frame bet by bet. */
typedef struct
{
  guint8 frame[LOTTERY_FRAME_MAX];
  gsize  len;
  guint  count;
  guint  max_count;
} LotteryBatchEncoder;

void        lottery_batch_encoder_init     (LotteryBatchEncoder *encoder,
                                            guint                max_count);
gboolean    lottery_batch_encoder_add      (LotteryBatchEncoder *encoder,
                                            const LotteryBet    *bet);
gboolean    lottery_batch_encoder_add_line (LotteryBatchEncoder *encoder,
                                            const char          *line,
                                            gsize                len);
gsize       lottery_batch_encoder_finish   (LotteryBatchEncoder *encoder,
                                            guint32              sequence);
gsize       lottery_bet_wire_size          (const LotteryBet    *bet);

/* Walking the bets of a decoded BATCH, or the documents of a WINNERS. */
typedef struct
{
  const guint8 *p;
  const guint8 *end;
  guint         remaining;
  guint         index;
} LotteryBatchReader;

void        lottery_batch_reader_init      (LotteryBatchReader   *reader,
                                            const LotteryMessage *message);
gboolean    lottery_batch_reader_next      (LotteryBatchReader   *reader,
                                            LotteryBet           *bet,
                                            GError              **error);
/* @out: LOTTERY_BET_ROW_MAX bytes (lottery-bet-row.h) */
gsize       lottery_batch_reader_next_row  (LotteryBatchReader   *reader,
                                            guint32               agency,
                                            char                 *out,
                                            GError              **error);
gboolean    lottery_batch_reader_end       (LotteryBatchReader   *reader,
                                            GError              **error);
gboolean    lottery_winners_reader_next    (LotteryBatchReader   *reader,
                                            const char          **document,
                                            gsize                *len,
                                            GError              **error);

G_END_DECLS
