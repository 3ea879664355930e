/* test-tls-gate.c: LotteryTlsGate over socket pairs, in-process: what
 * it lets through, what it refuses, its queue and its deadline. No
 * handshake completes here (no certificate): the gate's own decisions
 * are what is tested. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-tls-gate.h"
#include "server-utils.h"

typedef struct
{
  GSocketConnection *server;
  GSocketConnection *client;
  GIOStream         *tls;
  GCancellable      *cancellable;
  GError            *error;
  gboolean           done;
  gboolean           ok;
} Admit;

static const guint8 client_hello[] = {
  0x16, 0x03, 0x01, 0x00, 0x04, /* a handshake record of 4 bytes */
  0x01, 0x00, 0x00, 0x00,
};

static void
admitted_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Admit *admit = user_data;

  admit->ok = lottery_tls_gate_admit_finish (LOTTERY_TLS_GATE (source), result,
                                             &admit->error);
  admit->done = TRUE;
}

/* Returns FALSE (and skips) where GIO has no TLS backend. */
static gboolean
admit_start (Admit          *admit,
             LotteryTlsGate *gate)
{
  g_autoptr(GError) error = NULL;

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_test_skip ("no TLS backend (glib-networking)");
      return FALSE;
    }
  server_socket_pair (&admit->server, &admit->client);
  admit->tls = g_tls_server_connection_new (G_IO_STREAM (admit->server), NULL,
                                            &error);
  g_assert_no_error (error);
  admit->cancellable = g_cancellable_new ();
  lottery_tls_gate_admit_async (gate, G_TLS_CONNECTION (admit->tls),
                                admit->server, "peer", admit->cancellable,
                                admitted_cb, admit);
  return TRUE;
}

static void
admit_clear (Admit *admit)
{
  g_clear_object (&admit->tls);
  g_clear_object (&admit->server);
  g_clear_object (&admit->client);
  g_clear_object (&admit->cancellable);
  g_clear_error (&admit->error);
}

static void
test_clear_text (void)
{
  g_autoptr(LotteryTlsGate) gate = lottery_tls_gate_new (8, 10);
  guint8 frame[LOTTERY_FRAME_MAX];
  Admit admit = { 0, };

  g_test_summary ("A client speaking the protocol in the clear is refused "
                  "with a protocol error, before any handshake.");
  if (!admit_start (&admit, gate))
    return;

  server_client_send (admit.client, frame,
                      lottery_message_encode_empty (frame,
                                                    LOTTERY_MESSAGE_PING));
  server_iterate_until (&admit.done);
  g_assert_error (admit.error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  admit_clear (&admit);
}

static void
test_peer_left (void)
{
  g_autoptr(LotteryTlsGate) gate = lottery_tls_gate_new (8, 10);
  Admit admit = { 0, };

  g_test_summary ("A client that leaves after a few bytes of its first "
                  "record is let go at once, without a handshake.");
  if (!admit_start (&admit, gate))
    return;

  server_client_send (admit.client, client_hello, 3);
  server_iterate_for (20);
  g_assert_false (admit.done);
  g_io_stream_close (G_IO_STREAM (admit.client), NULL, NULL);
  server_iterate_until (&admit.done);
  g_assert_error (admit.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  admit_clear (&admit);
}

static void
test_stalled_record (void)
{
  static const guint8 stalled[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
  g_autoptr(LotteryTlsGate) gate = lottery_tls_gate_new (8, 1);
  Admit admit = { 0, };

  g_test_summary ("A record header announcing bytes that never come gets no "
                  "handshake, and is let go at the deadline with one line.");
  if (!admit_start (&admit, gate))
    return;

  server_log_clear ();
  server_client_send (admit.client, stalled, sizeof stalled);
  server_iterate_until (&admit.done);
  g_assert_error (admit.error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpuint (server_log_count ("action: tls_handshake | result: fail | "
                                      "ip: peer | error: TLS handshake not "
                                      "started within 1 s"), ==, 1);
  admit_clear (&admit);
}

static void
test_queue_cancel (void)
{
  g_autoptr(LotteryTlsGate) gate = lottery_tls_gate_new (0, 10);
  Admit admit = { 0, };

  g_test_summary ("A connection waiting for a handshake slot that is closed "
                  "leaves the queue at once.");
  if (!admit_start (&admit, gate))
    return;

  server_client_send (admit.client, client_hello, sizeof client_hello);
  while (lottery_tls_gate_get_waiting (gate) == 0)
    g_main_context_iteration (NULL, TRUE);
  g_cancellable_cancel (admit.cancellable);
  server_iterate_until (&admit.done);
  g_assert_error (admit.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (lottery_tls_gate_get_waiting (gate), ==, 0);
  admit_clear (&admit);
}

static void
test_queue_shutdown (void)
{
  g_autoptr(LotteryTlsGate) gate = lottery_tls_gate_new (0, 10);
  Admit admits[3] = { { 0, }, };
  gpointer tls[3];
  guint i;

  g_test_summary ("At shutdown, every connection still waiting for a "
                  "handshake slot is let go and its stream freed.");

  for (i = 0; i < G_N_ELEMENTS (admits); i++)
    {
      if (!admit_start (&admits[i], gate))
        return;
      server_client_send (admits[i].client, client_hello,
                          sizeof client_hello);
    }
  while (lottery_tls_gate_get_waiting (gate) < G_N_ELEMENTS (admits))
    g_main_context_iteration (NULL, TRUE);

  for (i = 0; i < G_N_ELEMENTS (admits); i++)
    {
      tls[i] = admits[i].tls;
      g_object_add_weak_pointer (tls[i], &tls[i]);
      g_clear_object (&admits[i].tls);
      g_assert_nonnull (tls[i]);
    }

  lottery_tls_gate_shutdown (gate);
  for (i = 0; i < G_N_ELEMENTS (admits); i++)
    {
      server_iterate_until (&admits[i].done);
      g_assert_error (admits[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }
  server_iterate_for (10);
  for (i = 0; i < G_N_ELEMENTS (admits); i++)
    {
      g_assert_null (tls[i]);
      admit_clear (&admits[i]);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

  g_test_add_func ("/tls-gate/clear-text", test_clear_text);
  g_test_add_func ("/tls-gate/peer-left", test_peer_left);
  g_test_add_func ("/tls-gate/stalled-record", test_stalled_record);
  g_test_add_func ("/tls-gate/queue-cancel", test_queue_cancel);
  g_test_add_func ("/tls-gate/queue-shutdown", test_queue_shutdown);

  return g_test_run ();
}
