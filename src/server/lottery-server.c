/* lottery-server.c: the central server: listener, connections, draw.
 *
 * The server owns the LotteryState and the LotteryStore for its whole
 * run, the TLS gate, and every connection (LotteryConnection) until that
 * connection has closed and its last batch is stored. All of this runs
 * on the main context; only batch jobs and the draw run in GTask's
 * thread pool (and, with TLS, GIO's handshakes).
 */
#include "config.h"

#include "lottery-server.h"
#include "lottery-connection.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-metrics.h"
#include "lottery-protocol.h"
#include "lottery-file-store.h"

#include <glib/gi18n.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* How long shutdown waits for batches being stored (milliseconds each)
 * and for a cancelled draw; the whole stop must take under a second. */
#define SHUTDOWN_GRACE_USEC (G_USEC_PER_SEC / 2)

struct _LotteryServer
{
  GObject parent_instance;

  guint           port;
  guint           listen_backlog;
  guint           io_timeout;
  guint           idle_timeout;
  guint           max_connections;
  guint           sweep;        /* timeouts source id */
  guint           draw_retry;   /* source id: a shared store's winners
                                 * could not be read yet */
  guint           draw_retry_seconds; /* the pause before the next read */
  guint64         refused;      /* connections refused since last logged */
  gint64          refused_logged;
  char           *storage_path; /* (owned) */
  LotteryState   *state;        /* (owned): for the whole run */
  LotteryStore   *storage;      /* (owned) */
  LotteryAuth    *auth;         /* (owned) (nullable): agencies' stored
                                 * keys; NULL: open mode */
  GSocketService *service;      /* (owned) */
  GHashTable     *agencies;     /* LotteryConnection * (owned): until
                                 * each one's ::closed */
  GCancellable   *cancellable;  /* (owned): cancelled at shutdown: stops
                                 * the draw */
  GTlsCertificate *tls_certificate; /* (owned) (nullable): NULL, plain TCP */
  LotteryTlsGate *tls_gate;     /* (owned) (nullable): with TLS */
  gboolean        drawing;      /* the draw thread is running */
  gboolean        draw_due;     /* the journal says every agency finished */
  gboolean        stopping;
};

G_DEFINE_FINAL_TYPE (LotteryServer, lottery_server, G_TYPE_OBJECT)

static void
lottery_server_finalize (GObject *object)
{
  LotteryServer *self = LOTTERY_SERVER (object);

  g_clear_pointer (&self->agencies, g_hash_table_unref);
  g_clear_handle_id (&self->sweep, g_source_remove);
  g_clear_handle_id (&self->draw_retry, g_source_remove);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->tls_certificate);
  g_clear_object (&self->tls_gate);
  g_clear_object (&self->service);
  g_clear_object (&self->storage);
  g_clear_object (&self->auth);
  g_clear_object (&self->state);
  g_free (self->storage_path);

  G_OBJECT_CLASS (lottery_server_parent_class)->finalize (object);
}

static void
lottery_server_class_init (LotteryServerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_server_finalize;
}

static void
lottery_server_init (LotteryServer *self)
{
  self->agencies = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->cancellable = g_cancellable_new ();
}

typedef struct
{
  LotteryServer *server;
  guint64        batches;
  guint64        ignored;
  guint32       *last;    /* per agency, the last batch replayed */
} Replay;

/* Rebuilds the state from the journal: where each agency left off,
 * which ones finished. */
static gboolean
replay_record (const LotteryStoreRecord *record,
               gpointer                    user_data)
{
  Replay *replay = user_data;
  LotteryState *state = replay->server->state;
  g_autoptr(GError) error = NULL;
  gboolean due = FALSE;

  if (record->type == LOTTERY_STORE_RECORD_ADOPTED && record->agency == 0)
    return TRUE;
  if (record->agency < 1 ||
      record->agency > lottery_state_get_agencies (state))
    {
      replay->ignored++;
      return TRUE;
    }

  if (record->type == LOTTERY_STORE_RECORD_ADOPTED)
    lottery_state_adopt_bets (state, record->agency, record->count);
  else if (record->type == LOTTERY_STORE_RECORD_BATCH)
    {
      guint32 expected = replay->last[record->agency - 1] + 1;

      /* Batches are journaled in each agency's order, one after the
       * other: a gap means a damaged journal, which must not pass
       * silently. */
      if (record->sequence != expected)
        {
          g_autofree char *where = lottery_log_value (replay->server->storage_path);

          lottery_log (G_LOG_LEVEL_WARNING, "resume", "fail",
                       "storage: %s | agency: %u | batch: %u | "
                       "error: batch %u follows batch %u in the journal",
                       where, record->agency, record->sequence,
                       record->sequence, expected - 1);
        }
      replay->last[record->agency - 1] = record->sequence;
      lottery_state_commit_batch (state, record->agency, record->sequence,
                                  record->count, record->claimed);
      replay->batches++;
    }
  else if (!lottery_state_finish_agency (state, record->agency,
                                         record->sequence, &due, &error))
    {
      g_autofree char *where = lottery_log_value (replay->server->storage_path);
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (G_LOG_LEVEL_WARNING, "resume", "fail",
                   "storage: %s | agency: %u | error: %s", where,
                   record->agency, reason);
    }
  else if (due)
    replay->server->draw_due = TRUE;

  return TRUE;
}

