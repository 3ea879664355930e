/* lottery-agency.h: the server's side of one agency connection. */
#pragma once

#include <gio/gio.h>

#include "lottery-auth.h"
#include "lottery-state.h"
#include "lottery-storage.h"
#include "lottery-tls-gate.h"

G_BEGIN_DECLS

#define LOTTERY_TYPE_AGENCY (lottery_agency_get_type ())
G_DECLARE_FINAL_TYPE (LotteryAgency, lottery_agency, LOTTERY, AGENCY, GObject)

LotteryAgency *lottery_agency_new                   (GIOStream         *stream,
                                                     GSocketConnection *connection,
                                                     LotteryState      *state,
                                                     LotteryStorage    *storage);
void           lottery_agency_set_timeouts          (LotteryAgency     *self,
                                                     guint              io_timeout_s,
                                                     guint              idle_timeout_s);
void           lottery_agency_set_auth              (LotteryAgency     *self,
                                                     LotteryAuth       *auth);
void           lottery_agency_set_tls_gate          (LotteryAgency     *self,
                                                     LotteryTlsGate    *gate);
void           lottery_agency_check_timeouts        (LotteryAgency     *self,
                                                     gint64             now);
void           lottery_agency_start                 (LotteryAgency     *self);
void           lottery_agency_close                 (LotteryAgency     *self);
guint          lottery_agency_get_id                (LotteryAgency     *self);
const char    *lottery_agency_get_peer              (LotteryAgency     *self);

G_END_DECLS
