/* lottery-config.c: settings from flags, environment, a JSON file and
 * defaults.
 *
 * Every failure names where the bad value came from (file and key, the
 * environment variable or the flag), so the operator can fix it at once.
 */
#include "config.h"

#include "lottery-config.h"
#include "lottery-error.h"
#include "lottery-file.h"
#include "lottery-log.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define FIELD(config, setting, type) \
  ((type *) ((char *) (config) + (setting)->offset))

static gboolean check_one_address (const char *value,
                                   GError    **error);

/* host:port, or a comma-separated list of them (servers to try in
 * order). */
static gboolean
check_address (const char *value,
               GError    **error)
{
  g_auto(GStrv) addresses = g_strsplit (value, ",", -1);

  if (addresses[0] == NULL)
    return check_one_address (value, error);
  for (guint i = 0; addresses[i] != NULL; i++)
    if (!check_one_address (g_strstrip (addresses[i]), error))
      return FALSE;

  return TRUE;
}

static gboolean
check_one_address (const char *value,
                   GError    **error)
{
  g_autoptr(GSocketConnectable) address = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *colon = strrchr (value, ':');

  /* A port is required: agencies and the server must agree on it. */
  if (colon == NULL || colon[1] == '\0' || colon == value)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("“%s” is not host:port"), value);

  address = g_network_address_parse (value, 0, &local_error);
  if (address == NULL ||
      g_network_address_get_port (G_NETWORK_ADDRESS (address)) == 0)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("“%s” is not host:port with a port from 1 "
                                   "to 65535"), value);

  return TRUE;
}

static gboolean
set_uint (const LotterySetting *setting,
          gpointer              config,
          gint64                value,
          const char           *shown,
          const char           *source,
          GError              **error)
{
  if (value < setting->min || value > setting->max)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: %s must be an integer from %u to %u, "
                                   "not %s"), source, setting->key,
                                setting->min, setting->max, shown);

  *FIELD (config, setting, guint) = (guint) value;
  return TRUE;
}

/* Applies a value given as text, from the environment or a flag. */
gboolean
lottery_config_set_from_string (const LotterySetting *setting,
                                gpointer              config,
                                const char           *value,
                                const char           *source,
                                GError              **error)
{
  g_autoptr(GError) local_error = NULL;

  /* Flags arrive as raw bytes (G_OPTION_ARG_FILENAME), so that this
   * message, not GOption's, names the flag. */
  if (!g_utf8_validate (value, -1, NULL))
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: %s is not valid UTF-8"), source,
                                setting->key);

  switch (setting->type)
    {
    case LOTTERY_SETTING_UINT:
      {
        guint64 v;
        g_autofree char *quoted = g_strdup_printf ("“%s”", value);

        if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &v, NULL))
          return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                      N_("%s: %s must be an integer from %u "
                                         "to %u, not %s"), source,
                                      setting->key, setting->min, setting->max,
                                      quoted);
        return set_uint (setting, config, (gint64) v, quoted, source, error);
      }

    case LOTTERY_SETTING_CHOICE:
      {
        guint i;

        for (i = 0; setting->choices[i] != NULL; i++)
          if (strcmp (setting->choices[i], value) == 0)
            {
              *FIELD (config, setting, guint) = i;
              return TRUE;
            }
        {
          g_autofree char *joined =
            g_strjoinv (", ", (char **) setting->choices);

          return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                      N_("%s: %s must be one of %s, not “%s”"),
                                      source, setting->key, joined, value);
        }
      }

    case LOTTERY_SETTING_ADDRESS:
      if (!check_address (value, &local_error))
        return lottery_fail_wrap (error, LOTTERY_CONFIG_ERROR,
                                  LOTTERY_CONFIG_ERROR_INVALID, local_error,
                                  "%s: %s: ", source, setting->key);
      G_GNUC_FALLTHROUGH;
    case LOTTERY_SETTING_STRING:
    case LOTTERY_SETTING_SECRET:
      if (*value == '\0')
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: %s must not be empty"),
                                    source, setting->key);
      if (setting->type == LOTTERY_SETTING_SECRET &&
          *FIELD (config, setting, char *) != NULL)
        explicit_bzero (*FIELD (config, setting, char *),
                        strlen (*FIELD (config, setting, char *)));
      g_free (*FIELD (config, setting, char *));
      *FIELD (config, setting, char *) = g_strdup (value);
      return TRUE;

    case LOTTERY_SETTING_LOG_LEVEL:
      if (!lottery_log_level_parse (value, FIELD (config, setting,
                                                  GLogLevelFlags)))
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: %s must be DEBUG, INFO, WARNING "
                                       "or ERROR, not “%s”"), source,
                                    setting->key, value);
      return TRUE;

    default:
      g_return_val_if_reached (FALSE);
    }
}