static void store_drawn_cb (LotteryStore *store,
                            gpointer      user_data);
static void agencies_read_cb (LotteryStore       *store,
                              LotteryStoreAgency *view,
                              guint               n_agencies,
                              gpointer            user_data);

/* Opens the storage; nothing listens until lottery_server_start (). */
LotteryServer *
lottery_server_new (const LotteryServerConfig *config,
                    GError                   **error)
{
  g_autoptr(LotteryServer) self = g_object_new (LOTTERY_TYPE_SERVER, NULL);
  g_autofree guint32 *last = g_new0 (guint32, config->agencies);
  Replay replay = { NULL, 0, 0, NULL };

  /* Before the storage: a server that cannot speak TLS as asked must
   * not touch bets.csv. */
  if (config->tls_certificate != NULL)
    {
      self->tls_certificate =
        lottery_server_config_load_tls_certificate (config, error);
      if (self->tls_certificate == NULL)
        return NULL;
      self->tls_gate = lottery_tls_gate_new (LOTTERY_TLS_GATE_MAX_HANDSHAKES,
                                             config->io_timeout);
    }

  self->port = config->port;
  self->listen_backlog = config->listen_backlog;
  self->io_timeout = config->io_timeout;
  self->idle_timeout = config->idle_timeout;
  self->max_connections = config->max_connections;
  self->storage_path = g_strdup (config->storage_path);
  self->state = lottery_state_new (config->agencies);
  replay.server = self;
  replay.last = last;
  self->storage = lottery_server_config_open_store (config, replay_record,
                                                    &replay, error);
  if (self->storage == NULL)
    return NULL;
  g_signal_connect_object (self->storage, "drawn", G_CALLBACK (store_drawn_cb),
                           self, 0);
  g_signal_connect_object (self->storage, "agencies-read",
                           G_CALLBACK (agencies_read_cb), self, 0);
  if (config->storage_backend != LOTTERY_SERVER_BACKEND_FILE)
    {
      g_free (self->storage_path);
      self->storage_path = g_strdup (lottery_store_get_location (self->storage));
    }

  if (replay.ignored > 0)
    {
      g_autofree char *where = lottery_log_value (config->storage_path);

      lottery_log (G_LOG_LEVEL_WARNING, "resume", "fail",
                   "storage: %s | ignored_records: %" G_GUINT64_FORMAT
                   " | error: records of agencies above %u are ignored",
                   where, replay.ignored, config->agencies);
    }
  if (replay.batches > 0 || lottery_state_get_bets_stored (self->state) > 0)
    lottery_log (G_LOG_LEVEL_INFO, "resume", "success",
                 "batches: %" G_GUINT64_FORMAT " | bets: %" G_GUINT64_FORMAT
                 " | finished_agencies: %u", replay.batches,
                 lottery_state_get_bets_stored (self->state),
                 lottery_state_get_finished_agencies (self->state));

  return g_steal_pointer (&self);
}

/* With @auth, every agency must prove that it holds its token before it
 * is let in; without, anyone who reaches the port may act as any
 * agency. Call before lottery_server_start (). */
void
lottery_server_set_auth (LotteryServer *self,
                         LotteryAuth   *auth)
{
  g_return_if_fail (LOTTERY_IS_SERVER (self));
  g_return_if_fail (auth == NULL || LOTTERY_IS_AUTH (auth));

  g_set_object (&self->auth, auth);
}

/* Returns: (transfer none): the state the server owns for its whole
 * run. */
LotteryState *
lottery_server_get_state (LotteryServer *self)
{
  g_return_val_if_fail (LOTTERY_IS_SERVER (self), NULL);

  return self->state;
}

