/* lottery-metrics.c: the server's counters and histograms, in the
 * Prometheus text format (version 0.0.4).
 *
 * Updated from any thread (the main context and GTask's pool) with
 * relaxed atomics, so that counting never waits for a scrape; rendered
 * on the main context. Counts only: never a document, a name or a
 * winner. Per-agency figures, the draw and the agencies' states come
 * from LotteryState at render time, the way STATUS reads them.
 */
#include "config.h"

#include "lottery-metrics.h"
#include "lottery-error.h"

#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

/* Upper bounds in microseconds; the last bucket is +Inf. From a page
 * cache write to a slow disk's flush. */
static const gint64 bucket_bounds[] = {
  500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
  1000000, 2500000, 5000000, 10000000,
};
#define N_BUCKETS (G_N_ELEMENTS (bucket_bounds) + 1)

typedef struct
{
  atomic_uint_fast64_t buckets[N_BUCKETS]; /* not cumulative */
  atomic_uint_fast64_t sum_usec;
} Histogram;

struct _LotteryMetrics
{
  GObject parent_instance;

  atomic_uint_fast64_t batches[LOTTERY_BATCH_N_RESULTS];
  atomic_int_fast64_t  connections_open;
  atomic_uint_fast64_t connections_refused;
  atomic_uint_fast64_t bytes_received;
  Histogram            ack;
  Histogram            sync;
  gint64               start_time; /* real time, microseconds */
};

G_DEFINE_FINAL_TYPE (LotteryMetrics, lottery_metrics, G_TYPE_OBJECT)

static const char * const batch_results[LOTTERY_BATCH_N_RESULTS] = {
  [LOTTERY_BATCH_ACKED] = "acked",
  [LOTTERY_BATCH_INVALID] = "invalid",
  [LOTTERY_BATCH_REFUSED] = "refused",
};

static void
lottery_metrics_class_init (LotteryMetricsClass *klass)
{
}

static void
lottery_metrics_init (LotteryMetrics *self)
{
  self->start_time = g_get_real_time ();
}

LotteryMetrics *
lottery_metrics_new (void)
{
  return g_object_new (LOTTERY_TYPE_METRICS, NULL);
}

/**
 * lottery_metrics_get_default:
 *
 * The process's metrics, created on first use and never freed: the
 * places that count (connections, batch tasks, the storage's syncer)
 * need no reference passed down to them.
 *
 * Returns: (transfer none): the metrics
 */
LotteryMetrics *
lottery_metrics_get_default (void)
{
  static gsize metrics;

  if (g_once_init_enter (&metrics))
    g_once_init_leave (&metrics, (gsize) lottery_metrics_new ());

  return (LotteryMetrics *) metrics;
}

/* A bad bet or a malformed batch is the agency's data; anything else
 * (order, state, storage) is a refusal. */
LotteryBatchResult
lottery_metrics_classify_batch (const GError *error)
{
  if (error == NULL)
    return LOTTERY_BATCH_ACKED;
  if (g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET) ||
      g_error_matches (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL))
    return LOTTERY_BATCH_INVALID;

  return LOTTERY_BATCH_REFUSED;
}

