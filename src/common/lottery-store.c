/* lottery-store.c: the LotteryStore interface: its wrappers, its error
 * domain, and the draw every store gets unless it has its own.
 *
 * Owns no state and no lock; each wrapper runs on the caller's thread
 * (the contract of each method, in docs/storage.md, says which).
 */
#include "config.h"

#include "lottery-store.h"
#include "lottery-log.h"
#include "lottery-error.h"


G_DEFINE_INTERFACE (LotteryStore, lottery_store, G_TYPE_OBJECT)

/* lottery_fail () for LOTTERY_STORE_ERROR: sets @error, returns FALSE. */
gboolean
lottery_store_fail (GError          **error,
                    LotteryStoreError code,
                    const char       *format,
                    ...)
{
  va_list args;

  va_start (args, format);
  lottery_fail_valist (error, LOTTERY_STORE_ERROR, code, format, args);
  va_end (args);

  return FALSE;
}

typedef struct
{
  GPtrArray *winners;
  guint      n_agencies;
  guint64    foreign;
} DrawData;

static gboolean
collect_winner (const LotteryBet *bet,
                gpointer          user_data)
{
  DrawData *data = user_data;

  if (!lottery_bet_has_won (bet))
    return TRUE;
  if (bet->agency > data->n_agencies)
    {
      data->foreign++;
      return TRUE;
    }

  g_ptr_array_add (g_ptr_array_index (data->winners, bet->agency - 1),
                   g_strdup (bet->document));
  return TRUE;
}

/* The draw from the stream of winning bets; a store that can find its
 * winners faster (an index, a query) overrides it. */
static GPtrArray *
lottery_store_real_draw (LotteryStore *store,
                         guint         n_agencies,
                         GCancellable *cancellable,
                         GError      **error)
{
  g_autoptr(GPtrArray) winners = NULL;
  DrawData data;
  guint i;

  winners = g_ptr_array_new_full (n_agencies, (GDestroyNotify) g_ptr_array_unref);
  for (i = 0; i < n_agencies; i++)
    g_ptr_array_add (winners, g_ptr_array_new_with_free_func (g_free));

  data.winners = winners;
  data.n_agencies = n_agencies;
  data.foreign = 0;

  if (!lottery_store_load_bets (store, TRUE, collect_winner, &data,
                                cancellable, error))
    return NULL;

  if (data.foreign > 0)
    {
      g_autofree char *where = lottery_log_value (lottery_store_get_location (store));

      lottery_log (G_LOG_LEVEL_WARNING, "sorteo", "fail",
                   "storage: %s | ignored_winners: %" G_GUINT64_FORMAT
                   " | error: winning bets of agencies above %u are not part "
                   "of this draw", where, data.foreign, n_agencies);
    }

  return g_steal_pointer (&winners);
}

static void
lottery_store_default_init (LotteryStoreInterface *iface)
{
  iface->draw = lottery_store_real_draw;

  /**
   * LotteryStore::drawn:
   *
   * A shared store learnt that the lottery has been drawn: every agency
   * finished, on this server or another, and the winners are stored.
   * Emitted once, on the main context the store was recovered in. A
   * store that only one server uses never emits it.
   */
  g_signal_new ("drawn", LOTTERY_TYPE_STORE, G_SIGNAL_RUN_LAST, 0, NULL,
                NULL, NULL, G_TYPE_NONE, 0);

  /**
   * LotteryStore::agencies-read:
   * @view: (array length=n_agencies): a LotteryStoreAgency per agency,
   *   1 to @n_agencies, as every server of the lottery left them
   * @n_agencies: the lottery's agencies
   *
   * A shared store read where every agency stands, on whichever
   * server: what a status shows of the agencies this server does not
   * hold. Emitted every few seconds on the main context; never by a
   * store that only one server uses.
   */
  g_signal_new ("agencies-read", LOTTERY_TYPE_STORE, G_SIGNAL_RUN_LAST, 0,
                NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_UINT);
}

/**
 * lottery_store_recover:
 * @func: (nullable): called for every record kept, in the order stored
 *
 * Opens what the store needs, takes back what a crash left half done,
 * and replays what it holds, so the caller can rebuild where each
 * agency left off. Called once, before any other method.
 */
gboolean
lottery_store_recover (LotteryStore           *store,
                       LotteryStoreRecordFunc  func,
                       gpointer                user_data,
                       GCancellable           *cancellable,
                       GError                **error)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->recover (store, func, user_data,
                                                   cancellable, error);
}

/**
 * lottery_store_append:
 * @rows: the rows of every batch in @records, one after the other, in
 *   the bets.csv row format (lottery_bet_format_row ())
 * @records: (inout): what to store; each batch's @end holds, on entry,
 *   the length of its rows in @rows (0 for a refused batch or a finish)
 * @ticket: (out) (optional): for lottery_store_sync_async ()
 *
 * Stores a group of batches and finishes as one unit: on failure none
 * of it is kept. Safe from any thread; groups of different callers do
 * not interleave. Durable only once the ticket's sync completes.
 */
