/* lottery-http-server.c: metrics, status and a status page over HTTP.
 *
 * A SoupServer on the main context, fed by a socket service of our own
 * so that the number of connections and their lifetime stay bounded:
 * at most MAX_CONNECTIONS at once (HTTPS: MAX_TLS_CONNECTIONS, since
 * GIO's handshakes take a thread of the pool agencies' batches use),
 * each one request (no keep-alive) and closed after TIMEOUT_S whatever
 * it is doing. When the cap is reached, the oldest connection that has
 * not sent a request yet (an idle or slow-loris peer) is closed to make
 * room, so that a probe or a scrape always gets in. Only GET and HEAD,
 * no request body beyond MAX_BODY.
 * Every answer is read from LotteryState and LotteryMetrics, which
 * never wait for the agencies' work, nor it for them; the status view
 * and page are rendered by lottery-status-page.c.
 *
 * Owns the SoupServer, the socket service, the table of connections
 * and the last minutes of bets per second (for the page's chart). Runs
 * on the main context it listens on; only the weak-reference notify
 * of a connection's stream may run in another thread, and it only
 * hands the connection back to that context.
 */
#include "config.h"

#include "lottery-http-server.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-metrics.h"
#include "lottery-protocol.h"
#include "lottery-status-page.h"

#include <glib/gi18n.h>
#include <libsoup/soup.h>
#include <string.h>

#define MAX_CONNECTIONS     64
#define MAX_TLS_CONNECTIONS 8
#define TIMEOUT_S           10
#define MAX_BODY            4096
#define HISTORY             300 /* seconds of bets per second kept */

struct _LotteryHttpServer
{
  GObject parent_instance;

  LotteryState    *state;       /* (owned) */
  GTlsCertificate *certificate; /* (owned) (nullable): plain HTTP */
  SoupServer      *soup;        /* (owned) */
  GSocketService  *service;     /* (owned) (nullable) */
  GMainContext    *context;     /* (owned) (nullable): where it listens */
  GHashTable      *open;        /* Connection * set, main context only */
  guint            sweep;
  guint16          port;
  /* Bets stored each second, oldest first, so that the page's chart
   * has the last minutes as soon as it opens. */
  guint64          history[HISTORY];
  guint            history_len;
  guint64          last_total;
};

G_DEFINE_FINAL_TYPE (LotteryHttpServer, lottery_http_server, G_TYPE_OBJECT)

/* One accepted connection, until soup lets go of its stream.
 *
 * Its end is seen by a weak reference on the stream, whose notify runs
 * in whichever thread drops the last reference: with HTTPS that can be
 * a thread of the pool, when GIO's handshake task outlives soup's hold
 * on the connection. The notify therefore touches nothing but the
 * record's own immutable context, and hands the record to the main
 * context, where the table of open connections is read and changed
 * (incoming_cb, sweep_cb, stop): the table is never touched from
 * another thread, and a record is freed only there. */
typedef struct
{
  LotteryHttpServer *server;    /* (nullable): NULL once let go of */
  GMainContext      *context;   /* (owned) */
  GSocket           *socket;    /* (owned) */
  GSocketAddress    *remote;    /* (owned) */
  gint64             deadline;  /* monotonic */
  gboolean           requested; /* a whole request came in */
} Connection;

static void
connection_free (Connection *connection)
{
  g_object_unref (connection->socket);
  g_object_unref (connection->remote);
  g_main_context_unref (connection->context);
  g_free (connection);
}

/* In the main context, once the stream is gone. */
static gboolean
connection_gone_cb (gpointer data)
{
  Connection *connection = data;

  if (connection->server != NULL)
    g_hash_table_remove (connection->server->open, connection);
  connection_free (connection);

  return G_SOURCE_REMOVE;
}

/* In any thread: see Connection. Always an idle source, never
 * g_main_context_invoke (), which would run the callback right here in
 * a pool thread that manages to acquire the default context (between
 * two iterations, as at shutdown). */
static void
stream_gone_cb (gpointer  data,
                GObject  *stream)
{
  Connection *connection = data;
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_callback (idle, connection_gone_cb, connection, NULL);
  g_source_set_static_name (idle, "[lottery] http connection gone");
  g_source_attach (idle, connection->context);
}

