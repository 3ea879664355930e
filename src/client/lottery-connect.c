/* lottery-connect.c: the client's connection to the central server.
 *
 * The upload, --ping and --status all connect here: TCP with a timeout
 * (which also bounds every read and write until the caller lifts it),
 * no proxy, TCP_NODELAY and keepalive. With a CA database the connection is TLS and
 * the handshake is done before lottery_connect () returns: the server's
 * certificate must chain to one of those CAs and be issued for the host
 * of the address, or nothing is sent.
 */
#include "config.h"

#include "lottery-connect.h"
#include "lottery-stream.h"
#include "lottery-error.h"
#include "lottery-file.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib/gi18n.h>

#define DEFAULT_PORT    12345
/* Longest a TLS close waits to hand its close_notify to the socket. */
#define CLOSE_TIMEOUT_S 1

static void
close_ca_fd (gpointer data)
{
  close (GPOINTER_TO_INT (data));
}

/* The CA certificates of @path (PEM) as a database to check the
 * server's certificate against. The file is read once, bounded (so
 * /dev/zero or a huge file is refused); GTlsFileDatabase, which only
 * takes a path, then loads those same bytes from a memory file (kept
 * open as long as the database), so a file changed in between cannot
 * slip in. */
GTlsDatabase *
lottery_connect_load_ca (const char  *path,
                         GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GBytes) contents = NULL;
  g_autofree char *fd_path = NULL;
  GTlsDatabase *database;
  GList *certificates;
  const char *data;
  gsize len;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                           N_("tls.ca is set, but TLS needs GIO’s TLS "
                              "backend, which is not installed (package "
                              "glib-networking)"));
      return NULL;
    }

  contents = lottery_file_read_bounded (path, LOTTERY_FILE_MAX_SIZE,
                                        &local_error);
  if (contents == NULL)
    {
      lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                         LOTTERY_CONFIG_ERROR_INVALID, local_error,
                         "tls.ca: ");
      return NULL;
    }
  data = g_bytes_get_data (contents, &len);
  fd = memfd_create ("lottery-tls-ca", MFD_CLOEXEC);
  if (fd < 0 || write (fd, data, len) != (ssize_t) len)
    {
      int saved_errno = errno;

      if (fd >= 0)
        close (fd);
      lottery_fail_errno (error, LOTTERY_CONFIG_ERROR,
                          LOTTERY_CONFIG_ERROR_INVALID, saved_errno,
                          "tls.ca: %s: ", path);
      return NULL;
    }
  fd_path = g_strdup_printf ("/proc/self/fd/%d", fd);

  /* A file without certificates would make a database that trusts
   * nobody, and every connection would fail for a less obvious reason. */
  certificates = g_tls_certificate_list_new_from_file (fd_path, &local_error);
  if (certificates == NULL)
    {
      close (fd);
      if (local_error != NULL)
        lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                           LOTTERY_CONFIG_ERROR_INVALID, local_error,
                           "tls.ca: %s: ", path);
      else
        lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                             N_("tls.ca: %s holds no PEM certificate"), path);
      return NULL;
    }
  g_list_free_full (certificates, g_object_unref);

  database = g_tls_file_database_new (fd_path, &local_error);
  if (database == NULL)
    {
      close (fd);
      lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                         LOTTERY_CONFIG_ERROR_INVALID, local_error,
                         "tls.ca: %s: ", path);
      return NULL;
    }
  /* The TLS backend reads its anchors again when it checks a peer: the
   * memory file lives as long as the database. */
  g_object_set_data_full (G_OBJECT (database), "lottery-ca-fd",
                          GINT_TO_POINTER (fd), close_ca_fd);

  return database;
}

/* The TCP connection under @stream (owned by @stream). */
static GSocketConnection *
base_connection (GIOStream *stream)
{
  GIOStream *base = NULL;

  if (!G_IS_TLS_CONNECTION (stream))
    return G_SOCKET_CONNECTION (stream);

  g_object_get (stream, "base-io-stream", &base, NULL);
  g_object_unref (base);

  return G_SOCKET_CONNECTION (base);
}

/* The socket under @stream, for its timeout. */
GSocket *
lottery_connect_get_socket (GIOStream *stream)
{
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  return g_socket_connection_get_socket (base_connection (stream));
}

