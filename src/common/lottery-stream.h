/* lottery-stream.h: blocking frame I/O on GIO streams (clients, tests),
 * and the TCP options both ends use. */
#pragma once

#include <gio/gio.h>

#include "lottery-protocol.h"

G_BEGIN_DECLS

gboolean lottery_stream_read_message (GInputStream   *stream,
                                      guint8         *buffer,
                                      LotteryMessage *message,
                                      GCancellable   *cancellable,
                                      GError        **error);
gboolean lottery_stream_write        (GOutputStream  *stream,
                                      const guint8   *data,
                                      gsize           len,
                                      GCancellable   *cancellable,
                                      GError        **error);

void     lottery_socket_tune         (GSocket        *socket);

G_END_DECLS
