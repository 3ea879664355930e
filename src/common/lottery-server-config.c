/* lottery-server-config.c: the central server's settings. */
#include "config.h"

#include "lottery-server-config.h"

#include <glib/gi18n-lib.h>

static const LotterySetting settings[LOTTERY_SERVER_N_SETTINGS] = {
  [LOTTERY_SERVER_SETTING_PORT] = {
    "server.port", "SERVER_PORT", "port", "port",
    LOTTERY_SETTING_UINT, 0, 65535,
    G_STRUCT_OFFSET (LotteryServerConfig, port),
    N_("TCP port to listen on (0 picks a free one)"), N_("PORT") },
  [LOTTERY_SERVER_SETTING_LISTEN_BACKLOG] = {
    "server.listen_backlog", "SERVER_LISTEN_BACKLOG", "listen-backlog",
    "listen_backlog", LOTTERY_SETTING_UINT, 1, 65535,
    G_STRUCT_OFFSET (LotteryServerConfig, listen_backlog),
    N_("Connections the kernel queues before they are accepted"), N_("N") },
  [LOTTERY_SERVER_SETTING_AGENCIES] = {
    "lottery.agencies", "SERVER_AGENCIES", "agencies", "agencies",
    LOTTERY_SETTING_UINT, 1, 100000,
    G_STRUCT_OFFSET (LotteryServerConfig, agencies),
    N_("Number of agencies, with ids 1 to N; the draw waits for all"),
    N_("N") },
  [LOTTERY_SERVER_SETTING_STORAGE] = {
    "storage.path", "SERVER_STORAGE", "storage", "storage",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, storage_path),
    N_("CSV file the bets are appended to"), N_("PATH") },
  [LOTTERY_SERVER_SETTING_LOG_LEVEL] = {
    "log.level", "LOGGING_LEVEL", "log-level", "logging_level",
    LOTTERY_SETTING_LOG_LEVEL, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, log_level),
    N_("DEBUG, INFO, WARNING or ERROR"), N_("LEVEL") },
};

const LotterySetting *
lottery_server_config_settings (void)
{
  return settings;
}

/* The built-in defaults. */
LotteryServerConfig *
lottery_server_config_new (void)
{
  LotteryServerConfig *config = g_new0 (LotteryServerConfig, 1);

  config->port = 12345;
  config->listen_backlog = 5;
  config->agencies = 5;
  config->storage_path = g_strdup ("bets.csv");
  config->log_level = G_LOG_LEVEL_INFO;

  return config;
}

void
lottery_server_config_free (LotteryServerConfig *config)
{
  if (config == NULL)
    return;

  lottery_config_clear (settings, G_N_ELEMENTS (settings), config);
  g_free (config->config_file);
  g_free (config);
}

gboolean
lottery_server_config_load (LotteryServerConfig *config,
                            const char          *path,
                            const char * const  *envp,
                            const char * const  *flag_values,
                            GError             **error)
{
  g_clear_pointer (&config->config_file, g_free);

  return lottery_config_load (settings, G_N_ELEMENTS (settings), config, path,
                              LOTTERY_SERVER_DEFAULT_CONFIG, envp, flag_values,
                              &config->config_file, error);
}

char *
lottery_server_config_describe (const LotteryServerConfig *config)
{
  return lottery_config_describe (settings, G_N_ELEMENTS (settings), config);
}
