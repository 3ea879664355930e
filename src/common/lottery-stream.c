/* lottery-stream.c: blocking frame I/O on GIO streams.
 *
 * The *_all calls loop over short reads and writes; the length prefix
 * is checked before the body is read.
 */
#include "config.h"

#include "lottery-stream.h"
#include "lottery-error.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <glib/gi18n-lib.h>

/* Reads one frame into @buffer (LOTTERY_FRAME_MAX bytes) and decodes it;
 * @message borrows from @buffer. A peer that closes between frames gives
 * G_IO_ERROR_CONNECTION_CLOSED. */
gboolean
lottery_stream_read_message (GInputStream   *stream,
                             guint8         *buffer,
                             LotteryMessage *message,
                             GCancellable   *cancellable,
                             GError        **error)
{
  gsize got = 0;
  gsize body_len;

  if (!g_input_stream_read_all (stream, buffer, LOTTERY_FRAME_PREFIX, &got,
                                cancellable, error))
    return FALSE;
  if (got < LOTTERY_FRAME_PREFIX)
    {
      lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         N_("The server closed the connection"));
      return FALSE;
    }
  if (!lottery_frame_parse_prefix (buffer, &body_len, error))
    return FALSE;

  if (!g_input_stream_read_all (stream, buffer + LOTTERY_FRAME_PREFIX,
                                body_len, &got, cancellable, error))
    return FALSE;
  if (got < body_len)
    {
      lottery_error_set (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         N_("The connection closed in the middle of a "
                            "message"));
      return FALSE;
    }

  return lottery_message_decode (buffer + LOTTERY_FRAME_PREFIX, body_len,
                                 message, error);
}

gboolean
lottery_stream_write (GOutputStream *stream,
                      const guint8  *data,
                      gsize          len,
                      GCancellable  *cancellable,
                      GError       **error)
{
  return g_output_stream_write_all (stream, data, len, NULL, cancellable,
                                    error);
}

/* TCP_NODELAY: frames are small and the peer waits for them, so Nagle
 * would hold each back until the previous one is acknowledged.
 * Keepalive: a peer that vanished is noticed within about a minute
 * (30 s idle, then 4 probes 5 s apart), not never. */
void
lottery_socket_tune (GSocket *socket)
{
  g_return_if_fail (G_IS_SOCKET (socket));

  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  g_socket_set_keepalive (socket, TRUE);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_KEEPIDLE, 30, NULL);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_KEEPINTVL, 5, NULL);
  g_socket_set_option (socket, IPPROTO_TCP, TCP_KEEPCNT, 4, NULL);
}
