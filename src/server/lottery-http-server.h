/* lottery-http-server.h: metrics, status and a status page over HTTP. */
#pragma once

#include <gio/gio.h>

#include "lottery-server-config.h"
#include "lottery-state.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_HTTP_SERVER (lottery_http_server_get_type ())
G_DECLARE_FINAL_TYPE (LotteryHttpServer, lottery_http_server, LOTTERY, HTTP_SERVER, GObject)

LotteryHttpServer *lottery_http_server_new      (LotteryState              *state,
                                                 const LotteryServerConfig *config,
                                                 GError                   **error);
gboolean           lottery_http_server_listen   (LotteryHttpServer         *self,
                                                 const char                *address,
                                                 GError                   **error);
guint16            lottery_http_server_get_port (LotteryHttpServer         *self);
void               lottery_http_server_stop     (LotteryHttpServer         *self);

G_END_DECLS
