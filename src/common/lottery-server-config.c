/* lottery-server-config.c: the central server's settings. */
#include "config.h"

#include "lottery-server-config.h"
#include "lottery-error.h"
#include "lottery-file-store.h"
#ifdef HAVE_POSTGRESQL
#include "lottery-pg-store.h"
#endif

#include <glib/gi18n-lib.h>

static const char * const sync_choices[] = { "batch", "none", NULL };
static const char * const bool_choices[] = { "false", "true", NULL };
static const char * const backend_choices[] = { "file", "postgresql", NULL };

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
  [LOTTERY_SERVER_SETTING_STORAGE_SYNC] = {
    "storage.sync", "SERVER_STORAGE_SYNC", "storage-sync", "storage_sync",
    LOTTERY_SETTING_CHOICE, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, storage_sync),
    N_("batch: acknowledge a batch only once it is on disk; none: once "
       "it is written (faster, lost on power failure)"),
    N_("batch|none"), sync_choices },
  [LOTTERY_SERVER_SETTING_IO_TIMEOUT] = {
    "server.io_timeout", "SERVER_IO_TIMEOUT", "io-timeout", "io_timeout",
    LOTTERY_SETTING_UINT, 1, 3600,
    G_STRUCT_OFFSET (LotteryServerConfig, io_timeout),
    N_("Seconds a client has to finish a message it has started"),
    N_("SECONDS") },
  [LOTTERY_SERVER_SETTING_IDLE_TIMEOUT] = {
    "server.idle_timeout", "SERVER_IDLE_TIMEOUT", "idle-timeout",
    "idle_timeout", LOTTERY_SETTING_UINT, 1, 86400,
    G_STRUCT_OFFSET (LotteryServerConfig, idle_timeout),
    N_("Seconds a connection may stay silent (not while it waits for the "
       "draw)"),
    N_("SECONDS") },
  [LOTTERY_SERVER_SETTING_MAX_CONNECTIONS] = {
    "server.max_connections", "SERVER_MAX_CONNECTIONS", "max-connections",
    "max_connections", LOTTERY_SETTING_UINT, 1, 1000000,
    G_STRUCT_OFFSET (LotteryServerConfig, max_connections),
    N_("Connections served at once; more are refused"), N_("N") },
  [LOTTERY_SERVER_SETTING_AUTH_TOKENS] = {
    "auth.tokens", "SERVER_AUTH_TOKENS", "auth-tokens", "auth_tokens",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, auth_tokens),
    N_("JSON file of agency keys; without it any client may act as any "
       "agency"),
    N_("PATH") },
  [LOTTERY_SERVER_SETTING_TLS_CERTIFICATE] = {
    "tls.certificate", "SERVER_TLS_CERTIFICATE", "tls-certificate",
    "tls_certificate", LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, tls_certificate),
    N_("PEM certificate (chain) to speak TLS with; needs tls.key"),
    N_("PATH") },
  [LOTTERY_SERVER_SETTING_TLS_KEY] = {
    "tls.key", "SERVER_TLS_KEY", "tls-key", "tls_key",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, tls_key),
    N_("PEM private key of tls.certificate"), N_("PATH") },
  [LOTTERY_SERVER_SETTING_HTTP_LISTEN] = {
    "http.listen", "SERVER_HTTP_LISTEN", "http-listen", "http_listen",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, http_listen),
    N_("Address to serve metrics and the status page on, e.g. "
       "127.0.0.1:9090; unset: no HTTP port"),
    N_("ADDRESS:PORT") },
  [LOTTERY_SERVER_SETTING_STORAGE_ADOPT] = {
    "storage.adopt", "SERVER_STORAGE_ADOPT", "storage-adopt",
    "storage_adopt", LOTTERY_SETTING_CHOICE, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, storage_adopt),
    N_("true: take the bets of a storage file found without its journal, "
       "each agency resuming past the bets it holds there; false: refuse "
       "to start"),
    N_("false|true"), bool_choices },
  [LOTTERY_SERVER_SETTING_STORAGE_BACKEND] = {
    "storage.backend", "SERVER_STORAGE_BACKEND", "storage-backend",
    "storage_backend", LOTTERY_SETTING_CHOICE, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, storage_backend),
    N_("file: bets.csv and its journal (storage.path); postgresql: a "
       "PostgreSQL database (storage.dsn), which several servers may share"),
    N_("file|postgresql"), backend_choices },
  [LOTTERY_SERVER_SETTING_STORAGE_DSN] = {
    "storage.dsn", "SERVER_STORAGE_DSN", "storage-dsn", "storage_dsn",
    /* Logged as set or not: it may hold a password. The store logs it
     * without. */
    LOTTERY_SETTING_SECRET, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, storage_dsn),
    N_("libpq connection string of the database (storage.backend = "
       "postgresql); a password is better kept in PGPASSFILE"),
    N_("DSN") },
  [LOTTERY_SERVER_SETTING_LOTTERY_NAME] = {
    "lottery.name", "SERVER_LOTTERY_NAME", "lottery-name", "lottery_name",
    LOTTERY_SETTING_STRING, 0, 0,
    G_STRUCT_OFFSET (LotteryServerConfig, lottery_name),
    N_("Which lottery of the database (several may share one)"),
    N_("NAME") },
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
  config->storage_sync = LOTTERY_SERVER_SYNC_BATCH;
  config->io_timeout = 10;
  config->idle_timeout = 300;
  config->max_connections = 1024;
  config->storage_backend = LOTTERY_SERVER_BACKEND_FILE;
  config->lottery_name = g_strdup ("default");

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

  if (!lottery_config_load (settings, G_N_ELEMENTS (settings), config, path,
                            LOTTERY_SERVER_DEFAULT_CONFIG, envp, flag_values,
                            &config->config_file, error))
    return FALSE;

  if ((config->tls_certificate == NULL) != (config->tls_key == NULL))
    return lottery_config_fail (
      error, LOTTERY_CONFIG_ERROR_INVALID,
      N_("%s: tls.certificate and tls.key go together; only %s is set"),
      config->config_file != NULL ? config->config_file : _("settings"),
      config->tls_key == NULL ? "tls.certificate" : "tls.key");

  if (config->storage_backend == LOTTERY_SERVER_BACKEND_POSTGRESQL &&
      config->storage_dsn == NULL)
    return lottery_config_fail (
      error, LOTTERY_CONFIG_ERROR_INVALID,
      N_("%s: storage.backend is postgresql, but storage.dsn is not set"),
      config->config_file != NULL ? config->config_file : _("settings"));

  return TRUE;
}

