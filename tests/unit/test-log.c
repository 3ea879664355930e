/* test-log.c: the TP0 log line format, levels and the stdout writer. */
#include "config.h"

#include "lottery-error.h"
#include "lottery-i18n.h"
#include "lottery-log.h"
#include "lottery-store.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* `YYYY-MM-DD HH:MM:SS LEVEL    message`: the level padded to eight
 * characters, then one space, as Python's `%(levelname)-8s `. */
/* For g_test_trap_assert_stdout ()'s globs; escaped against trigraphs. */
#define TIMESTAMP_GLOB "?\?\?\?-?\?-?\? ?\?:?\?:?\?"
#define TIMESTAMP_RE \
  "[0-9]{4}-[0-1][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9]"

static void
assert_line (const char *line,
             const char *level_and_message)
{
  g_autofree char *escaped = g_regex_escape_string (level_and_message, -1);
  g_autofree char *pattern = g_strconcat ("^" TIMESTAMP_RE " ", escaped,
                                          "\\n$", NULL);
  g_autoptr(GRegex) regex = g_regex_new (pattern, G_REGEX_DOLLAR_ENDONLY, 0,
                                         NULL);

  g_assert_nonnull (regex);
  if (!g_regex_match (regex, line, 0, NULL))
    g_error ("“%s” does not match /%s/", line, pattern);
}

static void
test_format_line (void)
{
  static const struct { GLogLevelFlags level; const char *prefix; } cases[] = {
    { G_LOG_LEVEL_DEBUG, "DEBUG    " },
    { G_LOG_LEVEL_INFO, "INFO     " },
    { G_LOG_LEVEL_MESSAGE, "INFO     " },
    { G_LOG_LEVEL_WARNING, "WARNING  " },
    { LOTTERY_LOG_ERROR, "ERROR    " },
    { G_LOG_LEVEL_ERROR, "ERROR    " },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *line =
        lottery_log_format_line (cases[i].level,
                                 "action: apuesta_recibida | result: success "
                                 "| cantidad: 128");
      g_autofree char *expected =
        g_strconcat (cases[i].prefix, "action: apuesta_recibida | result: "
                     "success | cantidad: 128", NULL);

      g_assert_cmpuint (strlen (cases[i].prefix), ==, 9);
      assert_line (line, expected);
      /* Byte 19 ends the timestamp; the level starts at byte 20. */
      g_assert_cmpint (line[19], ==, ' ');
      g_assert_true (g_str_has_prefix (line + 20, expected));
    }
}

static void
test_format_line_exact (void)
{
  g_autofree char *line = lottery_log_format_line (G_LOG_LEVEL_INFO,
                                                   "action: exit | result: "
                                                   "success");
  g_autoptr(GRegex) regex = g_regex_new ("^[0-9]{4}-[0-9]{2}-[0-9]{2} "
                                         "[0-9]{2}:[0-9]{2}:[0-9]{2} "
                                         "INFO {5}action: exit \\| "
                                         "result: success\\n$",
                                         G_REGEX_DOLLAR_ENDONLY, 0, NULL);

  g_assert_true (g_regex_match (regex, line, 0, NULL));
  g_assert_cmpuint (strlen (line), ==, 19 + 1 + 9 +
                    strlen ("action: exit | result: success") + 1);
}

static void
test_format_line_timestamp (void)
{
  time_t before = time (NULL);
  g_autofree char *line = lottery_log_format_line (G_LOG_LEVEL_INFO, "x");
  time_t after = time (NULL);
  struct tm tm = { 0 };
  time_t logged;

  /* The timestamp is local time, to the second. */
  g_assert_nonnull (strptime (line, "%Y-%m-%d %H:%M:%S", &tm));
  tm.tm_isdst = -1;
  logged = mktime (&tm);
  g_assert_cmpint (logged, >=, before - 1);
  g_assert_cmpint (logged, <=, after + 1);
}