static const LotterySetting *
find_setting (const LotterySetting *settings,
              guint                 n_settings,
              const char           *key)
{
  guint i;

  for (i = 0; i < n_settings; i++)
    if (strcmp (settings[i].key, key) == 0)
      return &settings[i];

  return NULL;
}

/* Is @key the parent of some setting ("server" for server.port)? */
static gboolean
is_section (const LotterySetting *settings,
            guint                 n_settings,
            const char           *key)
{
  gsize len = strlen (key);
  guint i;

  for (i = 0; i < n_settings; i++)
    if (strncmp (settings[i].key, key, len) == 0 && settings[i].key[len] == '.')
      return TRUE;

  return FALSE;
}

static gboolean
apply_json_value (const LotterySetting *setting,
                  gpointer              config,
                  JsonReader           *reader,
                  const char           *source,
                  GError              **error)
{
  JsonNode *node = json_reader_get_value (reader);
  GType type = node != NULL ? json_node_get_value_type (node) : G_TYPE_INVALID;

  if (setting->type == LOTTERY_SETTING_UINT)
    {
      g_autofree char *shown = NULL;

      if (type != G_TYPE_INT64)
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: %s must be an integer from %u to "
                                       "%u"), source, setting->key,
                                    setting->min, setting->max);
      shown = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
      return set_uint (setting, config, json_node_get_int (node), shown,
                       source, error);
    }

  /* A yes/no choice also takes JSON's own true and false. */
  if (type == G_TYPE_BOOLEAN && setting->type == LOTTERY_SETTING_CHOICE)
    return lottery_config_set_from_string (setting, config,
                                           json_node_get_boolean (node)
                                             ? "true" : "false", source, error);
  if (type != G_TYPE_STRING)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: %s must be a string"), source,
                                setting->key);

  return lottery_config_set_from_string (setting, config,
                                         json_node_get_string (node), source,
                                         error);
}

static gboolean
walk_object (const LotterySetting *settings,
             guint                 n_settings,
             gpointer              config,
             JsonReader           *reader,
             const char           *prefix,
             const char           *path,
             GError              **error)
{
  g_auto(GStrv) members = json_reader_list_members (reader);
  guint i;

  for (i = 0; members != NULL && members[i] != NULL; i++)
    {
      g_autofree char *key = prefix != NULL
        ? g_strconcat (prefix, ".", members[i], NULL)
        : g_strdup (members[i]);
      const LotterySetting *setting;
      gboolean ok;

      json_reader_read_member (reader, members[i]);

      /* "server.port" at the top is not the key server.port. */
      if (strchr (members[i], '.') != NULL)
        ok = lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                  N_("%s: unknown key %s"), path, key);
      else if (json_reader_is_object (reader))
        ok = walk_object (settings, n_settings, config, reader, key, path,
                          error);
      else if ((setting = find_setting (settings, n_settings, key)) != NULL)
        ok = apply_json_value (setting, config, reader, path, error);
      else if (is_section (settings, n_settings, key))
        ok = lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                  N_("%s: %s must be an object"), path, key);
      else
        ok = lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                  N_("%s: unknown key %s"), path, key);

      json_reader_end_member (reader);
      if (!ok)
        return FALSE;
    }

  return TRUE;
}

