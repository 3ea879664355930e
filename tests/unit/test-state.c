/* test-state.c: agencies' claims, batches and finish, the draw, and
 * parked winners queries. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-state.h"

#include <string.h>

typedef struct
{
  LotteryState *state;
  guint         notify_finished;
  guint         notify_draw_done;
  GArray       *finished_signals; /* guint agency ids */
  guint         draw_completed;
} Fixture;

static void
notify_cb (GObject    *object,
           GParamSpec *pspec,
           gpointer    user_data)
{
  Fixture *fixture = user_data;

  if (strcmp (pspec->name, "finished-agencies") == 0)
    fixture->notify_finished++;
  else if (strcmp (pspec->name, "draw-done") == 0)
    fixture->notify_draw_done++;
}

static void
agency_finished_cb (LotteryState *state,
                    guint         agency,
                    gpointer      user_data)
{
  Fixture *fixture = user_data;

  /* Emitted with the lock dropped: calling back in must not block. */
  g_assert_cmpuint (lottery_state_get_finished_agencies (state), >=, 1);
  g_array_append_val (fixture->finished_signals, agency);
}

static void
draw_completed_cb (LotteryState *state,
                   gpointer      user_data)
{
  Fixture *fixture = user_data;

  g_assert_true (lottery_state_get_draw_done (state));
  fixture->draw_completed++;
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->state = lottery_state_new (3);
  fixture->finished_signals = g_array_new (FALSE, FALSE, sizeof (guint));
  g_signal_connect (fixture->state, "notify", G_CALLBACK (notify_cb), fixture);
  g_signal_connect (fixture->state, "agency-finished",
                    G_CALLBACK (agency_finished_cb), fixture);
  g_signal_connect (fixture->state, "draw-completed",
                    G_CALLBACK (draw_completed_cb), fixture);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  /* Nothing may keep the state alive: parked queries hold it. */
  g_object_add_weak_pointer (G_OBJECT (fixture->state),
                             (gpointer *) &fixture->state);
  g_object_unref (fixture->state);
  g_assert_null (fixture->state);
  g_array_unref (fixture->finished_signals);
}

static void
claim (LotteryState *state,
       guint         agency,
       guint32       expected_sequence,
       gboolean      expected_finished)
{
  g_autoptr(GError) error = NULL;
  guint32 last_sequence = G_MAXUINT32;
  guint64 consumed, stored;
  gboolean finished = 42;

  g_assert_true (lottery_state_claim_agency (state, agency, &last_sequence,
                                             &consumed, &stored, &finished,
                                             &error));
  g_assert_no_error (error);
  g_assert_cmpuint (last_sequence, ==, expected_sequence);
  g_assert_cmpint (finished, ==, expected_finished);
}

/* Stores @n_batches batches of @count bets for @agency, from sequence
 * @first. */
static void
store_batches (LotteryState *state,
               guint         agency,
               guint32       first,
               guint         n_batches,
               guint         count)
{
  guint32 s;

  for (s = first; s < first + n_batches; s++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (lottery_state_check_batch (state, agency, s, &error));
      g_assert_no_error (error);
      lottery_state_commit_batch (state, agency, s, count, count);
    }
}

static void
finish (LotteryState *state,
        guint         agency,
        guint32       last_sequence,
        gboolean      expected_draw_due)
{
  g_autoptr(GError) error = NULL;
  gboolean draw_due = 42;

  g_assert_true (lottery_state_finish_agency (state, agency, last_sequence,
                                              &draw_due, &error));
  g_assert_no_error (error);
  g_assert_cmpint (draw_due, ==, expected_draw_due);
}

/* The draw's outcome for three agencies. */
static GPtrArray *
make_winners (void)
{
  static const char * const docs[][3] = {
    { "30904465", "1", NULL }, { NULL }, { "42", NULL },
  };
  GPtrArray *winners =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (docs); i++)
    {
      GPtrArray *agency = g_ptr_array_new_with_free_func (g_free);

      for (j = 0; docs[i][j] != NULL; j++)
        g_ptr_array_add (agency, g_strdup (docs[i][j]));
      g_ptr_array_add (winners, agency);
    }

  return winners;
}

/* Finishes all three agencies (without batches) and completes the draw. */
static void
finish_all_and_draw (LotteryState *state)
{
  finish (state, 1, 0, FALSE);
  finish (state, 2, 0, FALSE);
  finish (state, 3, 0, TRUE);
  lottery_state_complete_draw (state, make_winners ());
}