static void
test_format_line_newlines (void)
{
  g_autofree char *line = lottery_log_format_line (G_LOG_LEVEL_WARNING,
                                                   "action: a | result: "
                                                   "fail | error: one\ntwo"
                                                   "\r\nthree\r");
  g_autofree char *empty = lottery_log_format_line (G_LOG_LEVEL_DEBUG, "");
  g_autofree char *long_message = NULL;
  g_autofree char *text = g_strnfill (10000, 'x');

  /* One record, one line. */
  assert_line (line, "WARNING  action: a | result: fail | error: one two  "
                     "three ");
  g_assert_null (strchr (line, '\r'));
  g_assert_true (strchr (line, '\n') == line + strlen (line) - 1);

  assert_line (empty, "DEBUG    ");

  long_message = lottery_log_format_line (G_LOG_LEVEL_INFO, text);
  g_assert_cmpuint (strlen (long_message), ==, 19 + 1 + 9 + 10000 + 1);
}

static void
test_level_parse (void)
{
  static const struct { const char *name; GLogLevelFlags level; } good[] = {
    { "DEBUG", G_LOG_LEVEL_DEBUG }, { "debug", G_LOG_LEVEL_DEBUG },
    { "INFO", G_LOG_LEVEL_INFO }, { "Info", G_LOG_LEVEL_INFO },
    { "WARNING", G_LOG_LEVEL_WARNING }, { "warning", G_LOG_LEVEL_WARNING },
    { "ERROR", LOTTERY_LOG_ERROR }, { "eRRoR", LOTTERY_LOG_ERROR },
  };
  static const char * const bad[] = {
    "", "WARN", "CRITICAL", "FATAL", "INFO ", " INFO", "TRACE", "0", "20",
    "INFORMATION",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (good); i++)
    {
      GLogLevelFlags level = 0;

      g_assert_true (lottery_log_level_parse (good[i].name, &level));
      g_assert_cmpint (level, ==, good[i].level);
    }
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      GLogLevelFlags level = G_LOG_LEVEL_MESSAGE;

      g_assert_false (lottery_log_level_parse (bad[i], &level));
      g_assert_cmpint (level, ==, G_LOG_LEVEL_MESSAGE);
    }

  /* ERROR must never be GLib's fatal level. */
  g_assert_cmpint (LOTTERY_LOG_ERROR & G_LOG_LEVEL_ERROR, ==, 0);
}

static void
test_level_to_string (void)
{
  static const char * const names[] = { "DEBUG", "INFO", "WARNING", "ERROR" };
  guint i;

  g_assert_cmpstr (lottery_log_level_to_string (G_LOG_LEVEL_DEBUG), ==,
                   "DEBUG");
  g_assert_cmpstr (lottery_log_level_to_string (G_LOG_LEVEL_INFO), ==, "INFO");
  g_assert_cmpstr (lottery_log_level_to_string (G_LOG_LEVEL_MESSAGE), ==,
                   "INFO");
  g_assert_cmpstr (lottery_log_level_to_string (G_LOG_LEVEL_WARNING), ==,
                   "WARNING");
  g_assert_cmpstr (lottery_log_level_to_string (G_LOG_LEVEL_CRITICAL), ==,
                   "ERROR");
  g_assert_cmpstr (lottery_log_level_to_string (G_LOG_LEVEL_ERROR), ==,
                   "ERROR");

  /* Names round-trip through the parser. */
  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      GLogLevelFlags level;

      g_assert_true (lottery_log_level_parse (names[i], &level));
      g_assert_cmpstr (lottery_log_level_to_string (level), ==, names[i]);
    }
}

static void
test_enabled (void)
{
  lottery_log_set_threshold (G_LOG_LEVEL_INFO);
  g_assert_false (lottery_log_enabled (G_LOG_LEVEL_DEBUG));
  g_assert_true (lottery_log_enabled (G_LOG_LEVEL_INFO));
  g_assert_true (lottery_log_enabled (G_LOG_LEVEL_MESSAGE));
  g_assert_true (lottery_log_enabled (G_LOG_LEVEL_WARNING));
  g_assert_true (lottery_log_enabled (LOTTERY_LOG_ERROR));

  lottery_log_set_threshold (G_LOG_LEVEL_DEBUG);
  g_assert_true (lottery_log_enabled (G_LOG_LEVEL_DEBUG));

  lottery_log_set_threshold (G_LOG_LEVEL_WARNING);
  g_assert_false (lottery_log_enabled (G_LOG_LEVEL_INFO));
  g_assert_true (lottery_log_enabled (G_LOG_LEVEL_WARNING));

  lottery_log_set_threshold (LOTTERY_LOG_ERROR);
  g_assert_false (lottery_log_enabled (G_LOG_LEVEL_WARNING));
  g_assert_true (lottery_log_enabled (LOTTERY_LOG_ERROR));

  lottery_log_set_threshold (G_LOG_LEVEL_INFO);
}

