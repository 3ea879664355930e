/* test-batch-job.c: LotteryBatchJob against a real LotteryState and a
 * real storage in a scratch directory; no sockets. */
#include "config.h"

#include "lottery-batch-job.h"
#include "lottery-error.h"
#include "lottery-file-store.h"
#include "server-utils.h"
#include "unit-utils.h"

typedef struct
{
  char           *dir;
  char           *path;
  LotteryState   *state;
  LotteryStore   *storage;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  guint32 last;
  guint64 consumed, stored;
  gboolean finished;

  fixture->dir = unit_make_tmp_dir ();
  fixture->path = g_build_filename (fixture->dir, "bets.csv", NULL);
  fixture->state = lottery_state_new (2);
  fixture->storage = lottery_file_store_open (fixture->path, &error);
  g_assert_no_error (error);
  g_assert_true (lottery_state_claim_agency (fixture->state, 1, &last,
                                             &consumed, &stored, &finished,
                                             &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_assert_true (lottery_store_close (fixture->storage, NULL));
  g_clear_object (&fixture->storage);
  g_clear_object (&fixture->state);
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->path);
}

/* Adds BATCH @sequence of @count bets to @job. */
static void
add_batch (LotteryBatchJob *job,
           guint32          sequence,
           guint            count,
           gboolean         bad_last)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  gsize len = server_encode_batch (frame, 1, sequence, count, bad_last);
  g_autoptr(GBytes) body = g_bytes_new (frame + LOTTERY_FRAME_PREFIX,
                                        len - LOTTERY_FRAME_PREFIX);
  LotteryMessage message;

  g_assert_true (lottery_message_decode (g_bytes_get_data (body, NULL),
                                         g_bytes_get_size (body), &message,
                                         NULL));
  g_assert_true (lottery_batch_job_add (job, body, &message));
}

static void
assert_result (LotteryBatchJob *job,
               guint            index,
               guint32          sequence,
               gint             code)
{
  guint32 got_sequence;
  guint count;
  const GError *error = lottery_batch_job_get_result (job, index,
                                                      &got_sequence, &count);

  g_assert_cmpuint (got_sequence, ==, sequence);
  if (code < 0)
    g_assert_no_error (error);
  else
    g_assert_error (error, LOTTERY_ERROR, code);
}

static void
test_stores_in_order (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(LotteryBatchJob) job =
    lottery_batch_job_new (fixture->state, fixture->storage, 1);
  g_autoptr(LotteryBatchJob) again =
    lottery_batch_job_new (fixture->state, fixture->storage, 1);
  g_autofree char *rows = NULL;
  gsize len;

  g_test_summary ("A group of batches is stored in one write, each counted "
                  "in the state; a bad bet refuses its batch alone, which "
                  "still uses up its number; a batch out of order is "
                  "refused without using it.");

  add_batch (job, 1, 3, FALSE);
  add_batch (job, 2, 2, TRUE);
  add_batch (job, 3, 4, FALSE);
  add_batch (job, 5, 1, FALSE);
  g_assert_cmpuint (lottery_batch_job_get_n_batches (job), ==, 4);
  lottery_batch_job_run (job);

  assert_result (job, 0, 1, -1);
  assert_result (job, 1, 2, LOTTERY_ERROR_INVALID_BET);
  assert_result (job, 2, 3, -1);
  assert_result (job, 3, 5, LOTTERY_ERROR_OUT_OF_ORDER);
  g_assert_cmpuint (lottery_batch_job_get_ticket (job), >, 0);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 1), ==, 7);
  g_assert_true (lottery_file_store_sync (LOTTERY_FILE_STORE (fixture->storage),
                                          lottery_batch_job_get_ticket (job),
                                          NULL));
  rows = unit_read_file (fixture->path, &len);
  g_assert_cmpuint (len, >, 0);

  /* Batch 4 comes next: 2 was used up. */
  add_batch (again, 4, 1, FALSE);
  lottery_batch_job_run (again);
  assert_result (again, 0, 4, -1);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 1), ==, 8);
}

static void
test_unclaimed_agency (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(LotteryBatchJob) job =
    lottery_batch_job_new (fixture->state, fixture->storage, 1);
  gboolean draw_due = FALSE;

  g_test_summary ("After FINISH no batch is stored: each one says why.");

  g_assert_true (lottery_state_finish_agency (fixture->state, 1, 0, &draw_due,
                                              NULL));
  add_batch (job, 1, 1, FALSE);
  add_batch (job, 2, 1, FALSE);
  lottery_batch_job_run (job);
  assert_result (job, 0, 1, LOTTERY_ERROR_ALREADY_FINISHED);
  assert_result (job, 1, 2, LOTTERY_ERROR_ALREADY_FINISHED);
  g_assert_cmpuint (lottery_batch_job_get_ticket (job), ==, 0);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 1), ==, 0);
}

static void
done_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  LotteryBatchJob *job = lottery_batch_job_run_finish (result);
  g_autoptr(GError) error = NULL;

  assert_result (job, 0, 1, -1);
  /* Written, then not made durable: no longer counted as stored. */
  lottery_fail (&error, LOTTERY_ERROR_STORAGE, "disk gone");
  lottery_batch_job_fail_stored (job, error);
  assert_result (job, 0, 1, LOTTERY_ERROR_STORAGE);
  *(gboolean *) user_data = TRUE;
}

static void
test_async (Fixture       *fixture,
            gconstpointer  data)
{
  LotteryBatchJob *job = lottery_batch_job_new (fixture->state,
                                                fixture->storage, 1);
  gboolean done = FALSE;

  g_test_summary ("Run in a worker, the job comes back to the caller's "
                  "context with its results.");

  add_batch (job, 1, 2, FALSE);
  lottery_batch_job_run_async (job, NULL, done_cb, &done);
  server_iterate_until (&done);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 1), ==, 2);
}

static void
test_full (void)
{
  g_autoptr(LotteryState) state = lottery_state_new (1);
  g_autofree char *dir = unit_make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "bets.csv", NULL);
  g_autoptr(LotteryStore) storage = lottery_file_store_open (path, NULL);
  g_autoptr(LotteryBatchJob) job = lottery_batch_job_new (state, storage, 1);
  guint i;

  g_test_summary ("A job takes at most LOTTERY_BATCH_JOB_MAX batches.");

  for (i = 0; i < LOTTERY_BATCH_JOB_MAX; i++)
    add_batch (job, i + 1, 1, FALSE);
  {
    guint8 frame[LOTTERY_FRAME_MAX];
    gsize len = server_encode_batch (frame, 1, 99, 1, FALSE);
    g_autoptr(GBytes) body = g_bytes_new (frame + LOTTERY_FRAME_PREFIX,
                                          len - LOTTERY_FRAME_PREFIX);
    LotteryMessage message;

    g_assert_true (lottery_message_decode (g_bytes_get_data (body, NULL),
                                           g_bytes_get_size (body), &message,
                                           NULL));
    g_assert_false (lottery_batch_job_add (job, body, &message));
  }
  lottery_store_close (storage, NULL);
  unit_remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  server_test_init ();

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/batch-job/stores-in-order", test_stores_in_order);
  ADD ("/batch-job/finished-agency", test_unclaimed_agency);
  ADD ("/batch-job/async", test_async);
#undef ADD
  g_test_add_func ("/batch-job/full", test_full);

  return g_test_run ();
}
