/* test-reply-order.c: LotteryReplyOrder in-process: answers leave in
 * the order of their requests, an answer waiting for the disk holds
 * back those after it, and a held ERROR waits until it is released.
 * The store is a test double whose syncs complete only when the test
 * says so, so every interleaving is decided here, not by a disk. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-frame-io.h"
#include "lottery-reply-order.h"
#include "server-utils.h"

/* ---- a store whose syncs the test completes ---- */

#define TEST_TYPE_MANUAL_STORE (test_manual_store_get_type ())
G_DECLARE_FINAL_TYPE (TestManualStore, test_manual_store, TEST, MANUAL_STORE,
                      GObject)

struct _TestManualStore
{
  GObject  parent_instance;
  GQueue   waits;  /* (owned) GTasks, in the order asked */
  guint64  synced; /* the highest ticket on "disk" */
};

static void test_manual_store_iface_init (LotteryStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestManualStore, test_manual_store,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LOTTERY_TYPE_STORE,
                                                      test_manual_store_iface_init))

/* Completes, in order, the waits at the head whose ticket is synced: a
 * wait never overtakes one asked before it, as with the real stores. */
static void
manual_store_drain (TestManualStore *self)
{
  while (!g_queue_is_empty (&self->waits))
    {
      GTask *task = g_queue_peek_head (&self->waits);
      guint64 ticket = GPOINTER_TO_SIZE (g_task_get_task_data (task));

      if (ticket > self->synced)
        break;
      g_queue_pop_head (&self->waits);
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

static void
test_manual_store_sync_async (LotteryStore        *store,
                              guint64              ticket,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  TestManualStore *self = TEST_MANUAL_STORE (store);
  GTask *task = g_task_new (store, cancellable, callback, user_data);

  g_task_set_task_data (task, GSIZE_TO_POINTER (ticket), NULL);
  g_queue_push_tail (&self->waits, task);
  manual_store_drain (self);
}

static gboolean
test_manual_store_sync_finish (LotteryStore  *store,
                               GAsyncResult  *result,
                               GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
test_manual_store_iface_init (LotteryStoreInterface *iface)
{
  iface->sync_async = test_manual_store_sync_async;
  iface->sync_finish = test_manual_store_sync_finish;
}

static void
test_manual_store_class_init (TestManualStoreClass *klass)
{
}

static void
test_manual_store_init (TestManualStore *self)
{
  g_queue_init (&self->waits);
}

/* Everything up to @ticket is on "disk". */
static void
manual_store_sync (TestManualStore *self,
                   guint64          ticket)
{
  self->synced = MAX (self->synced, ticket);
  manual_store_drain (self);
}

/* ---- fixture ---- */

typedef struct
{
  TestManualStore   *store;
  GSocketConnection *server;
  GSocketConnection *client;
  LotteryFrameIO    *io;
  LotteryReplyOrder *order;
  guint              released;
  guint8             frame[LOTTERY_FRAME_MAX];
  LotteryMessage     message;
} Fixture;

static void
released_cb (LotteryReplyOrder *order,
             Fixture           *fixture)
{
  fixture->released++;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->store = g_object_new (TEST_TYPE_MANUAL_STORE, NULL);
  server_socket_pair (&fixture->server, &fixture->client);
  fixture->io = lottery_frame_io_new (G_IO_STREAM (fixture->server),
                                     fixture->server);
  fixture->order = lottery_reply_order_new (fixture->io,
                                            LOTTERY_STORE (fixture->store));
  g_signal_connect (fixture->order, "released", G_CALLBACK (released_cb),
                    fixture);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_object (&fixture->order);
  lottery_frame_io_close (fixture->io);
  g_clear_object (&fixture->io);
  g_clear_object (&fixture->server);
  g_clear_object (&fixture->client);
  /* Closing may leave callbacks to run. */
  server_iterate_for (10);
  /* Every wait was answered (a waiting GTask would hold the store). */
  g_assert_true (g_queue_is_empty (&fixture->store->waits));
  g_assert_finalize_object (fixture->store);
}

/* An ACK for @sequence, as an upload sends once its batch is on disk. */
static void
send_ack (Fixture *fixture,
          guint32  sequence)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  lottery_reply_order_send (fixture->order, frame,
                            lottery_message_encode_ack (frame, sequence, 1));
}

typedef struct
{
  Fixture *fixture;
  guint32  sequence;
} AckAfterDisk;

static void
ack_after_disk_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  AckAfterDisk *ack = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (lottery_store_sync_finish (LOTTERY_STORE (source), result,
                                            &error));
  g_assert_no_error (error);
  send_ack (ack->fixture, ack->sequence);
  g_free (ack);
}

/* Batch @sequence's ACK, once @ticket is on disk. */
static void
ack_after_disk (Fixture *fixture,
                guint32  sequence,
                guint64  ticket)
{
  AckAfterDisk *ack = g_new (AckAfterDisk, 1);

  ack->fixture = fixture;
  ack->sequence = sequence;
  lottery_reply_order_wait_for_disk (fixture->order, ticket,
                                     ack_after_disk_cb, ack);
}

static void
expect_ack (Fixture *fixture,
            guint32  sequence)
{
  server_client_expect (fixture->client, LOTTERY_MESSAGE_ACK,
                        &fixture->message, fixture->frame);
  g_assert_cmpuint (fixture->message.ack.sequence, ==, sequence);
}

static void
expect_error (Fixture         *fixture,
              LotteryWireCode  code,
              guint32          sequence)
{
  server_client_expect (fixture->client, LOTTERY_MESSAGE_ERROR,
                        &fixture->message, fixture->frame);
  g_assert_cmpuint (fixture->message.error.code, ==, code);
  g_assert_cmpuint (fixture->message.error.sequence, ==, sequence);
}

/* Nothing has reached the peer (the main context runs meanwhile). */
static void
expect_nothing (Fixture *fixture)
{
  server_iterate_for (50);
  g_assert_cmpint (g_socket_condition_check (
                     g_socket_connection_get_socket (fixture->client),
                     G_IO_IN), ==, 0);
}

/* ---- tests ---- */

static void
test_disk_holds_later_answers (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("An ERROR asked for after a batch whose ACK waits for "
                  "the disk goes out after that ACK, never before it.");

  lottery_frame_io_start (fixture->io);
  ack_after_disk (fixture, 1, 1);
  ack_after_disk (fixture, 2, 2);
  g_assert_cmpuint (lottery_reply_order_get_waiting (fixture->order), ==, 2);
  lottery_fail (&error, LOTTERY_ERROR_OUT_OF_ORDER, "batch 4 is not next");
  lottery_reply_order_error_in_order (fixture->order, error, 4, FALSE);
  expect_nothing (fixture);

  manual_store_sync (fixture->store, 1);
  expect_ack (fixture, 1);
  expect_nothing (fixture);
  manual_store_sync (fixture->store, 2);
  expect_ack (fixture, 2);
  expect_error (fixture, LOTTERY_WIRE_OUT_OF_ORDER, 4);
  g_assert_cmpuint (lottery_reply_order_get_waiting (fixture->order), ==, 0);
  /* Each wait for the disk, the ERROR's turn included, is announced. */
  g_assert_cmpuint (fixture->released, ==, 3);
}

static void
test_nothing_waiting_goes_now (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("With no answer waiting for the disk, an ERROR in order "
                  "goes out at once, without a sync.");

  lottery_frame_io_start (fixture->io);
  lottery_fail (&error, LOTTERY_ERROR_PROTOCOL, "no such message");
  lottery_reply_order_error_in_order (fixture->order, error, 0, FALSE);
  expect_error (fixture, LOTTERY_WIRE_PROTOCOL, 0);
  g_assert_cmpuint (fixture->released, ==, 0);
}

static void
test_held_error (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autoptr(GError) first = NULL;
  g_autoptr(GError) second = NULL;

  g_test_summary ("An ERROR found while a batch is in a worker is held "
                  "until released, then goes out behind that batch's ACK; "
                  "only the first held ERROR is kept.");

  lottery_frame_io_start (fixture->io);
  lottery_fail (&first, LOTTERY_ERROR_PROTOCOL, "first");
  lottery_fail (&second, LOTTERY_ERROR_TIMEOUT, "second");
  lottery_reply_order_error_in_order (fixture->order, first, 7, TRUE);
  lottery_reply_order_error_in_order (fixture->order, second, 8, TRUE);
  expect_nothing (fixture);

  /* The worker is done: its batch waits for the disk, then the ERROR. */
  ack_after_disk (fixture, 6, 3);
  lottery_reply_order_release_held (fixture->order);
  expect_nothing (fixture);
  manual_store_sync (fixture->store, 3);
  expect_ack (fixture, 6);
  expect_error (fixture, LOTTERY_WIRE_PROTOCOL, 7);
  expect_nothing (fixture);

  /* Released twice: nothing more. */
  lottery_reply_order_release_held (fixture->order);
  expect_nothing (fixture);
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

  ADD ("/reply-order/disk-holds-later-answers", test_disk_holds_later_answers);
  ADD ("/reply-order/nothing-waiting-goes-now", test_nothing_waiting_goes_now);
  ADD ("/reply-order/held-error", test_held_error);

  return g_test_run ();
}