static void
draw_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  LotteryServer *self = source_object;
  GError *error = NULL;
  GPtrArray *winners;

  winners = lottery_store_draw (self->storage,
                                  lottery_state_get_agencies (self->state),
                                  cancellable, &error);
  if (winners == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, winners, (GDestroyNotify) g_ptr_array_unref);
}

static void draw_due_cb (LotteryConnection *agency,
                         gpointer           user_data);

static gboolean
retry_draw_cb (gpointer user_data)
{
  LotteryServer *self = user_data;

  self->draw_retry = 0;
  draw_due_cb (NULL, self);

  return G_SOURCE_REMOVE;
}

static void
draw_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  LotteryServer *self = LOTTERY_SERVER (source);
  g_autoptr(GError) error = NULL;
  GPtrArray *winners;

  self->drawing = FALSE;
  winners = g_task_propagate_pointer (G_TASK (result), &error);
  if (winners == NULL &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* Stopped by shutdown: the draw runs again on the next start. */
      lottery_log (G_LOG_LEVEL_DEBUG, "sorteo", "in_progress",
                   "stopped: true");
      return;
    }
  if (winners == NULL)
    {
      g_autofree char *reason = lottery_log_error_value (error);

      /* A shared store's database may be back in a moment: the draw is
       * stored there, so reading it again is all it takes; said once. */
      if (g_error_matches (error, LOTTERY_STORE_ERROR,
                           LOTTERY_STORE_ERROR_UNAVAILABLE) &&
          lottery_store_is_shared (self->storage) && !self->stopping)
        {
          if (self->draw_retry_seconds == 0)
            lottery_log (LOTTERY_LOG_ERROR, "sorteo", "fail",
                         "error: %s | retry: true", reason);
          self->draw_retry_seconds = CLAMP (self->draw_retry_seconds * 2,
                                            1, 10);
          self->draw_retry = g_timeout_add_seconds (self->draw_retry_seconds,
                                                    retry_draw_cb, self);
          return;
        }
      lottery_log (LOTTERY_LOG_ERROR, "sorteo", "fail", "error: %s", reason);
      lottery_state_fail_draw (self->state, error);
      return;
    }

  lottery_log (G_LOG_LEVEL_INFO, "sorteo", "success", NULL);
  lottery_state_complete_draw (self->state, winners);
#ifdef __GLIBC__
  /* The state keeps the winners packed; the draw's lists of strings
   * (about 40 bytes a winner, in the worker's arena) are freed now, and
   * glibc would otherwise keep their pages for the rest of the run. */
  malloc_trim (0);
#endif
}

/* Every agency has finished and every batch is in bets.csv: read it
 * back in a worker thread, then answer the parked queries. */
static void
draw_due_cb (LotteryConnection *agency,
             gpointer           user_data)
{
  LotteryServer *self = user_data;
  g_autoptr(GTask) task = g_task_new (self, self->cancellable, draw_done_cb,
                                      NULL);

  g_task_set_source_tag (task, draw_due_cb);
  self->drawing = TRUE;
  g_task_run_in_thread (task, draw_thread);
}

/* A shared store says the lottery is drawn (the last FINISH may have
 * reached another server): read the winners and answer the queries
 * parked here. */
static void
store_drawn_cb (LotteryStore *store,
                gpointer      user_data)
{
  LotteryServer *self = user_data;

  if (self->stopping || !lottery_state_announce_draw (self->state))
    return;
  lottery_log (G_LOG_LEVEL_INFO, "sorteo", "in_progress",
               "storage: shared");
  draw_due_cb (NULL, self);
}

/* Several servers serve the lottery: the status shows every agency. */
static void
agencies_read_cb (LotteryStore       *store,
                  LotteryStoreAgency *view,
                  guint               n_agencies,
                  gpointer            user_data)
{
  LotteryServer *self = user_data;
  g_autofree LotteryAgencyStatus *status = NULL;

  if (n_agencies != lottery_state_get_agencies (self->state))
    return;
  status = g_new0 (LotteryAgencyStatus, n_agencies);
  for (guint i = 0; i < n_agencies; i++)
    {
      status[i].bets = view[i].stored;
      status[i].finished = view[i].finished;
      status[i].connected = view[i].connected;
    }
  lottery_state_set_shared_view (self->state, status, n_agencies);
}

static void
agency_closed_cb (LotteryConnection *agency,
                  gpointer           user_data)
{
  LotteryServer *self = user_data;

  g_signal_handlers_disconnect_by_data (agency, self);
  g_hash_table_remove (self->agencies, agency);
  lottery_metrics_count_connection (lottery_metrics_get_default (), -1);
}