gboolean
lottery_config_load_file (const LotterySetting *settings,
                          guint                 n_settings,
                          gpointer              config,
                          const char           *path,
                          GError              **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonReader) reader = NULL;

  if (!lottery_json_load_file (parser, path, LOTTERY_FILE_MAX_SIZE, error))
    return FALSE;

  reader = json_reader_new (json_parser_get_root (parser));
  if (!json_reader_is_object (reader))
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: the top level must be a JSON object"),
                                path);

  return walk_object (settings, n_settings, config, reader, NULL, path, error);
}

/* Fills @config, which holds the defaults, from the file (@path, or
 * @default_path when that exists), then the environment, then the
 * flags (@flag_values[i] for settings[i], NULL when not given). */
gboolean
lottery_config_load (const LotterySetting *settings,
                     guint                 n_settings,
                     gpointer              config,
                     const char           *path,
                     const char           *default_path,
                     const char * const   *envp,
                     const char * const   *flag_values,
                     char                **used_path,
                     GError              **error)
{
  guint i;

  if (path == NULL && default_path != NULL &&
      g_file_test (default_path, G_FILE_TEST_EXISTS))
    path = default_path;

  if (path != NULL)
    {
      if (!g_file_test (path, G_FILE_TEST_EXISTS))
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: config file not found"), path);
      if (!lottery_config_load_file (settings, n_settings, config, path,
                                     error))
        return FALSE;
    }

  for (i = 0; envp != NULL && i < n_settings; i++)
    {
      const char *value;
      g_autofree char *source = NULL;

      /* A flag wins: its environment variable is not even checked. */
      if (settings[i].env == NULL ||
          (flag_values != NULL && flag_values[i] != NULL))
        continue;
      value = g_environ_getenv ((char **) envp, settings[i].env);
      /* Compose files often pass unset variables as empty strings. */
      if (value == NULL || *value == '\0')
        continue;
      source = g_strdup_printf (_("environment variable %s"), settings[i].env);
      if (!lottery_config_set_from_string (&settings[i], config, value, source,
                                           error))
        return FALSE;
    }

  for (i = 0; flag_values != NULL && i < n_settings; i++)
    {
      g_autofree char *source = NULL;

      if (flag_values[i] == NULL)
        continue;
      source = g_strdup_printf ("--%s", settings[i].flag);
      if (!lottery_config_set_from_string (&settings[i], config,
                                           flag_values[i], source, error))
        return FALSE;
    }

  if (used_path != NULL)
    *used_path = g_strdup (path);

  return TRUE;
}

/* One GOptionEntry per setting, each taking its value as text so that
 * flags are checked by the same code, with the same messages, as the
 * environment. With @values NULL (GApplication), the values land in the
 * options dictionary under the flag's name instead. */
GOptionEntry *
lottery_config_option_entries (const LotterySetting *settings,
                               guint                 n_settings,
                               char                **values)
{
  GOptionEntry *entries = g_new0 (GOptionEntry, n_settings + 1);
  guint i, n = 0;

  for (i = 0; i < n_settings; i++)
    {
      /* A secret on the command line would show in ps. */
      if (settings[i].flag == NULL)
        continue;
      entries[n].long_name = settings[i].flag;
      /* Bytes as given: GOption's conversion error would not say which
       * flag was wrong. GApplication's dictionary keeps strings. */
      entries[n].arg = values != NULL ? G_OPTION_ARG_FILENAME
                                      : G_OPTION_ARG_STRING;
      entries[n].arg_data = values != NULL ? &values[i] : NULL;
      entries[n].description = settings[i].help;
      entries[n].arg_description = settings[i].arg_description;
      n++;
    }

  return entries;
}

/* The settings' environment variables for --help, two spaces in and
 * wrapped before 72 columns, so the list never goes stale. */
