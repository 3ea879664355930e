/* test-config.c: defaults, JSON file, environment and flags, and the
 * messages of every kind of bad setting. */
#include "config.h"

#include "lottery-auth.h"
#include "lottery-client-config.h"
#include "lottery-error.h"
#include "lottery-file.h"
#include "lottery-log.h"
#include "lottery-protocol.h"
#include "lottery-server-config.h"

#include "unit-utils.h"

#include <glib/gstdio.h>
#include <string.h>

/* Every test runs in its own empty working directory, so that the
 * ./server.json and ./client.json lookups only find what it writes. */
typedef struct
{
  char *old_cwd;
  char *dir;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->old_cwd = g_get_current_dir ();
  fixture->dir = unit_make_tmp_dir ();
  g_assert_cmpint (g_chdir (fixture->dir), ==, 0);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_assert_cmpint (g_chdir (fixture->old_cwd), ==, 0);
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
  g_free (fixture->old_cwd);
}

static const char * const no_env[] = { NULL };

/* Loads the server settings from @json (written to @name in the working
 * directory, unless NULL), @envp and @flags. */
static LotteryServerConfig *
load_server (const char         *name,
             const char         *json,
             const char * const *envp,
             const char * const *flags,
             GError            **error)
{
  g_autoptr(LotteryServerConfig) config = lottery_server_config_new ();

  if (json != NULL)
    g_assert_true (g_file_set_contents (name, json, -1, NULL));
  if (!lottery_server_config_load (config, json != NULL ? name : NULL,
                                   envp, flags, error))
    return NULL;

  return g_steal_pointer (&config);
}

static LotteryClientConfig *
load_client (const char         *name,
             const char         *json,
             const char * const *envp,
             const char * const *flags,
             GError            **error)
{
  g_autoptr(LotteryClientConfig) config = lottery_client_config_new ();

  if (json != NULL)
    g_assert_true (g_file_set_contents (name, json, -1, NULL));
  if (!lottery_client_config_load (config, json != NULL ? name : NULL,
                                   envp, flags, error))
    return NULL;

  return g_steal_pointer (&config);
}

/* The one-line message a bad setting gives, or fails the test. */
static char *
server_error (const char         *json,
              const char * const *envp,
              const char * const *flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  config = load_server ("bad.json", json, envp, flags, &error);
  g_assert_null (config);
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_null (strchr (error->message, '\n'));
  g_test_message ("%s", error->message);

  return g_strdup (error->message);
}

static char *
client_error (const char         *json,
              const char * const *envp,
              const char * const *flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryClientConfig) config = NULL;

  config = load_client ("bad.json", json, envp, flags, &error);
  g_assert_null (config);
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_null (strchr (error->message, '\n'));
  g_test_message ("%s", error->message);

  return g_strdup (error->message);
}

#define assert_server_error(json, envp, flags, expected) \
  G_STMT_START { \
    g_autofree char *_message = server_error (json, envp, flags); \
    g_assert_cmpstr (_message, ==, expected); \
  } G_STMT_END

#define assert_client_error(json, envp, flags, expected) \
  G_STMT_START { \
    g_autofree char *_message = client_error (json, envp, flags); \
    g_assert_cmpstr (_message, ==, expected); \
  } G_STMT_END

static void
test_server_defaults (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;
  g_autofree char *described = NULL;

  config = load_server (NULL, NULL, no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 12345);
  g_assert_cmpuint (config->listen_backlog, ==, 5);
  g_assert_cmpuint (config->agencies, ==, 5);
  g_assert_cmpstr (config->storage_path, ==, "bets.csv");
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_INFO);
  g_assert_null (config->config_file);

  described = lottery_server_config_describe (config);
  g_assert_cmpstr (described, ==,
                   "port: 12345 | listen_backlog: 5 | agencies: 5 | "
                   "storage: bets.csv | logging_level: INFO | "
                   "storage_sync: batch | io_timeout: 10 | idle_timeout: 300 | "
                   "max_connections: 1024 | auth_tokens: none | "
                   "tls_certificate: none | tls_key: none | http_listen: none | "
                   "storage_adopt: false | storage_backend: file | "
                   "storage_dsn: none | lottery_name: default");

  /* No environment at all is the same as an empty one. */
  g_clear_pointer (&config, lottery_server_config_free);
  config = load_server (NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 12345);
}

static void
test_client_defaults (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryClientConfig) config = NULL;
  g_autofree char *described = NULL;

  config = load_client (NULL, NULL, no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->id, ==, 1);
  g_assert_cmpstr (config->server_address, ==, "localhost:12345");
  g_assert_cmpuint (config->batch_max_amount, ==,
                    LOTTERY_CLIENT_DEFAULT_BATCH);
  g_assert_cmpstr (config->bets_file, ==, "agency.csv");
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_INFO);
  g_assert_null (config->config_file);

  described = lottery_client_config_describe (config);
  g_assert_cmpstr (described, ==,
                   "client_id: 1 | server_address: localhost:12345 | "
                   "batch_max_amount: 128 | bets_file: agency.csv | "
                   "log_level: INFO | auth_token: none | "
                   "auth_token_file: none | tls_ca: none | server_timeout: 30");
}