/* Over max_connections: one ERROR frame, written without blocking
 * (it fits any socket buffer), then close. Logged at most once a
 * second, so that a flood does not also flood the log. */
static void
refuse (LotteryServer     *self,
        GSocketConnection *connection)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  g_autofree char *message = g_strdup_printf (
    _("The server is serving its maximum of %u connections; try again "
      "later"), self->max_connections);
  GSocket *socket = g_socket_connection_get_socket (connection);
  gsize len = lottery_message_encode_error (frame, LOTTERY_ERROR_SERVER_FULL,
                                            0, message);
  gint64 now = g_get_monotonic_time ();
  g_autoptr(GSocketAddress) address =
    g_socket_connection_get_remote_address (connection, NULL);

  /* Over TLS the frame would be noise before a handshake: just close;
   * the agency retries a connection that drops. */
  g_socket_set_blocking (socket, FALSE);
  if (self->tls_certificate == NULL)
    g_socket_send (socket, (const char *) frame, len, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  self->refused++;
  lottery_metrics_count_refused (lottery_metrics_get_default ());
  if (now - self->refused_logged >= G_USEC_PER_SEC)
    {
      g_autofree char *ip = G_IS_INET_SOCKET_ADDRESS (address)
        ? g_inet_address_to_string (g_inet_socket_address_get_address (
                                      G_INET_SOCKET_ADDRESS (address)))
        : g_strdup ("unknown");

      lottery_log (LOTTERY_LOG_ERROR, "accept_connections", "fail",
                   "ip: %s | refused: %" G_GUINT64_FORMAT " | error: "
                   "max_connections (%u) reached", ip, self->refused,
                   self->max_connections);
      self->refused = 0;
      self->refused_logged = now;
    }
}

static gboolean
sweep_cb (gpointer user_data)
{
  LotteryServer *self = user_data;
  g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer agency;
  guint i;

  /* Closing a connection may edit the table. */
  g_hash_table_iter_init (&iter, self->agencies);
  while (g_hash_table_iter_next (&iter, &agency, NULL))
    g_ptr_array_add (open, g_object_ref (agency));
  for (i = 0; i < open->len; i++)
    lottery_connection_check_timeouts (g_ptr_array_index (open, i), now);

  return G_SOURCE_CONTINUE;
}

/* What the agency speaks over: @connection, or TLS over it; NULL (and
 * logged) if TLS cannot be set up. */
static GIOStream *
wrap_tls (LotteryServer     *self,
          GSocketConnection *connection)
{
  g_autoptr(GError) error = NULL;
  GIOStream *tls;

  if (self->tls_certificate == NULL)
    return g_object_ref (G_IO_STREAM (connection));

  /* What g_tls_server_connection_new () does, but with no CA database:
   * agencies are not asked for certificates, and the default database
   * (the system's CAs, read from disk for each connection) would cost
   * the main thread some 10 ms per connection. A client that closes
   * without close_notify has closed, as over TCP: frames carry their
   * own length. */
  tls = g_initable_new (g_tls_backend_get_server_connection_type (
                          g_tls_backend_get_default ()),
                        NULL, &error,
                        "base-io-stream", connection,
                        "certificate", self->tls_certificate,
                        "database", NULL,
                        "authentication-mode", G_TLS_AUTHENTICATION_NONE,
                        "require-close-notify", FALSE,
                        NULL);
  if (tls == NULL)
    {
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (LOTTERY_LOG_ERROR, "accept_connections", "fail",
                   "error: %s", reason);
      return NULL;
    }

  return tls;
}

static gboolean
incoming_cb (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  LotteryServer *self = user_data;
  g_autoptr(GIOStream) stream = NULL;
  LotteryConnection *agency;

  if (self->stopping)
    return TRUE;
  if (g_hash_table_size (self->agencies) >= self->max_connections)
    {
      refuse (self, connection);
      return TRUE;
    }

  stream = wrap_tls (self, connection);
  if (stream == NULL)
    return TRUE;
  agency = lottery_connection_new (stream, connection, self->state, self->storage);
  lottery_connection_set_timeouts (agency, self->io_timeout, self->idle_timeout);
  lottery_connection_set_auth (agency, self->auth);
  lottery_connection_set_tls_gate (agency, self->tls_gate);
  lottery_log (G_LOG_LEVEL_INFO, "accept_connections", "success", "ip: %s",
               lottery_connection_get_peer (agency));

  g_hash_table_add (self->agencies, agency);
  lottery_metrics_count_connection (lottery_metrics_get_default (), 1);
  /* Connections still storing after the grace period must not call
   * back into a freed server: the handlers go with it. */
  g_signal_connect_object (agency, "draw-due", G_CALLBACK (draw_due_cb),
                           self, 0);
  g_signal_connect_object (agency, "closed", G_CALLBACK (agency_closed_cb),
                           self, 0);
  lottery_connection_start (agency);

  return TRUE;
}