/* Shuts @connection down and takes it out of the count; its record
 * lives on until its stream is gone. */
static void
let_go (LotteryHttpServer *self,
        Connection        *connection)
{
  g_socket_shutdown (connection->socket, TRUE, TRUE, NULL);
  connection->server = NULL;
  g_hash_table_remove (self->open, connection);
}

static void
forget_connections (LotteryHttpServer *self)
{
  GHashTableIter iter;
  gpointer connection;

  g_hash_table_iter_init (&iter, self->open);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    {
      g_socket_shutdown (((Connection *) connection)->socket, TRUE, TRUE,
                         NULL);
      ((Connection *) connection)->server = NULL;
      g_hash_table_iter_remove (&iter);
    }
}

/* The connection a request came on, by the peer's address and port
 * (unique among open connections). */
static Connection *
find_connection (LotteryHttpServer *self,
                 GSocketAddress    *remote)
{
  GHashTableIter iter;
  gpointer connection;

  if (!G_IS_INET_SOCKET_ADDRESS (remote))
    return NULL;
  g_hash_table_iter_init (&iter, self->open);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    {
      GInetSocketAddress *a =
        G_INET_SOCKET_ADDRESS (((Connection *) connection)->remote);
      GInetSocketAddress *b = G_INET_SOCKET_ADDRESS (remote);

      if (g_inet_socket_address_get_port (a) ==
          g_inet_socket_address_get_port (b) &&
          g_inet_address_equal (g_inet_socket_address_get_address (a),
                                g_inet_socket_address_get_address (b)))
        return connection;
    }

  return NULL;
}

/* The oldest connection that has not sent a whole request yet, or
 * NULL if every one is being answered. */
static Connection *
find_silent (LotteryHttpServer *self)
{
  GHashTableIter iter;
  gpointer connection;
  Connection *oldest = NULL;

  g_hash_table_iter_init (&iter, self->open);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    {
      Connection *c = connection;

      if (!c->requested && (oldest == NULL || c->deadline < oldest->deadline))
        oldest = c;
    }

  return oldest;
}

static void
lottery_http_server_finalize (GObject *object)
{
  LotteryHttpServer *self = LOTTERY_HTTP_SERVER (object);

  lottery_http_server_stop (self);
  g_hash_table_unref (self->open);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_object (&self->soup);
  g_clear_object (&self->certificate);
  g_clear_object (&self->state);

  G_OBJECT_CLASS (lottery_http_server_parent_class)->finalize (object);
}

static void
lottery_http_server_class_init (LotteryHttpServerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_http_server_finalize;
}

static void
lottery_http_server_init (LotteryHttpServer *self)
{
  self->open = g_hash_table_new (NULL, NULL);
}

/* ---- answers ---- */

static void
reply (SoupServerMessage *msg,
       guint              status,
       const char        *type,
       char              *body)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, type, SOUP_MEMORY_TAKE, body,
                                    strlen (body));
}

static void
handle_request (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  LotteryHttpServer *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  Connection *connection =
    find_connection (self, soup_server_message_get_remote_address (msg));
  g_autoptr(LotteryStatusView) view = NULL;

  /* Being answered: no longer one to close to make room. */
  if (connection != NULL)
    connection->requested = TRUE;

  if (g_strcmp0 (method, "GET") != 0 && g_strcmp0 (method, "HEAD") != 0)
    {
      soup_message_headers_replace (
        soup_server_message_get_response_headers (msg), "Allow", "GET, HEAD");
      reply (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "text/plain",
             g_strdup ("only GET and HEAD\n"));
      return;
    }

  if (g_str_equal (path, "/metrics"))
    {
      reply (msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
             lottery_metrics_render (lottery_metrics_get_default (),
                                     self->state));
      return;
    }
  if (g_str_equal (path, "/healthz"))
    {
      reply (msg, SOUP_STATUS_OK, "text/plain", g_strdup ("ok\n"));
      return;
    }
  if (!g_str_equal (path, "/status.json") && !g_str_equal (path, "/"))
    {
      reply (msg, SOUP_STATUS_NOT_FOUND, "text/plain",
             g_strdup ("not found\n"));
      return;
    }

  view = lottery_status_page_fetch_view (self->state);
  if (view == NULL)
    reply (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "text/plain",
           g_strdup ("status unavailable\n"));
  else if (g_str_equal (path, "/status.json"))
    reply (msg, SOUP_STATUS_OK, "application/json",
           lottery_status_view_format_json (view));
  else
    reply (msg, SOUP_STATUS_OK, "text/html; charset=utf-8",
           lottery_status_page_render (view, self->history,
                                       self->history_len, HISTORY));
}

