/* lottery-config.h: settings from flags, environment, a JSON file and
 * defaults, in that order of precedence.
 *
 * Each program describes its settings once, in a table; the table drives
 * the JSON keys, the environment variables, the command-line flags, the
 * error messages and the `action: config` log line.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  LOTTERY_SETTING_UINT,      /* guint, within [min, max] */
  LOTTERY_SETTING_STRING,    /* char *, non-empty */
  LOTTERY_SETTING_ADDRESS,   /* char *, host:port */
  LOTTERY_SETTING_LOG_LEVEL, /* GLogLevelFlags */
  LOTTERY_SETTING_CHOICE,    /* guint: index into choices */
  LOTTERY_SETTING_SECRET,    /* char *, never logged nor taken as a flag */
} LotterySettingType;

typedef struct
{
  const char        *key;      /* JSON path, "server.port" */
  const char        *env;      /* "SERVER_PORT" */
  const char        *flag;     /* long option, "port" */
  const char        *log_key;  /* key in the config log line */
  LotterySettingType type;
  guint              min;
  guint              max;
  gsize              offset;   /* of the value in the config struct */
  const char        *help;     /* N_() */
  const char        *arg_description;
  const char * const *choices; /* LOTTERY_SETTING_CHOICE: NULL-terminated */
} LotterySetting;

gboolean      lottery_config_load          (const LotterySetting *settings,
                                            guint                 n_settings,
                                            gpointer              config,
                                            const char           *path,
                                            const char           *default_path,
                                            const char * const   *envp,
                                            const char * const   *flag_values,
                                            char                **used_path,
                                            GError              **error);
gboolean      lottery_config_load_file     (const LotterySetting *settings,
                                            guint                 n_settings,
                                            gpointer              config,
                                            const char           *path,
                                            GError              **error);
gboolean      lottery_config_set_from_string (const LotterySetting *setting,
                                              gpointer              config,
                                              const char           *value,
                                              const char           *source,
                                              GError              **error);
GOptionEntry *lottery_config_option_entries (const LotterySetting *settings,
                                             guint                 n_settings,
                                             char                **values);
GOptionEntry *lottery_config_option_entries_full (const LotterySetting *settings,
                                                  guint                 n_settings,
                                                  char                **values,
                                                  gconstpointer         defaults);
char         *lottery_config_env_list      (const LotterySetting *settings,
                                            guint                 n_settings);
char         *lottery_config_describe      (const LotterySetting *settings,
                                            guint                 n_settings,
                                            gconstpointer         config);
void          lottery_config_clear         (const LotterySetting *settings,
                                            guint                 n_settings,
                                            gpointer              config);

G_END_DECLS