char *
lottery_config_env_list (const LotterySetting *settings,
                         guint                 n_settings)
{
  GString *out = g_string_new ("  ");
  gsize line_start = 0;
  guint i;

  for (i = 0; i < n_settings; i++)
    {
      const char *env = settings[i].env;

      if (i > 0 && out->len - line_start + strlen (env) + 2 > 72)
        {
          g_string_append (out, ",\n  ");
          line_start = out->len - 2;
        }
      else if (i > 0)
        g_string_append (out, ", ");
      g_string_append (out, env);
    }

  return g_string_free (out, FALSE);
}

/* @s's value in @config as the log line shows it; FALSE (nothing
 * appended) for a string that is not set. */
static gboolean
append_value (GString              *out,
              const LotterySetting *s,
              gconstpointer         config)
{
  switch (s->type)
    {
    case LOTTERY_SETTING_UINT:
      g_string_append_printf (out, "%u", *FIELD (config, s, const guint));
      return TRUE;
    case LOTTERY_SETTING_CHOICE:
      g_string_append (out, s->choices[*FIELD (config, s, const guint)]);
      return TRUE;
    case LOTTERY_SETTING_SECRET:
      g_string_append (out, *FIELD (config, s, char * const) != NULL
                            ? "set" : "none");
      return TRUE;
    case LOTTERY_SETTING_STRING:
    case LOTTERY_SETTING_ADDRESS:
      if (*FIELD (config, s, char * const) == NULL)
        return FALSE;
      {
        g_autofree char *shown =
          lottery_log_value (*FIELD (config, s, char * const));

        g_string_append (out, shown);
      }
      return TRUE;
    case LOTTERY_SETTING_LOG_LEVEL:
      g_string_append (out, lottery_log_level_to_string (
                         *FIELD (config, s, const GLogLevelFlags)));
      return TRUE;
    default:
      g_assert_not_reached ();
    }
}

/* lottery_config_option_entries (), with each setting's value in
 * @defaults (the built-in defaults) shown in its --help line:
 * "TCP port to listen on (default: 12345)". The texts are already
 * translated, and kept for the life of the program. */
GOptionEntry *
lottery_config_option_entries_full (const LotterySetting *settings,
                                    guint                 n_settings,
                                    char                **values,
                                    gconstpointer         defaults)
{
  GOptionEntry *entries = lottery_config_option_entries (settings,
                                                         n_settings, values);
  guint i, n = 0;

  for (i = 0; defaults != NULL && i < n_settings; i++)
    {
      g_autoptr(GString) value = g_string_new (NULL);
      g_autofree char *text = NULL;

      if (settings[i].flag == NULL)
        continue;
      if (append_value (value, &settings[i], defaults))
        {
          text = g_strdup_printf (_("%s (default: %s)"),
                                  g_dgettext (GETTEXT_PACKAGE,
                                              settings[i].help),
                                  value->str);
          entries[n].description = g_intern_string (text);
        }
      n++;
    }

  return entries;
}

/* "port: 12345 | listen_backlog: 5 | …" for the config log line. */
char *
lottery_config_describe (const LotterySetting *settings,
                         guint                 n_settings,
                         gconstpointer         config)
{
  GString *out = g_string_new (NULL);
  guint i;

  for (i = 0; i < n_settings; i++)
    {
      if (i > 0)
        g_string_append (out, " | ");
      g_string_append_printf (out, "%s: ", settings[i].log_key);
      if (!append_value (out, &settings[i], config))
        g_string_append (out, "none");
    }

  return g_string_free (out, FALSE);
}

/* Frees the strings the settings own. */
void
lottery_config_clear (const LotterySetting *settings,
                      guint                 n_settings,
                      gpointer              config)
{
  guint i;

  for (i = 0; i < n_settings; i++)
    {
      char **field = FIELD (config, &settings[i], char *);

      if (settings[i].type == LOTTERY_SETTING_SECRET && *field != NULL)
        explicit_bzero (*field, strlen (*field));
      if (settings[i].type == LOTTERY_SETTING_STRING ||
          settings[i].type == LOTTERY_SETTING_SECRET ||
          settings[i].type == LOTTERY_SETTING_ADDRESS)
        g_clear_pointer (field, g_free);
    }
}