static void
append_reason (GString    *reasons,
               const char *reason)
{
  if (reasons->len > 0)
    g_string_append (reasons, "; ");
  g_string_append (reasons, reason);
}

/* Why the server's certificate was refused, in words. */
static char *
describe_certificate_errors (GTlsCertificateFlags  flags,
                             GTlsDatabase         *ca,
                             const char           *host)
{
  GString *reasons = g_string_new (NULL);
  g_autofree char *anchors = NULL;

  if (G_IS_TLS_FILE_DATABASE (ca))
    g_object_get (ca, "anchors", &anchors, NULL);

  if (flags & G_TLS_CERTIFICATE_UNKNOWN_CA)
    {
      g_autofree char *reason =
        g_strdup_printf (_("is not signed by a CA in %s (unknown CA)"),
                         anchors != NULL ? anchors : "tls.ca");
      append_reason (reasons, reason);
    }
  if (flags & G_TLS_CERTIFICATE_BAD_IDENTITY)
    {
      g_autofree char *reason =
        g_strdup_printf (_("is not issued for %s (bad identity)"), host);
      append_reason (reasons, reason);
    }
  if (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED)
    append_reason (reasons, _("is not valid yet"));
  if (flags & G_TLS_CERTIFICATE_EXPIRED)
    append_reason (reasons, _("has expired"));
  if (flags & G_TLS_CERTIFICATE_REVOKED)
    append_reason (reasons, _("has been revoked"));
  if (flags & G_TLS_CERTIFICATE_INSECURE)
    append_reason (reasons, _("uses an insecure algorithm"));
  if (reasons->len == 0)
    append_reason (reasons, _("could not be verified"));

  return g_string_free (reasons, FALSE);
}

/* TLS over @connection, handshake done and the server verified. */
static GIOStream *
start_tls (GSocketConnection  *connection,
           const char         *address,
           GTlsDatabase       *ca,
           GCancellable       *cancellable,
           GError            **error)
{
  g_autoptr(GSocketConnectable) network = NULL;
  g_autoptr(GSocketConnectable) identity = NULL;
  g_autoptr(GInetAddress) ip = NULL;
  g_autoptr(GIOStream) tls = NULL;
  g_autoptr(GError) local_error = NULL;
  GTlsCertificateFlags flags;
  const char *host;

  network = g_network_address_parse (address, DEFAULT_PORT, error);
  if (network == NULL)
    return NULL;
  host = g_network_address_get_hostname (G_NETWORK_ADDRESS (network));
  /* An IP literal is no server name (SNI): GnuTLS refuses an IPv6 one.
   * As a socket address it is still what the certificate must name. */
  ip = g_inet_address_new_from_string (host);
  if (ip != NULL)
    identity = G_SOCKET_CONNECTABLE (g_inet_socket_address_new (
      ip, g_network_address_get_port (G_NETWORK_ADDRESS (network))));
  else
    identity = g_object_ref (network);
  /* What g_tls_client_connection_new () does, with @ca given from the
   * start: set afterwards, the system's CAs would be read from disk
   * first, for nothing (some 10 ms). Frames carry their own length, so
   * a cut-off stream shows anyway: a server that closes without
   * close_notify has simply closed. */
  tls = g_initable_new (g_tls_backend_get_client_connection_type (
                          g_tls_backend_get_default ()),
                        cancellable, error,
                        "base-io-stream", connection,
                        "server-identity", identity,
                        "database", ca,
                        "require-close-notify", FALSE,
                        NULL);
  if (tls == NULL)
    return NULL;

  if (g_tls_connection_handshake (G_TLS_CONNECTION (tls), cancellable,
                                  &local_error))
    return g_steal_pointer (&tls);

  flags = g_tls_connection_get_peer_certificate_errors (G_TLS_CONNECTION (tls));
  if (g_error_matches (local_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) ||
      flags != 0)
    {
      g_autofree char *reasons = describe_certificate_errors (flags, ca, host);

      /* A G_TLS_ERROR: the uploader does not retry it. */
      lottery_error_set (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                         N_("The server at %s is not trusted: its "
                            "certificate %s"), address, reasons);
      return NULL;
    }

  /* GIO calls a connection closed or reset during the handshake "not
   * TLS": like any dropped connection (a server stopping) it is worth a
   * retry, as a timeout is. Other TLS errors, such as plain protocol
   * bytes where TLS was expected, are not. */
  if (g_error_matches (local_error, G_TLS_ERROR, G_TLS_ERROR_NOT_TLS))
    lottery_fail_wrap (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       local_error, N_("TLS handshake with %s failed: "),
                       address);
  else if (local_error->domain == G_TLS_ERROR)
    {
      lottery_error_prefix (&local_error, N_("TLS handshake with %s failed "
                                             "(is the server set up for "
                                             "TLS?): "), address);
      g_propagate_error (error, g_steal_pointer (&local_error));
    }
  else
    {
      lottery_error_prefix (&local_error, N_("TLS handshake with %s "
                                             "failed: "), address);
      g_propagate_error (error, g_steal_pointer (&local_error));
    }
  return NULL;
}