static const char server_json[] =
  "{\n"
  "  \"server\": { \"port\": 4000, \"listen_backlog\": 64 },\n"
  "  \"lottery\": { \"agencies\": 300 },\n"
  "  \"storage\": { \"path\": \"/data/bets.csv\" },\n"
  "  \"log\": { \"level\": \"DEBUG\" }\n"
  "}\n";

static void
test_server_file (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  config = load_server ("lottery.json", server_json, no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 4000);
  g_assert_cmpuint (config->listen_backlog, ==, 64);
  g_assert_cmpuint (config->agencies, ==, 300);
  g_assert_cmpstr (config->storage_path, ==, "/data/bets.csv");
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_DEBUG);
  g_assert_cmpstr (config->config_file, ==, "lottery.json");

  /* Loading again without a file forgets the old one. */
  g_assert_true (lottery_server_config_load (config, NULL, no_env, NULL,
                                             &error));
  g_assert_no_error (error);
  g_assert_null (config->config_file);
  g_assert_cmpuint (config->port, ==, 4000);
}

static void
test_server_partial_file (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  /* What the file leaves out keeps its default; port 0 is allowed. */
  config = load_server ("partial.json", "{ \"server\": { \"port\": 0 }, "
                        "\"log\": {} }", no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 0);
  g_assert_cmpuint (config->agencies, ==, 5);
  g_assert_cmpstr (config->storage_path, ==, "bets.csv");
}

static void
test_client_file (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryClientConfig) config = NULL;

  config = load_client ("agency.json",
                        "{ \"id\": 3,"
                        "  \"server\": { \"address\": \"server:12345\" },"
                        "  \"batch\": { \"maxAmount\": 409 },"
                        "  \"bets\": { \"file\": \"/data/agency-3.csv\" },"
                        "  \"log\": { \"level\": \"warning\" } }",
                        no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->id, ==, 3);
  g_assert_cmpstr (config->server_address, ==, "server:12345");
  g_assert_cmpuint (config->batch_max_amount, ==, 409);
  g_assert_cmpstr (config->bets_file, ==, "/data/agency-3.csv");
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_WARNING);
  g_assert_cmpstr (config->config_file, ==, "agency.json");
}

static void
test_default_file (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) server = NULL;
  g_autoptr(LotteryClientConfig) client = NULL;
  g_autoptr(LotteryServerConfig) elsewhere = NULL;
  g_autofree char *sub = g_build_filename (fixture->dir, "sub", NULL);

  g_assert_true (g_file_set_contents (LOTTERY_SERVER_DEFAULT_CONFIG,
                                      server_json, -1, NULL));
  g_assert_true (g_file_set_contents (LOTTERY_CLIENT_DEFAULT_CONFIG,
                                      "{ \"id\": 4 }", -1, NULL));

  server = load_server (NULL, NULL, no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (server->port, ==, 4000);
  g_assert_cmpstr (server->config_file, ==, "server.json");

  client = load_client (NULL, NULL, no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (client->id, ==, 4);
  g_assert_cmpstr (client->config_file, ==, "client.json");

  /* The lookup is relative to the working directory. */
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (g_chdir (sub), ==, 0);
  elsewhere = load_server (NULL, NULL, no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (elsewhere->port, ==, 12345);
  g_assert_null (elsewhere->config_file);
}

static void
test_default_file_bad (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  /* A ./server.json that is there is read, and its errors reported. */
  g_assert_true (g_file_set_contents (LOTTERY_SERVER_DEFAULT_CONFIG,
                                      "{ \"server\": { \"port\": -1 } }", -1,
                                      NULL));
  config = load_server (NULL, NULL, no_env, NULL, &error);
  g_assert_null (config);
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==,
                   "server.json: server.port must be an integer from 0 to "
                   "65535, not -1");
}

static void
test_explicit_file_wins (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  /* --config replaces ./server.json, it does not add to it. */
  g_assert_true (g_file_set_contents (LOTTERY_SERVER_DEFAULT_CONFIG,
                                      server_json, -1, NULL));
  config = load_server ("other.json", "{ \"lottery\": { \"agencies\": 2 } }",
                        no_env, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->agencies, ==, 2);
  g_assert_cmpuint (config->port, ==, 12345);
  g_assert_cmpstr (config->config_file, ==, "other.json");
}

static void
test_precedence (Fixture       *fixture,
                 gconstpointer  user_data)
{
  const char * const envp[] = {
    "PATH=/usr/bin", "SERVER_PORT=2000", "SERVER_STORAGE=/env/bets.csv",
    "LOGGING_LEVEL=WARNING", NULL,
  };
  const char *flags[LOTTERY_SERVER_N_SETTINGS] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) env_only = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  /* Environment over file. */
  env_only = load_server ("lottery.json", server_json, envp, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (env_only->port, ==, 2000);
  g_assert_cmpstr (env_only->storage_path, ==, "/env/bets.csv");
  g_assert_cmpint (env_only->log_level, ==, G_LOG_LEVEL_WARNING);
  g_assert_cmpuint (env_only->agencies, ==, 300);
  g_assert_cmpuint (env_only->listen_backlog, ==, 64);

  /* Flags over environment. */
  flags[LOTTERY_SERVER_SETTING_PORT] = "3000";
  flags[LOTTERY_SERVER_SETTING_AGENCIES] = "9";
  flags[LOTTERY_SERVER_SETTING_LOG_LEVEL] = "ERROR";
  config = load_server ("lottery.json", server_json, envp, flags, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 3000);
  g_assert_cmpuint (config->agencies, ==, 9);
  g_assert_cmpint (config->log_level, ==, LOTTERY_LOG_ERROR);
  g_assert_cmpstr (config->storage_path, ==, "/env/bets.csv");
  g_assert_cmpuint (config->listen_backlog, ==, 64);
}

static void
test_client_precedence (Fixture       *fixture,
                        gconstpointer  user_data)
{
  const char * const envp[] = {
    "CLI_ID=2", "CLI_SERVER_ADDRESS=server:5000", "CLI_BATCH_MAXAMOUNT=10",
    "CLI_BETS_FILE=/env.csv", "CLI_LOG_LEVEL=DEBUG", NULL,
  };
  const char *flags[LOTTERY_CLIENT_N_SETTINGS] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryClientConfig) config = NULL;

  flags[LOTTERY_CLIENT_SETTING_ID] = "5";
  flags[LOTTERY_CLIENT_SETTING_SERVER_ADDRESS] = "127.0.0.1:6000";
  config = load_client ("c.json", "{ \"id\": 1, \"batch\": { \"maxAmount\": 3 }, "
                        "\"bets\": { \"file\": \"f.csv\" } }",
                        envp, flags, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->id, ==, 5);
  g_assert_cmpstr (config->server_address, ==, "127.0.0.1:6000");
  g_assert_cmpuint (config->batch_max_amount, ==, 10);
  g_assert_cmpstr (config->bets_file, ==, "/env.csv");
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_DEBUG);
}

