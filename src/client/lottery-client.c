/* lottery-client.c: the agency client application.
 *
 * handle_local_options () settles the configuration (flags, environment,
 * file, defaults), then upload () runs the blocking LotteryUploader in a
 * GTask thread under a main loop of its own, so the main loop stays free
 * to handle SIGTERM, which cancels the upload. Not from activate ():
 * GApplication registers on the session bus before it activates, a
 * D-Bus round trip (or a search for a bus) on every agency start that a
 * command-line client has no use for.
 */
#include "config.h"

#include "lottery-client.h"
#include "lottery-auth.h"
#include "lottery-client-config.h"
#include "lottery-connect.h"
#include "lottery-error.h"
#include "lottery-log.h"
#include "lottery-progress.h"
#include "lottery-status-view.h"
#include "lottery-uploader.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct _LotteryClient
{
  GApplication parent_instance;

  LotteryClientConfig *config;
  LotteryBet          *single_bet; /* --bet or NOMBRE…NUMERO, else NULL */
  gboolean             has_token;
  guint8               token[LOTTERY_AUTH_TOKEN_LEN]; /* secret */
  GTlsDatabase        *tls_ca;     /* tls.ca loaded, or NULL: plain TCP */
  GCancellable        *cancellable;
  GMainLoop           *loop;        /* runs while the upload does */
  guint                sigterm;
  guint                sigint;
  int                  exit_status;
  gboolean             ping;        /* --ping: health check only */
  gboolean             quiet;       /* --quiet: no progress line */
  gboolean             parsing;     /* GApplication parses the flags */
  gboolean             parse_failed;
};

G_DEFINE_FINAL_TYPE (LotteryClient, lottery_client, G_TYPE_APPLICATION)

static const char * const single_bet_env[LOTTERY_BET_N_FIELDS] = {
  "NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO",
};

static void
lottery_client_finalize (GObject *object)
{
  LotteryClient *self = LOTTERY_CLIENT (object);

  g_clear_pointer (&self->config, lottery_client_config_free);
  g_clear_pointer (&self->single_bet, lottery_bet_free);
  g_clear_object (&self->tls_ca);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  lottery_auth_wipe (self->token, sizeof self->token);

  G_OBJECT_CLASS (lottery_client_parent_class)->finalize (object);
}

/* The single bet, from --bet or from the environment; FALSE on a bad
 * one. Leaves self->single_bet NULL when neither is given. */
static gboolean
load_single_bet (LotteryClient *self,
                 const char    *flag,
                 GError       **error)
{
  g_autoptr(LotteryBet) bet = lottery_bet_new ();
  g_autoptr(GError) local_error = NULL;

  if (flag != NULL)
    {
      if (!lottery_bet_parse_line (bet, flag, strlen (flag), &local_error))
        return lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                                  LOTTERY_CONFIG_ERROR_INVALID, local_error,
                                  "--bet: ");
    }
  else
    {
      const char *values[LOTTERY_BET_N_FIELDS];
      gsize lens[LOTTERY_BET_N_FIELDS];
      guint i, n_set = 0;

      for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
        {
          values[i] = g_getenv (single_bet_env[i]);
          /* Compose passes unset variables as empty strings. */
          if (values[i] != NULL && *values[i] == '\0')
            values[i] = NULL;
          lens[i] = values[i] != NULL ? strlen (values[i]) : 0;
          n_set += values[i] != NULL;
        }
      if (n_set == 0)
        return TRUE;
      for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
        if (values[i] == NULL)
          return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                      N_("Single-bet mode needs NOMBRE, "
                                         "APELLIDO, DOCUMENTO, NACIMIENTO and "
                                         "NUMERO; %s is not set"),
                                      single_bet_env[i]);
      if (!lottery_bet_set_fields (bet, values, lens, &local_error))
        return lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                                  LOTTERY_CONFIG_ERROR_INVALID, local_error,
                                  N_("environment: "));
    }

  bet->agency = self->config->id;
  self->single_bet = g_steal_pointer (&bet);
  return TRUE;
}

/* The agency's token, from auth.token (the file or CLI_AUTH_TOKEN) or
 * from the file auth.token_file names; none is fine until a server
 * asks for it. */
