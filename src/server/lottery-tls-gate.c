/* lottery-tls-gate.c: lets TLS connections in. Owns, per connection
 * being admitted, the wait for its whole ClientHello, its place in the
 * queue for one of max_handshakes handshake slots and its deadline;
 * owned by LotteryServer. Runs on the main context; GIO runs each
 * handshake in a thread of its pool, which is why slots are counted.
 *
 * A silent client, a port probe, or one that sends a few bytes and
 * stalls holds no thread: the kernel is asked (SO_RCVLOWAT) to wake us
 * only once the first record is here whole, so nothing polls. One that
 * sends a whole ClientHello and then stalls does hold a thread, so a
 * running handshake has a short deadline of its own (HANDSHAKE_TIMEOUT_S,
 * not io_timeout) and one address runs at most MAX_PER_PEER of them at
 * once: its further ones wait in the queue while others pass. Knows
 * nothing of the protocol above TLS.
 */
#include "config.h"

#include "lottery-tls-gate.h"
#include "lottery-error.h"
#include "lottery-log.h"

#include <glib/gi18n.h>
#include <sys/socket.h>

#define TLS_HANDSHAKE_RECORD 0x16 /* a TLS record's first byte */
#define TLS_RECORD_HEADER    5
/* A handshake is two round trips once the ClientHello is here: 3 s is
 * ample for an agency on a slow line, and with MAX_PER_PEER keeps one
 * stalling address from holding more than 2 of the slots. */
#define HANDSHAKE_TIMEOUT_S  3
#define MAX_PER_PEER         2

typedef enum
{
  ADMIT_FIRST_BYTE, /* waiting for anything */
  ADMIT_RECORD,     /* waiting for the whole first record */
  ADMIT_QUEUED,     /* waiting for a slot */
  ADMIT_HANDSHAKE,  /* a GIO thread runs the handshake */
} AdmitStep;

typedef struct
{
  LotteryTlsGate *gate;       /* (unowned): the gate outlives its tasks */
  GTask          *task;       /* (unowned): owns this struct */
  GTlsConnection *tls;        /* (owned) */
  GSocket        *socket;     /* (owned): the TCP socket below @tls */
  char           *peer;       /* (owned) */
  AdmitStep       step;
  gsize           wanted;     /* bytes the first record needs */
  GSource        *source;     /* (owned) (nullable): readable watch */
  guint           deadline_id;
  guint           deadline_s; /* the running deadline, for the log */
  gulong          cancelled_id;
  gboolean        returned;   /* the task has its result */
} Admission;

struct _LotteryTlsGate
{
  GObject parent_instance;

  guint   max_handshakes;
  guint   timeout_s;
  guint   running;      /* handshakes in GIO's threads */
  GHashTable *per_peer; /* peer address -> handshakes it runs (owned keys) */
  GQueue  waiting;      /* GTask * (owned): admissions waiting for a slot */
};

G_DEFINE_FINAL_TYPE (LotteryTlsGate, lottery_tls_gate, G_TYPE_OBJECT)

static void
lottery_tls_gate_finalize (GObject *object)
{
  LotteryTlsGate *self = LOTTERY_TLS_GATE (object);

  lottery_tls_gate_shutdown (self);
  g_hash_table_unref (self->per_peer);

  G_OBJECT_CLASS (lottery_tls_gate_parent_class)->finalize (object);
}

static void
lottery_tls_gate_class_init (LotteryTlsGateClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_tls_gate_finalize;
}

static void
lottery_tls_gate_init (LotteryTlsGate *self)
{
  g_queue_init (&self->waiting);
  self->per_peer = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          NULL);
}

static guint
peer_running (LotteryTlsGate *self,
              const char     *peer)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->per_peer, peer));
}

/* Counts a handshake of @peer in (@delta 1) or out (-1). */
static void
peer_count (LotteryTlsGate *self,
            const char     *peer,
            int             delta)
{
  guint n = peer_running (self, peer) + (guint) delta;

  if (n == 0)
    g_hash_table_remove (self->per_peer, peer);
  else
    g_hash_table_insert (self->per_peer, g_strdup (peer),
                         GUINT_TO_POINTER (n));
}