static void
test_env_empty_ignored (Fixture       *fixture,
                        gconstpointer  user_data)
{
  const char * const envp[] = {
    "SERVER_PORT=", "SERVER_AGENCIES=", "SERVER_STORAGE=", "LOGGING_LEVEL=",
    "SERVER_PORTS=1", "server_port=7", "NOT_A_SETTING", NULL,
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  config = load_server ("lottery.json", server_json, envp, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 4000);
  g_assert_cmpuint (config->agencies, ==, 300);
  g_assert_cmpstr (config->storage_path, ==, "/data/bets.csv");
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_DEBUG);
}

static void
test_missing_file (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) server = lottery_server_config_new ();
  g_autoptr(LotteryClientConfig) client = lottery_client_config_new ();

  g_assert_false (lottery_server_config_load (server, "nope/server.json",
                                              no_env, NULL, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==,
                   "nope/server.json: config file not found");
  g_clear_error (&error);

  g_assert_false (lottery_client_config_load (client, "absent.json", no_env,
                                              NULL, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, "absent.json: config file not found");
}

static void
test_invalid_json (Fixture       *fixture,
                   gconstpointer  user_data)
{
  static const char * const bad[] = {
    "{\n  \"server\": {\n    \"port\": 12 13\n  }\n}\n",
    "{\n  \"server\": {\n",
    "{ \"server\" \"port\" }",
    "port = 12345\n",
  };
  g_autoptr(GRegex) regex = g_regex_new ("^bad\\.json:[0-9]+:[0-9]+: ", 0, 0,
                                         NULL);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *message = server_error (bad[i], no_env, NULL);

      g_assert_true (g_regex_match (regex, message, 0, NULL));
    }

  /* The line of the error is the line of the mistake. */
  {
    g_autofree char *message = server_error (bad[0], no_env, NULL);
    g_assert_true (g_str_has_prefix (message, "bad.json:3:"));
  }
}

static void
test_not_an_object (Fixture       *fixture,
                    gconstpointer  user_data)
{
  assert_server_error ("[ 1, 2 ]", no_env, NULL,
                       "bad.json: the top level must be a JSON object");
  assert_server_error ("12345", no_env, NULL,
                       "bad.json: the top level must be a JSON object");
}

static void
test_wrong_type (Fixture       *fixture,
                 gconstpointer  user_data)
{
  static const char port_message[] =
    "bad.json: server.port must be an integer from 0 to 65535";

  assert_server_error ("{ \"server\": { \"port\": \"12345\" } }", no_env,
                       NULL, port_message);
  assert_server_error ("{ \"server\": { \"port\": true } }", no_env, NULL,
                       port_message);
  assert_server_error ("{ \"server\": { \"port\": 1.5 } }", no_env, NULL,
                       port_message);
  assert_server_error ("{ \"server\": { \"port\": null } }", no_env, NULL,
                       port_message);
  assert_server_error ("{ \"server\": { \"port\": [ 1 ] } }", no_env, NULL,
                       port_message);
  assert_server_error ("{ \"storage\": { \"path\": 5 } }", no_env, NULL,
                       "bad.json: storage.path must be a string");
  assert_server_error ("{ \"log\": { \"level\": 3 } }", no_env, NULL,
                       "bad.json: log.level must be a string");
  /* A section that is not an object says so. */
  assert_server_error ("{ \"server\": 12345 }", no_env, NULL,
                       "bad.json: server must be an object");
}