static gboolean
load_token (LotteryClient *self,
            GError       **error)
{
  const LotteryClientConfig *config = self->config;

  if (config->auth_token != NULL && config->auth_token_file != NULL)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("auth.token and auth.token_file cannot go "
                                   "together: set only one"));
  if (config->auth_token != NULL)
    self->has_token = lottery_auth_token_parse (config->auth_token,
                                                "auth.token", self->token,
                                                error);
  else if (config->auth_token_file != NULL)
    self->has_token = lottery_auth_token_read_file (config->auth_token_file,
                                                    self->token, error);
  else
    return TRUE;

  return self->has_token;
}

/* --ping: exit 0 if the server answers. Quiet on success, so that it
 * suits a health check that runs every few seconds. */
static int
ping (LotteryClient *self)
{
  g_autoptr(LotteryUploader) uploader = NULL;
  g_autoptr(GError) error = NULL;

  uploader = lottery_uploader_new (self->config->id,
                                   self->config->server_address,
                                   self->config->batch_max_amount);
  lottery_uploader_set_tls_database (uploader, self->tls_ca);
  if (!lottery_uploader_ping (uploader, NULL, &error))
    {
      g_printerr ("lottery-client: %s: %s\n", self->config->server_address,
                  error->message);
      return LOTTERY_CLIENT_EXIT_FAILURE;
    }

  return 0;
}

/* --status: the server's counts as a table, or JSON with --json. */
static int
show_status (LotteryClient *self,
             gboolean       json)
{
  g_autoptr(LotteryStatusView) view = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  view = lottery_status_view_fetch (self->config->server_address,
                                    self->tls_ca, NULL, &error);
  if (view == NULL)
    {
      g_printerr ("lottery-client: %s: %s\n", self->config->server_address,
                  error->message);
      return LOTTERY_CLIENT_EXIT_FAILURE;
    }

  text = json ? lottery_status_view_format_json (view)
              : lottery_status_view_format_table (view);
  g_print ("%s", text);

  return 0;
}

static int upload (LotteryClient *self);

static int
lottery_client_handle_local_options (GApplication *application,
                                     GVariantDict *options)
{
  LotteryClient *self = LOTTERY_CLIENT (application);
  const LotterySetting *settings = lottery_client_config_settings ();
  const char *flag_values[LOTTERY_CLIENT_N_SETTINGS] = { NULL, };
  g_auto(GStrv) envp = g_get_environ ();
  g_autoptr(GError) error = NULL;
  g_autofree const char **positional = NULL;
  const char *config_path = NULL;
  const char *bet = NULL;
  guint i;

  self->parsing = FALSE;
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("lottery-client %s\n", PACKAGE_VERSION);
      return 0;
    }

  self->ping = g_variant_dict_contains (options, "ping");
  self->quiet = g_variant_dict_contains (options, "quiet");
  if (g_variant_dict_contains (options, "json") &&
      !g_variant_dict_contains (options, "status"))
    {
      g_printerr ("lottery-client: %s\n", _("--json goes with --status"));
      return LOTTERY_CLIENT_EXIT_USAGE;
    }
  g_variant_dict_lookup (options, "config", "^&ay", &config_path);
  g_variant_dict_lookup (options, "bet", "&s", &bet);
  for (i = 0; i < LOTTERY_CLIENT_N_SETTINGS; i++)
    if (settings[i].flag != NULL)
      g_variant_dict_lookup (options, settings[i].flag, "&s", &flag_values[i]);
  /* `lottery-client agency-1.csv`: the one argument is the bets file. */
  g_variant_dict_lookup (options, G_OPTION_REMAINING, "^a&ay", &positional);
  if (positional != NULL && positional[0] != NULL)
    {
      if (positional[1] != NULL ||
          flag_values[LOTTERY_CLIENT_SETTING_BETS_FILE] != NULL)
        {
          g_printerr ("lottery-client: %s\n",
                      _("Give one bets file, either as the argument or with "
                        "--bets-file (see --help)"));
          return LOTTERY_CLIENT_EXIT_USAGE;
        }
      flag_values[LOTTERY_CLIENT_SETTING_BETS_FILE] = positional[0];
    }

  if (bet != NULL && flag_values[LOTTERY_CLIENT_SETTING_BETS_FILE] != NULL)
    {
      g_printerr ("lottery-client: %s\n",
                  _("--bet and --bets-file cannot go together"));
      return LOTTERY_CLIENT_EXIT_USAGE;
    }

  /* --ping and --status send no bets and no HELLO: single-bet and
   * token settings are not theirs to check. A --bets-file flag is
   * stronger than single-bet variables in the environment. */
  if (!lottery_client_config_load (self->config, config_path,
                                   (const char * const *) envp, flag_values,
                                   &error) ||
      (!self->ping && !g_variant_dict_contains (options, "status") &&
       (bet != NULL || flag_values[LOTTERY_CLIENT_SETTING_BETS_FILE] == NULL) &&
       !load_single_bet (self, bet, &error)) ||
      (!self->ping && !g_variant_dict_contains (options, "status") &&
       !load_token (self, &error)))
    {
      g_printerr ("lottery-client: %s\n", error->message);
      return LOTTERY_CLIENT_EXIT_USAGE;
    }

  lottery_log_init (self->config->log_level);
  /* A tls.ca that cannot be read or holds no certificate is a bad
   * setting (exit 2), like every other one. */
  if (self->config->tls_ca != NULL)
    {
      self->tls_ca = lottery_connect_load_ca (self->config->tls_ca, &error);
      if (self->tls_ca == NULL)
        {
          g_printerr ("lottery-client: %s\n", error->message);
          return LOTTERY_CLIENT_EXIT_USAGE;
        }
    }
  if (self->ping)
    return ping (self);
  if (g_variant_dict_contains (options, "status"))
    return show_status (self, g_variant_dict_contains (options, "json"));
  {
    g_autofree char *described = lottery_client_config_describe (self->config);
    lottery_log (G_LOG_LEVEL_INFO, "config", "success", "%s", described);
  }

  return upload (self);
}