gboolean
lottery_server_start (LotteryServer *self,
                      GError       **error)
{
  g_autoptr(GError) local_error = NULL;

  self->service = g_socket_service_new ();
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service),
                                 (int) self->listen_backlog);

  if (self->port == 0)
    {
      self->port = g_socket_listener_add_any_inet_port (
        G_SOCKET_LISTENER (self->service), NULL, &local_error);
      if (self->port == 0)
        goto failed;
    }
  else if (!g_socket_listener_add_inet_port (G_SOCKET_LISTENER (self->service),
                                             (guint16) self->port, NULL,
                                             &local_error))
    goto failed;

  g_signal_connect (self->service, "incoming", G_CALLBACK (incoming_cb), self);
  g_socket_service_start (self->service);
  self->sweep = g_timeout_add_seconds (1, sweep_cb, self);

  lottery_log (G_LOG_LEVEL_INFO, "accept_connections", "in_progress",
               "port: %u | tls: %s", self->port,
               self->tls_certificate != NULL ? "on" : "off");

  /* Every agency had finished before a restart: draw again from
   * bets.csv; the outcome is the same. */
  if (self->draw_due)
    {
      self->draw_due = FALSE;
      draw_due_cb (NULL, self);
    }
  return TRUE;

failed:
  /* Keep GIO's code (address in use, permission denied) for callers. */
  lottery_error_prefix (&local_error, N_("Cannot listen on port %u: "),
                        self->port);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Stops accepting, closes every connection, waits (on the main context)
 * for batches being stored and for a running draw, then closes the
 * storage. Each resource closed is logged. */
void
lottery_server_shutdown (LotteryServer *self)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  GHashTableIter iter;
  gpointer agency;
  gint64 deadline;
  guint n_connections;
  guint64 syncs;
  guint tick;

  self->stopping = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->sweep, g_source_remove);
  g_clear_handle_id (&self->draw_retry, g_source_remove);

  if (self->service != NULL)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      lottery_log (G_LOG_LEVEL_INFO, "close_listener", "success", "port: %u",
                   self->port);
    }

  /* Closing a connection may emit ::closed, which edits the table. */
  n_connections = g_hash_table_size (self->agencies);
  {
    g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func (g_object_unref);

    g_hash_table_iter_init (&iter, self->agencies);
    while (g_hash_table_iter_next (&iter, &agency, NULL))
      g_ptr_array_add (open, g_object_ref (agency));
    g_ptr_array_foreach (open, (GFunc) lottery_connection_shut_down, NULL);
  }
  /* Handshakes waiting for a slot give up theirs now. */
  if (self->tls_gate != NULL)
    lottery_tls_gate_shutdown (self->tls_gate);
  lottery_state_cancel_queries (self->state);
  lottery_log (G_LOG_LEVEL_INFO, "close_connections", "success",
               "count: %u", n_connections);

  /* The tick makes sure the loop wakes up to see the deadline. */
  deadline = g_get_monotonic_time () + SHUTDOWN_GRACE_USEC;
  tick = g_timeout_add (50, tick_cb, NULL);
  while ((g_hash_table_size (self->agencies) > 0 || self->drawing) &&
         g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);

  if (g_hash_table_size (self->agencies) > 0 || self->drawing)
    lottery_log (LOTTERY_LOG_ERROR, "join_workers", "fail",
                 "pending: %u", g_hash_table_size (self->agencies));
  else
    lottery_log (G_LOG_LEVEL_INFO, "join_workers", "success", NULL);

  path = lottery_log_value (self->storage_path);
  syncs = lottery_store_get_sync_count (self->storage);
  if (lottery_store_close (self->storage, &error))
    lottery_log (G_LOG_LEVEL_INFO, "close_storage", "success", "path: %s | "
                 "syncs: %" G_GUINT64_FORMAT, path, syncs);
  else
    {
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (LOTTERY_LOG_ERROR, "close_storage", "fail", "path: %s | "
                   "error: %s", path, reason);
    }
}