static void
test_out_of_range (Fixture       *fixture,
                   gconstpointer  user_data)
{
  const char * const agencies_zero[] = { "SERVER_AGENCIES=0", NULL };
  const char * const port_word[] = { "SERVER_PORT=http", NULL };
  const char * const port_negative[] = { "SERVER_PORT=-1", NULL };
  const char * const port_space[] = { "SERVER_PORT=80 ", NULL };
  const char * const port_huge[] = { "SERVER_PORT=99999999999999999999", NULL };
  const char *flags[LOTTERY_SERVER_N_SETTINGS] = { NULL };

  assert_server_error ("{ \"server\": { \"port\": 70000 } }", no_env, NULL,
                       "bad.json: server.port must be an integer from 0 to "
                       "65535, not 70000");
  assert_server_error ("{ \"server\": { \"port\": -5 } }", no_env, NULL,
                       "bad.json: server.port must be an integer from 0 to "
                       "65535, not -5");
  assert_server_error ("{ \"lottery\": { \"agencies\": 0 } }", no_env, NULL,
                       "bad.json: lottery.agencies must be an integer from 1 "
                       "to 100000, not 0");
  assert_server_error (NULL, agencies_zero, NULL,
                       "environment variable SERVER_AGENCIES: "
                       "lottery.agencies must be an integer from 1 to 100000, "
                       "not “0”");
  assert_server_error (NULL, port_word, NULL,
                       "environment variable SERVER_PORT: server.port must be "
                       "an integer from 0 to 65535, not “http”");
  assert_server_error (NULL, port_negative, NULL,
                       "environment variable SERVER_PORT: server.port must be "
                       "an integer from 0 to 65535, not “-1”");
  assert_server_error (NULL, port_space, NULL,
                       "environment variable SERVER_PORT: server.port must be "
                       "an integer from 0 to 65535, not “80 ”");
  assert_server_error (NULL, port_huge, NULL,
                       "environment variable SERVER_PORT: server.port must be "
                       "an integer from 0 to 65535, not "
                       "“99999999999999999999”");

  flags[LOTTERY_SERVER_SETTING_LISTEN_BACKLOG] = "0";
  assert_server_error (NULL, no_env, flags,
                       "--listen-backlog: server.listen_backlog must be an "
                       "integer from 1 to 65535, not “0”");
  flags[LOTTERY_SERVER_SETTING_LISTEN_BACKLOG] = NULL;
  flags[LOTTERY_SERVER_SETTING_PORT] = "65536";
  assert_server_error (NULL, no_env, flags,
                       "--port: server.port must be an integer from 0 to "
                       "65535, not “65536”");
  flags[LOTTERY_SERVER_SETTING_PORT] = NULL;
  flags[LOTTERY_SERVER_SETTING_STORAGE] = "";
  assert_server_error (NULL, no_env, flags,
                       "--storage: storage.path must not be empty");
}