/* Whether an admission of @peer may start its handshake now. */
static gboolean
may_start (LotteryTlsGate *self,
           const char     *peer)
{
  return self->running < self->max_handshakes &&
         peer_running (self, peer) < MAX_PER_PEER;
}

/* Returns: (transfer full): a gate letting @max_handshakes handshakes (0:
 * none, every admission waits; for tests of the queue)
 * run at once, at most 2 of one address, each admission bounded by
 * @timeout_s before its handshake starts and by the shorter of @timeout_s
 * and 3 s while it runs. */
LotteryTlsGate *
lottery_tls_gate_new (guint max_handshakes,
                      guint timeout_s)
{
  LotteryTlsGate *self = g_object_new (LOTTERY_TYPE_TLS_GATE, NULL);

  self->max_handshakes = max_handshakes;
  self->timeout_s = timeout_s;

  return self;
}

static void
admission_free (Admission *admission)
{
  g_assert (admission->source == NULL && admission->deadline_id == 0);
  g_clear_object (&admission->tls);
  g_clear_object (&admission->socket);
  g_free (admission->peer);
  g_free (admission);
}

/* Stops every wait of @task's admission; the handshake itself, if it
 * runs, cannot be stopped but by closing the socket. */
static void
admission_stop_waiting (GTask *task)
{
  Admission *admission = g_task_get_task_data (task);

  if (admission->source != NULL)
    {
      g_source_destroy (admission->source);
      g_clear_pointer (&admission->source, g_source_unref);
    }
  g_clear_handle_id (&admission->deadline_id, g_source_remove);
  if (admission->cancelled_id != 0)
    {
      /* Never from the "cancelled" handler itself (see cancelled_cb). */
      g_cancellable_disconnect (g_task_get_cancellable (task),
                                admission->cancelled_id);
      admission->cancelled_id = 0;
    }
}

/* Ends @task (transfer full) with @error (transfer full), or success. */
static void
admission_return (GTask  *task,
                  GError *error)
{
  Admission *admission = g_task_get_task_data (task);

  admission->returned = TRUE;
  admission_stop_waiting (task);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void wait_readable (GTask *task);
static void next_handshake (LotteryTlsGate *self);

static void
handshake_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GTask *task = user_data;
  Admission *admission = g_task_get_task_data (task);
  LotteryTlsGate *self = admission->gate;
  GError *error = NULL;

  g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result,
                                     &error);
  self->running--;
  peer_count (self, admission->peer, -1);
  if (error == NULL)
    lottery_log (G_LOG_LEVEL_DEBUG, "tls_handshake", "success",
                 "ip: %s | cipher: %s", admission->peer,
                 g_tls_connection_get_ciphersuite_name (admission->tls));
  else if (!g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (LOTTERY_LOG_ERROR, "tls_handshake", "fail",
                   "ip: %s | error: %s", admission->peer, reason);
    }
  admission_return (task, error);
  next_handshake (self);
  g_object_unref (self);
}

static gboolean
deadline_cb (gpointer user_data)
{
  GTask *task = user_data;
  Admission *admission = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  admission->deadline_id = 0;
  lottery_log (LOTTERY_LOG_ERROR, "tls_handshake", "fail",
               "ip: %s | error: TLS handshake not %s within %u s",
               admission->peer,
               admission->step == ADMIT_HANDSHAKE ? "done" : "started",
               admission->deadline_s);
  if (admission->step == ADMIT_HANDSHAKE)
    {
      /* The caller's connection is over: it learns so from the
       * handshake's end, and closes the socket then. */
      g_cancellable_cancel (cancellable);
      return G_SOURCE_REMOVE;
    }
  if (admission->step == ADMIT_QUEUED)
    g_queue_remove (&admission->gate->waiting, task);
  admission_return (task, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                       "TLS handshake not started"));

  return G_SOURCE_REMOVE;
}

