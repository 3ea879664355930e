/* lottery-frame-io-private.h: what the two halves of LotteryFrameIO
 * share: its fields and its signals. lottery-frame-io.c has the object,
 * the replies and the clocks; lottery-frame-io-read.c has the reads
 * (the shared buffer, the poller, cutting and handing up frames). Not
 * for use outside them. */
#pragma once

#include "lottery-frame-io.h"
#include "lottery-poller.h"

G_BEGIN_DECLS

#define LOTTERY_FRAME_IO_READ_BUFFER (32 * 1024)  /* the shared read buffer */
#define LOTTERY_FRAME_IO_MAX_QUEUED  16           /* frames read ahead */
#define LOTTERY_FRAME_IO_MAX_PENDING (64 * 1024)  /* bytes of unsent replies */

struct _LotteryFrameIO
{
  GObject parent_instance;

  GSocketConnection *connection; /* (owned): closed at the end */
  GIOStream         *stream;     /* (owned): @connection, or TLS over it */
  GPollableInputStream *input;   /* (unowned): @stream's */
  LotteryPollerWatch *watch;     /* (owned) (nullable): the socket's */
  GSource           *tls_wait;   /* (owned) (nullable): over TLS, GIO's
                                  * readiness source, while waiting */
  GOutputStream     *output;     /* (unowned): @stream's or @connection's */
  GCancellable      *cancellable; /* (owned): cancelled by close */

  guint8            *rbuf;       /* (owned) (nullable): bytes not yet cut
                                  * into frames, just their size; or,
                                  * within lottery_frame_io_pump (), the
                                  * shared buffer (borrowed) */
  gsize              rstart;     /* first unparsed byte */
  gsize              rend;       /* one past the last byte read */
  GQueue             queued;     /* GBytes (owned): frame bodies */
  GByteArray        *pending;    /* (owned): replies not yet written */
  GBytes            *writing;    /* (owned) (nullable): being written */
  LotteryFrameProducer produce;  /* (nullable): an answer still to come */
  gpointer           produce_data; /* (owned) by produce_destroy */
  GDestroyNotify     produce_destroy;

  gint64             activity;      /* when the last frame arrived */
  gint64             partial_since; /* first byte of an unfinished frame,
                                     * or 0 */
  gint64             write_since;   /* when the write in flight began */

  gboolean           started;
  gboolean           reading;    /* waiting for the socket to be readable */
  gboolean           pumping;    /* in lottery_frame_io_pump (): a nested
                                  * call returns */
  gboolean           paused;     /* the owner takes no frames now */
  gboolean           delivering; /* in a ::frame emission */
  gboolean           stopped;    /* no more reading: EOF, or told so */
  gboolean           close_after_flush;
  gboolean           closed;     /* the socket is closed */
  gboolean           announced;  /* ::closed was emitted */
};

typedef enum
{
  LOTTERY_FRAME_IO_SIGNAL_FRAME,
  LOTTERY_FRAME_IO_SIGNAL_BAD_FRAME,
  LOTTERY_FRAME_IO_SIGNAL_EOF,
  LOTTERY_FRAME_IO_SIGNAL_FAILED,
  LOTTERY_FRAME_IO_SIGNAL_CLOSED,
  LOTTERY_FRAME_IO_N_SIGNALS
} LotteryFrameIOSignal;

extern guint lottery_frame_io_signals[LOTTERY_FRAME_IO_N_SIGNALS];
#define LOTTERY_FRAME_IO_SIGNAL(name) \
  lottery_frame_io_signals[LOTTERY_FRAME_IO_SIGNAL_##name]

void lottery_frame_io_pump           (LotteryFrameIO *self);
void lottery_frame_io_stop_tls_wait  (LotteryFrameIO *self);

G_END_DECLS
