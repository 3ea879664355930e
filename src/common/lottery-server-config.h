/* lottery-server-config.h: the central server's settings. */
#pragma once

#include <glib.h>

#include "lottery-config.h"

G_BEGIN_DECLS

typedef struct
{
  guint          port;
  guint          listen_backlog;
  guint          agencies;
  char          *storage_path;
  GLogLevelFlags log_level;
  char          *config_file; /* the file read, or NULL */
} LotteryServerConfig;

enum
{
  LOTTERY_SERVER_SETTING_PORT,
  LOTTERY_SERVER_SETTING_LISTEN_BACKLOG,
  LOTTERY_SERVER_SETTING_AGENCIES,
  LOTTERY_SERVER_SETTING_STORAGE,
  LOTTERY_SERVER_SETTING_LOG_LEVEL,
  LOTTERY_SERVER_N_SETTINGS
};

#define LOTTERY_SERVER_DEFAULT_CONFIG "server.json"

const LotterySetting *lottery_server_config_settings (void);
LotteryServerConfig  *lottery_server_config_new      (void);
void                  lottery_server_config_free     (LotteryServerConfig *config);
gboolean              lottery_server_config_load     (LotteryServerConfig *config,
                                                      const char          *path,
                                                      const char * const  *envp,
                                                      const char * const  *flag_values,
                                                      GError             **error);
char                 *lottery_server_config_describe (const LotteryServerConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryServerConfig, lottery_server_config_free)

G_END_DECLS
