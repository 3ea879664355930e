/* lottery-log.h: the TP0 log lines.
 *
 *   YYYY-MM-DD HH:MM:SS LEVEL    action: X | result: Y | key: value
 *
 * Lines go to stdout, one write per line, so they are whole and
 * visible at once even when stdout is a pipe and several threads log.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* ERROR is carried as G_LOG_LEVEL_CRITICAL: GLib aborts on
 * G_LOG_LEVEL_ERROR, and a failed batch must not end the server. */
#define LOTTERY_LOG_ERROR G_LOG_LEVEL_CRITICAL

void             lottery_log_init             (GLogLevelFlags  threshold);
void             lottery_log_set_threshold    (GLogLevelFlags  threshold);
gboolean         lottery_log_enabled          (GLogLevelFlags  level);
gboolean         lottery_log_level_parse      (const char     *name,
                                               GLogLevelFlags *level);
const char      *lottery_log_level_to_string  (GLogLevelFlags  level);
GLogWriterOutput lottery_log_writer           (GLogLevelFlags   log_level,
                                               const GLogField *fields,
                                               gsize            n_fields,
                                               gpointer         user_data);
void             lottery_write_all            (int             fd,
                                               const char     *data,
                                               gsize           len);
char            *lottery_log_value            (const char     *text);
char            *lottery_log_error_value      (const GError   *error);
char            *lottery_log_format_line      (GLogLevelFlags  level,
                                               const char     *message);

void             lottery_log_full             (const char     *domain,
                                               GLogLevelFlags  level,
                                               const char     *action,
                                               const char     *result,
                                               const char     *format,
                                               ...) G_GNUC_PRINTF (5, 6);

/* lottery_log (G_LOG_LEVEL_INFO, "apuesta_recibida", "success",
 *              "cantidad: %u", n); @format may be NULL. Nothing is
 * formatted when the level is filtered out. */
#define lottery_log(level, action, result, ...) \
  G_STMT_START { \
    if (lottery_log_enabled (level)) \
      lottery_log_full (G_LOG_DOMAIN, level, action, result, __VA_ARGS__); \
  } G_STMT_END

G_END_DECLS
