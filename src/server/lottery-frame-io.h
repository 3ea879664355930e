/* lottery-frame-io.h: length-prefixed frames over one connection's
 * stream: reading ahead, back-pressure, replies in order. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Writes the next frame of an answer into @frame (LOTTERY_FRAME_MAX
 * bytes) and returns its length; sets @done on the last one. */
typedef gsize (*LotteryFrameProducer) (guint8   *frame,
                                       gboolean *done,
                                       gpointer  user_data);

#define LOTTERY_TYPE_FRAME_IO (lottery_frame_io_get_type ())
G_DECLARE_FINAL_TYPE (LotteryFrameIO, lottery_frame_io, LOTTERY, FRAME_IO, GObject)

LotteryFrameIO *lottery_frame_io_new              (GIOStream         *stream,
                                                   GSocketConnection *connection);
void            lottery_frame_io_start            (LotteryFrameIO    *self);
void            lottery_frame_io_set_paused       (LotteryFrameIO    *self,
                                                   gboolean           paused);
GBytes         *lottery_frame_io_peek_frame       (LotteryFrameIO    *self);
GBytes         *lottery_frame_io_pop_frame        (LotteryFrameIO    *self);
void            lottery_frame_io_send             (LotteryFrameIO    *self,
                                                   const guint8      *frame,
                                                   gsize              len);
void            lottery_frame_io_send_produced    (LotteryFrameIO    *self,
                                                   LotteryFrameProducer produce,
                                                   gpointer           data,
                                                   GDestroyNotify     destroy);
void            lottery_frame_io_reply_in_clear   (LotteryFrameIO    *self);
void            lottery_frame_io_stop_reading     (LotteryFrameIO    *self);
void            lottery_frame_io_close_after_flush (LotteryFrameIO   *self);
void            lottery_frame_io_close            (LotteryFrameIO    *self);
gboolean        lottery_frame_io_is_writing       (LotteryFrameIO    *self);
gboolean        lottery_frame_io_write_stalled    (LotteryFrameIO    *self,
                                                   gint64             now,
                                                   gint64             timeout);
gboolean        lottery_frame_io_frame_stalled    (LotteryFrameIO    *self,
                                                   gint64             now,
                                                   gint64             timeout);
gint64          lottery_frame_io_get_activity     (LotteryFrameIO    *self);
void            lottery_frame_io_set_activity     (LotteryFrameIO    *self,
                                                   gint64             now);

G_END_DECLS
