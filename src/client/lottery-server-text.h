/* lottery-server-text.h: text from a server, made safe to show. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *lottery_server_text (const char *data,
                           gsize       len);

G_END_DECLS
