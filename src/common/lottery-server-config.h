/* lottery-server-config.h: the central server's settings. */
#pragma once

#include <glib.h>

#include "lottery-config.h"
#include "lottery-store.h"

G_BEGIN_DECLS

typedef struct
{
  guint          port;
  guint          listen_backlog;
  guint          agencies;
  char          *storage_path;
  GLogLevelFlags log_level;
  guint          storage_sync;    /* LotteryStorageSync */
  guint          io_timeout;      /* seconds to finish a started message */
  guint          idle_timeout;    /* seconds a connection may say nothing */
  guint          max_connections;
  char          *auth_tokens;     /* agency -> stored key file, or NULL */
  char          *tls_certificate; /* PEM, or NULL for plain TCP */
  char          *tls_key;
  char          *http_listen;     /* metrics and status page, or NULL */
  guint          storage_adopt;   /* 1: take a bets.csv without journal */
  guint          storage_backend; /* LotteryServerBackend */
  char          *storage_dsn;     /* libpq connection string, or NULL */
  char          *lottery_name;    /* which lottery of the database */
  char          *config_file; /* the file read, or NULL */
} LotteryServerConfig;

enum
{
  LOTTERY_SERVER_SETTING_PORT,
  LOTTERY_SERVER_SETTING_LISTEN_BACKLOG,
  LOTTERY_SERVER_SETTING_AGENCIES,
  LOTTERY_SERVER_SETTING_STORAGE,
  LOTTERY_SERVER_SETTING_LOG_LEVEL,
  LOTTERY_SERVER_SETTING_STORAGE_SYNC,
  LOTTERY_SERVER_SETTING_IO_TIMEOUT,
  LOTTERY_SERVER_SETTING_IDLE_TIMEOUT,
  LOTTERY_SERVER_SETTING_MAX_CONNECTIONS,
  LOTTERY_SERVER_SETTING_AUTH_TOKENS,
  LOTTERY_SERVER_SETTING_TLS_CERTIFICATE,
  LOTTERY_SERVER_SETTING_TLS_KEY,
  LOTTERY_SERVER_SETTING_HTTP_LISTEN,
  LOTTERY_SERVER_SETTING_STORAGE_ADOPT,
  LOTTERY_SERVER_SETTING_STORAGE_BACKEND,
  LOTTERY_SERVER_SETTING_STORAGE_DSN,
  LOTTERY_SERVER_SETTING_LOTTERY_NAME,
  LOTTERY_SERVER_N_SETTINGS
};

typedef enum
{
  LOTTERY_SERVER_SYNC_BATCH, /* fdatasync before acknowledging */
  LOTTERY_SERVER_SYNC_NONE,  /* acknowledge once written */
} LotteryServerSync;

typedef enum
{
  LOTTERY_SERVER_BACKEND_FILE,       /* bets.csv and its journal */
  LOTTERY_SERVER_BACKEND_POSTGRESQL, /* LotteryPgStore */
} LotteryServerBackend;

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
LotteryStore         *lottery_server_config_open_store (const LotteryServerConfig *config,
                                                        LotteryStoreRecordFunc     func,
                                                        gpointer                   user_data,
                                                        GError                   **error);
GTlsCertificate      *lottery_server_config_load_tls_certificate (const LotteryServerConfig *config,
                                                                  GError                   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryServerConfig, lottery_server_config_free)

G_END_DECLS
