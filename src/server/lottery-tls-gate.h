/* lottery-tls-gate.h: admission of TLS connections: their ClientHello,
 * at most a few handshakes at once, a deadline. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* GIO runs a handshake in a thread of GTask's pool, the one batches and
 * the draw use; stalled peers must not take all of it. */
#define LOTTERY_TLS_GATE_MAX_HANDSHAKES 8

#define LOTTERY_TYPE_TLS_GATE (lottery_tls_gate_get_type ())
G_DECLARE_FINAL_TYPE (LotteryTlsGate, lottery_tls_gate, LOTTERY, TLS_GATE, GObject)

LotteryTlsGate *lottery_tls_gate_new          (guint                max_handshakes,
                                               guint                timeout_s);
void            lottery_tls_gate_admit_async  (LotteryTlsGate      *self,
                                               GTlsConnection      *tls,
                                               GSocketConnection   *connection,
                                               const char          *peer,
                                               GCancellable        *cancellable,
                                               GAsyncReadyCallback  callback,
                                               gpointer             user_data);
gboolean        lottery_tls_gate_admit_finish (LotteryTlsGate      *self,
                                               GAsyncResult        *result,
                                               GError             **error);
guint           lottery_tls_gate_get_waiting  (LotteryTlsGate      *self);
void            lottery_tls_gate_shutdown     (LotteryTlsGate      *self);

G_END_DECLS
