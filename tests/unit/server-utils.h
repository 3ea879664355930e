/* server-utils.h: socket pairs, raw frames and a log capture for the
 * in-process tests of the server's units. */
#pragma once

#include <gio/gio.h>

#include "lottery-protocol.h"

G_BEGIN_DECLS

void     server_test_init          (void);
void     server_socket_pair        (GSocketConnection **server,
                                    GSocketConnection **client);
void     server_client_send        (GSocketConnection  *client,
                                    const guint8       *frame,
                                    gsize               len);
gsize    server_client_read_frame  (GSocketConnection  *client,
                                    guint8             *frame);
void     server_client_expect      (GSocketConnection  *client,
                                    LotteryMessageType  type,
                                    LotteryMessage     *message,
                                    guint8             *frame);
gboolean server_client_at_eof      (GSocketConnection  *client);
void     server_iterate_until      (gboolean           *flag);
void     server_iterate_for        (guint               ms);
guint    server_log_count          (const char         *needle);
void     server_log_clear          (void);
gsize    server_encode_batch       (guint8             *frame,
                                    guint32             agency,
                                    guint32             sequence,
                                    guint               count,
                                    gboolean            bad_last);

G_END_DECLS