static void
start_handshake (GTask *task)
{
  Admission *admission = g_task_get_task_data (task);
  LotteryTlsGate *self = admission->gate;

  admission_stop_waiting (task);
  /* Wake-ups of the handshake's own reads are GIO's business. */
  g_socket_set_option (admission->socket, SOL_SOCKET, SO_RCVLOWAT, 1, NULL);
  admission->step = ADMIT_HANDSHAKE;
  self->running++;
  peer_count (self, admission->peer, 1);
  admission->deadline_s = MIN (self->timeout_s, HANDSHAKE_TIMEOUT_S);
  admission->deadline_id = g_timeout_add_seconds (admission->deadline_s,
                                                  deadline_cb, task);
  g_tls_connection_handshake_async (admission->tls, G_PRIORITY_DEFAULT,
                                    g_task_get_cancellable (task),
                                    handshake_done_cb, task);
  /* The handshake's callback may come after the server let go. */
  g_object_ref (self);
}

/* A slot is free (or a handshake ended): the next admissions waiting
 * may go, in order, passing over those of an address at its limit. */
static void
next_handshake (LotteryTlsGate *self)
{
  GList *link = self->waiting.head;

  while (link != NULL && self->running < self->max_handshakes)
    {
      GList *next = link->next;
      GTask *task = link->data;
      Admission *admission = g_task_get_task_data (task);

      if (may_start (self, admission->peer))
        {
          g_queue_delete_link (&self->waiting, link);
          start_handshake (task);
        }
      link = next;
    }
}

/* On the main context, from the cancelled_cb idle: a closed connection
 * gives up its wait at once, not when its turn comes. */
static gboolean
withdraw_cb (gpointer user_data)
{
  GTask *task = user_data;
  Admission *admission = g_task_get_task_data (task);

  if (admission->returned || admission->step == ADMIT_HANDSHAKE)
    return G_SOURCE_REMOVE;
  if (admission->step == ADMIT_QUEUED)
    g_queue_remove (&admission->gate->waiting, task);
  admission_return (task, g_error_new_literal (G_IO_ERROR,
                                               G_IO_ERROR_CANCELLED,
                                               "Cancelled"));

  return G_SOURCE_REMOVE;
}

/* May run in the middle of g_cancellable_cancel (): the handler must not
 * disconnect itself there, so the work is deferred. */
static void
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  g_idle_add_full (G_PRIORITY_DEFAULT, withdraw_cb,
                   g_object_ref (user_data), g_object_unref);
}

static gboolean
readable_cb (GSocket      *socket,
             GIOCondition  condition,
             gpointer      user_data)
{
  GTask *task = user_data;
  Admission *admission = g_task_get_task_data (task);
  LotteryTlsGate *self = admission->gate;
  guint8 header[TLS_RECORD_HEADER];
  GInputVector peek = { header, 0 };
  int flags = G_SOCKET_MSG_PEEK;
  gssize available = g_socket_get_available_bytes (socket);

  g_clear_pointer (&admission->source, g_source_unref);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      admission_return (task, g_error_new_literal (G_IO_ERROR,
                                                   G_IO_ERROR_CANCELLED,
                                                   "Cancelled"));
      return G_SOURCE_REMOVE;
    }

  peek.size = admission->step == ADMIT_FIRST_BYTE ? 1 : TLS_RECORD_HEADER;
  /* Readable with less than was asked for: the client left. */
  if (available < (gssize) MAX (peek.size, admission->wanted) ||
      g_socket_receive_message (socket, NULL, &peek, 1, NULL, NULL, &flags,
                                NULL, NULL) != (gssize) peek.size)
    {
      admission_return (task, g_error_new_literal (G_IO_ERROR,
                                                   G_IO_ERROR_CONNECTION_CLOSED,
                                                   "Peer left"));
      return G_SOURCE_REMOVE;
    }

  switch (admission->step)
    {
    case ADMIT_FIRST_BYTE:
      /* Every TLS client starts with a handshake record; anything else
       * is a client speaking the protocol in the clear, which the caller
       * tells so in the clear rather than leave it to retry. */
      if (header[0] != TLS_HANDSHAKE_RECORD)
        {
          admission_return (task, lottery_error_new (
            LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL,
            N_("This server speaks TLS only: the client needs tls.ca")));
          return G_SOURCE_REMOVE;
        }
      admission->step = ADMIT_RECORD;
      admission->wanted = TLS_RECORD_HEADER;
      wait_readable (task);
      return G_SOURCE_REMOVE;

    case ADMIT_RECORD:
      /* A thread is given only once the whole first record (the
       * ClientHello) is here: a peer that sends a few bytes and stalls
       * gets none. */
      if (admission->wanted == TLS_RECORD_HEADER)
        {
          admission->wanted += ((gsize) header[3] << 8) | header[4];
          if ((gsize) available < admission->wanted)
            {
              wait_readable (task);
              return G_SOURCE_REMOVE;
            }
        }
      break;

    case ADMIT_QUEUED:
    case ADMIT_HANDSHAKE:
      g_assert_not_reached ();
    }

  if (!may_start (self, admission->peer))
    {
      /* The deadline keeps running while it waits. */
      admission->step = ADMIT_QUEUED;
      g_queue_push_tail (&self->waiting, task);
      return G_SOURCE_REMOVE;
    }
  start_handshake (task);

  return G_SOURCE_REMOVE;
}

