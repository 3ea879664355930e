/* lottery-agency-table.h: the per-agency records inside LotteryState:
 * where each agency's batches stand, its bets, whether it is connected
 * and finished. Not a public type: only LotteryState creates one and
 * calls it, always with its lock held. */
#pragma once

#include "lottery-state.h"

G_BEGIN_DECLS

typedef struct _LotteryAgencyTable LotteryAgencyTable;

LotteryAgencyTable *lottery_agency_table_new    (guint                agencies);
void        lottery_agency_table_free           (LotteryAgencyTable  *self);

gboolean    lottery_agency_table_claim          (LotteryAgencyTable  *self,
                                                 guint                agency,
                                                 guint32             *last_sequence,
                                                 guint64             *consumed,
                                                 guint64             *stored,
                                                 gboolean            *finished,
                                                 GError             **error);
gboolean    lottery_agency_table_release        (LotteryAgencyTable  *self,
                                                 guint                agency);
gboolean    lottery_agency_table_check_batch    (LotteryAgencyTable  *self,
                                                 guint                agency,
                                                 guint32              sequence,
                                                 gboolean             drawing,
                                                 GError             **error);
void        lottery_agency_table_add_bets       (LotteryAgencyTable  *self,
                                                 guint                agency,
                                                 guint32              sequence,
                                                 guint                count,
                                                 guint                consumed);
gboolean    lottery_agency_table_check_finish   (LotteryAgencyTable  *self,
                                                 guint                agency,
                                                 guint32              last_sequence,
                                                 gboolean             drawing,
                                                 GError             **error);
gboolean    lottery_agency_table_finish         (LotteryAgencyTable  *self,
                                                 guint                agency,
                                                 guint32              last_sequence,
                                                 gboolean             drawing,
                                                 GError             **error);
void        lottery_agency_table_set_position   (LotteryAgencyTable  *self,
                                                 guint                agency,
                                                 guint32              last_sequence,
                                                 guint64              consumed,
                                                 guint64              stored,
                                                 gboolean             finished,
                                                 gint64              *stored_change,
                                                 int                 *finished_change);
guint64     lottery_agency_table_get_bets       (LotteryAgencyTable  *self,
                                                 guint                agency);
void        lottery_agency_table_set_view       (LotteryAgencyTable  *self,
                                                 const LotteryAgencyStatus *view);
guint       lottery_agency_table_copy_status    (LotteryAgencyTable  *self,
                                                 guint                first,
                                                 guint                n,
                                                 LotteryAgencyStatus *status);

G_END_DECLS
