/* lottery-uploader-private.h: what the units of LotteryUploader share:
 * its fields and the steps of a session (lottery-uploader.c,
 * lottery-uploader-batches.c, lottery-uploader-winners.c). Not for use
 * outside them.
 */
#pragma once

#include <gio/gio.h>

#include "lottery-auth.h"
#include "lottery-bet.h"
#include "lottery-csv-reader.h"
#include "lottery-progress.h"
#include "lottery-protocol.h"
#include "lottery-uploader.h"

G_BEGIN_DECLS

/* 128 batches (about 800 KiB) in flight: enough to cover the server's
 * wait for the disk (storage.sync) at full speed. */
#define LOTTERY_UPLOADER_WINDOW 128

typedef struct
{
  guint32 sequence;
  guint   count;
  guint64 first_line;
  guint64 last_line;
} LotteryUploaderInFlight;

struct _LotteryUploader
{
  GObject parent_instance;

  guint              agency;
  char              *address;
  guint              answering; /* which of @address answered last */
  guint              batch_max_amount;
  char              *bets_file;
  LotteryBet        *single_bet;
  gboolean           has_token;
  guint8             token[LOTTERY_AUTH_TOKEN_LEN]; /* secret */
  gboolean           warned_open;   /* said the server asked for no token */
  GTlsDatabase      *tls_database;  /* NULL: plain TCP */
  guint              timeout;       /* seconds for an answer */
  LotteryCsvReader  *reader;        /* the bets file, opened once */
  gboolean           refused;       /* the session ended on a server ERROR */

  GIOStream         *connection;    /* TCP, or TLS over it */
  guint8            *rbuf;
  guint8            *obuf;          /* frames not yet written */
  gsize              olen;
  LotteryUploaderInFlight window[LOTTERY_UPLOADER_WINDOW];
  guint              window_head;
  guint              window_len;

  guint64            reported_line; /* invalid rows up to here were logged */
  guint64            rejected_rows;
  guint64            rejected_batches;
  guint64            held_bets;     /* the WELCOME's bets used up, this session */
  guint64            held_stored;   /* of those, stored */
  guint64            session_stored; /* acknowledged in this session */
  guint64            answered_bets; /* bets used up, as far as we know */
  gboolean           mismatch;      /* the file is not what the server has */
  guint64            file_bets;     /* valid bets in the file, if mismatch */
  gboolean           uploaded;      /* this process sent the FINISH */
  guint32            answered;      /* last batch the server answered */
  gboolean           finish_answered;
  GPtrArray         *winners;

  LotteryProgress   *progress;      /* NULL: no progress line */
  guint64            bets_done;     /* answered (or held from before) */
  guint64            bets_read;     /* valid rows read from the file */
  guint64            read_offset;   /* bytes of the file read */
  gboolean           read_all;
};

/* lottery-uploader.c */
void     lottery_uploader_progress_pause  (LotteryUploader      *self);
void     lottery_uploader_progress_resume (LotteryUploader      *self);
gboolean lottery_uploader_server_error    (LotteryUploader      *self,
                                           const LotteryMessage *message,
                                           GError              **error);
gboolean lottery_uploader_write_frame     (LotteryUploader      *self,
                                           const guint8         *frame,
                                           gsize                 len,
                                           GCancellable         *cancellable,
                                           GError              **error);
gboolean lottery_uploader_read_message    (LotteryUploader      *self,
                                           LotteryMessage       *message,
                                           GCancellable         *cancellable,
                                           GError              **error);

/* lottery-uploader-batches.c */
gboolean lottery_uploader_open_bets_file  (LotteryUploader      *self,
                                           GError              **error);
void     lottery_uploader_close_bets_file (LotteryUploader      *self);
gboolean lottery_uploader_upload          (LotteryUploader      *self,
                                           guint32               last_sequence,
                                           guint64               skip,
                                           gboolean              finished,
                                           guint32              *n_batches,
                                           GCancellable         *cancellable,
                                           GError              **error);
gboolean lottery_uploader_finish          (LotteryUploader      *self,
                                           guint32               n_batches,
                                           GCancellable         *cancellable,
                                           GError              **error);

/* lottery-uploader-winners.c */
gboolean lottery_uploader_query_winners   (LotteryUploader      *self,
                                           GCancellable         *cancellable,
                                           GError              **error);

G_END_DECLS
