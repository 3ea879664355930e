/* test-syncer.c: group commit on its own, over two scratch files. */
#include "config.h"

#include "lottery-syncer.h"
#include "lottery-store.h"

#include "unit-utils.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct
{
  char *dir;
  char *data_path;
  char *journal_path;
  int   data_fd;
  int   journal_fd;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->dir = unit_make_tmp_dir ();
  fixture->data_path = g_build_filename (fixture->dir, "bets.csv", NULL);
  fixture->journal_path = g_build_filename (fixture->dir, "bets.csv.journal",
                                            NULL);
  fixture->data_fd = g_open (fixture->data_path,
                             O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  fixture->journal_fd = g_open (fixture->journal_path,
                                O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  g_assert_cmpint (fixture->data_fd, >=, 0);
  g_assert_cmpint (fixture->journal_fd, >=, 0);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_close (fixture->data_fd, NULL);
  g_close (fixture->journal_fd, NULL);
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->data_path);
  g_free (fixture->journal_path);
}

static GObject *
new_source (void)
{
  return g_object_new (G_TYPE_OBJECT, NULL);
}

static void
test_hold_then_sync (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(LotterySyncer) syncer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *journal = NULL;
  gsize len;

  g_test_summary ("Held records reach the journal only with the sync that "
                  "covers their rows, and a sync already done costs no "
                  "second round.");

  syncer = lottery_syncer_new (fixture->data_path, fixture->data_fd,
                               fixture->journal_fd, 0);
  g_assert_cmpint (write (fixture->data_fd, "row\n", 4), ==, 4);
  lottery_syncer_hold (syncer, (const guint8 *) "0123456789abcdef", 16, 16);
  journal = unit_read_file (fixture->journal_path, &len);
  g_assert_cmpuint (len, ==, 0);
  g_clear_pointer (&journal, g_free);

  g_assert_true (lottery_syncer_sync (syncer, 16, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (lottery_syncer_get_count (syncer), ==, 1);
  journal = unit_read_file (fixture->journal_path, &len);
  g_assert_cmpmem (journal, len, "0123456789abcdef", 16);

  g_assert_true (lottery_syncer_sync (syncer, 16, &error));
  g_assert_true (lottery_syncer_sync (syncer, 0, &error));
  g_assert_cmpuint (lottery_syncer_get_count (syncer), ==, 1);
  g_assert_true (lottery_syncer_close (syncer, 16, &error));
  g_assert_no_error (error);
}

#define N_REQUESTS 32

typedef struct
{
  guint order[N_REQUESTS];
  guint n_done;
  guint n_failed;
  GError *last_error;
} Order;

static void
done_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Order *order = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      order->n_failed++;
      g_clear_error (&order->last_error);
      order->last_error = error;
    }
  order->n_done++;
}

typedef struct
{
  Order *order;
  guint  index;
} Request;

static void
ordered_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autofree Request *request = user_data;

  done_cb (source, result, request->order);
  request->order->order[request->order->n_done - 1] = request->index;
}

static void
test_async_order (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(LotterySyncer) syncer = NULL;
  g_autoptr(GObject) source = new_source ();
  g_autoptr(GError) error = NULL;
  Order order = { { 0, }, 0, 0, NULL };
  guint i;

  g_test_summary ("Asynchronous requests complete in the order they were "
                  "made, those with nothing to sync (ticket 0) included, "
                  "and requests made together share one round.");

  syncer = lottery_syncer_new (fixture->data_path, fixture->data_fd,
                               fixture->journal_fd, 0);
  for (i = 0; i < N_REQUESTS; i++)
    lottery_syncer_hold (syncer, (const guint8 *) "r", 1, i + 1);
  for (i = 0; i < N_REQUESTS; i++)
    {
      Request *request = g_new0 (Request, 1);

      request->order = &order;
      request->index = i;
      lottery_syncer_sync_async (syncer, source, test_async_order,
                                 i % 3 == 2 ? 0 : i + 1, NULL, ordered_cb,
                                 request);
    }
  while (order.n_done < N_REQUESTS)
    g_main_context_iteration (NULL, TRUE);

  g_assert_cmpuint (order.n_failed, ==, 0);
  for (i = 0; i < N_REQUESTS; i++)
    g_assert_cmpuint (order.order[i], ==, i);
  g_assert_cmpuint (lottery_syncer_get_count (syncer), ==, 1);
  g_assert_true (lottery_syncer_close (syncer, N_REQUESTS, &error));
  g_assert_no_error (error);
}

static void
test_close (Fixture       *fixture,
            gconstpointer  user_data)
{
  g_autoptr(LotterySyncer) syncer = NULL;
  g_autoptr(GObject) source = new_source ();
  g_autoptr(GError) error = NULL;
  g_autofree char *journal = NULL;
  Order order = { { 0, }, 0, 0, NULL };
  gsize len;

  g_test_summary ("Closing writes what is still held; afterwards only what "
                  "is on disk is vouched for.");

  syncer = lottery_syncer_new (fixture->data_path, fixture->data_fd,
                               fixture->journal_fd, 0);
  lottery_syncer_hold (syncer, (const guint8 *) "abcd", 4, 4);
  g_assert_true (lottery_syncer_close (syncer, 4, &error));
  g_assert_no_error (error);
  journal = unit_read_file (fixture->journal_path, &len);
  g_assert_cmpmem (journal, len, "abcd", 4);

  lottery_syncer_sync_async (syncer, source, test_close, 4, NULL, done_cb,
                             &order);
  lottery_syncer_sync_async (syncer, source, test_close, 5, NULL, done_cb,
                             &order);
  while (order.n_done < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (order.n_failed, ==, 1);
  g_assert_error (order.last_error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error (&order.last_error);

  g_assert_false (lottery_syncer_sync (syncer, 5, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_BROKEN);
}

static void
test_failure (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autoptr(LotterySyncer) syncer = NULL;
  g_autoptr(GError) error = NULL;
  int read_only;

  g_test_summary ("A failed journal write breaks the syncer: that sync and "
                  "every later one fail, with a store error.");

  if (unit_run_in_subprocess ("*Cannot sync *bets.csv*"))
    return;

  read_only = g_open (fixture->journal_path, O_RDONLY | O_CLOEXEC, 0);
  g_assert_cmpint (read_only, >=, 0);
  syncer = lottery_syncer_new (fixture->data_path, fixture->data_fd,
                               read_only, 0);
  lottery_syncer_hold (syncer, (const guint8 *) "abcd", 4, 4);
  g_assert_false (lottery_syncer_sync (syncer, 4, &error));
  g_assert_error (error, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_BROKEN);
  g_assert_true (lottery_syncer_is_broken (syncer));
  g_clear_error (&error);
  g_assert_false (lottery_syncer_close (syncer, 4, &error));
  g_clear_pointer (&syncer, lottery_syncer_free);
  g_close (read_only, NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("LotterySyncer: group commit of bets.csv and its journal.");

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/syncer/hold-then-sync", test_hold_then_sync);
  ADD ("/syncer/async-order", test_async_order);
  ADD ("/syncer/close", test_close);
  ADD ("/syncer/failure", test_failure);

#undef ADD

  return g_test_run ();
}
