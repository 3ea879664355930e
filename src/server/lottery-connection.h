/* lottery-connection.h: the server's side of one agency connection. */
#pragma once

#include <gio/gio.h>

#include "lottery-auth.h"
#include "lottery-state.h"
#include "lottery-store.h"
#include "lottery-tls-gate.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_CONNECTION (lottery_connection_get_type ())
G_DECLARE_FINAL_TYPE (LotteryConnection, lottery_connection, LOTTERY, CONNECTION, GObject)

LotteryConnection *lottery_connection_new            (GIOStream         *stream,
                                                      GSocketConnection *connection,
                                                      LotteryState      *state,
                                                      LotteryStore      *storage);
void               lottery_connection_set_timeouts   (LotteryConnection *self,
                                                      guint              io_timeout_s,
                                                      guint              idle_timeout_s);
void               lottery_connection_set_auth       (LotteryConnection *self,
                                                      LotteryAuth       *auth);
void               lottery_connection_set_tls_gate   (LotteryConnection *self,
                                                      LotteryTlsGate    *gate);
void               lottery_connection_check_timeouts (LotteryConnection *self,
                                                      gint64             now);
void               lottery_connection_start          (LotteryConnection *self);
void               lottery_connection_close          (LotteryConnection *self);
void               lottery_connection_shut_down      (LotteryConnection *self);
const char        *lottery_connection_get_peer       (LotteryConnection *self);

G_END_DECLS
