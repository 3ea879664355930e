/* lottery-transport.c: one connection's socket: who is at the other
 * end, the socket's tuning and, over TLS, its way through the server's
 * LotteryTlsGate before any frame is read. Closes the socket through
 * the connection's LotteryFrameIO, at once or, while a handshake thread
 * may still use it, once the gate gives it back. Knows nothing of the
 * protocol. Runs on the main context; GIO runs the handshake in a pool
 * thread.
 */
#include "config.h"

#include "lottery-transport.h"
#include "lottery-error.h"
#include "lottery-stream.h"

struct _LotteryTransport
{
  GIOStream         *stream;     /* (owned): the socket, or TLS over it */
  GSocketConnection *connection; /* (owned) */
  LotteryFrameIO    *io;         /* (owned) */
  LotteryTlsGate    *gate;       /* (owned) (nullable): lets TLS in */
  char              *peer;       /* (owned) */
  gboolean           handshaking; /* the gate has the socket */
};

static char *
describe_peer (GSocketConnection *connection)
{
  g_autoptr(GSocketAddress) address =
    g_socket_connection_get_remote_address (connection, NULL);

  if (G_IS_INET_SOCKET_ADDRESS (address))
    return g_inet_address_to_string (g_inet_socket_address_get_address (
                                       G_INET_SOCKET_ADDRESS (address)));

  return g_strdup ("unknown");
}

/* @stream is what the agency speaks over: @connection itself, or a
 * GTlsServerConnection over it (its handshake not yet done: set a
 * gate). @connection gives the peer's address and the socket; @io
 * reads and writes @stream.
 *
 * Returns: (transfer full): the transport of one connection */
LotteryTransport *
lottery_transport_new (GIOStream         *stream,
                       GSocketConnection *connection,
                       LotteryFrameIO    *io)
{
  LotteryTransport *self = g_new0 (LotteryTransport, 1);

  self->stream = g_object_ref (stream);
  self->connection = g_object_ref (connection);
  self->io = g_object_ref (io);
  self->peer = describe_peer (connection);

  /* Replies wait for no Nagle delay, and a peer that vanished (a cable
   * pulled, a partition) frees its agency within a minute. */
  lottery_socket_tune (g_socket_connection_get_socket (connection));

  return self;
}

void
lottery_transport_free (LotteryTransport *self)
{
  g_object_unref (self->stream);
  g_object_unref (self->connection);
  g_object_unref (self->io);
  g_clear_object (&self->gate);
  g_free (self->peer);
  g_free (self);
}

/* Over TLS, the handshake goes through @gate, which the server owns. */
void
lottery_transport_set_gate (LotteryTransport *self,
                            LotteryTlsGate   *gate)
{
  g_set_object (&self->gate, gate);
}

/* Returns: (transfer none): the peer's address, for the log. */
const char *
lottery_transport_get_peer (LotteryTransport *self)
{
  return self->peer;
}

/* TRUE if the agency speaks TLS: frames wait for the gate's admission. */
gboolean
lottery_transport_is_tls (LotteryTransport *self)
{
  return G_IS_TLS_CONNECTION (self->stream);
}

/* TRUE unless a TLS stream has no gate to go through. */
gboolean
lottery_transport_can_start (LotteryTransport *self)
{
  return !G_IS_TLS_CONNECTION (self->stream) || self->gate != NULL;
}

/* Hands the TLS stream to the gate; finish with
 * lottery_transport_admit_finish (). */
void
lottery_transport_admit_async (LotteryTransport    *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (lottery_transport_is_tls (self) && self->gate != NULL);

  self->handshaking = TRUE;
  lottery_tls_gate_admit_async (self->gate, G_TLS_CONNECTION (self->stream),
                                self->connection, self->peer, cancellable,
                                callback, user_data);
}

/* How the admission ended; @stopped says that the connection stopped
 * meanwhile (timeout, shutdown), which closes the socket, free now. For
 * LOTTERY_ADMIT_IN_CLEAR, @error is the answer, which goes out in the
 * clear. */
LotteryAdmit
lottery_transport_admit_finish (LotteryTransport  *self,
                                GAsyncResult      *result,
                                gboolean           stopped,
                                GError           **error)
{
  g_autoptr(GError) local_error = NULL;
  gboolean ok;

  ok = lottery_tls_gate_admit_finish (self->gate, result, &local_error);
  self->handshaking = FALSE;

  if (stopped)
    {
      lottery_frame_io_close (self->io);
      return LOTTERY_ADMIT_STOPPED;
    }
  if (g_error_matches (local_error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL))
    {
      /* Spoken to in the clear: answered in the clear. */
      lottery_frame_io_reply_in_clear (self->io);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return LOTTERY_ADMIT_IN_CLEAR;
    }
  if (!ok)
    return LOTTERY_ADMIT_FAILED;

  return LOTTERY_ADMIT_ADMITTED;
}

/* TRUE while the gate has the socket. */
gboolean
lottery_transport_is_admitting (LotteryTransport *self)
{
  return self->handshaking;
}

/* Closes the socket; while a handshake thread may still be using it,
 * lottery_transport_admit_finish () closes it when the gate returns
 * it. */
void
lottery_transport_close (LotteryTransport *self)
{
  if (!self->handshaking)
    lottery_frame_io_close (self->io);
}