/* Waits until the socket holds admission->wanted bytes (or the peer
 * left): the kernel's low-water mark makes poll () say readable only
 * then. */
static void
wait_readable (GTask *task)
{
  Admission *admission = g_task_get_task_data (task);

  g_socket_set_option (admission->socket, SOL_SOCKET, SO_RCVLOWAT,
                       (gint) MAX (admission->wanted, 1), NULL);
  admission->source = g_socket_create_source (admission->socket, G_IO_IN,
                                              g_task_get_cancellable (task));
  g_source_set_callback (admission->source, G_SOURCE_FUNC (readable_cb), task,
                         NULL);
  g_source_attach (admission->source, g_main_context_get_thread_default ());
}

/* Admits @tls, the server side of @connection: once its ClientHello is
 * here and a slot is free, its handshake runs. Fails with
 * LOTTERY_ERROR_PROTOCOL for a client speaking in the clear (nothing
 * was read: it can be answered on @connection), G_IO_ERROR_TIMED_OUT,
 * G_IO_ERROR_CANCELLED once @cancellable is cancelled (after a running
 * handshake returns: close @connection to make it), or the handshake's
 * error, which is logged. @peer names the client in the log. */
void
lottery_tls_gate_admit_async (LotteryTlsGate      *self,
                              GTlsConnection      *tls,
                              GSocketConnection   *connection,
                              const char          *peer,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GTask *task;
  Admission *admission;

  g_return_if_fail (LOTTERY_IS_TLS_GATE (self));
  g_return_if_fail (G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lottery_tls_gate_admit_async);
  admission = g_new0 (Admission, 1);
  admission->gate = self;
  admission->task = task;
  admission->tls = g_object_ref (tls);
  admission->socket = g_object_ref (g_socket_connection_get_socket (connection));
  admission->peer = g_strdup (peer);
  admission->step = ADMIT_FIRST_BYTE;
  g_task_set_task_data (task, admission, (GDestroyNotify) admission_free);

  /* The task's own reference is held until it returns. */
  admission->deadline_s = self->timeout_s;
  admission->deadline_id = g_timeout_add_seconds (self->timeout_s,
                                                  deadline_cb, task);
  admission->cancelled_id = g_cancellable_connect (cancellable,
                                                   G_CALLBACK (cancelled_cb),
                                                   task, NULL);
  wait_readable (task);
}

/* TRUE once the handshake is done. */
gboolean
lottery_tls_gate_admit_finish (LotteryTlsGate  *self,
                               GAsyncResult    *result,
                               GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Admissions waiting for a slot. */
guint
lottery_tls_gate_get_waiting (LotteryTlsGate *self)
{
  g_return_val_if_fail (LOTTERY_IS_TLS_GATE (self), 0);

  return g_queue_get_length (&self->waiting);
}

/* Server shutdown: every admission still waiting for a slot ends now,
 * cancelled, so that nothing keeps its connection alive. */
void
lottery_tls_gate_shutdown (LotteryTlsGate *self)
{
  GTask *task;

  g_return_if_fail (LOTTERY_IS_TLS_GATE (self));

  while ((task = g_queue_pop_head (&self->waiting)) != NULL)
    admission_return (task, g_error_new_literal (G_IO_ERROR,
                                                 G_IO_ERROR_CANCELLED,
                                                 "Server stopping"));
}