/* The writer is installed once per process, so each check runs in its
 * own child and looks at what the child printed. */
static void
test_writer (void)
{
  if (g_test_subprocess ())
    {
      lottery_log_init (G_LOG_LEVEL_INFO);
      lottery_log (G_LOG_LEVEL_INFO, "apuesta_recibida", "success",
                   "cantidad: %u", 128u);
      lottery_log (G_LOG_LEVEL_INFO, "exit", "success", NULL);
      lottery_log (G_LOG_LEVEL_WARNING, "consulta_ganadores", "fail",
                   "error: %s", "line\nbreak");
      lottery_log (LOTTERY_LOG_ERROR, "apuesta_recibida", "fail",
                   "cantidad: %d", 3);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (TIMESTAMP_GLOB " INFO     action: "
                             "apuesta_recibida | result: success | "
                             "cantidad: 128\n"
                             TIMESTAMP_GLOB " INFO     action: exit | "
                             "result: success\n"
                             TIMESTAMP_GLOB " WARNING  action: "
                             "consulta_ganadores | result: fail | "
                             "error: line break\n"
                             TIMESTAMP_GLOB " ERROR    action: "
                             "apuesta_recibida | result: fail | "
                             "cantidad: 3\n");
  g_test_trap_assert_stderr ("");
}

static void
test_writer_glib_messages (void)
{
  if (g_test_subprocess ())
    {
      lottery_log_init (G_LOG_LEVEL_INFO);
      /* g_test_init () makes warnings fatal; a program's are not. */
      g_log_set_always_fatal (G_LOG_FATAL_MASK);
      /* Messages not made by lottery_log (): GLib's own, GIO's,
       * GApplication's, or a plain g_message () take the line format. */
      g_info ("plain info");
      g_debug ("plain debug");
      g_message ("a | b\nc");
      g_log ("GLib-GIO", G_LOG_LEVEL_WARNING, "%s", "some GIO warning");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (TIMESTAMP_GLOB " INFO     action: glib | "
                             "result: info | domain: lottery-test | "
                             "message: plain info\n"
                             TIMESTAMP_GLOB " INFO     action: glib | "
                             "result: message | domain: lottery-test | "
                             "message: a / b/c\n"
                             TIMESTAMP_GLOB " WARNING  action: glib | "
                             "result: warning | domain: GLib-GIO | "
                             "message: some GIO warning\n");
  g_test_trap_assert_stdout_unmatched ("*plain debug*");
  g_test_trap_assert_stderr ("");
}

static void
test_writer_threshold_info (void)
{
  if (g_test_subprocess ())
    {
      lottery_log_init (G_LOG_LEVEL_INFO);
      lottery_log (G_LOG_LEVEL_DEBUG, "apuesta_almacenada", "success",
                   "dni: %s | numero: %u", "30904465", 7574u);
      lottery_log (G_LOG_LEVEL_INFO, "sorteo", "success", NULL);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (TIMESTAMP_GLOB " INFO     action: sorteo | "
                             "result: success\n");
  g_test_trap_assert_stdout_unmatched ("*apuesta_almacenada*");
}

static void
test_writer_threshold_debug (void)
{
  if (g_test_subprocess ())
    {
      lottery_log_init (G_LOG_LEVEL_DEBUG);
      lottery_log (G_LOG_LEVEL_DEBUG, "apuesta_almacenada", "success",
                   "dni: %s | numero: %u", "30904465", 7574u);
      lottery_log (G_LOG_LEVEL_INFO, "sorteo", "success", NULL);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (TIMESTAMP_GLOB " DEBUG    action: "
                             "apuesta_almacenada | result: success | "
                             "dni: 30904465 | numero: 7574\n"
                             TIMESTAMP_GLOB " INFO     action: sorteo | "
                             "result: success\n");
}

static void
test_writer_threshold_error (void)
{
  if (g_test_subprocess ())
    {
      lottery_log_init (LOTTERY_LOG_ERROR);
      lottery_log (G_LOG_LEVEL_WARNING, "reintento", "fail", NULL);
      lottery_log (G_LOG_LEVEL_INFO, "sorteo", "success", NULL);
      lottery_log (LOTTERY_LOG_ERROR, "sorteo", "fail", "error: %s", "disk");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (TIMESTAMP_GLOB " ERROR    action: sorteo | "
                             "result: fail | error: disk\n");
  g_test_trap_assert_stdout_unmatched ("*reintento*");
  g_test_trap_assert_stdout_unmatched ("*success*");
}

static void
test_writer_messages_debug (void)
{
  if (g_test_subprocess ())
    {
      /* G_MESSAGES_DEBUG=all shows debug lines at any threshold. */
      g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
      lottery_log_init (G_LOG_LEVEL_INFO);
      lottery_log (G_LOG_LEVEL_DEBUG, "apuesta_almacenada", "success", NULL);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout (TIMESTAMP_GLOB " DEBUG    action: "
                             "apuesta_almacenada | result: success\n");
}

static gpointer
log_thread (gpointer user_data)
{
  guint id = GPOINTER_TO_UINT (user_data);
  guint i;

  for (i = 0; i < 200; i++)
    lottery_log (G_LOG_LEVEL_INFO, "apuesta_recibida", "success",
                 "hilo: %u | lote: %u | relleno: %s", id, i,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");

  return NULL;
}

/* Checks, in the child, what its threads wrote to stdout: whole lines
 * only, none lost, none run into another. */
static void
check_thread_lines (const char *path)
{
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRegex) regex = NULL;
  g_auto(GStrv) lines = NULL;
  guint counts[4] = { 0 };
  guint i;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (contents, "\n"));

  regex = g_regex_new ("^" TIMESTAMP_RE " INFO     action: apuesta_recibida "
                       "\\| result: success \\| hilo: ([0-3]) \\| lote: "
                       "[0-9]+ \\| relleno: x{58}$", 0, 0, NULL);
  g_assert_nonnull (regex);

  lines = g_strsplit (contents, "\n", -1);
  for (i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      g_autoptr(GMatchInfo) match = NULL;
      g_autofree char *thread = NULL;

      if (!g_regex_match (regex, lines[i], 0, &match))
        g_error ("line %u is damaged: “%s”", i + 1, lines[i]);
      thread = g_match_info_fetch (match, 1);
      counts[atoi (thread)]++;
    }
  g_assert_cmpuint (i, ==, 4 * 200);
  g_assert_null (lines[i + 1]);
  for (i = 0; i < G_N_ELEMENTS (counts); i++)
    g_assert_cmpuint (counts[i], ==, 200);
}

static void
test_writer_threads (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *path = NULL;
      g_autoptr(GError) error = NULL;
      GThread *threads[4];
      int fd, saved;
      guint i;

      /* Send stdout to a file for the length of the burst. */
      fd = g_file_open_tmp ("lottery-log-XXXXXX", &path, &error);
      g_assert_no_error (error);
      saved = dup (STDOUT_FILENO);
      g_assert_cmpint (dup2 (fd, STDOUT_FILENO), ==, STDOUT_FILENO);

      lottery_log_init (G_LOG_LEVEL_INFO);
      for (i = 0; i < G_N_ELEMENTS (threads); i++)
        threads[i] = g_thread_new ("log", log_thread, GUINT_TO_POINTER (i));
      for (i = 0; i < G_N_ELEMENTS (threads); i++)
        g_thread_join (threads[i]);

      g_assert_cmpint (dup2 (saved, STDOUT_FILENO), ==, STDOUT_FILENO);
      g_close (saved, NULL);
      g_close (fd, NULL);
      check_thread_lines (path);
      g_assert_cmpint (g_unlink (path), ==, 0);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("");
  g_test_trap_assert_stderr ("");
}

/* The project's catalog under LANGUAGE=es, in a subprocess: the
 * locale is the process's. FALSE if the build has no catalog. */
static gboolean
use_spanish (void)
{
  if (g_getenv ("LOTTERY_LOCALEDIR") == NULL)
    return FALSE;
  g_setenv ("LANGUAGE", "es", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  lottery_i18n_init ();

  return strcmp (_("Cannot open %s: "), "Cannot open %s: ") != 0;
}

/* An error made by lottery_fail () says its message translated and
 * logs it in C; a copy keeps both. */
static void
test_error_two_texts (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) copy = NULL;
      g_autofree char *value = NULL;

      if (!use_spanish ())
        {
          g_test_skip ("no catalog in the build tree");
          return;
        }
      g_assert_false (lottery_bets_file_fail (
        &error, LOTTERY_BETS_FILE_ERROR_UNREADABLE, N_("Cannot open %s: "),
        "/x|y"));
      g_assert_error (error, LOTTERY_BETS_FILE_ERROR,
                      LOTTERY_BETS_FILE_ERROR_UNREADABLE);
      g_assert_cmpstr (error->message, ==, "No se puede abrir /x|y: ");
      g_assert_cmpstr (lottery_error_get_untranslated (error), ==,
                       "Cannot open /x|y: ");
      copy = g_error_copy (error);
      g_clear_error (&error);
      g_assert_cmpstr (lottery_error_get_untranslated (copy), ==,
                       "Cannot open /x|y: ");
      /* Escaped for the line format, untranslated. */
      value = lottery_log_error_value (copy);
      g_assert_cmpstr (value, ==, "Cannot open /x/y: ");
      /* The configuration's domain keeps both texts too. */
      g_clear_error (&copy);
      g_assert_false (lottery_config_fail (&error,
                                           LOTTERY_CONFIG_ERROR_INVALID,
                                           N_("Cannot open %s: "), "/c"));
      g_assert_error (error, LOTTERY_CONFIG_ERROR,
                      LOTTERY_CONFIG_ERROR_INVALID);
      g_assert_cmpstr (error->message, ==, "No se puede abrir /c: ");
      copy = g_error_copy (error);
      g_assert_cmpstr (lottery_error_get_untranslated (copy), ==,
                       "Cannot open /c: ");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* Wrapping, prefixing and errno keep both texts; an errno's C text is
 * libc's in the C locale whatever the language. */
static void
test_error_wrap (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GError) cause = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) store = NULL;
      g_autoptr(GError) io = NULL;

      if (!use_spanish ())
        {
          g_test_skip ("no catalog in the build tree");
          return;
        }
      lottery_fail_errno (&cause, LOTTERY_STORE_ERROR,
                          LOTTERY_STORE_ERROR_IO, ENOENT,
                          N_("Cannot sync %s: "), "/s");
      g_assert_error (cause, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_IO);
      g_assert_cmpstr (lottery_error_get_untranslated (cause), ==,
                       "Cannot sync /s: No such file or directory");
      g_assert_true (g_str_has_prefix (cause->message,
                                       "No se puede sincronizar /s: "));
      /* Where the C library has its own Spanish (not in a bare
       * container image), the errno text is translated too. */
      if (strcmp (g_strerror (ENOENT), "No such file or directory") != 0)
        g_assert_null (strstr (cause->message, "No such file"));

      lottery_fail_wrap (&error, LOTTERY_ERROR, LOTTERY_ERROR_FAILED, cause,
                         N_("Cannot reach the server at %s: "), "h:1");
      g_assert_cmpstr (lottery_error_get_untranslated (error), ==,
                       "Cannot reach the server at h:1: Cannot sync /s: "
                       "No such file or directory");
      g_assert_true (g_str_has_prefix (error->message,
                                       "No se puede contactar al servidor "
                                       "en h:1: No se puede sincronizar"));

      lottery_error_prefix (&error, N_("Bet %u of batch %u: "), 2, 3);
      g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_FAILED);
      g_assert_true (g_str_has_prefix (lottery_error_get_untranslated (error),
                                       "Bet 2 of batch 3: Cannot reach"));
      g_assert_true (g_str_has_prefix (error->message,
                                       "Apuesta 2 del lote 3: "));

      lottery_fail_as (&store, LOTTERY_STORE_ERROR, LOTTERY_STORE_ERROR_BROKEN,
                       error);
      g_assert_cmpstr (store->message, ==, error->message);
      g_assert_cmpstr (lottery_error_get_untranslated (store), ==,
                       lottery_error_get_untranslated (error));

      /* Another domain keeps its code; its log text is its name. */
      io = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                                "Conexión rehusada");
      lottery_error_prefix (&io, N_("Cannot listen on port %u: "), 5u);
      g_assert_error (io, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
      g_assert_cmpstr (io->message, ==,
                       "No se puede escuchar en el puerto 5: "
                       "Conexión rehusada");
      g_assert_cmpstr (lottery_error_get_untranslated (io), ==,
                       "g-io-error-quark connection-refused");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* Without any translation, GIO's own text is already C and is logged
 * as it is. */
static void
test_error_foreign_c (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(GError) io = NULL;

      g_unsetenv ("LANGUAGE");
      g_setenv ("LC_ALL", "C", TRUE);
      lottery_i18n_init ();
      io = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                "Socket I/O timed out");
      lottery_error_prefix (&io, N_("Cannot read %s: "), "x");
      g_assert_error (io, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
      g_assert_cmpstr (lottery_error_get_untranslated (io), ==,
                       "Cannot read x: Socket I/O timed out");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The wire codes: a LOTTERY_ERROR code is the wire code of its name, a
 * store's error is "storage", any other "failed"; a code past the last
 * known one is not known. */
static void
test_error_wire_codes (void)
{
  g_autoptr(GError) bet = NULL;
  g_autoptr(GError) store = NULL;
  g_autoptr(GError) config = NULL;
  g_autoptr(GError) bets_file = NULL;
  g_autoptr(GError) io = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED,
                                              "x");
  guint code;

  lottery_fail (&bet, LOTTERY_ERROR_INVALID_BET, "x");
  lottery_store_fail (&store, LOTTERY_STORE_ERROR_IO, "x");
  g_assert_cmpuint (lottery_error_to_wire_code (bet), ==,
                    LOTTERY_WIRE_INVALID_BET);
  g_assert_cmpuint (lottery_error_to_wire_code (store), ==,
                    LOTTERY_WIRE_STORAGE);
  g_assert_cmpuint (lottery_error_to_wire_code (io), ==, LOTTERY_WIRE_FAILED);
  /* Local errors of their own domains are never sent: not the reserved
   * "config" and "bets_file" codes, just "failed". */
  lottery_config_fail (&config, LOTTERY_CONFIG_ERROR_INVALID, "x");
  lottery_bets_file_fail (&bets_file, LOTTERY_BETS_FILE_ERROR_INVALID_ROW,
                          "x");
  g_assert_cmpuint (lottery_error_to_wire_code (config), ==,
                    LOTTERY_WIRE_FAILED);
  g_assert_cmpuint (lottery_error_to_wire_code (bets_file), ==,
                    LOTTERY_WIRE_FAILED);
  for (code = 0; code < LOTTERY_WIRE_N_CODES; code++)
    {
      g_assert_true (lottery_wire_code_is_known (code));
      g_assert_cmpstr (lottery_error_code_name ((int) code), !=, "unknown");
    }
  g_assert_false (lottery_wire_code_is_known (LOTTERY_WIRE_N_CODES));
  g_assert_false (lottery_wire_code_is_known (G_MAXUINT16));
  /* README's table: the numbers never change. */
  g_assert_cmpint (LOTTERY_WIRE_STORAGE, ==, 8);
  g_assert_cmpint (LOTTERY_WIRE_TIMEOUT, ==, 15);
}

int
main (int   argc,
      char *argv[])
{
  /* The threshold tests assume no debug domains from the caller. */
  g_unsetenv ("G_MESSAGES_DEBUG");

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("lottery-log: the exact TP0 line format, level names, "
                  "thresholds, and the stdout writer.");

  g_test_add_func ("/log/format-line/levels", test_format_line);
  g_test_add_func ("/log/format-line/exact", test_format_line_exact);
  g_test_add_func ("/log/format-line/timestamp", test_format_line_timestamp);
  g_test_add_func ("/log/format-line/newlines", test_format_line_newlines);
  g_test_add_func ("/log/level/parse", test_level_parse);
  g_test_add_func ("/log/level/to-string", test_level_to_string);
  g_test_add_func ("/log/enabled", test_enabled);
  g_test_add_func ("/log/writer/lines", test_writer);
  g_test_add_func ("/log/writer/glib-messages", test_writer_glib_messages);
  g_test_add_func ("/log/writer/threshold-info", test_writer_threshold_info);
  g_test_add_func ("/log/writer/threshold-debug", test_writer_threshold_debug);
  g_test_add_func ("/log/writer/threshold-error", test_writer_threshold_error);
  g_test_add_func ("/log/writer/messages-debug", test_writer_messages_debug);
  g_test_add_func ("/log/writer/threads", test_writer_threads);
  g_test_add_func ("/log/error/two-texts", test_error_two_texts);
  g_test_add_func ("/log/error/wrap", test_error_wrap);
  g_test_add_func ("/log/error/foreign-c", test_error_foreign_c);
  g_test_add_func ("/log/error/wire-codes", test_error_wire_codes);

  return g_test_run ();
}
