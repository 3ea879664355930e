/* lottery-pg-store-private.h: LotteryPgStore's fields, shared by the
 * store (lottery-pg-store.c: the interface, the queue, the sync
 * requests) and its writer thread (lottery-pg-writer.c). */
#pragma once

#include <libpq-fe.h>

#include "lottery-pg-listener.h"
#include "lottery-pg-round.h"
#include "lottery-pg-store.h"

G_BEGIN_DECLS

/* Groups queued for the database thread before append () waits. */
#define QUEUE_MAX 256
/* Groups stored in one transaction at most. */
#define ROUND_MAX 64
/* The pause before connecting again grows to this. */
#define RECONNECT_MAX_USEC (2 * G_USEC_PER_SEC)

typedef struct _LotteryPgLink LotteryPgLink;

typedef struct
{
  GTask   *task;
  guint64  ticket;
} SyncRequest;

struct _LotteryPgStore
{
  GObject   parent_instance;

  char     *dsn;
  char     *name;
  char     *location;
  guint     agencies;
  gint64    lottery_id;
  char     *holder;    /* this server's name in the leases */
  PGconn   *conn;      /* the database thread's, once started; NULL
                        * while the database is down */
  GThread  *thread;
  LotteryPgListener *listener;
  LotteryPgLink *link; /* (owned) the listener's way to the store */
  gboolean  down;      /* an outage was logged; not yet back */
  gboolean  reconnect_logged; /* why it does not come back, logged */
  gint64    reconnect_at;
  gint64    reconnect_pause;
  gint64    renew_at;
  GHashTable *held;    /* agencies whose lease this server holds */
  GHashTable *unreleased; /* leases to give back once reconnected */

  GMutex    lock;
  GCond     queue_cond;
  GCond     space_cond;
  GQueue    queue;     /* LotteryPgGroup */
  GQueue    requests;  /* SyncRequest, in the order made */
  guint64   next_ticket;
  guint64   decided;   /* every group up to here is stored or failed */
  GHashTable *failed;  /* ticket -> GError: the groups that failed */
  GHashTable *poisoned; /* agencies a group of which failed: their
                         * later groups fail too, until a claim */
  guint64   sync_count;
  GError   *error;     /* close () failed: nothing more is taken */
  gboolean  stopping;
  gboolean  closed;
};

void       lottery_pg_store_settle    (LotteryPgStore  *self);
gboolean   lottery_pg_store_load_bets (LotteryStore    *store,
                                       gboolean         winners_only,
                                       LotteryBetFunc   func,
                                       gpointer         user_data,
                                       GCancellable    *cancellable,
                                       GError         **error);
GPtrArray *lottery_pg_store_draw      (LotteryStore    *store,
                                       guint            n_agencies,
                                       GCancellable    *cancellable,
                                       GError         **error);
gpointer lottery_pg_writer_thread (gpointer        data);

G_END_DECLS
