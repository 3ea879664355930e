/* lottery-client-config.h: an agency client's settings. */
#pragma once

#include <glib.h>

#include "lottery-config.h"

G_BEGIN_DECLS

typedef struct
{
  guint          id;
  char          *server_address;
  guint          batch_max_amount;
  char          *bets_file;
  GLogLevelFlags log_level;
  char          *auth_token;      /* secret: never logged */
  char          *auth_token_file;
  char          *tls_ca;          /* PEM CAs to trust; set means TLS */
  guint          timeout;         /* seconds to wait for an answer */
  char          *config_file; /* the file read, or NULL */
} LotteryClientConfig;

enum
{
  LOTTERY_CLIENT_SETTING_ID,
  LOTTERY_CLIENT_SETTING_SERVER_ADDRESS,
  LOTTERY_CLIENT_SETTING_BATCH_MAX_AMOUNT,
  LOTTERY_CLIENT_SETTING_BETS_FILE,
  LOTTERY_CLIENT_SETTING_LOG_LEVEL,
  LOTTERY_CLIENT_SETTING_AUTH_TOKEN,
  LOTTERY_CLIENT_SETTING_AUTH_TOKEN_FILE,
  LOTTERY_CLIENT_SETTING_TLS_CA,
  LOTTERY_CLIENT_SETTING_TIMEOUT,
  LOTTERY_CLIENT_N_SETTINGS
};

#define LOTTERY_CLIENT_DEFAULT_CONFIG "client.json"
/* Typical rows (about 50 bytes on the wire) fill 8 KiB at ~160 bets;
 * 128 keeps a batch of rows up to 63 bytes under the limit, and the
 * encoder closes a batch early when longer rows would cross it. */
#define LOTTERY_CLIENT_DEFAULT_BATCH 128
/* Long enough for a server waiting on a slow disk (storage.sync). */
#define LOTTERY_CLIENT_DEFAULT_TIMEOUT 30

const LotterySetting *lottery_client_config_settings (void);
LotteryClientConfig  *lottery_client_config_new      (void);
void                  lottery_client_config_free     (LotteryClientConfig *config);
gboolean              lottery_client_config_load     (LotteryClientConfig *config,
                                                      const char          *path,
                                                      const char * const  *envp,
                                                      const char * const  *flag_values,
                                                      GError             **error);
char                 *lottery_client_config_describe (const LotteryClientConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryClientConfig, lottery_client_config_free)

G_END_DECLS
