/* lottery-server.h: the central server: listener, connections, draw. */
#pragma once

#include <gio/gio.h>

#include "lottery-auth.h"
#include "lottery-server-config.h"
#include "lottery-state.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_SERVER (lottery_server_get_type ())
G_DECLARE_FINAL_TYPE (LotteryServer, lottery_server, LOTTERY, SERVER, GObject)

LotteryServer *lottery_server_new       (const LotteryServerConfig *config,
                                         GError                   **error);
void           lottery_server_set_auth  (LotteryServer             *self,
                                         LotteryAuth               *auth);
gboolean       lottery_server_start     (LotteryServer             *self,
                                         GError                   **error);
LotteryState  *lottery_server_get_state (LotteryServer             *self);
void           lottery_server_shutdown  (LotteryServer             *self);

G_END_DECLS