char *
lottery_server_config_describe (const LotteryServerConfig *config)
{
  return lottery_config_describe (settings, G_N_ELEMENTS (settings), config);
}

/* The store storage.backend names, recovered: @func gets every record
 * it keeps (see lottery_store_recover ()). */
LotteryStore *
lottery_server_config_open_store (const LotteryServerConfig *config,
                                  LotteryStoreRecordFunc     func,
                                  gpointer                   user_data,
                                  GError                   **error)
{
  if (config->storage_backend == LOTTERY_SERVER_BACKEND_FILE)
    return lottery_file_store_open_lottery (
      config->storage_path,
      (config->storage_sync == LOTTERY_SERVER_SYNC_BATCH ? LOTTERY_FILE_STORE_SYNC
                                                         : LOTTERY_FILE_STORE_NONE) |
      (config->storage_adopt ? LOTTERY_FILE_STORE_ADOPT : 0),
      config->agencies, func, user_data, error);

#ifdef HAVE_POSTGRESQL
  {
    g_autoptr(LotteryStore) store = lottery_pg_store_new (config->storage_dsn,
                                                          config->lottery_name,
                                                          config->agencies);

    if (!lottery_store_recover (store, func, user_data, NULL, error))
      return NULL;

    return g_steal_pointer (&store);
  }
#else
  lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                       N_("storage.backend is postgresql, but this "
                          "lottery-server was built without PostgreSQL "
                          "support (libpq)"));
  return NULL;
#endif
}

/* tls.certificate and tls.key, checked one by one so that the error
 * names the file at fault; before the store is opened, so that a server
 * that cannot speak TLS as asked touches no bets. */
GTlsCertificate *
lottery_server_config_load_tls_certificate (const LotteryServerConfig *config,
                                            GError                   **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GTlsCertificate) alone = NULL;
  g_autofree char *pem = NULL;
  g_autofree char *key = NULL;
  GTlsCertificate *certificate;

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                           N_("tls.certificate is set, but TLS needs GIO’s "
                              "TLS backend, which is not installed (package "
                              "glib-networking)"));
      return NULL;
    }

  /* GLib's messages name the file that cannot be read. */
  if (!g_file_get_contents (config->tls_certificate, &pem, NULL,
                            &local_error))
    {
      lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                         LOTTERY_CONFIG_ERROR_INVALID, local_error,
                         "tls.certificate: ");
      return NULL;
    }
  if (!g_file_get_contents (config->tls_key, &key, NULL, &local_error))
    {
      lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                         LOTTERY_CONFIG_ERROR_INVALID, local_error,
                         "tls.key: ");
      return NULL;
    }

  certificate = g_tls_certificate_new_from_files (config->tls_certificate,
                                                  config->tls_key,
                                                  &local_error);
  if (certificate != NULL)
    return certificate;

  /* The certificate alone parses: the key is what is wrong. */
  alone = g_tls_certificate_new_from_pem (pem, -1, NULL);
  if (alone != NULL)
    lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                       LOTTERY_CONFIG_ERROR_INVALID, local_error,
                       "tls.key: %s: ", config->tls_key);
  else
    lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                       LOTTERY_CONFIG_ERROR_INVALID, local_error,
                       "tls.certificate: %s: ", config->tls_certificate);
  return NULL;
}
