/* lottery-connect.h: the client's connection to the central server. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GTlsDatabase *lottery_connect_load_ca    (const char    *path,
                                          GError       **error);
GIOStream    *lottery_connect            (const char    *address,
                                          GTlsDatabase  *ca,
                                          guint          timeout_s,
                                          guint         *index,
                                          GCancellable  *cancellable,
                                          GError       **error);
GSocket      *lottery_connect_get_socket (GIOStream     *stream);
void          lottery_connect_close      (GIOStream     *stream);

G_END_DECLS
