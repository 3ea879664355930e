/* test-poller.c: LotteryPoller in-process, over TCP pairs on 127.0.0.1:
 * one-shot wake-ups, and watches freed while a batch of events is
 * being dispatched. */
#include "config.h"

#include "lottery-poller.h"
#include "server-utils.h"

typedef struct
{
  GSocketConnection  *server;
  GSocketConnection  *client;
  LotteryPollerWatch *watch;
  guint               woken;
  guint               woken_at; /* the order of its last wake-up */
  gpointer            victim; /* (nullable): a Pair whose watch to free */
} Pair;

static guint wake_ups;

static void pair_free_watch (Pair *pair);

static void
woken_cb (gpointer user_data)
{
  Pair *pair = user_data;

  pair->woken++;
  pair->woken_at = ++wake_ups;
  if (pair->victim != NULL)
    pair_free_watch (pair->victim);
}

static void
wait_woken (Pair  *pair,
            guint  n)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (pair->woken < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static void
pair_init (Pair *pair)
{
  GSocket *socket;

  server_socket_pair (&pair->server, &pair->client);
  socket = g_socket_connection_get_socket (pair->server);
  pair->watch = lottery_poller_watch_new (lottery_poller_get_default (),
                                          g_socket_get_fd (socket),
                                          woken_cb, pair);
}

static void
pair_free_watch (Pair *pair)
{
  g_clear_pointer (&pair->watch, lottery_poller_watch_free);
}

static void
pair_clear (Pair *pair)
{
  pair_free_watch (pair);
  g_clear_object (&pair->server);
  g_clear_object (&pair->client);
}

static void
pair_arm (Pair *pair)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (lottery_poller_watch_arm (pair->watch, &error));
  g_assert_no_error (error);
}

static void
pair_write (Pair *pair)
{
  static const guint8 byte = 1;

  server_client_send (pair->client, &byte, 1);
}

static void
test_one_shot (void)
{
  Pair pair = { 0, };

  g_test_summary ("An armed watch wakes its owner once when the socket "
                  "becomes readable, and not again until armed again, even "
                  "with the bytes still unread.");

  pair_init (&pair);
  pair_arm (&pair);
  server_iterate_for (20);
  g_assert_cmpuint (pair.woken, ==, 0);

  pair_write (&pair);
  wait_woken (&pair, 1);
  server_iterate_for (20);
  g_assert_cmpuint (pair.woken, ==, 1);

  /* Armed again with the byte still there: at once. */
  pair_arm (&pair);
  wait_woken (&pair, 2);
  server_iterate_for (20);
  g_assert_cmpuint (pair.woken, ==, 2);

  pair_clear (&pair);
}

static void
test_hang_up (void)
{
  Pair pair = { 0, };

  g_test_summary ("A peer that closes wakes the watch: its owner reads the "
                  "end of the stream.");

  pair_init (&pair);
  pair_arm (&pair);
  g_io_stream_close (G_IO_STREAM (pair.client), NULL, NULL);
  wait_woken (&pair, 1);

  pair_clear (&pair);
}

static void
test_free_while_dispatching (void)
{
  Pair pairs[8] = { { 0, }, };
  guint i, freed_first = 0;

  g_test_summary ("A callback that frees the watch of another socket ready "
                  "in the same batch: that other callback does not run, "
                  "and nothing freed is touched.");

  for (i = 0; i < G_N_ELEMENTS (pairs); i++)
    pair_init (&pairs[i]);
  /* Each even pair frees the watch of the odd one after it. */
  for (i = 0; i < G_N_ELEMENTS (pairs); i += 2)
    pairs[i].victim = &pairs[i + 1];
  for (i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      pair_arm (&pairs[i]);
      pair_write (&pairs[i]);
    }
  /* All are ready before the poller looks: one batch. */
  g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  server_iterate_for (50);

  for (i = 0; i < G_N_ELEMENTS (pairs); i += 2)
    {
      /* An even pair runs once and frees its odd one's watch... */
      g_assert_cmpuint (pairs[i].woken, ==, 1);
      g_assert_null (pairs[i + 1].watch);
      /* ...which ran before that, if at all, never after. */
      g_assert_cmpuint (pairs[i + 1].woken, <=, 1);
      if (pairs[i + 1].woken == 1)
        g_assert_cmpuint (pairs[i + 1].woken_at, <, pairs[i].woken_at);
      else
        freed_first++;
    }
  /* The kernel's order decides which case each pair shows. */
  g_test_message ("%u of %u freed watches were freed before their turn",
                  freed_first, (guint) G_N_ELEMENTS (pairs) / 2);

  for (i = 0; i < G_N_ELEMENTS (pairs); i++)
    pair_clear (&pairs[i]);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

  g_test_add_func ("/poller/one-shot", test_one_shot);
  g_test_add_func ("/poller/hang-up", test_hang_up);
  g_test_add_func ("/poller/free-while-dispatching",
                   test_free_while_dispatching);

  return g_test_run ();
}
