/* lottery-client.h: the agency client application. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define LOTTERY_TYPE_CLIENT (lottery_client_get_type ())
G_DECLARE_FINAL_TYPE (LotteryClient, lottery_client, LOTTERY, CLIENT, GApplication)

/* Exit statuses, besides 0 for success. */
#define LOTTERY_CLIENT_EXIT_FAILURE  1 /* the upload or the query failed */
#define LOTTERY_CLIENT_EXIT_USAGE    2 /* bad flags or configuration */
#define LOTTERY_CLIENT_EXIT_REJECTED 3 /* done, but some rows were rejected */
#define LOTTERY_CLIENT_EXIT_NOT_PLAYED 4 /* the server holds a different number
                                        * of the agency's bets than its file */

LotteryClient *lottery_client_new             (void);
int            lottery_client_get_exit_status (LotteryClient *self);

G_END_DECLS