static void
test_claim (Fixture       *fixture,
            gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  guint32 last_sequence = 7;
  guint64 consumed, stored;
  gboolean finished = FALSE;

  g_assert_cmpuint (lottery_state_get_agencies (fixture->state), ==, 3);
  claim (fixture->state, 1, 0, FALSE);
  claim (fixture->state, 3, 0, FALSE);

  /* One live connection per agency. */
  g_assert_false (lottery_state_claim_agency (fixture->state, 1,
                                              &last_sequence, &consumed,
                                              &stored, &finished, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_AGENCY_BUSY);
  g_assert_cmpstr (error->message, ==, "Agency 1 already has a connection");
  g_clear_error (&error);

  /* Released, it may be claimed again. */
  lottery_state_release_agency (fixture->state, 1);
  claim (fixture->state, 1, 0, FALSE);
  claim (fixture->state, 2, 0, FALSE);
}

static void
test_claim_unknown (Fixture       *fixture,
                    gconstpointer  user_data)
{
  static const guint agencies[] = { 0, 4, 1000, G_MAXUINT };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (agencies); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *expected =
        g_strdup_printf ("Agency %u is not one of 1 to 3", agencies[i]);
      guint32 last_sequence = 7;
      guint64 consumed, stored;
      gboolean finished = FALSE;

      g_assert_false (lottery_state_claim_agency (fixture->state, agencies[i],
                                                  &last_sequence, &consumed,
                                                  &stored, &finished, &error));
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);
      g_assert_cmpstr (error->message, ==, expected);
      g_assert_cmpuint (last_sequence, ==, 7);
    }
}

static void
test_claim_resume (Fixture       *fixture,
                   gconstpointer  user_data)
{
  /* A reconnecting agency learns where it left off. */
  claim (fixture->state, 2, 0, FALSE);
  store_batches (fixture->state, 2, 1, 4, 10);
  lottery_state_release_agency (fixture->state, 2);
  claim (fixture->state, 2, 4, FALSE);
  finish (fixture->state, 2, 4, FALSE);
  lottery_state_release_agency (fixture->state, 2);
  claim (fixture->state, 2, 4, TRUE);
}

static void
test_release_unclaimed (Fixture       *fixture,
                        gconstpointer  user_data)
{
  if (g_test_subprocess ())
    {
      lottery_state_release_agency (fixture->state, 1);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*record != NULL && record->connected*");
}

static void
count_agency (LotteryState *state,
              guint         agency,
              gpointer      user_data)
{
  GArray *seen = user_data;

  g_array_append_val (seen, agency);
}

static void
test_takeover_signals (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GArray) taken = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GArray) other = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GArray) released = g_array_new (FALSE, FALSE, sizeof (guint));

  /* Only the holder of the agency taken over hears it. */
  g_signal_connect (fixture->state, "takeover::2", G_CALLBACK (count_agency),
                    taken);
  g_signal_connect (fixture->state, "takeover::1", G_CALLBACK (count_agency),
                    other);
  g_signal_connect (fixture->state, "agency-released",
                    G_CALLBACK (count_agency), released);
  claim (fixture->state, 2, 0, FALSE);
  lottery_state_request_takeover (fixture->state, 2);
  g_assert_cmpuint (taken->len, ==, 1);
  g_assert_cmpuint (g_array_index (taken, guint, 0), ==, 2);
  g_assert_cmpuint (other->len, ==, 0);
  g_assert_cmpuint (released->len, ==, 0);

  lottery_state_release_agency (fixture->state, 2);
  g_assert_cmpuint (released->len, ==, 1);
  g_assert_cmpuint (g_array_index (released, guint, 0), ==, 2);
  claim (fixture->state, 2, 0, FALSE);
}

static void
test_batch_sequence (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  /* Batches count from 1, with no gaps and no repeats. */
  g_assert_false (lottery_state_check_batch (fixture->state, 1, 0, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_OUT_OF_ORDER);
  g_assert_cmpstr (error->message, ==,
                   "Batch 0 of agency 1 is out of order: expected batch 1");
  g_clear_error (&error);
  g_assert_false (lottery_state_check_batch (fixture->state, 1, 2, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_OUT_OF_ORDER);
  g_clear_error (&error);

  g_assert_true (lottery_state_check_batch (fixture->state, 1, 1, &error));
  g_assert_no_error (error);
  /* Checking is not storing. */
  g_assert_true (lottery_state_check_batch (fixture->state, 1, 1, &error));
  g_assert_no_error (error);
  lottery_state_commit_batch (fixture->state, 1, 1, 10, 10);

  g_assert_false (lottery_state_check_batch (fixture->state, 1, 1, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_OUT_OF_ORDER);
  g_assert_cmpstr (error->message, ==,
                   "Batch 1 of agency 1 is out of order: expected batch 2");
  g_clear_error (&error);
  g_assert_false (lottery_state_check_batch (fixture->state, 1, 3, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_OUT_OF_ORDER);
  g_clear_error (&error);
  store_batches (fixture->state, 1, 2, 3, 7);

  /* Each agency has its own sequence. */
  store_batches (fixture->state, 2, 1, 1, 5);
  g_assert_false (lottery_state_check_batch (fixture->state, 0, 1, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);
  g_clear_error (&error);
  g_assert_false (lottery_state_check_batch (fixture->state, 4, 1, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);
  g_clear_error (&error);

  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 1), ==,
                    10 + 3 * 7);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 2), ==, 5);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 3), ==, 0);
  g_assert_cmpuint (lottery_state_get_bets_stored (fixture->state), ==,
                    10 + 3 * 7 + 5);
}

