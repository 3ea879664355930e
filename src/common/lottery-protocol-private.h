/* lottery-protocol-private.h: the byte order of the wire, shared by
 * the message codec (lottery-protocol.c) and the batch codec
 * (lottery-batch-codec.c). Not for use outside src/common. */
#pragma once

#include <glib.h>

#include "lottery-protocol.h"

G_BEGIN_DECLS

static inline void
lottery_put_u16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

static inline void
lottery_put_u32 (guint8 *p, guint32 v)
{
  p[0] = (guint8) (v >> 24);
  p[1] = (guint8) (v >> 16);
  p[2] = (guint8) (v >> 8);
  p[3] = (guint8) v;
}

static inline void
lottery_put_u64 (guint8 *p, guint64 v)
{
  lottery_put_u32 (p, (guint32) (v >> 32));
  lottery_put_u32 (p + 4, (guint32) v);
}

static inline guint16
lottery_get_u16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
lottery_get_u32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) |
         ((guint32) p[2] << 8) | (guint32) p[3];
}

static inline guint64
lottery_get_u64 (const guint8 *p)
{
  return ((guint64) lottery_get_u32 (p) << 32) | lottery_get_u32 (p + 4);
}

/* Writes the length prefix of a frame whose body is @body_len bytes;
 * returns the whole frame's length. */
static inline gsize
lottery_finish_frame (guint8 *out,
                      gsize   body_len)
{
  lottery_put_u32 (out, (guint32) body_len);
  return LOTTERY_FRAME_PREFIX + body_len;
}

G_END_DECLS