static void
histogram_observe (Histogram *histogram,
                   gint64     usec)
{
  guint i = 0;

  usec = MAX (usec, 0);
  while (i < G_N_ELEMENTS (bucket_bounds) && usec > bucket_bounds[i])
    i++;
  atomic_fetch_add_explicit (&histogram->buckets[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit (&histogram->sum_usec, (guint64) usec,
                             memory_order_relaxed);
}

/* @arrived: the monotonic time the server took the batch up; the
 * time to its answer goes into the histogram for acknowledged ones. */
void
lottery_metrics_count_batch (LotteryMetrics    *self,
                             LotteryBatchResult result,
                             gint64             arrived)
{
  g_return_if_fail (LOTTERY_IS_METRICS (self));
  g_return_if_fail (result < LOTTERY_BATCH_N_RESULTS);

  atomic_fetch_add_explicit (&self->batches[result], 1, memory_order_relaxed);
  if (result == LOTTERY_BATCH_ACKED)
    histogram_observe (&self->ack, g_get_monotonic_time () - arrived);
}

/* +1 when an agency connection is accepted, -1 when it is released. */
void
lottery_metrics_count_connection (LotteryMetrics *self,
                                  gint            delta)
{
  g_return_if_fail (LOTTERY_IS_METRICS (self));

  atomic_fetch_add_explicit (&self->connections_open, delta,
                             memory_order_relaxed);
}

void
lottery_metrics_count_refused (LotteryMetrics *self)
{
  g_return_if_fail (LOTTERY_IS_METRICS (self));

  atomic_fetch_add_explicit (&self->connections_refused, 1,
                             memory_order_relaxed);
}

void
lottery_metrics_add_bytes_received (LotteryMetrics *self,
                                    guint64         bytes)
{
  g_return_if_fail (LOTTERY_IS_METRICS (self));

  atomic_fetch_add_explicit (&self->bytes_received, bytes,
                             memory_order_relaxed);
}

/* One storage sync round (the data file and its journal). */
void
lottery_metrics_observe_sync (LotteryMetrics *self,
                              gint64          usec)
{
  g_return_if_fail (LOTTERY_IS_METRICS (self));

  histogram_observe (&self->sync, usec);
}

/* ---- rendering ---- */

/* 15 significant digits: integers as they are, and no binary noise
 * (0.0005, not 0.00050000000000000001). */
static const char *
format_number (char   number[G_ASCII_DTOSTR_BUF_SIZE],
               double value)
{
  return g_ascii_formatd (number, G_ASCII_DTOSTR_BUF_SIZE, "%.15g", value);
}

static void
family (GString    *out,
        const char *name,
        const char *type,
        const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                          name, type);
}

static void
sample (GString    *out,
        const char *name,
        const char *type,
        const char *help,
        double      value)
{
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  family (out, name, type, help);
  g_string_append_printf (out, "%s %s\n", name,
                          format_number (number, value));
}

static void
render_histogram (GString         *out,
                  const char      *name,
                  const char      *help,
                  const Histogram *histogram)
{
  char number[G_ASCII_DTOSTR_BUF_SIZE];
  guint64 cumulative = 0;
  guint i;

  family (out, name, "histogram", help);
  /* _count is the +Inf bucket of the same reading, so the two agree
   * even while batches are being answered. */
  for (i = 0; i < N_BUCKETS; i++)
    {
      cumulative += atomic_load_explicit (&histogram->buckets[i],
                                          memory_order_relaxed);
      if (i < G_N_ELEMENTS (bucket_bounds))
        g_string_append_printf (out, "%s_bucket{le=\"%s\"} %" G_GUINT64_FORMAT
                                "\n", name,
                                format_number (number,
                                                bucket_bounds[i] / 1e6),
                                cumulative);
      else
        g_string_append_printf (out, "%s_bucket{le=\"+Inf\"} %"
                                G_GUINT64_FORMAT "\n", name, cumulative);
    }
  g_string_append_printf (out, "%s_sum %s\n%s_count %" G_GUINT64_FORMAT "\n",
                          name,
                          format_number (number,
                                          atomic_load_explicit (
                                            &histogram->sum_usec,
                                            memory_order_relaxed) / 1e6),
                          name, cumulative);
}

static guint
count_open_files (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;

  /* Less the one g_dir_open () holds. */
  return n > 0 ? n - 1 : 0;
}

static guint64
resident_bytes (void)
{
  g_autofree char *statm = NULL;
  g_auto(GStrv) fields = NULL;
  guint64 pages;

  if (!g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    return 0;
  fields = g_strsplit (statm, " ", 3);
  if (g_strv_length (fields) < 2 ||
      !g_ascii_string_to_unsigned (fields[1], 10, 0, G_MAXUINT64, &pages,
                                   NULL))
    return 0;

  return pages * (guint64) sysconf (_SC_PAGESIZE);
}

static void
render_process (GString        *out,
                LotteryMetrics *self)
{
  struct rusage usage;
  double cpu = 0;

  if (getrusage (RUSAGE_SELF, &usage) == 0)
    cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
          (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;

  sample (out, "process_resident_memory_bytes", "gauge",
          "Resident memory size in bytes.", (double) resident_bytes ());
  sample (out, "process_open_fds", "gauge",
          "Number of open file descriptors.", count_open_files ());
  sample (out, "process_cpu_seconds_total", "counter",
          "Total user and system CPU time spent in seconds.", cpu);
  sample (out, "process_start_time_seconds", "gauge",
          "Start time of the process since unix epoch in seconds.",
          (double) (self->start_time / G_USEC_PER_SEC));
}

/**
 * lottery_metrics_render:
 * @state: the lottery's state, for the per-agency figures
 *
 * Returns: (transfer full): every metric, in the Prometheus text
 *   exposition format 0.0.4
 */
char *
lottery_metrics_render (LotteryMetrics *self,
                        LotteryState   *state)
{
  g_autofree LotteryAgencyStatus *status = NULL;
  GString *out = g_string_new (NULL);
  guint agencies = lottery_state_get_agencies (state);
  guint connected = 0, finished = 0;
  guint64 bets = 0;
  gboolean draw_done;
  gint64 draw_time;
  guint i;

  g_return_val_if_fail (LOTTERY_IS_METRICS (self), NULL);

  status = lottery_state_get_status (state, &draw_done, &draw_time);
  for (i = 0; i < agencies; i++)
    {
      bets += status[i].bets;
      connected += status[i].connected ? 1 : 0;
      finished += status[i].finished ? 1 : 0;
    }

  sample (out, "lottery_agencies", "gauge",
          "Agencies taking part (lottery.agencies).", agencies);
  sample (out, "lottery_agencies_connected", "gauge",
          "Agencies with a connection that said HELLO.", connected);
  sample (out, "lottery_agencies_finished", "gauge",
          "Agencies that have sent FINISH.", finished);
  sample (out, "lottery_bets_stored_total", "counter",
          "Bets stored, this run and the runs it resumed.", (double) bets);
  family (out, "lottery_agency_bets_stored_total", "counter",
          "Bets stored per agency.");
  for (i = 0; i < agencies; i++)
    g_string_append_printf (out, "lottery_agency_bets_stored_total"
                            "{agency=\"%u\"} %" G_GUINT64_FORMAT "\n",
                            i + 1, status[i].bets);
  family (out, "lottery_batches_total", "counter",
          "Batches answered, by result.");
  for (i = 0; i < LOTTERY_BATCH_N_RESULTS; i++)
    g_string_append_printf (out, "lottery_batches_total{result=\"%s\"} %"
                            G_GUINT64_FORMAT "\n", batch_results[i],
                            (guint64) atomic_load_explicit (
                              &self->batches[i], memory_order_relaxed));
  sample (out, "lottery_connections_open", "gauge",
          "Agency connections open.",
          (double) atomic_load_explicit (&self->connections_open,
                                         memory_order_relaxed));
  sample (out, "lottery_connections_refused_total", "counter",
          "Agency connections refused over server.max_connections.",
          (double) atomic_load_explicit (&self->connections_refused,
                                         memory_order_relaxed));
  sample (out, "lottery_received_bytes_total", "counter",
          "Bytes received from agencies.",
          (double) atomic_load_explicit (&self->bytes_received,
                                         memory_order_relaxed));
  render_histogram (out, "lottery_batch_ack_seconds",
                    "Time from taking a batch up to acknowledging it.",
                    &self->ack);
  render_histogram (out, "lottery_storage_sync_seconds",
                    "Time of one storage sync round (bets and journal).",
                    &self->sync);
  sample (out, "lottery_draw_done", "gauge",
          "1 once the draw has taken place.", draw_done ? 1 : 0);
  sample (out, "lottery_draw_timestamp_seconds", "gauge",
          "When the draw took place, since the epoch; 0 before.",
          draw_done ? (double) (draw_time / G_USEC_PER_SEC) : 0);
  render_process (out, self);

  return g_string_free (out, FALSE);
}