/* A request with a body is not for us: rather than let soup read it,
 * the connection is taken from soup and closed. */
static void
got_headers_cb (SoupServerMessage *msg,
                gpointer           user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding = soup_message_headers_get_encoding (headers);
  g_autoptr(GIOStream) stream = NULL;

  if (encoding == SOUP_ENCODING_NONE ||
      (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
       soup_message_headers_get_content_length (headers) <= MAX_BODY))
    return;

  stream = soup_server_message_steal_connection (msg);
  if (stream != NULL)
    g_io_stream_close (stream, NULL, NULL);
}

static void
request_started_cb (SoupServer        *soup,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers_cb), NULL);
}

/* ---- connections ---- */

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  LotteryHttpServer *self = user_data;
  GSocket *socket = g_socket_connection_get_socket (connection);
  guint limit = self->certificate != NULL ? MAX_TLS_CONNECTIONS
                                          : MAX_CONNECTIONS;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  Connection *tracked;

  local = g_socket_connection_get_local_address (connection, NULL);
  remote = g_socket_connection_get_remote_address (connection, NULL);
  if (local == NULL || remote == NULL)
    {
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }
  /* Full: an idle or slow peer makes room, so that silent sockets
   * cannot keep probes and scrapes out; when every connection is being
   * answered, the new one waits for none of them and is closed. */
  if (g_hash_table_size (self->open) >= limit)
    {
      Connection *silent = find_silent (self);

      if (silent == NULL)
        {
          g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
          return TRUE;
        }
      let_go (self, silent);
    }

  if (self->certificate != NULL)
    {
      stream = G_IO_STREAM (g_tls_server_connection_new (
        G_IO_STREAM (connection), self->certificate, &error));
      if (stream == NULL)
        {
          g_autofree char *reason = lottery_log_error_value (error);

          lottery_log (LOTTERY_LOG_ERROR, "http_accept", "fail", "error: %s",
                       reason);
          g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
          return TRUE;
        }
    }
  else
    stream = g_object_ref (G_IO_STREAM (connection));

  tracked = g_new0 (Connection, 1);
  tracked->server = self;
  tracked->context = g_main_context_ref (self->context);
  tracked->socket = g_object_ref (socket);
  tracked->remote = g_object_ref (remote);
  tracked->deadline = g_get_monotonic_time () + TIMEOUT_S * G_USEC_PER_SEC;
  g_hash_table_add (self->open, tracked);
  g_object_weak_ref (G_OBJECT (stream), stream_gone_cb, tracked);

  if (!soup_server_accept_iostream (self->soup, stream, local, remote,
                                    &error))
    {
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (LOTTERY_LOG_ERROR, "http_accept", "fail", "error: %s",
                   reason);
    }

  return TRUE;
}

/* Once a second: the chart's next point, and connections past their
 * deadline are shut down (soup sees their end and lets go of them). */
static gboolean
sweep_cb (gpointer user_data)
{
  LotteryHttpServer *self = user_data;
  gint64 now = g_get_monotonic_time ();
  guint64 total = lottery_state_get_bets_stored (self->state);
  GHashTableIter iter;
  gpointer connection;

  if (self->history_len == HISTORY)
    memmove (self->history, self->history + 1,
             (HISTORY - 1) * sizeof self->history[0]);
  else
    self->history_len++;
  self->history[self->history_len - 1] =
    total >= self->last_total ? total - self->last_total : 0;
  self->last_total = total;

  g_hash_table_iter_init (&iter, self->open);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    if (((Connection *) connection)->deadline <= now)
      g_socket_shutdown (((Connection *) connection)->socket, TRUE, TRUE,
                         NULL);

  return G_SOURCE_CONTINUE;
}

