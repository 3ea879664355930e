/* lottery-server: the central server of the national lottery. */
#include "config.h"

#include "lottery-auth.h"
#include "lottery-error.h"
#include "lottery-i18n.h"
#include "lottery-log.h"
#include "lottery-metrics.h"
#include "lottery-server.h"
#include "lottery-server-config.h"
#ifdef HAVE_HTTP
#include "lottery-http-server.h"
#endif

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Every connection is a descriptor: take all the system allows, and say
 * so if max_connections cannot be honoured. */
static void
raise_open_files (guint *max_connections)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
      getrlimit (RLIMIT_NOFILE, &limit);
    }
  /* Room for the listener, the storage, the log and the draw. */
  if (limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < (rlim_t) *max_connections + 64)
    {
      guint fit = limit.rlim_cur > 64 ? (guint) (limit.rlim_cur - 64) : 1;

      /* Past the limit, accept () would fail over and over. */
      lottery_log (G_LOG_LEVEL_WARNING, "config", "fail",
                   "max_connections: %u | open_files: %lu | serving: %u | "
                   "error: raise the open-file limit (ulimit -n) to serve "
                   "max_connections", *max_connections,
                   (unsigned long) limit.rlim_cur, fit);
      *max_connections = fit;
    }
}

static gboolean
stop_cb (gpointer user_data)
{
  GMainLoop *loop = user_data;

  lottery_log (G_LOG_LEVEL_INFO, "signal", "success", "shutting_down: true");
  g_main_loop_quit (loop);

  return G_SOURCE_CONTINUE;
}

/* http.listen: metrics and the status page, before the agencies' port
 * opens, so that a taken address stops the start. */
static gboolean
start_http (LotteryServer             *server,
            const LotteryServerConfig *config,
            GObject                  **http,
            GError                   **error)
{
  if (config->http_listen == NULL)
    return TRUE;
#ifdef HAVE_HTTP
  *http = G_OBJECT (lottery_http_server_new (lottery_server_get_state (server),
                                             config, error));

  return *http != NULL &&
         lottery_http_server_listen (LOTTERY_HTTP_SERVER (*http),
                                     config->http_listen, error);
#else
  return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                              N_("http.listen is set, but this lottery-server "
                                 "was built without HTTP support (libsoup "
                                 "3)"));
#endif
}

/* --gen-token AGENCY: a new token on the first line (the agency's
 * secret, its auth.token) and the tokens file's line for it on the
 * second (what the server keeps, which does not let its reader in). */
static int
gen_token (const char *agency_text)
{
  const LotterySetting *agencies =
    &lottery_server_config_settings ()[LOTTERY_SERVER_SETTING_AGENCIES];
  g_autoptr(GError) error = NULL;
  g_autofree char *hex = NULL;
  g_autofree char *line = NULL;
  guint8 token[LOTTERY_AUTH_TOKEN_LEN];
  guint64 agency;

  if (!g_ascii_string_to_unsigned (agency_text, 10, 1, agencies->max, &agency,
                                   NULL))
    {
      g_printerr ("lottery-server: --gen-token: ");
      g_printerr (_("the agency must be an integer from 1 to %u, not “%s”"),
                  agencies->max, agency_text);
      g_printerr ("\n");
      return 2;
    }
  if (!lottery_auth_token_generate (token, &error))
    {
      g_printerr ("lottery-server: %s\n", error->message);
      return 1;
    }

  hex = lottery_auth_hex (token, sizeof token);
  line = lottery_auth_tokens_file_line ((guint32) agency, token);
  lottery_auth_wipe (token, sizeof token);
  g_print ("%s\n%s\n", hex, line);
  lottery_auth_wipe (hex, strlen (hex));

  return 0;
}

typedef struct
{
  GOutputStream *out;
  GError        *error;
} Export;

static gboolean
export_row (const LotteryBet *bet,
            gpointer          user_data)
{
  Export *export = user_data;
  char row[LOTTERY_BET_ROW_MAX];
  gsize len = lottery_bet_format_row (bet, row);

  return g_output_stream_write_all (export->out, row, len, NULL, NULL,
                                    &export->error);
}