static GIOStream *
connect_one (const char    *address,
             GTlsDatabase  *ca,
             guint          timeout_s,
             GCancellable  *cancellable,
             GError       **error)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  GIOStream *tls;

  g_return_val_if_fail (address != NULL, NULL);
  g_return_val_if_fail (ca == NULL || G_IS_TLS_DATABASE (ca), NULL);

  g_socket_client_set_timeout (client, timeout_s);
  /* Agencies reach the server directly; the desktop proxy settings
   * would also need GSettings schemas a server host may not have. */
  g_socket_client_set_enable_proxy (client, FALSE);
  connection = g_socket_client_connect_to_host (client, address, DEFAULT_PORT,
                                                cancellable, error);
  if (connection == NULL)
    return NULL;

  /* Small messages (FINISH, QUERY) must not wait behind Nagle, and the
   * wait for the draw, which has no timeout, must notice a server that
   * vanished (host down, partition). */
  lottery_socket_tune (g_socket_connection_get_socket (connection));

  if (ca == NULL)
    return G_IO_STREAM (g_steal_pointer (&connection));

  tls = start_tls (connection, address, ca, cancellable, error);
  if (tls == NULL)
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  return tls;
}

/* Connects to @address (host:port, port 12345 if none; or a
 * comma-separated list of them, tried in order until one answers: the
 * servers of one lottery over one database) within @timeout_s seconds
 * each; the socket keeps that timeout for every read and write until
 * lottery_connect_get_socket () changes it. With @ca, the result is a
 * GTlsClientConnection whose handshake is done; else the
 * GSocketConnection. @index (nullable) gets the position in the list
 * of the address that answered. */
GIOStream *
lottery_connect (const char    *address,
                 GTlsDatabase  *ca,
                 guint          timeout_s,
                 guint         *index,
                 GCancellable  *cancellable,
                 GError       **error)
{
  g_auto(GStrv) addresses = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (address != NULL, NULL);

  addresses = g_strsplit (address, ",", -1);
  for (guint i = 0; addresses[i] != NULL; i++)
    {
      GIOStream *stream;

      g_clear_error (&local_error);
      stream = connect_one (g_strstrip (addresses[i]), ca, timeout_s,
                            cancellable, &local_error);
      if (stream != NULL)
        {
          if (index != NULL)
            *index = i;
          return stream;
        }
      /* Only a server that cannot be reached sends us to the next; a
       * name that no longer resolves (a container gone from its
       * network's DNS) is one. */
      if ((local_error->domain != G_IO_ERROR &&
           local_error->domain != G_RESOLVER_ERROR) ||
          g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        break;
    }
  g_propagate_error (error, local_error);

  return NULL;
}

/* Closes @stream and its socket. Over TLS the close_notify is sent if
 * the socket takes it within a second: a server that stopped reading
 * must not hold up a client that is leaving. */
void
lottery_connect_close (GIOStream *stream)
{
  GSocketConnection *connection;

  g_return_if_fail (G_IS_IO_STREAM (stream));

  connection = base_connection (stream);
  if (G_IS_TLS_CONNECTION (stream))
    {
      g_socket_set_timeout (g_socket_connection_get_socket (connection),
                            CLOSE_TIMEOUT_S);
      g_io_stream_close (stream, NULL, NULL);
    }
  /* Also when the TLS close failed half-way. */
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
}