static void
upload_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  LotteryUploader *uploader = task_data;
  GError *error = NULL;

  if (lottery_uploader_run (uploader, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
upload_done_cb (GObject      *source,
                GAsyncResult *task_result,
                gpointer      user_data)
{
  LotteryClient *self = LOTTERY_CLIENT (source);
  LotteryUploader *uploader = g_task_get_task_data (G_TASK (task_result));
  g_autoptr(GError) error = NULL;
  const char *result = "success";
  int status = 0;

  if (g_task_propagate_boolean (G_TASK (task_result), &error))
    {
      const char * const *winners = lottery_uploader_get_winners (uploader);
      guint64 rejected = lottery_uploader_get_rejected_rows (uploader) +
                         lottery_uploader_get_rejected_batches (uploader);
      guint i;

      for (i = 0; winners[i] != NULL; i++)
        lottery_log (G_LOG_LEVEL_INFO, "ganador", "success", "dni: %s",
                     winners[i]);
      lottery_log (G_LOG_LEVEL_INFO, "consulta_ganadores", "success",
                   "cant_ganadores: %u", g_strv_length ((GStrv) winners));
      if (rejected > 0)
        {
          lottery_log (G_LOG_LEVEL_WARNING, "rechazos", "fail",
                       "filas: %" G_GUINT64_FORMAT " | lotes: %"
                       G_GUINT64_FORMAT,
                       lottery_uploader_get_rejected_rows (uploader),
                       lottery_uploader_get_rejected_batches (uploader));
          status = LOTTERY_CLIENT_EXIT_REJECTED;
        }
    }
  else if (g_cancellable_is_cancelled (self->cancellable))
    {
      /* SIGTERM: a requested stop is a clean exit, but not a done one. */
      lottery_log (G_LOG_LEVEL_INFO, "upload", "in_progress",
                   "stopped: true");
      result = "interrupted";
    }
  else
    {
      g_autofree char *reason = lottery_log_error_value (error);
      guint64 in_file, held;

      status = g_error_matches (error, LOTTERY_CONFIG_ERROR,
                                LOTTERY_CONFIG_ERROR_INVALID)
        ? LOTTERY_CLIENT_EXIT_USAGE : LOTTERY_CLIENT_EXIT_FAILURE;
      if (lottery_uploader_get_mismatch (uploader, &in_file, &held))
        {
          /* Loud and countable: bets of this file that take no part in
           * the draw (unknown when the server holds more than the file). */
          g_autofree char *not_played =
            in_file > held ? g_strdup_printf ("%" G_GUINT64_FORMAT,
                                              in_file - held)
                           : g_strdup ("unknown");

          lottery_log (LOTTERY_LOG_ERROR, "done", "fail",
                       "agency: %u | bets_in_file: %" G_GUINT64_FORMAT
                       " | bets_held: %" G_GUINT64_FORMAT
                       " | bets_not_played: %s | error: %s",
                       self->config->id, in_file, held, not_played, reason);
          status = LOTTERY_CLIENT_EXIT_NOT_PLAYED;
        }
      else
        lottery_log (LOTTERY_LOG_ERROR, "done", "fail",
                     "agency: %u | error: %s", self->config->id, reason);
      g_printerr ("lottery-client: %s\n", error->message);
      result = NULL;
    }

  /* Not "exit": Compose's own "exited with code N" line says that. */
  if (result != NULL)
    lottery_log (G_LOG_LEVEL_INFO, "done", result, NULL);

  g_source_remove (self->sigterm);
  g_source_remove (self->sigint);
  self->sigterm = self->sigint = 0;
  self->exit_status = status;
  g_main_loop_quit (self->loop);
}

static gboolean
stop_cb (gpointer user_data)
{
  LotteryClient *self = user_data;

  lottery_log (G_LOG_LEVEL_INFO, "signal", "success", "shutting_down: true");
  g_cancellable_cancel (self->cancellable);

  return G_SOURCE_CONTINUE;
}

/* The agency's upload; returns its exit status once it is over. */
static int
upload (LotteryClient *self)
{
  g_autoptr(LotteryUploader) uploader = NULL;
  g_autoptr(GTask) task = NULL;

  uploader = lottery_uploader_new (self->config->id,
                                   self->config->server_address,
                                   self->config->batch_max_amount);
  if (self->has_token)
    lottery_uploader_set_token (uploader, self->token);
  if (self->single_bet != NULL)
    lottery_uploader_set_single_bet (uploader, self->single_bet);
  else
    lottery_uploader_set_bets_file (uploader, self->config->bets_file);
  lottery_uploader_set_tls_database (uploader, self->tls_ca);
  lottery_uploader_set_timeout (uploader, self->config->timeout);
  /* The progress line is for a person watching a terminal. */
  if (self->single_bet == NULL && !self->quiet && isatty (STDERR_FILENO))
    lottery_uploader_set_progress (uploader,
                                   lottery_progress_new (STDERR_FILENO,
                                                         self->config->bets_file));

  self->sigterm = g_unix_signal_add (SIGTERM, stop_cb, self);
  self->sigint = g_unix_signal_add (SIGINT, stop_cb, self);

  self->loop = g_main_loop_new (NULL, FALSE);
  task = g_task_new (self, self->cancellable, upload_done_cb, NULL);
  g_task_set_source_tag (task, upload);
  g_task_set_task_data (task, g_steal_pointer (&uploader), g_object_unref);
  /* The callback must see the uploader's own error, even after a
   * cancellation, to tell a stop from a failure. */
  g_task_set_check_cancellable (task, FALSE);
  g_task_run_in_thread (task, upload_thread);
  g_clear_object (&task);
  g_main_loop_run (self->loop);

  return self->exit_status;
}

static LotteryClient *parsing_client;

/* GApplication's own parse errors, in the server's words. */
static void
parse_printerr (const char *text)
{
  if (parsing_client != NULL && parsing_client->parsing)
    {
      parsing_client->parse_failed = TRUE;
      fputs ("lottery-client: ", stderr);
    }
  fputs (text, stderr);
}

/* Like lottery-server: an unknown option is "lottery-client: Unknown
 * option --x" and exit status 2. GApplication's --gapplication-service
 * waits for D-Bus activation, which an agency never gets: refused. */
static gboolean
lottery_client_local_command_line (GApplication   *application,
                                   char         ***arguments,
                                   int            *exit_status)
{
  LotteryClient *self = LOTTERY_CLIENT (application);
  GPrintFunc old_handler;
  gboolean handled;
  guint i;

  for (i = 1; (*arguments)[i] != NULL; i++)
    {
      if (strcmp ((*arguments)[i], "--") == 0)
        break;
      if (g_str_has_prefix ((*arguments)[i], "--gapplication-"))
        {
          g_autofree char *name = g_strndup ((*arguments)[i],
                                             strcspn ((*arguments)[i], "="));

          g_printerr ("lottery-client: ");
          g_printerr (_("Unknown option %s"), name);
          g_printerr ("\n");
          *exit_status = LOTTERY_CLIENT_EXIT_USAGE;
          return TRUE;
        }
    }

  self->parsing = TRUE;
  parsing_client = self;
  old_handler = g_set_printerr_handler (parse_printerr);
  handled = G_APPLICATION_CLASS (lottery_client_parent_class)->
    local_command_line (application, arguments, exit_status);
  g_set_printerr_handler (old_handler);
  parsing_client = NULL;
  if (self->parsing && self->parse_failed)
    *exit_status = LOTTERY_CLIENT_EXIT_USAGE;
  self->parsing = FALSE;

  return handled;
}

static void
lottery_client_class_init (LotteryClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = lottery_client_finalize;
  app_class->local_command_line = lottery_client_local_command_line;
  app_class->handle_local_options = lottery_client_handle_local_options;
}

static void
lottery_client_init (LotteryClient *self)
{
  GApplication *app = G_APPLICATION (self);
  g_autofree GOptionEntry *setting_entries = NULL;
  g_autofree char *description = NULL;
  g_autofree char *env_list = NULL;
  g_autofree char *full_description = NULL;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, NULL,
      N_("JSON config file (default: ./client.json if present)"), N_("PATH") },
    { "bet", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Send this one bet instead of a file"),
      N_("NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO") },
    { "ping", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Only check that the server answers (exit status 0 if it does)"),
      NULL },
    { "status", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Show the server’s status (bets per agency, the draw) and exit"),
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("With --status: print JSON instead of a table"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, NULL,
      N_("Do not show the progress line on a terminal"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Print the version and exit"), NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL, NULL,
      N_("[BETS_FILE]") },
    G_OPTION_ENTRY_NULL
  };

  self->config = lottery_client_config_new ();
  self->cancellable = g_cancellable_new ();

  g_application_add_main_option_entries (app, entries);
  setting_entries = lottery_config_option_entries_full (
    lottery_client_config_settings (), LOTTERY_CLIENT_N_SETTINGS, NULL,
    self->config);
  g_application_add_main_option_entries (app, setting_entries);

  g_application_set_option_context_summary (app,
    _("Agency client of the national lottery: uploads the agency’s bets\n"
      "to the central server in batches, says when it has finished, and\n"
      "prints the agency’s winners once the draw has taken place. With\n"
      "--status it shows the server’s progress instead."));
  env_list = lottery_config_env_list (lottery_client_config_settings (),
                                      LOTTERY_CLIENT_N_SETTINGS);
  description = g_strdup_printf (
    _("Settings, from the strongest to the weakest: the flags; the\n"
      "environment variables\n"
      "%s;\n"
      "the JSON file given with --config, else ./client.json if it exists;\n"
      "the built-in defaults. Empty variables are ignored. An example\n"
      "configuration, to use with --config:\n"
      "  %s\n"
      "\n"
      "With NOMBRE, APELLIDO, DOCUMENTO, NACIMIENTO and NUMERO in the\n"
      "environment, or --bet, one bet is sent instead of a file.\n"
      "\n"
      "Log lines go to standard output. On a terminal, a progress line on\n"
      "standard error shows the bets sent (not with --quiet).\n"
      "\n"
      "Exit status: 0 done; 1 failed; 2 bad configuration; 3 done, but some\n"
      "rows were rejected.\n"
      "\n"
      "Examples:\n"
      "  lottery-client --id 1 --server localhost:12345 --bets-file agency-1.csv\n"
      "  CLI_ID=2 lottery-client --config %s\n"
      "  lottery-client --status --server localhost:12345\n"),
    env_list, SYSCONFDIR "/lottery/client.json",
    SYSCONFDIR "/lottery/client.json");
  /* A paragraph of its own, so that the text above keeps its
   * translation. */
  full_description = g_strconcat (description, "\n",
    _("A server that requires tokens asks the agency to prove that it holds\n"
      "its own (made by lottery-server --gen-token); the token never crosses\n"
      "the network. It comes from CLI_AUTH_TOKEN or auth.token in the JSON\n"
      "file (there is no flag: ps would show it), or from the file named by\n"
      "--auth-token-file (CLI_AUTH_TOKEN_FILE, auth.token_file).\n"),
    "\n",
    _("Exit status 4: the server holds a different number of this agency's\n"
      "bets than the file has valid rows (bets not played, or another file);\n"
      "nothing is sent.\n"),
    NULL);
  g_application_set_option_context_description (app, full_description);
}

LotteryClient *
lottery_client_new (void)
{
  return g_object_new (LOTTERY_TYPE_CLIENT,
                       "application-id", "ar.loteria.Agencia",
                       "flags", G_APPLICATION_NON_UNIQUE |
                                G_APPLICATION_IS_LAUNCHER,
                       NULL);
}

/* The outcome of the upload, once g_application_run () has returned. */
int
lottery_client_get_exit_status (LotteryClient *self)
{
  g_return_val_if_fail (LOTTERY_IS_CLIENT (self), LOTTERY_CLIENT_EXIT_FAILURE);

  return self->exit_status;
}
