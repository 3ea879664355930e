/* lottery-state.h: the shared state of one lottery: which agencies are
 * connected and have finished, the batches each has stored, and the
 * draw's outcome. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define LOTTERY_TYPE_STATE (lottery_state_get_type ())
G_DECLARE_FINAL_TYPE (LotteryState, lottery_state, LOTTERY, STATE, GObject)

/* One agency's counts, for the status view. */
typedef struct
{
  guint64  bets;      /* stored, this run and the ones it resumed */
  gboolean finished;
  gboolean connected;
} LotteryAgencyStatus;

LotteryState *lottery_state_new                 (guint                agencies);
guint         lottery_state_get_agencies        (LotteryState        *self);
guint         lottery_state_get_finished_agencies (LotteryState      *self);
gboolean      lottery_state_get_draw_done       (LotteryState        *self);
guint64       lottery_state_get_bets_stored     (LotteryState        *self);
guint64       lottery_state_get_agency_bets     (LotteryState        *self,
                                                 guint                agency);
LotteryAgencyStatus *lottery_state_get_status   (LotteryState        *self,
                                                 gboolean            *draw_done,
                                                 gint64              *draw_time);
guint         lottery_state_get_status_range    (LotteryState        *self,
                                                 guint                first,
                                                 guint                n,
                                                 LotteryAgencyStatus *status,
                                                 gboolean            *draw_done,
                                                 gint64              *draw_time);

gboolean      lottery_state_claim_agency        (LotteryState        *self,
                                                 guint                agency,
                                                 guint32             *last_sequence,
                                                 guint64             *consumed,
                                                 guint64             *stored,
                                                 gboolean            *finished,
                                                 GError             **error);
void          lottery_state_set_agency_position (LotteryState        *self,
                                                 guint                agency,
                                                 guint32              last_sequence,
                                                 guint64              consumed,
                                                 guint64              stored,
                                                 gboolean             finished);
gboolean      lottery_state_announce_draw       (LotteryState        *self);
void          lottery_state_set_shared_view     (LotteryState        *self,
                                                 const LotteryAgencyStatus *view,
                                                 guint                n_agencies);
void          lottery_state_release_agency      (LotteryState        *self,
                                                 guint                agency);
void          lottery_state_request_takeover    (LotteryState        *self,
                                                 guint                agency);

gboolean      lottery_state_check_batch         (LotteryState        *self,
                                                 guint                agency,
                                                 guint32              sequence,
                                                 GError             **error);
void          lottery_state_commit_batch        (LotteryState        *self,
                                                 guint                agency,
                                                 guint32              sequence,
                                                 guint                count,
                                                 guint                claimed);

void          lottery_state_adopt_bets          (LotteryState        *self,
                                                 guint                agency,
                                                 guint                count);
gboolean      lottery_state_check_finish        (LotteryState        *self,
                                                 guint                agency,
                                                 guint32              last_sequence,
                                                 GError             **error);
gboolean      lottery_state_finish_agency       (LotteryState        *self,
                                                 guint                agency,
                                                 guint32              last_sequence,
                                                 gboolean            *draw_due,
                                                 GError             **error);
void          lottery_state_complete_draw       (LotteryState        *self,
                                                 GPtrArray           *winners);
void          lottery_state_fail_draw           (LotteryState        *self,
                                                 const GError        *error);
gboolean      lottery_state_wait_for_draw       (LotteryState        *self,
                                                 gint64               end_time);

void          lottery_state_query_winners_async (LotteryState        *self,
                                                 guint                agency,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
GStrv         lottery_state_query_winners_finish (LotteryState       *self,
                                                  GAsyncResult       *result,
                                                  GError            **error);
GBytes       *lottery_state_query_winners_finish_packed (LotteryState  *self,
                                                         GAsyncResult  *result,
                                                         guint         *n_winners,
                                                         GError       **error);
void          lottery_state_cancel_queries      (LotteryState        *self);

G_END_DECLS
