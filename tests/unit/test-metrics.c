/* test-metrics.c: LotteryMetrics counts and renders the Prometheus text
 * format. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-metrics.h"

#include <string.h>

/* Every sample line's family has # HELP and # TYPE before it. */
static void
assert_families_declared (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GHashTable) help = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                      g_free, NULL);
  g_autoptr(GHashTable) type = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                      g_free, NULL);
  guint i, samples = 0;

  for (i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      g_auto(GStrv) words = g_strsplit (line, " ", 4);
      g_autofree char *name = NULL;
      gsize len;

      if (line[0] == '\0')
        continue;
      if (g_str_has_prefix (line, "# HELP "))
        {
          g_hash_table_add (help, g_strdup (words[2]));
          continue;
        }
      if (g_str_has_prefix (line, "# TYPE "))
        {
          g_hash_table_add (type, g_strdup (words[2]));
          continue;
        }
      len = strcspn (line, "{ ");
      name = g_strndup (line, len);
      /* A histogram's samples belong to the family without suffix. */
      if (!g_hash_table_contains (type, name))
        {
          char *suffix = strrchr (name, '_');

          g_assert_nonnull (suffix);
          *suffix = '\0';
        }
      g_assert_true (g_hash_table_contains (type, name));
      g_assert_true (g_hash_table_contains (help, name));
      samples++;
    }
  g_assert_cmpuint (samples, >, 20);
}

static void
assert_line (const char *text,
             const char *line)
{
  g_autofree char *needle = g_strdup_printf ("\n%s\n", line);

  if (strstr (text, needle) == NULL)
    g_error ("no line “%s” in:\n%s", line, text);
}

static void
test_render (void)
{
  g_autoptr(LotteryMetrics) metrics = lottery_metrics_new ();
  g_autoptr(LotteryState) state = lottery_state_new (3);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  guint32 last = 0;
  gboolean finished = FALSE;

  g_assert_true (lottery_state_claim_agency (state, 2, &last, &finished,
                                             &error));
  g_assert_no_error (error);
  g_assert_true (lottery_state_check_batch (state, 2, 1, &error));
  lottery_state_commit_batch (state, 2, 1, 7);

  lottery_metrics_count_batch (metrics, LOTTERY_BATCH_ACKED,
                               g_get_monotonic_time ());
  lottery_metrics_count_batch (metrics, LOTTERY_BATCH_ACKED,
                               g_get_monotonic_time () - 30 * G_USEC_PER_SEC);
  lottery_metrics_count_batch (metrics, LOTTERY_BATCH_INVALID, 0);
  lottery_metrics_count_batch (metrics, LOTTERY_BATCH_REFUSED, 0);
  lottery_metrics_count_batch (metrics, LOTTERY_BATCH_REFUSED, 0);
  lottery_metrics_count_connection (metrics, 1);
  lottery_metrics_count_connection (metrics, 1);
  lottery_metrics_count_connection (metrics, -1);
  lottery_metrics_count_refused (metrics);
  lottery_metrics_add_bytes_received (metrics, 12345);
  lottery_metrics_observe_sync (metrics, 1500);

  text = lottery_metrics_render (metrics, state);
  assert_families_declared (text);
  assert_line (text, "lottery_agencies 3");
  assert_line (text, "lottery_agencies_connected 1");
  assert_line (text, "lottery_agencies_finished 0");
  assert_line (text, "lottery_bets_stored_total 7");
  assert_line (text, "lottery_agency_bets_stored_total{agency=\"1\"} 0");
  assert_line (text, "lottery_agency_bets_stored_total{agency=\"2\"} 7");
  assert_line (text, "lottery_batches_total{result=\"acked\"} 2");
  assert_line (text, "lottery_batches_total{result=\"invalid\"} 1");
  assert_line (text, "lottery_batches_total{result=\"refused\"} 2");
  assert_line (text, "lottery_connections_open 1");
  assert_line (text, "lottery_connections_refused_total 1");
  assert_line (text, "lottery_received_bytes_total 12345");
  /* Only acknowledged batches are timed; 30 s is past the last bound. */
  assert_line (text, "lottery_batch_ack_seconds_bucket{le=\"10\"} 1");
  assert_line (text, "lottery_batch_ack_seconds_bucket{le=\"+Inf\"} 2");
  assert_line (text, "lottery_batch_ack_seconds_count 2");
  assert_line (text, "lottery_storage_sync_seconds_bucket{le=\"0.001\"} 0");
  assert_line (text, "lottery_storage_sync_seconds_bucket{le=\"0.0025\"} 1");
  assert_line (text, "lottery_storage_sync_seconds_sum 0.0015");
  assert_line (text, "lottery_storage_sync_seconds_count 1");
  assert_line (text, "lottery_draw_done 0");
  assert_line (text, "lottery_draw_timestamp_seconds 0");
  g_assert_null (strstr (text, "process_resident_memory_bytes 0\n"));
  g_assert_null (strstr (text, "process_open_fds 0\n"));
}

static void
test_classify (void)
{
  g_autoptr(GError) bad_bet = g_error_new_literal (LOTTERY_ERROR,
                                                   LOTTERY_ERROR_INVALID_BET,
                                                   "x");
  g_autoptr(GError) protocol = g_error_new_literal (LOTTERY_ERROR,
                                                    LOTTERY_ERROR_PROTOCOL,
                                                    "x");
  g_autoptr(GError) order = g_error_new_literal (LOTTERY_ERROR,
                                                 LOTTERY_ERROR_OUT_OF_ORDER,
                                                 "x");
  g_autoptr(GError) io = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                                              "x");

  g_assert_cmpint (lottery_metrics_classify_batch (NULL), ==,
                   LOTTERY_BATCH_ACKED);
  g_assert_cmpint (lottery_metrics_classify_batch (bad_bet), ==,
                   LOTTERY_BATCH_INVALID);
  g_assert_cmpint (lottery_metrics_classify_batch (protocol), ==,
                   LOTTERY_BATCH_INVALID);
  g_assert_cmpint (lottery_metrics_classify_batch (order), ==,
                   LOTTERY_BATCH_REFUSED);
  g_assert_cmpint (lottery_metrics_classify_batch (io), ==,
                   LOTTERY_BATCH_REFUSED);
}

/* Counts from several threads at once add up. */
static gpointer
count_thread (gpointer data)
{
  LotteryMetrics *metrics = data;
  guint i;

  for (i = 0; i < 10000; i++)
    {
      lottery_metrics_add_bytes_received (metrics, 1);
      lottery_metrics_observe_sync (metrics, i);
    }

  return NULL;
}

static void
test_threads (void)
{
  g_autoptr(LotteryMetrics) metrics = lottery_metrics_new ();
  g_autoptr(LotteryState) state = lottery_state_new (1);
  g_autofree char *text = NULL;
  GThread *threads[4];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("count", count_thread, metrics);
  for (i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  text = lottery_metrics_render (metrics, state);
  assert_line (text, "lottery_received_bytes_total 40000");
  assert_line (text, "lottery_storage_sync_seconds_count 40000");
  g_assert_true (lottery_metrics_get_default () ==
                 lottery_metrics_get_default ());
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/metrics/render", test_render);
  g_test_add_func ("/metrics/classify", test_classify);
  g_test_add_func ("/metrics/threads", test_threads);

  return g_test_run ();
}
