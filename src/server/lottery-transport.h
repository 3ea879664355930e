/* lottery-transport.h: one connection's socket, its peer and, over
 * TLS, its way through the server's LotteryTlsGate. */
#pragma once

#include <gio/gio.h>

#include "lottery-frame-io.h"
#include "lottery-tls-gate.h"

G_BEGIN_DECLS

/* How an admission through the TLS gate ended. */
typedef enum
{
  LOTTERY_ADMIT_ADMITTED, /* the handshake is done: frames may be read */
  LOTTERY_ADMIT_IN_CLEAR, /* spoken to in the clear: answer the error so */
  LOTTERY_ADMIT_FAILED,   /* timed out, cancelled or refused: close */
  LOTTERY_ADMIT_STOPPED,  /* the connection stopped meanwhile: the socket
                           * is closed now */
} LotteryAdmit;

typedef struct _LotteryTransport LotteryTransport;

LotteryTransport *lottery_transport_new          (GIOStream           *stream,
                                                  GSocketConnection   *connection,
                                                  LotteryFrameIO      *io);
void              lottery_transport_free         (LotteryTransport    *self);
void              lottery_transport_set_gate     (LotteryTransport    *self,
                                                  LotteryTlsGate      *gate);
const char       *lottery_transport_get_peer     (LotteryTransport    *self);
gboolean          lottery_transport_is_tls       (LotteryTransport    *self);
gboolean          lottery_transport_can_start    (LotteryTransport    *self);
void              lottery_transport_admit_async  (LotteryTransport    *self,
                                                  GCancellable        *cancellable,
                                                  GAsyncReadyCallback  callback,
                                                  gpointer             user_data);
LotteryAdmit      lottery_transport_admit_finish (LotteryTransport    *self,
                                                  GAsyncResult        *result,
                                                  gboolean             stopped,
                                                  GError             **error);
gboolean          lottery_transport_is_admitting (LotteryTransport    *self);
void              lottery_transport_close        (LotteryTransport    *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryTransport, lottery_transport_free)

G_END_DECLS