/**
 * lottery_http_server_new:
 * @state: the lottery whose figures are served
 * @config: with tls.certificate and tls.key set, HTTPS with them
 *
 * Returns: (transfer full): a server that listens nowhere yet, or
 *   %NULL if the certificate cannot be loaded
 */
LotteryHttpServer *
lottery_http_server_new (LotteryState              *state,
                         const LotteryServerConfig *config,
                         GError                   **error)
{
  g_autoptr(LotteryHttpServer) self =
    g_object_new (LOTTERY_TYPE_HTTP_SERVER, NULL);

  g_return_val_if_fail (LOTTERY_IS_STATE (state), NULL);

  self->state = g_object_ref (state);
  if (config->tls_certificate != NULL)
    {
      self->certificate = g_tls_certificate_new_from_files (
        config->tls_certificate, config->tls_key, error);
      if (self->certificate == NULL)
        return NULL;
    }

  self->soup = soup_server_new ("server-header", "lottery-server", NULL);
  soup_server_add_handler (self->soup, NULL, handle_request, self, NULL);
  g_signal_connect (self->soup, "request-started",
                    G_CALLBACK (request_started_cb), NULL);

  return g_steal_pointer (&self);
}

/* ADDRESS:PORT with a literal address ([…] for IPv6); port 0 picks a
 * free one. */
static GSocketAddress *
parse_address (const char *text,
               GError    **error)
{
  g_autofree char *host = NULL;
  g_autoptr(GInetAddress) address = NULL;
  guint16 port = 0;
  const char *colon = strrchr (text, ':');
  guint64 number;

  if (colon != NULL &&
      g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &number, NULL))
    {
      port = (guint16) number;
      host = g_strndup (text, (gsize) (colon - text));
      if (host[0] == '[' && host[strlen (host) - 1] == ']')
        {
          char *inner = g_strndup (host + 1, strlen (host) - 2);

          g_free (host);
          host = inner;
        }
      address = g_inet_address_new_from_string (host);
    }
  if (address == NULL)
    {
      lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                           N_("http.listen: “%s” is not ADDRESS:PORT, such as "
                              "127.0.0.1:9090 or [::1]:9090"), text);
      return NULL;
    }

  return g_inet_socket_address_new (address, port);
}

gboolean
lottery_http_server_listen (LotteryHttpServer *self,
                            const char        *address,
                            GError           **error)
{
  g_autoptr(GSocketAddress) wanted = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *shown = NULL;

  g_return_val_if_fail (LOTTERY_IS_HTTP_SERVER (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);

  wanted = parse_address (address, error);
  if (wanted == NULL)
    return FALSE;

  self->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service),
                                      wanted, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective,
                                      &local_error))
    {
      g_clear_object (&self->service);
      lottery_fail_wrap (error, LOTTERY_ERROR, LOTTERY_ERROR_FAILED,
                         local_error, N_("Cannot serve HTTP on %s: "),
                         address);
      return FALSE;
    }

  self->context = g_main_context_ref_thread_default ();
  self->last_total = lottery_state_get_bets_stored (self->state);
  self->port = g_inet_socket_address_get_port (
    G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (self->service, "incoming", G_CALLBACK (incoming_cb), self);
  g_socket_service_start (self->service);
  self->sweep = g_timeout_add_seconds (1, sweep_cb, self);

  shown = lottery_log_value (address);
  lottery_log (G_LOG_LEVEL_INFO, "http_listen", "success",
               "address: %s | port: %u | tls: %s", shown, self->port,
               self->certificate != NULL ? "on" : "off");

  return TRUE;
}

guint16
lottery_http_server_get_port (LotteryHttpServer *self)
{
  g_return_val_if_fail (LOTTERY_IS_HTTP_SERVER (self), 0);

  return self->port;
}

/* Closes the port and every connection on it. */
void
lottery_http_server_stop (LotteryHttpServer *self)
{
  g_return_if_fail (LOTTERY_IS_HTTP_SERVER (self));

  g_clear_handle_id (&self->sweep, g_source_remove);
  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_clear_object (&self->service);
    }
  forget_connections (self);
  if (self->soup != NULL)
    soup_server_disconnect (self->soup);
}