/* WELCOME's counts: a refused batch uses up its bets as it uses up its
 * number, so the agency resumes after them whatever its batch size. */
static void
test_claim_consumed (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  guint32 last_sequence = 0;
  guint64 consumed = 1, stored = 1;
  gboolean finished = TRUE;

  claim (fixture->state, 1, 0, FALSE);
  store_batches (fixture->state, 1, 1, 2, 128);
  g_assert_true (lottery_state_check_batch (fixture->state, 1, 3, &error));
  lottery_state_commit_batch (fixture->state, 1, 3, 0, 100);
  store_batches (fixture->state, 1, 4, 1, 7);
  lottery_state_release_agency (fixture->state, 1);

  g_assert_true (lottery_state_claim_agency (fixture->state, 1,
                                             &last_sequence, &consumed,
                                             &stored, &finished, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (last_sequence, ==, 4);
  g_assert_cmpuint (consumed, ==, 2 * 128 + 100 + 7);
  g_assert_cmpuint (stored, ==, 2 * 128 + 7);
  g_assert_false (finished);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 1), ==,
                    2 * 128 + 7);

  /* Another agency's counts are its own. */
  claim (fixture->state, 2, 0, FALSE);
}

static void
test_finish (Fixture       *fixture,
             gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  gboolean draw_due = TRUE;
  guint agency;

  store_batches (fixture->state, 1, 1, 3, 10);

  /* The agency must have stored exactly what it says it sent. */
  g_assert_false (lottery_state_finish_agency (fixture->state, 1, 2,
                                               &draw_due, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_OUT_OF_ORDER);
  g_assert_cmpstr (error->message, ==,
                   "Agency 1 says it sent 2 batches, but 3 were stored");
  g_assert_false (draw_due);
  g_clear_error (&error);
  g_assert_false (lottery_state_finish_agency (fixture->state, 1, 4,
                                               &draw_due, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_OUT_OF_ORDER);
  g_clear_error (&error);
  g_assert_cmpuint (fixture->notify_finished, ==, 0);

  finish (fixture->state, 1, 3, FALSE);
  g_assert_cmpuint (lottery_state_get_finished_agencies (fixture->state), ==,
                    1);
  g_assert_cmpuint (fixture->notify_finished, ==, 1);

  /* Finishing twice, or sending more, is refused. */
  g_assert_false (lottery_state_finish_agency (fixture->state, 1, 3,
                                               &draw_due, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_ALREADY_FINISHED);
  g_assert_cmpstr (error->message, ==, "Agency 1 has already finished");
  g_clear_error (&error);
  g_assert_false (lottery_state_check_batch (fixture->state, 1, 4, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_ALREADY_FINISHED);
  g_clear_error (&error);
  g_assert_false (lottery_state_finish_agency (fixture->state, 0, 0,
                                               &draw_due, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);
  g_clear_error (&error);
  g_assert_cmpuint (fixture->notify_finished, ==, 1);

  /* The draw is due with the last agency only, whatever the order. */
  finish (fixture->state, 3, 0, FALSE);
  g_assert_false (lottery_state_get_draw_done (fixture->state));
  store_batches (fixture->state, 2, 1, 1, 1);
  finish (fixture->state, 2, 1, TRUE);
  g_assert_cmpuint (lottery_state_get_finished_agencies (fixture->state), ==,
                    3);
  g_assert_cmpuint (fixture->notify_finished, ==, 3);
  g_assert_cmpuint (fixture->finished_signals->len, ==, 3);
  agency = g_array_index (fixture->finished_signals, guint, 0);
  g_assert_cmpuint (agency, ==, 1);
  agency = g_array_index (fixture->finished_signals, guint, 1);
  g_assert_cmpuint (agency, ==, 3);
  agency = g_array_index (fixture->finished_signals, guint, 2);
  g_assert_cmpuint (agency, ==, 2);

  /* Once the draw has started nothing more is taken, and the draw is
   * not done until it is completed. */
  g_assert_false (lottery_state_get_draw_done (fixture->state));
  g_assert_false (lottery_state_check_batch (fixture->state, 2, 2, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_DRAW_DONE);
  g_clear_error (&error);
  g_assert_false (lottery_state_finish_agency (fixture->state, 2, 1,
                                               &draw_due, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_ALREADY_FINISHED);
  g_assert_false (draw_due);
  g_clear_error (&error);

  lottery_state_complete_draw (fixture->state, make_winners ());
  g_assert_true (lottery_state_get_draw_done (fixture->state));
  g_assert_cmpuint (fixture->draw_completed, ==, 1);
  g_assert_cmpuint (fixture->notify_draw_done, ==, 1);
}

static void
test_single_agency (void)
{
  g_autoptr(LotteryState) state = lottery_state_new (1);
  g_autoptr(GPtrArray) winners =
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

  finish (state, 1, 0, TRUE);
  g_ptr_array_add (winners, g_ptr_array_new_with_free_func (g_free));
  lottery_state_complete_draw (state, g_steal_pointer (&winners));
  g_assert_true (lottery_state_get_draw_done (state));
}

/* A shared store's word replaces the state's: ahead (another server
 * stored more) or behind (a failed round the state had counted). */
static void
test_set_position (Fixture       *fixture,
                   gconstpointer  user_data)
{
  guint finished = 99;
  guint64 bets_stored = 0;

  store_batches (fixture->state, 1, 1, 4, 10);
  claim (fixture->state, 2, 0, FALSE);
  lottery_state_set_agency_position (fixture->state, 2, 7, 80, 70, TRUE);
  lottery_state_release_agency (fixture->state, 2);
  claim (fixture->state, 2, 7, TRUE);
  g_object_get (fixture->state, "finished-agencies", &finished,
                "bets-stored", &bets_stored, NULL);
  g_assert_cmpuint (finished, ==, 1);
  g_assert_cmpuint (bets_stored, ==, 40 + 70);
  g_assert_cmpuint (lottery_state_get_agency_bets (fixture->state, 2), ==, 70);

  /* Behind: batches 3 and 4 of agency 1 were not stored after all. */
  lottery_state_set_agency_position (fixture->state, 1, 2, 20, 20, FALSE);
  g_object_get (fixture->state, "bets-stored", &bets_stored, NULL);
  g_assert_cmpuint (bets_stored, ==, 20 + 70);
  store_batches (fixture->state, 1, 3, 1, 10);
}

/* The status merges a shared store's view for the agencies this server
 * does not hold: never behind what it knows itself. */
static void
test_shared_view (Fixture       *fixture,
                  gconstpointer  user_data)
{
  LotteryAgencyStatus view[3] = {
    { 999, TRUE, FALSE },  /* held here: the view does not count */
    { 50, TRUE, TRUE },    /* on another server */
    { 5, FALSE, FALSE },   /* behind what this server stored */
  };
  LotteryAgencyStatus status[3];
  gboolean draw_done;
  gint64 draw_time;

  claim (fixture->state, 1, 0, FALSE);
  store_batches (fixture->state, 1, 1, 1, 10);
  store_batches (fixture->state, 3, 1, 1, 7);
  lottery_state_set_shared_view (fixture->state, view, 3);
  g_assert_cmpuint (lottery_state_get_status_range (fixture->state, 0, 3,
                                                    status, &draw_done,
                                                    &draw_time), ==, 3);
  g_assert_cmpuint (status[0].bets, ==, 10);
  g_assert_false (status[0].finished);
  g_assert_true (status[0].connected);
  g_assert_cmpuint (status[1].bets, ==, 50);
  g_assert_true (status[1].finished);
  g_assert_true (status[1].connected);
  g_assert_cmpuint (status[2].bets, ==, 7);
  g_assert_false (status[2].finished);
  g_assert_false (status[2].connected);
}

/* A draw a shared store announced: reported due once, never again by a
 * local count, and a finish stored before it still counts. */
static void
test_announced_draw (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  finish (fixture->state, 1, 0, FALSE);
  g_assert_true (lottery_state_announce_draw (fixture->state));
  g_assert_false (lottery_state_announce_draw (fixture->state));
  finish (fixture->state, 2, 0, FALSE);
  finish (fixture->state, 3, 0, FALSE);
  /* No batch after it. */
  g_assert_false (lottery_state_check_batch (fixture->state, 1, 1, &error));
  g_assert_nonnull (error);
  lottery_state_complete_draw (fixture->state, make_winners ());
  g_assert_true (lottery_state_get_draw_done (fixture->state));
  g_assert_cmpuint (fixture->draw_completed, ==, 1);
}

static void
test_properties (Fixture       *fixture,
                 gconstpointer  user_data)
{
  guint agencies = 0, finished = 99;
  gboolean draw_done = TRUE;
  guint64 bets_stored = 99;

  g_object_get (fixture->state, "agencies", &agencies, "finished-agencies",
                &finished, "draw-done", &draw_done, "bets-stored",
                &bets_stored, NULL);
  g_assert_cmpuint (agencies, ==, 3);
  g_assert_cmpuint (finished, ==, 0);
  g_assert_false (draw_done);
  g_assert_cmpuint (bets_stored, ==, 0);

  store_batches (fixture->state, 1, 1, 2, 50);
  store_batches (fixture->state, 3, 1, 1, 7);
  finish (fixture->state, 1, 2, FALSE);
  g_object_get (fixture->state, "finished-agencies", &finished,
                "bets-stored", &bets_stored, NULL);
  g_assert_cmpuint (finished, ==, 1);
  g_assert_cmpuint (bets_stored, ==, 107);

  finish (fixture->state, 2, 0, FALSE);
  finish (fixture->state, 3, 1, TRUE);
  g_assert_cmpuint (fixture->draw_completed, ==, 0);
  g_assert_cmpuint (fixture->notify_draw_done, ==, 0);
  lottery_state_complete_draw (fixture->state, make_winners ());
  g_object_get (fixture->state, "finished-agencies", &finished, "draw-done",
                &draw_done, NULL);
  g_assert_cmpuint (finished, ==, 3);
  g_assert_true (draw_done);
  g_assert_cmpuint (fixture->notify_finished, ==, 3);
  g_assert_cmpuint (fixture->notify_draw_done, ==, 1);
  g_assert_cmpuint (fixture->draw_completed, ==, 1);
}

static void
test_agencies_construct_only (void)
{
  g_autoptr(LotteryState) state = g_object_new (LOTTERY_TYPE_STATE,
                                                "agencies", 300, NULL);
  g_autoptr(GError) error = NULL;
  guint32 last_sequence;
  guint64 consumed, stored;
  gboolean finished;

  g_assert_cmpuint (lottery_state_get_agencies (state), ==, 300);
  g_assert_true (lottery_state_claim_agency (state, 300, &last_sequence,
                                             &consumed, &stored, &finished,
                                             &error));
  g_assert_no_error (error);
}

typedef struct
{
  gboolean done;
  GStrv    winners;
  GError  *error;
} QueryResult;

static void
query_done_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  QueryResult *query = user_data;

  g_assert_false (query->done);
  query->winners = lottery_state_query_winners_finish (LOTTERY_STATE (source),
                                                       result, &query->error);
  g_assert_true ((query->winners == NULL) != (query->error == NULL));
  query->done = TRUE;
}

static void
query_result_clear (QueryResult *query)
{
  g_clear_pointer (&query->winners, g_strfreev);
  g_clear_error (&query->error);
  query->done = FALSE;
}

/* Runs the default main context until nothing more is pending. */
static void
iterate (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static gboolean
timed_out_cb (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs it until @query is answered, or fails after ten seconds. */
static void
wait_for (QueryResult *query)
{
  gboolean timed_out = FALSE;
  guint timeout_id = g_timeout_add_seconds (10, timed_out_cb, &timed_out);

  while (!query->done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timeout_id);
  g_assert_true (query->done);
}

static void
assert_strv (const char * const *strv,
             const char * const *expected)
{
  g_assert_nonnull (strv);
  g_assert_cmpstrv (strv, expected);
}

static void
test_query_parked (Fixture       *fixture,
                   gconstpointer  user_data)
{
  const char * const agency1[] = { "30904465", "1", NULL };
  const char * const agency2[] = { NULL };
  const char * const agency3[] = { "42", NULL };
  QueryResult q1 = { 0 }, q2 = { 0 }, q3 = { 0 }, q1b = { 0 };

  /* Queries before the draw wait without holding anything up. */
  lottery_state_query_winners_async (fixture->state, 1, NULL, query_done_cb,
                                     &q1);
  lottery_state_query_winners_async (fixture->state, 2, NULL, query_done_cb,
                                     &q2);
  finish (fixture->state, 1, 0, FALSE);
  finish (fixture->state, 2, 0, FALSE);
  lottery_state_query_winners_async (fixture->state, 3, NULL, query_done_cb,
                                     &q3);
  lottery_state_query_winners_async (fixture->state, 1, NULL, query_done_cb,
                                     &q1b);
  iterate ();
  g_assert_false (q1.done || q2.done || q3.done || q1b.done);

  finish (fixture->state, 3, 0, TRUE);
  iterate ();
  g_assert_false (q1.done || q2.done || q3.done || q1b.done);

  /* The draw answers each with its own agency's winners only. */
  lottery_state_complete_draw (fixture->state, make_winners ());
  wait_for (&q1);
  wait_for (&q2);
  wait_for (&q3);
  wait_for (&q1b);
  g_assert_no_error (q1.error);
  assert_strv ((const char * const *) q1.winners, agency1);
  g_assert_no_error (q2.error);
  assert_strv ((const char * const *) q2.winners, agency2);
  g_assert_no_error (q3.error);
  assert_strv ((const char * const *) q3.winners, agency3);
  assert_strv ((const char * const *) q1b.winners, agency1);

  query_result_clear (&q1);
  query_result_clear (&q2);
  query_result_clear (&q3);
  query_result_clear (&q1b);
}

static void
test_query_after_draw (Fixture       *fixture,
                       gconstpointer  user_data)
{
  const char * const agency3[] = { "42", NULL };
  const char * const agency2[] = { NULL };
  QueryResult q3 = { 0 }, q2 = { 0 };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  finish_all_and_draw (fixture->state);

  /* Answered at once: no further event is needed. */
  lottery_state_query_winners_async (fixture->state, 3, cancellable,
                                     query_done_cb, &q3);
  lottery_state_query_winners_async (fixture->state, 2, NULL, query_done_cb,
                                     &q2);
  iterate ();
  g_assert_true (q3.done);
  g_assert_true (q2.done);
  g_assert_no_error (q3.error);
  assert_strv ((const char * const *) q3.winners, agency3);
  assert_strv ((const char * const *) q2.winners, agency2);

  /* Each answer is a copy: changing it changes nothing for others. */
  g_free (q3.winners[0]);
  q3.winners[0] = g_strdup ("tampered");
  query_result_clear (&q3);
  lottery_state_query_winners_async (fixture->state, 3, NULL, query_done_cb,
                                     &q3);
  wait_for (&q3);
  assert_strv ((const char * const *) q3.winners, agency3);

  /* Cancelling afterwards is harmless. */
  g_cancellable_cancel (cancellable);
  iterate ();

  query_result_clear (&q3);
  query_result_clear (&q2);
}

static void
test_query_unknown (Fixture       *fixture,
                    gconstpointer  user_data)
{
  QueryResult q0 = { 0 }, q4 = { 0 };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  lottery_state_query_winners_async (fixture->state, 0, cancellable,
                                     query_done_cb, &q0);
  wait_for (&q0);
  g_assert_error (q0.error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);

  finish_all_and_draw (fixture->state);
  lottery_state_query_winners_async (fixture->state, 4, NULL, query_done_cb,
                                     &q4);
  wait_for (&q4);
  g_assert_error (q4.error, LOTTERY_ERROR, LOTTERY_ERROR_UNKNOWN_AGENCY);

  query_result_clear (&q0);
  query_result_clear (&q4);
}

static void
test_query_cancelled (Fixture       *fixture,
                      gconstpointer  user_data)
{
  const char * const agency1[] = { "30904465", "1", NULL };
  GCancellable *cancellable = g_cancellable_new ();
  g_autoptr(GCancellable) other = g_cancellable_new ();
  QueryResult withdrawn = { 0 }, kept = { 0 };

  lottery_state_query_winners_async (fixture->state, 1, cancellable,
                                     query_done_cb, &withdrawn);
  lottery_state_query_winners_async (fixture->state, 1, other,
                                     query_done_cb, &kept);
  iterate ();
  g_assert_false (withdrawn.done);

  /* A connection that goes away withdraws its query. */
  g_cancellable_cancel (cancellable);
  wait_for (&withdrawn);
  g_assert_error (withdrawn.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (kept.done);

  /* Nothing of the withdrawn query may outlive its cancellable. */
  g_object_add_weak_pointer (G_OBJECT (cancellable), (gpointer *) &cancellable);
  g_object_unref (cancellable);
  iterate ();
  g_assert_null (cancellable);

  /* The others are still answered by the draw. */
  finish_all_and_draw (fixture->state);
  wait_for (&kept);
  g_assert_no_error (kept.error);
  assert_strv ((const char * const *) kept.winners, agency1);

  query_result_clear (&withdrawn);
  query_result_clear (&kept);
}

static void
test_query_cancelled_before (Fixture       *fixture,
                             gconstpointer  user_data)
{
  GCancellable *cancellable = g_cancellable_new ();
  QueryResult query = { 0 };

  g_cancellable_cancel (cancellable);
  lottery_state_query_winners_async (fixture->state, 2, cancellable,
                                     query_done_cb, &query);
  wait_for (&query);
  g_assert_error (query.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  g_object_add_weak_pointer (G_OBJECT (cancellable), (gpointer *) &cancellable);
  g_object_unref (cancellable);
  iterate ();
  g_assert_null (cancellable);

  query_result_clear (&query);
}

typedef struct
{
  GCancellable *cancellable;
  GMainContext *context;
} CancelJob;

static gpointer
cancel_thread (gpointer user_data)
{
  CancelJob *job = user_data;

  g_cancellable_cancel (job->cancellable);
  g_main_context_wakeup (job->context);
  return NULL;
}

static void
test_query_cancelled_from_thread (Fixture       *fixture,
                                  gconstpointer  user_data)
{
  GCancellable *cancellable = g_cancellable_new ();
  CancelJob job = { cancellable, g_main_context_default () };
  QueryResult query = { 0 };

  /* Connections are cancelled from wherever the server stops them. */
  lottery_state_query_winners_async (fixture->state, 3, cancellable,
                                     query_done_cb, &query);
  g_thread_join (g_thread_new ("cancel", cancel_thread, &job));
  wait_for (&query);
  g_assert_error (query.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  g_object_add_weak_pointer (G_OBJECT (cancellable), (gpointer *) &cancellable);
  g_object_unref (cancellable);
  iterate ();
  g_assert_null (cancellable);

  query_result_clear (&query);
}

static void
test_cancel_queries (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  QueryResult q1 = { 0 }, q2 = { 0 }, later = { 0 };

  lottery_state_query_winners_async (fixture->state, 1, cancellable,
                                     query_done_cb, &q1);
  lottery_state_query_winners_async (fixture->state, 2, NULL, query_done_cb,
                                     &q2);
  iterate ();
  g_assert_false (q1.done || q2.done);

  /* The server is stopping: every parked query fails. */
  lottery_state_cancel_queries (fixture->state);
  wait_for (&q1);
  wait_for (&q2);
  g_assert_error (q1.error, LOTTERY_ERROR, LOTTERY_ERROR_SHUTTING_DOWN);
  g_assert_error (q2.error, LOTTERY_ERROR, LOTTERY_ERROR_SHUTTING_DOWN);

  /* Their cancellables no longer matter. */
  g_cancellable_cancel (cancellable);
  iterate ();

  /* Nothing is left parked: a second call answers nobody. */
  lottery_state_cancel_queries (fixture->state);
  lottery_state_query_winners_async (fixture->state, 3, NULL, query_done_cb,
                                     &later);
  finish_all_and_draw (fixture->state);
  wait_for (&later);
  g_assert_no_error (later.error);

  query_result_clear (&q1);
  query_result_clear (&q2);
  query_result_clear (&later);
}

static void
test_fail_draw (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) draw_error = g_error_new_literal (LOTTERY_ERROR,
                                                     LOTTERY_ERROR_STORAGE,
                                                     "bets.csv:3: damaged");
  QueryResult parked = { 0 }, later = { 0 };

  lottery_state_query_winners_async (fixture->state, 1, NULL, query_done_cb,
                                     &parked);
  finish (fixture->state, 1, 0, FALSE);
  finish (fixture->state, 2, 0, FALSE);
  finish (fixture->state, 3, 0, TRUE);
  lottery_state_fail_draw (fixture->state, draw_error);
  wait_for (&parked);
  g_assert_error (parked.error, LOTTERY_ERROR, LOTTERY_ERROR_STORAGE);
  g_assert_cmpstr (parked.error->message, ==, "bets.csv:3: damaged");

  lottery_state_query_winners_async (fixture->state, 2, NULL, query_done_cb,
                                     &later);
  wait_for (&later);
  g_assert_error (later.error, LOTTERY_ERROR, LOTTERY_ERROR_STORAGE);

  g_assert_false (lottery_state_wait_for_draw (fixture->state,
                                               g_get_monotonic_time ()));
  g_assert_false (lottery_state_get_draw_done (fixture->state));
  g_assert_cmpuint (fixture->draw_completed, ==, 0);

  query_result_clear (&parked);
  query_result_clear (&later);
}

typedef struct
{
  LotteryState *state;
  gint64        end_time;
  gint          waiting;
} WaitJob;

static gpointer
wait_thread (gpointer user_data)
{
  WaitJob *job = user_data;

  g_atomic_int_set (&job->waiting, 1);
  return GINT_TO_POINTER (lottery_state_wait_for_draw (job->state,
                                                      job->end_time));
}

static void
test_wait_for_draw (Fixture       *fixture,
                    gconstpointer  user_data)
{
  WaitJob job = { fixture->state,
                  g_get_monotonic_time () + 30 * G_USEC_PER_SEC, 0 };
  GThread *thread;
  gint64 start;

  thread = g_thread_new ("wait", wait_thread, &job);
  while (!g_atomic_int_get (&job.waiting))
    g_usleep (1000);
  /* Give it time to block on the condition. */
  g_usleep (20000);

  start = g_get_monotonic_time ();
  finish_all_and_draw (fixture->state);
  g_assert_true (GPOINTER_TO_INT (g_thread_join (thread)));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);

  /* After the draw it returns at once. */
  g_assert_true (lottery_state_wait_for_draw (fixture->state, 0));
}

static void
test_wait_for_draw_timeout (Fixture       *fixture,
                            gconstpointer  user_data)
{
  gint64 start = g_get_monotonic_time ();
  WaitJob job = { fixture->state, start + 100 * 1000, 0 };
  GThread *thread;

  thread = g_thread_new ("wait", wait_thread, &job);
  g_assert_false (GPOINTER_TO_INT (g_thread_join (thread)));
  g_assert_cmpint (g_get_monotonic_time (), >=, start + 100 * 1000);

  /* The draw is due but not done: still FALSE. */
  finish (fixture->state, 1, 0, FALSE);
  finish (fixture->state, 2, 0, FALSE);
  finish (fixture->state, 3, 0, TRUE);
  g_assert_false (lottery_state_wait_for_draw (fixture->state,
                                               g_get_monotonic_time () +
                                               10 * 1000));
  lottery_state_complete_draw (fixture->state, make_winners ());
}

typedef struct
{
  LotteryState *state;
  guint         agency;
} CommitJob;

static gpointer
commit_thread (gpointer user_data)
{
  CommitJob *job = user_data;
  guint32 s;

  for (s = 1; s <= 1000; s++)
    {
      GError *error = NULL;

      if (!lottery_state_check_batch (job->state, job->agency, s, &error))
        g_error ("%s", error->message);
      lottery_state_commit_batch (job->state, job->agency, s, 3, 3);
    }

  return NULL;
}

static void
test_concurrent_commits (Fixture       *fixture,
                         gconstpointer  user_data)
{
  CommitJob jobs[3];
  GThread *threads[3];
  guint i;

  for (i = 0; i < 3; i++)
    {
      jobs[i].state = fixture->state;
      jobs[i].agency = i + 1;
      threads[i] = g_thread_new ("commit", commit_thread, &jobs[i]);
    }
  for (i = 0; i < 3; i++)
    g_thread_join (threads[i]);

  g_assert_cmpuint (lottery_state_get_bets_stored (fixture->state), ==,
                    3 * 1000 * 3);
  for (i = 0; i < 3; i++)
    finish (fixture->state, i + 1, 1000, i == 2);
  lottery_state_complete_draw (fixture->state, make_winners ());
}

static void
test_complete_draw_not_due (Fixture       *fixture,
                            gconstpointer  user_data)
{
  if (g_test_subprocess ())
    {
      /* Completing a draw nobody started is a programming error. */
      lottery_state_complete_draw (fixture->state, make_winners ());
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*draw_started*");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("LotteryState: one connection per agency, batch sequence "
                  "rules, finishing, the draw, its properties and signals, "
                  "and winners queries parked until the draw.");

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/state/claim/busy", test_claim);
  ADD ("/state/claim/unknown-agency", test_claim_unknown);
  ADD ("/state/claim/resume", test_claim_resume);
  ADD ("/state/claim/consumed", test_claim_consumed);
  ADD ("/state/claim/release-unclaimed", test_release_unclaimed);
  ADD ("/state/claim/takeover-signals", test_takeover_signals);
  ADD ("/state/batch/sequence", test_batch_sequence);
  ADD ("/state/batch/concurrent", test_concurrent_commits);
  ADD ("/state/finish", test_finish);
  ADD ("/state/shared/set-position", test_set_position);
  ADD ("/state/shared/announced-draw", test_announced_draw);
  ADD ("/state/shared/view", test_shared_view);
  ADD ("/state/properties", test_properties);
  ADD ("/state/query/parked", test_query_parked);
  ADD ("/state/query/after-draw", test_query_after_draw);
  ADD ("/state/query/unknown-agency", test_query_unknown);
  ADD ("/state/query/cancelled", test_query_cancelled);
  ADD ("/state/query/cancelled-before", test_query_cancelled_before);
  ADD ("/state/query/cancelled-from-thread", test_query_cancelled_from_thread);
  ADD ("/state/query/cancel-queries", test_cancel_queries);
  ADD ("/state/query/fail-draw", test_fail_draw);
  ADD ("/state/wait-for-draw/completed", test_wait_for_draw);
  ADD ("/state/wait-for-draw/timeout", test_wait_for_draw_timeout);
  ADD ("/state/complete-draw/not-due", test_complete_draw_not_due);

#undef ADD

  g_test_add_func ("/state/single-agency", test_single_agency);
  g_test_add_func ("/state/agencies-construct-only",
                   test_agencies_construct_only);

  return g_test_run ();
}
