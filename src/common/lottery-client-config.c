/* lottery-client-config.c: an agency client's settings. */
#include "config.h"

#include "lottery-client-config.h"
#include "lottery-protocol.h"

#include <glib/gi18n-lib.h>

static const LotterySetting settings[LOTTERY_CLIENT_N_SETTINGS] = {
  [LOTTERY_CLIENT_SETTING_ID] = {
    "id", "CLI_ID", "id", "client_id",
    LOTTERY_SETTING_UINT, 1, 100000,
    G_STRUCT_OFFSET (LotteryClientConfig, id),
    N_("This agency's id, from 1 to the server's number of agencies"),
    N_("ID") },
  [LOTTERY_CLIENT_SETTING_SERVER_ADDRESS] = {
    "server.address", "CLI_SERVER_ADDRESS", "server", "server_address",
    LOTTERY_SETTING_ADDRESS, 0, 0,
    G_STRUCT_OFFSET (LotteryClientConfig, server_address),
    N_("Central server to upload to"), N_("HOST:PORT") },
  [LOTTERY_CLIENT_SETTING_BATCH_MAX_AMOUNT] = {
    "batch.maxAmount", "CLI_BATCH_MAXAMOUNT", "batch-max-amount",
    "batch_max_amount", LOTTERY_SETTING_UINT, 1, LOTTERY_BATCH_MAX_BETS,
    G_STRUCT_OFFSET (LotteryClientConfig, batch_max_amount),
    N_("Most bets per batch (a batch never exceeds 8 KiB)"), N_("N") },
  [LOTTERY_CLIENT_SETTING_BETS_FILE] = {
    "bets.file", "CLI_BETS_FILE", "bets-file", "bets_file",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryClientConfig, bets_file),
    N_("CSV file of bets: NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO"),
    N_("PATH") },
  [LOTTERY_CLIENT_SETTING_LOG_LEVEL] = {
    "log.level", "CLI_LOG_LEVEL", "log-level", "log_level",
    LOTTERY_SETTING_LOG_LEVEL, 0, 0,
    G_STRUCT_OFFSET (LotteryClientConfig, log_level),
    N_("DEBUG, INFO, WARNING or ERROR"), N_("LEVEL") },
  [LOTTERY_CLIENT_SETTING_AUTH_TOKEN] = {
    "auth.token", "CLI_AUTH_TOKEN", NULL, "auth_token",
    LOTTERY_SETTING_SECRET, 0, 0,
    G_STRUCT_OFFSET (LotteryClientConfig, auth_token),
    N_("This agency's secret token (from lottery-server --gen-token)"),
    N_("TOKEN") },
  [LOTTERY_CLIENT_SETTING_AUTH_TOKEN_FILE] = {
    "auth.token_file", "CLI_AUTH_TOKEN_FILE", "auth-token-file",
    "auth_token_file", LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryClientConfig, auth_token_file),
    N_("File holding this agency's secret token"), N_("PATH") },
  [LOTTERY_CLIENT_SETTING_TLS_CA] = {
    "tls.ca", "CLI_TLS_CA", "tls-ca", "tls_ca",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryClientConfig, tls_ca),
    N_("PEM certificates to trust; when set, the client speaks TLS and "
       "checks the server's certificate"),
    N_("PATH") },
  [LOTTERY_CLIENT_SETTING_TIMEOUT] = {
    "server.timeout", "CLI_SERVER_TIMEOUT", "timeout", "server_timeout",
    LOTTERY_SETTING_UINT, 1, 3600,
    G_STRUCT_OFFSET (LotteryClientConfig, timeout),
    N_("Seconds to wait for each answer from the server (not for the "
       "draw itself)"),
    N_("SECONDS") },
};

const LotterySetting *
lottery_client_config_settings (void)
{
  return settings;
}

/* The built-in defaults. */
LotteryClientConfig *
lottery_client_config_new (void)
{
  LotteryClientConfig *config = g_new0 (LotteryClientConfig, 1);

  config->id = 1;
  config->server_address = g_strdup ("localhost:12345");
  config->batch_max_amount = LOTTERY_CLIENT_DEFAULT_BATCH;
  config->bets_file = g_strdup ("agency.csv");
  config->log_level = G_LOG_LEVEL_INFO;
  config->timeout = LOTTERY_CLIENT_DEFAULT_TIMEOUT;

  return config;
}

void
lottery_client_config_free (LotteryClientConfig *config)
{
  if (config == NULL)
    return;

  lottery_config_clear (settings, G_N_ELEMENTS (settings), config);
  g_free (config->config_file);
  g_free (config);
}

gboolean
lottery_client_config_load (LotteryClientConfig *config,
                            const char          *path,
                            const char * const  *envp,
                            const char * const  *flag_values,
                            GError             **error)
{
  g_clear_pointer (&config->config_file, g_free);

  return lottery_config_load (settings, G_N_ELEMENTS (settings), config, path,
                              LOTTERY_CLIENT_DEFAULT_CONFIG, envp, flag_values,
                              &config->config_file, error);
}

char *
lottery_client_config_describe (const LotteryClientConfig *config)
{
  return lottery_config_describe (settings, G_N_ELEMENTS (settings), config);
}