gboolean
lottery_store_append (LotteryStore       *store,
                      const char         *rows,
                      LotteryStoreRecord *records,
                      guint               n_records,
                      guint64            *ticket,
                      GError            **error)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), FALSE);
  g_return_val_if_fail (records != NULL || n_records == 0, FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->append (store, rows, records,
                                                  n_records, ticket, error);
}

/**
 * lottery_store_sync_async:
 * @ticket: from lottery_store_append (), or 0 for nothing to sync
 *
 * @callback runs (in the thread-default main context) once everything
 * stored up to @ticket is durable. Requests complete in the order they
 * were made, also those with nothing to sync, so a connection's replies
 * keep their order.
 */
void
lottery_store_sync_async (LotteryStore        *store,
                          guint64              ticket,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_return_if_fail (LOTTERY_IS_STORE (store));

  LOTTERY_STORE_GET_IFACE (store)->sync_async (store, ticket, cancellable,
                                               callback, user_data);
}

gboolean
lottery_store_sync_finish (LotteryStore  *store,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->sync_finish (store, result, error);
}

/**
 * lottery_store_load_bets:
 * @winners_only: skip bets that did not win (before parsing them, where
 *   the store can)
 *
 * Streams every stored bet to @func, in the order stored, from the
 * calling thread (a worker: this blocks). A damaged bet is an error,
 * not skipped.
 */
gboolean
lottery_store_load_bets (LotteryStore  *store,
                         gboolean       winners_only,
                         LotteryBetFunc func,
                         gpointer       user_data,
                         GCancellable  *cancellable,
                         GError       **error)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->load_bets (store, winners_only, func,
                                                     user_data, cancellable,
                                                     error);
}

/**
 * lottery_store_draw:
 *
 * Returns: (transfer full): for each agency 1..@n_agencies (index
 *   0..n-1), a GPtrArray of its winners' documents, in the order they
 *   were stored. Blocks: call it from a worker.
 */
GPtrArray *
lottery_store_draw (LotteryStore *store,
                    guint         n_agencies,
                    GCancellable *cancellable,
                    GError      **error)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), NULL);

  return LOTTERY_STORE_GET_IFACE (store)->draw (store, n_agencies,
                                                cancellable, error);
}

/* Where the bets are, for messages: a path, a database. */
const char *
lottery_store_get_location (LotteryStore *store)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), NULL);

  return LOTTERY_STORE_GET_IFACE (store)->get_location (store);
}

/* How many rounds made stored batches durable (fdatasync () rounds,
 * commits): with group commit, far fewer than batches. */
guint64
lottery_store_get_sync_count (LotteryStore *store)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), 0);

  return LOTTERY_STORE_GET_IFACE (store)->get_sync_count (store);
}

/* Makes everything appended durable and releases the store's files or
 * connections; harmless twice. Sync requests made later fail unless
 * what they wait for was already durable. */
gboolean
lottery_store_close (LotteryStore *store,
                     GError      **error)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->close (store, error);
}

/**
 * lottery_store_is_shared:
 *
 * Whether several servers may use the store at once, so that an agency
 * must be claimed in it (lottery_store_claim_async ()) and its position
 * read back from it before a WELCOME.
 */
gboolean
lottery_store_is_shared (LotteryStore *store)
{
  g_return_val_if_fail (LOTTERY_IS_STORE (store), FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->claim_async != NULL;
}

/**
 * lottery_store_claim_async:
 *
 * Takes @agency's lease in a shared store, after everything appended
 * before it is stored, and reads where the agency stands. Fails with
 * LOTTERY_ERROR_AGENCY_BUSY when another server holds a live lease, and
 * with LOTTERY_STORE_ERROR_UNAVAILABLE while the store cannot be
 * reached. Main context.
 */
void
lottery_store_claim_async (LotteryStore        *store,
                           guint                agency,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_return_if_fail (lottery_store_is_shared (store));

  LOTTERY_STORE_GET_IFACE (store)->claim_async (store, agency, cancellable,
                                                callback, user_data);
}

gboolean
lottery_store_claim_finish (LotteryStore        *store,
                            GAsyncResult        *result,
                            LotteryStoreAgency  *position,
                            GError             **error)
{
  g_return_val_if_fail (lottery_store_is_shared (store), FALSE);
  g_return_val_if_fail (position != NULL, FALSE);

  return LOTTERY_STORE_GET_IFACE (store)->claim_finish (store, result,
                                                       position, error);
}

/**
 * lottery_store_release:
 *
 * Gives back @agency's lease, after everything appended before it is
 * stored. Harmless for a store that is not shared.
 */
void
lottery_store_release (LotteryStore *store,
                       guint         agency)
{
  g_return_if_fail (LOTTERY_IS_STORE (store));

  if (LOTTERY_STORE_GET_IFACE (store)->release != NULL)
    LOTTERY_STORE_GET_IFACE (store)->release (store, agency);
}