static void
test_limits (Fixture       *fixture,
             gconstpointer  user_data)
{
  const char *flags[LOTTERY_SERVER_N_SETTINGS] = { NULL };
  const char * const envp[] = { "SERVER_AGENCIES=100000", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  flags[LOTTERY_SERVER_SETTING_PORT] = "65535";
  flags[LOTTERY_SERVER_SETTING_LISTEN_BACKLOG] = "1";
  config = load_server (NULL, NULL, envp, flags, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 65535);
  g_assert_cmpuint (config->listen_backlog, ==, 1);
  g_assert_cmpuint (config->agencies, ==, 100000);
}

static void
test_log_level (Fixture       *fixture,
                gconstpointer  user_data)
{
  const char * const env_trace[] = { "LOGGING_LEVEL=TRACE", NULL };
  const char * const env_lower[] = { "LOGGING_LEVEL=error", NULL };
  const char *flags[LOTTERY_SERVER_N_SETTINGS] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;

  assert_server_error ("{ \"log\": { \"level\": \"VERBOSE\" } }", no_env, NULL,
                       "bad.json: log.level must be DEBUG, INFO, WARNING or "
                       "ERROR, not “VERBOSE”");
  assert_server_error (NULL, env_trace, NULL,
                       "environment variable LOGGING_LEVEL: log.level must be "
                       "DEBUG, INFO, WARNING or ERROR, not “TRACE”");
  flags[LOTTERY_SERVER_SETTING_LOG_LEVEL] = "CRITICAL";
  assert_server_error (NULL, no_env, flags,
                       "--log-level: log.level must be DEBUG, INFO, WARNING "
                       "or ERROR, not “CRITICAL”");
  assert_client_error ("{ \"log\": { \"level\": \"\" } }", no_env, NULL,
                       "bad.json: log.level must be DEBUG, INFO, WARNING or "
                       "ERROR, not “”");

  config = load_server (NULL, NULL, env_lower, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (config->log_level, ==, LOTTERY_LOG_ERROR);
}

static void
test_unknown_key (Fixture       *fixture,
                  gconstpointer  user_data)
{
  assert_server_error ("{ \"server\": { \"prot\": 1 } }", no_env, NULL,
                       "bad.json: unknown key server.prot");
  assert_server_error ("{ \"verbose\": true }", no_env, NULL,
                       "bad.json: unknown key verbose");
  assert_server_error ("{ \"server\": { \"tls\": { \"cert\": \"x\" } } }",
                       no_env, NULL, "bad.json: unknown key server.tls.cert");
  /* The client's keys are not the server's. */
  assert_server_error ("{ \"id\": 1 }", no_env, NULL,
                       "bad.json: unknown key id");
  assert_client_error ("{ \"batch\": { \"max_amount\": 3 } }", no_env, NULL,
                       "bad.json: unknown key batch.max_amount");
}

static void
test_empty_string (Fixture       *fixture,
                   gconstpointer  user_data)
{
  assert_server_error ("{ \"storage\": { \"path\": \"\" } }", no_env, NULL,
                       "bad.json: storage.path must not be empty");
  assert_client_error ("{ \"bets\": { \"file\": \"\" } }", no_env, NULL,
                       "bad.json: bets.file must not be empty");
}

static void
test_client_address (Fixture       *fixture,
                     gconstpointer  user_data)
{
  static const char * const good[] = {
    "127.0.0.1:12345", "server:1", "lottery-server.example:65535",
    "[::1]:12345", "localhost:80",
  };
  static const char * const bad[] = {
    "localhost", "localhost:", "server:0", "server:65536",
    "", "server:-1", "server:12ab",
  };
  const char *flags[LOTTERY_CLIENT_N_SETTINGS] = { NULL };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autofree char *env = g_strconcat ("CLI_SERVER_ADDRESS=", good[i], NULL);
      const char * const envp[] = { env, NULL };
      g_autoptr(GError) error = NULL;
      g_autoptr(LotteryClientConfig) config = NULL;

      config = load_client (NULL, NULL, envp, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (config->server_address, ==, good[i]);
    }

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *json = g_strdup_printf ("{ \"server\": { \"address\": "
                                               "\"%s\" } }", bad[i]);
      g_autofree char *message = client_error (json, no_env, NULL);

      g_assert_true (g_str_has_prefix (message,
                                       "bad.json: server.address: "));
      g_assert_nonnull (strstr (message, "host:port"));

      flags[LOTTERY_CLIENT_SETTING_SERVER_ADDRESS] = bad[i];
      g_clear_pointer (&message, g_free);
      message = client_error (NULL, no_env, flags);
      g_assert_true (g_str_has_prefix (message, "--server: server.address: "));
    }

  /* An empty variable is ignored rather than rejected. */
  {
    const char * const envp[] = { "CLI_SERVER_ADDRESS=", NULL };
    const char * const envp_bad[] = { "CLI_SERVER_ADDRESS=server", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(LotteryClientConfig) config = NULL;

    config = load_client (NULL, NULL, envp, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (config->server_address, ==, "localhost:12345");

    assert_client_error (NULL, envp_bad, NULL,
                         "environment variable CLI_SERVER_ADDRESS: "
                         "server.address: “server” is not host:port");
  }

  /* A list of servers to try in order; each must be host:port. */
  {
    const char * const envp[] = {
      "CLI_SERVER_ADDRESS=127.0.0.1:12345, 127.0.0.1:12346", NULL };
    const char * const envp_bad[] = {
      "CLI_SERVER_ADDRESS=127.0.0.1:12345,backup", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(LotteryClientConfig) config = NULL;

    config = load_client (NULL, NULL, envp, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (config->server_address, ==,
                     "127.0.0.1:12345, 127.0.0.1:12346");
    assert_client_error (NULL, envp_bad, NULL,
                         "environment variable CLI_SERVER_ADDRESS: "
                         "server.address: “backup” is not host:port");
  }
}

static void
test_client_batch (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autofree char *too_many = g_strdup_printf ("CLI_BATCH_MAXAMOUNT=%d",
                                               LOTTERY_BATCH_MAX_BETS + 1);
  g_autofree char *expected = g_strdup_printf (
    "environment variable CLI_BATCH_MAXAMOUNT: batch.maxAmount must be an "
    "integer from 1 to %d, not “%d”", LOTTERY_BATCH_MAX_BETS,
    LOTTERY_BATCH_MAX_BETS + 1);
  const char * const envp[] = { too_many, NULL };
  const char * const zero_id[] = { "CLI_ID=0", NULL };

  assert_client_error (NULL, envp, NULL, expected);
  assert_client_error (NULL, zero_id, NULL,
                       "environment variable CLI_ID: id must be an integer "
                       "from 1 to 100000, not “0”");
}

/* Parses @args (NULL-terminated) with the server's setting entries into
 * @values, which the caller frees; GOption must accept them. */
static void
parse_server_flags (char  **args,
                    char  **values)
{
  g_autofree GOptionEntry *entries = NULL;
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  char **argv = g_memdup2 (args, sizeof (char *) * (g_strv_length (args) + 1));
  int argc = (int) g_strv_length (args);

  entries = lottery_config_option_entries (lottery_server_config_settings (),
                                           LOTTERY_SERVER_N_SETTINGS, values);
  g_option_context_add_main_entries (context, entries, NULL);
  g_assert_true (g_option_context_parse (context, &argc, &argv, &error));
  g_assert_no_error (error);
  g_assert_cmpint (argc, ==, 1);
  g_free (argv);
}

static void
test_option_entries (Fixture       *fixture,
                     gconstpointer  user_data)
{
  const LotterySetting *settings = lottery_server_config_settings ();
  char *values[LOTTERY_SERVER_N_SETTINGS] = { NULL };
  g_autofree GOptionEntry *entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;
  char *args[] = { "lottery-server", "--port=99", "--log-level", "debug",
                   "--storage", "x.csv", NULL };
  guint i;

  entries = lottery_config_option_entries (settings, LOTTERY_SERVER_N_SETTINGS,
                                           values);
  for (i = 0; i < LOTTERY_SERVER_N_SETTINGS; i++)
    {
      g_assert_cmpstr (entries[i].long_name, ==, settings[i].flag);
      g_assert_cmpint (entries[i].arg, ==, G_OPTION_ARG_FILENAME);
      g_assert_true (entries[i].arg_data == &values[i]);
    }
  g_assert_null (entries[LOTTERY_SERVER_N_SETTINGS].long_name);

  parse_server_flags (args, values);

  config = load_server (NULL, NULL, no_env, (const char * const *) values,
                        &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 99);
  g_assert_cmpint (config->log_level, ==, G_LOG_LEVEL_DEBUG);
  g_assert_cmpstr (config->storage_path, ==, "x.csv");
  g_assert_cmpuint (config->agencies, ==, 5);

  for (i = 0; i < LOTTERY_SERVER_N_SETTINGS; i++)
    g_free (values[i]);
}

/* storage.backend = postgresql needs storage.dsn, and the DSN, which
 * may hold a password, is logged only as set. */
static void
test_storage_backend (Fixture       *fixture,
                      gconstpointer  data)
{
  const char * const no_dsn[] = { "SERVER_STORAGE_BACKEND=postgresql", NULL };
  const char * const with_dsn[] = {
    "SERVER_STORAGE_BACKEND=postgresql",
    "SERVER_STORAGE_DSN=host=/run/pg password=hunter2",
    "SERVER_LOTTERY_NAME=north", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;
  g_autofree char *described = NULL;

  config = load_server (NULL, NULL, no_dsn, NULL, &error);
  g_assert_null (config);
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "storage.dsn is not set"));
  g_clear_error (&error);

  config = load_server (NULL, NULL, with_dsn, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->storage_backend, ==,
                    LOTTERY_SERVER_BACKEND_POSTGRESQL);
  g_assert_cmpstr (config->lottery_name, ==, "north");
  described = lottery_server_config_describe (config);
  g_assert_null (strstr (described, "hunter2"));
  g_assert_nonnull (strstr (described, "storage_backend: postgresql | "
                                       "storage_dsn: set | "
                                       "lottery_name: north"));
}

static void
test_describe (Fixture       *fixture,
               gconstpointer  user_data)
{
  const char * const envp[] = { "SERVER_STORAGE=/a|b\nc.csv", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) config = NULL;
  g_autofree char *described = NULL;

  /* Values cannot break the one-line, pipe-separated log format. */
  config = load_server (NULL, NULL, envp, NULL, &error);
  g_assert_no_error (error);
  described = lottery_server_config_describe (config);
  g_assert_cmpstr (described, ==,
                   "port: 12345 | listen_backlog: 5 | agencies: 5 | "
                   "storage: /a/b/c.csv | logging_level: INFO | "
                   "storage_sync: batch | io_timeout: 10 | idle_timeout: 300 | "
                   "max_connections: 1024 | auth_tokens: none | "
                   "tls_certificate: none | tls_key: none | http_listen: none | "
                   "storage_adopt: false | storage_backend: file | "
                   "storage_dsn: none | lottery_name: default");
}

/* JSON nested 100,000 deep once overflowed the stack inside json-glib. */
static char *
deep_json (guint depth)
{
  GString *json = g_string_new ("{\"a\": ");
  guint i;

  for (i = 0; i < depth; i++)
    g_string_append_c (json, '[');
  for (i = 0; i < depth; i++)
    g_string_append_c (json, ']');
  g_string_append_c (json, '}');

  return g_string_free (json, FALSE);
}

static void
test_deep_nesting (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autofree char *json = deep_json (100000);
  g_autofree char *server = server_error (json, no_env, NULL);
  g_autofree char *client = client_error (json, no_env, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryAuth) auth = NULL;

  g_assert_cmpstr (server, ==, "bad.json:1:38: nested more than 32 levels deep");
  g_assert_cmpstr (client, ==, server);

  /* The tokens file goes through the same check. */
  auth = lottery_auth_new_from_file ("bad.json", 3, &error);
  g_assert_null (auth);
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, server);
}

/* /dev/zero never ends: it is refused before a byte is read. */
static void
test_not_a_file (Fixture       *fixture,
                 gconstpointer  user_data)
{
  static const char expected[] =
    "/dev/zero: not a regular file (a device, directory or socket); give "
    "the path of a file";
  g_autoptr(GError) error = NULL;
  g_autoptr(LotteryServerConfig) server = lottery_server_config_new ();
  g_autoptr(LotteryClientConfig) client = lottery_client_config_new ();
  g_autoptr(LotteryAuth) auth = NULL;

  g_assert_false (lottery_server_config_load (server, "/dev/zero", no_env,
                                              NULL, &error));
  g_assert_error (error, LOTTERY_CONFIG_ERROR, LOTTERY_CONFIG_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  g_assert_false (lottery_client_config_load (client, "/dev/zero", no_env,
                                              NULL, &error));
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  auth = lottery_auth_new_from_file ("/dev/zero", 3, &error);
  g_assert_null (auth);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  g_assert_false (lottery_server_config_load (server, ".", no_env, NULL,
                                              &error));
  g_assert_cmpstr (error->message, ==,
                   ".: not a regular file (a device, directory or socket); "
                   "give the path of a file");
}

static void
test_too_large (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *json = g_strnfill (LOTTERY_FILE_MAX_SIZE + 1, ' ');
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  json[0] = '{';
  json[LOTTERY_FILE_MAX_SIZE] = '}';
  assert_server_error (json, no_env, NULL,
                       "bad.json: larger than 1024 KiB, the most this file "
                       "may hold");

  /* Exactly at the limit is fine. */
  json[LOTTERY_FILE_MAX_SIZE - 1] = '}';
  json[LOTTERY_FILE_MAX_SIZE] = '\0';
  g_assert_true (g_file_set_contents ("ok.json", json, -1, NULL));
  bytes = lottery_file_read_bounded ("ok.json", LOTTERY_FILE_MAX_SIZE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, LOTTERY_FILE_MAX_SIZE);
}

/* json-glib keeps strings NUL-terminated: "a\u0000b" would become "a". */
static void
test_nul_escape (Fixture       *fixture,
                 gconstpointer  user_data)
{
  assert_server_error ("{\"storage\": {\"path\": \"bets\\u0000.csv\"}}",
                       no_env, NULL,
                       "bad.json:1:27: storage.path holds \\u0000, a NUL "
                       "character, which would cut the text short; remove "
                       "it");
  assert_client_error ("{\"bets\": {\"file\": \"\\u0000\"}}", no_env, NULL,
                       "bad.json:1:20: bets.file holds \\u0000, a NUL "
                       "character, which would cut the text short; remove "
                       "it");
  /* Other escapes are fine. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(LotteryServerConfig) config =
      load_server ("ok.json", "{\"storage\": {\"path\": \"b\\u00e9ts\\n\"}}",
                   no_env, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (config->storage_path, ==, "b\xc3\xa9ts\n");
  }
}

/* The common mistakes in the project's words, with file:line:column. */
static void
test_json_words (Fixture       *fixture,
                 gconstpointer  user_data)
{
  assert_server_error ("{\n  \"server\": {\n    \"port\": 1,\n  }\n}\n", no_env,
                       NULL,
                       "bad.json:3:14: a comma before ‘}’: JSON allows no "
                       "comma after the last member (remove it)");
  assert_server_error ("{\"log\": {\"level\": [\"INFO\",]}}", no_env, NULL,
                       "bad.json:1:26: a comma before ‘]’: JSON allows no "
                       "comma after the last element (remove it)");
  assert_server_error ("{\n  \"server\": {\n    \"port\": 1\n}\n", no_env, NULL,
                       "bad.json:5:1: the file ends inside the ‘{’ opened "
                       "at line 1: a closing ‘}’ is missing");
  assert_server_error ("{\"server\": {\"port\": 1 \"listen_backlog\": 2}}",
                       no_env, NULL,
                       "bad.json:1:23: expected ‘,’ or ‘}’ (closing the ‘{’ "
                       "of line 1), found ‘\"’; is a comma or a closing "
                       "bracket missing?");
  assert_server_error ("{\"storage\": {\"path\": bets.csv}}", no_env, NULL,
                       "bad.json:1:22: expected a value, found the word "
                       "“bets.csv”; text must be in double quotes");
  assert_server_error ("{port: 1}", no_env, NULL,
                       "bad.json:1:2: expected a member name in double "
                       "quotes, found ‘p’");
  assert_server_error ("", no_env, NULL,
                       "bad.json: the file is empty; it must hold a JSON "
                       "object, {…}");
  /* What json-glib alone refuses, in the same words in any language. */
  assert_server_error ("{\"server\": {\"port\": 1e}}", no_env, NULL,
                       "bad.json:1:22: not valid JSON here: a malformed "
                       "number (such as 1e or 1.5.5) or \\u escape");
  assert_server_error ("\"server\": {}", no_env, NULL,
                       "bad.json:1:9: expected the end of the file after "
                       "the top-level value, found ‘:’ (is a ‘{’ missing at "
                       "the start?)");
}

/* A path that is not UTF-8 is refused naming where it came from. */
static void
test_non_utf8 (Fixture       *fixture,
               gconstpointer  user_data)
{
  char *values[LOTTERY_SERVER_N_SETTINGS] = { NULL };
  char *args[] = { "lottery-server", "--storage", "bets-\xff.csv", NULL };
  const char * const envp[] = { "SERVER_STORAGE=\xfe.csv", NULL };
  guint i;

  /* GOption must hand the bytes over, not refuse them in its own words. */
  parse_server_flags (args, values);
  {
    g_autofree char *message =
      server_error (NULL, no_env, (const char * const *) values);

    g_assert_cmpstr (message, ==,
                     "--storage: storage.path is not valid UTF-8");
  }
  {
    g_autofree char *message = server_error (NULL, envp, NULL);

    g_assert_cmpstr (message, ==,
                     "environment variable SERVER_STORAGE: storage.path is "
                     "not valid UTF-8");
  }

  for (i = 0; i < LOTTERY_SERVER_N_SETTINGS; i++)
    g_free (values[i]);
}

/* --help shows each setting's built-in default. */
static void
test_option_defaults (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(LotteryServerConfig) server = lottery_server_config_new ();
  g_autoptr(LotteryClientConfig) client = lottery_client_config_new ();
  g_autofree GOptionEntry *server_entries = NULL;
  g_autofree GOptionEntry *client_entries = NULL;
  const LotterySetting *settings = lottery_server_config_settings ();
  guint i;

  server_entries =
    lottery_config_option_entries_full (settings, LOTTERY_SERVER_N_SETTINGS,
                                        NULL, server);
  g_assert_cmpstr (server_entries[LOTTERY_SERVER_SETTING_PORT].description, ==,
                   "TCP port to listen on (0 picks a free one) (default: "
                   "12345)");
  g_assert_true (g_str_has_suffix (
    server_entries[LOTTERY_SERVER_SETTING_STORAGE].description,
    " (default: bets.csv)"));
  g_assert_true (g_str_has_suffix (
    server_entries[LOTTERY_SERVER_SETTING_LOG_LEVEL].description,
    " (default: INFO)"));
  g_assert_true (g_str_has_suffix (
    server_entries[LOTTERY_SERVER_SETTING_STORAGE_SYNC].description,
    " (default: batch)"));
  /* Unset by default: no default shown. */
  g_assert_cmpstr (server_entries[LOTTERY_SERVER_SETTING_AUTH_TOKENS].description,
                   ==, settings[LOTTERY_SERVER_SETTING_AUTH_TOKENS].help);
  for (i = 0; i < LOTTERY_SERVER_N_SETTINGS; i++)
    g_assert_cmpstr (server_entries[i].long_name, ==, settings[i].flag);

  client_entries =
    lottery_config_option_entries_full (lottery_client_config_settings (),
                                        LOTTERY_CLIENT_N_SETTINGS, NULL,
                                        client);
  g_assert_true (g_str_has_suffix (client_entries[1].description,
                                   " (default: localhost:12345)"));
  g_assert_true (g_str_has_suffix (client_entries[2].description,
                                   " (default: 128)"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("Server and client settings: defaults, JSON file, "
                  "environment and flags in that order, and a one-line "
                  "message naming source and key for every bad value.");

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/config/server/defaults", test_server_defaults);
  ADD ("/config/client/defaults", test_client_defaults);
  ADD ("/config/server/file", test_server_file);
  ADD ("/config/server/partial-file", test_server_partial_file);
  ADD ("/config/client/file", test_client_file);
  ADD ("/config/default-file/found", test_default_file);
  ADD ("/config/default-file/bad", test_default_file_bad);
  ADD ("/config/default-file/explicit-wins", test_explicit_file_wins);
  ADD ("/config/precedence/server", test_precedence);
  ADD ("/config/precedence/client", test_client_precedence);
  ADD ("/config/env/empty-ignored", test_env_empty_ignored);
  ADD ("/config/error/missing-file", test_missing_file);
  ADD ("/config/error/invalid-json", test_invalid_json);
  ADD ("/config/error/not-an-object", test_not_an_object);
  ADD ("/config/error/wrong-type", test_wrong_type);
  ADD ("/config/error/out-of-range", test_out_of_range);
  ADD ("/config/error/log-level", test_log_level);
  ADD ("/config/error/unknown-key", test_unknown_key);
  ADD ("/config/error/empty-string", test_empty_string);
  ADD ("/config/error/deep-nesting", test_deep_nesting);
  ADD ("/config/error/not-a-file", test_not_a_file);
  ADD ("/config/error/too-large", test_too_large);
  ADD ("/config/error/nul-escape", test_nul_escape);
  ADD ("/config/error/json-words", test_json_words);
  ADD ("/config/error/non-utf8", test_non_utf8);
  ADD ("/config/limits", test_limits);
  ADD ("/config/client/address", test_client_address);
  ADD ("/config/client/batch-max-amount", test_client_batch);
  ADD ("/config/option-entries", test_option_entries);
  ADD ("/config/describe", test_describe);
  ADD ("/config/storage-backend", test_storage_backend);
  ADD ("/config/option-defaults", test_option_defaults);

#undef ADD

  return g_test_run ();
}