/* --init-db and --export-csv FILE: open (create, migrate) the store,
 * write its bets to FILE in the bets.csv format, and exit. */
static int
run_store_command (const LotteryServerConfig *config,
                   const char                *export_path)
{
  g_autoptr(LotteryStore) store = NULL;
  g_autoptr(GError) error = NULL;
  Export export = { NULL, NULL };

  store = lottery_server_config_open_store (config, NULL, NULL, &error);
  if (store != NULL && export_path != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (export_path);
      g_autoptr(GFileOutputStream) raw =
        g_file_replace (file, NULL, FALSE, G_FILE_CREATE_PRIVATE, NULL, &error);

      if (raw != NULL)
        {
          export.out = g_buffered_output_stream_new_sized (
            G_OUTPUT_STREAM (raw), 256 * 1024);
          if (!lottery_store_load_bets (store, FALSE, export_row, &export,
                                        NULL, &error) && export.error != NULL)
            g_propagate_error (&error, g_steal_pointer (&export.error));
          g_clear_error (&export.error);
          if (error == NULL)
            g_output_stream_close (export.out, NULL, &error);
          g_clear_object (&export.out);
        }
    }
  if (store != NULL && !lottery_store_close (store, error == NULL ? &error
                                                                  : NULL))
    g_assert (error != NULL);

  if (error != NULL)
    {
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (LOTTERY_LOG_ERROR, "exit", "fail", "error: %s", reason);
      g_printerr ("lottery-server: %s\n", error->message);
      return 1;
    }
  {
    g_autofree char *where = lottery_log_value (lottery_store_get_location (store));

    lottery_log (G_LOG_LEVEL_INFO, export_path != NULL ? "export_csv"
                                                       : "init_db",
                 "success", "storage: %s", where);
  }
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(LotteryServerConfig) config = lottery_server_config_new ();
  g_autoptr(LotteryServer) server = NULL;
  g_autoptr(LotteryAuth) auth = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GObject) http = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_get_environ ();
  g_autofree GOptionEntry *setting_entries = NULL;
  g_autofree char *description = NULL;
  g_autofree char *env_list = NULL;
  g_autofree char *full_description = NULL;
  char *flag_values[LOTTERY_SERVER_N_SETTINGS] = { NULL, };
  g_autofree char *config_path = NULL;
  g_autofree char *gen_token_agency = NULL;
  g_autofree char *export_csv = NULL;
  gboolean init_db = FALSE;
  gboolean version = FALSE;
  guint sigterm, sigint;
  guint i;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      N_("JSON config file (default: ./server.json if present)"), N_("PATH") },
    { "gen-token", 0, 0, G_OPTION_ARG_STRING, &gen_token_agency,
      N_("Print a new token for agency ID and its line for the "
         "auth.tokens file, then exit"), N_("ID") },
    { "init-db", 0, 0, G_OPTION_ARG_NONE, &init_db,
      N_("Create or migrate the storage (the database’s schema and "
         "lottery) and exit"), NULL },
    { "export-csv", 0, 0, G_OPTION_ARG_FILENAME, &export_csv,
      N_("Write the stored bets to FILE in the bets.csv format and exit"),
      N_("FILE") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    G_OPTION_ENTRY_NULL
  };

  /* process_start_time_seconds counts from here. */
  lottery_metrics_get_default ();
  lottery_i18n_init ();

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
    _("Central server of the national lottery: receives the agencies’ bets,\n"
      "stores them in a CSV file and, once every agency has finished, draws\n"
      "the winners and tells each agency its own."));
  env_list = lottery_config_env_list (lottery_server_config_settings (),
                                      LOTTERY_SERVER_N_SETTINGS);
  description = g_strdup_printf (
    _("Settings, from the strongest to the weakest: the flags; the\n"
      "environment variables\n"
      "%s;\n"
      "the JSON file given with --config, else ./server.json if it exists;\n"
      "the built-in defaults. Empty variables are ignored. An example\n"
      "configuration, to use with --config:\n"
      "  %s\n"
      "\n"
      "Log lines go to standard output. SIGTERM or SIGINT stops the server\n"
      "cleanly. lottery-client --status shows its progress.\n"
      "\n"
      "Examples:\n"
      "  lottery-server --agencies 5 --storage /var/lib/lottery/bets.csv\n"
      "  SERVER_PORT=0 lottery-server --config %s\n"),
    env_list, SYSCONFDIR "/lottery/server.json",
    SYSCONFDIR "/lottery/server.json");
  /* A paragraph of its own, so that the text above keeps its
   * translation. */
  full_description = g_strconcat (description, "\n",
    _("Agencies prove who they are with a token when auth.tokens\n"
      "(--auth-tokens, SERVER_AUTH_TOKENS) names a JSON file of their stored\n"
      "keys; without it, anyone who can reach the port can act as any agency.\n"
      "--gen-token ID prints a new token for agency ID on its first line (the\n"
      "agency's secret: its auth.token) and, on the second, the line to add\n"
      "to that file: {\"agencies\": {\"1\": \"sha256:…\", …}}. Example:\n"
      "  lottery-server --gen-token 3\n"),
    NULL);
  g_option_context_set_description (context, full_description);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  setting_entries = lottery_config_option_entries_full (
    lottery_server_config_settings (), LOTTERY_SERVER_N_SETTINGS, flag_values,
    config);
  g_option_context_add_main_entries (context, setting_entries, GETTEXT_PACKAGE);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("lottery-server: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("lottery-server %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (gen_token_agency != NULL)
    return gen_token (gen_token_agency);

  if (!lottery_server_config_load (config, config_path,
                                   (const char * const *) envp,
                                   (const char * const *) flag_values, &error))
    {
      g_printerr ("lottery-server: %s\n", error->message);
      for (i = 0; i < LOTTERY_SERVER_N_SETTINGS; i++)
        g_free (flag_values[i]);
      return 2;
    }
  for (i = 0; i < LOTTERY_SERVER_N_SETTINGS; i++)
    g_free (flag_values[i]);
  /* The tokens file is configuration: a bad one is found before
   * anything starts. */
  if (config->auth_tokens != NULL)
    {
      auth = lottery_auth_new_from_file (config->auth_tokens,
                                         config->agencies, &error);
      if (auth == NULL)
        {
          g_printerr ("lottery-server: %s\n", error->message);
          return 2;
        }
    }

  lottery_log_init (config->log_level);
  {
    g_autofree char *settings = lottery_server_config_describe (config);
    lottery_log (G_LOG_LEVEL_INFO, "config", "success", "%s", settings);
  }
  if (auth != NULL)
    lottery_log (G_LOG_LEVEL_INFO, "auth", "success",
                 "mode: token | agencies: %u",
                 lottery_auth_get_agencies (auth));
  else
    lottery_log (G_LOG_LEVEL_WARNING, "auth", "success",
                 "mode: open | warning: no auth.tokens, so anyone who can "
                 "reach the port can act as any agency");

  if (init_db || export_csv != NULL)
    return run_store_command (config, export_csv);

  raise_open_files (&config->max_connections);

  /* Handlers first: a stop may come as soon as the port is logged. */
  loop = g_main_loop_new (NULL, FALSE);
  sigterm = g_unix_signal_add (SIGTERM, stop_cb, loop);
  sigint = g_unix_signal_add (SIGINT, stop_cb, loop);

  server = lottery_server_new (config, &error);
  if (server != NULL)
    lottery_server_set_auth (server, auth);
  if (server == NULL || !start_http (server, config, &http, &error) ||
      !lottery_server_start (server, &error))
    {
      g_autofree char *reason = lottery_log_error_value (error);

      lottery_log (LOTTERY_LOG_ERROR, "exit", "fail", "error: %s", reason);
      g_printerr ("lottery-server: %s\n", error->message);
      g_source_remove (sigterm);
      g_source_remove (sigint);
      return 1;
    }

  g_main_loop_run (loop);

  g_clear_object (&http);
  lottery_server_shutdown (server);
  g_source_remove (sigterm);
  g_source_remove (sigint);

  lottery_log (G_LOG_LEVEL_INFO, "exit", "success", NULL);
  return 0;
}
