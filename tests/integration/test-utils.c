/* test-utils.c: helpers for the integration tests.
 *
 * Each process gets three threads: two read its stdout and stderr line
 * by line into arrays, one waits for it to exit. They all signal one
 * condition variable, so a test waits for a line, for the exit, or for
 * a deadline, whichever comes first, without a main loop.
 */
#include "config.h"

#include "test-utils.h"
#include "lottery-error.h"
#include "lottery-stream.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

struct _TestProcess
{
  char        *label;
  GSubprocess *subprocess;
  GMutex       lock;
  GCond        cond;
  GPtrArray   *out_lines;   /* char *, without the line end */
  GPtrArray   *err_lines;
  gboolean     out_eof;
  gboolean     err_eof;
  gboolean     exited;
  gint64       exit_time;   /* monotonic, once exited */
  GThread     *out_thread;
  GThread     *err_thread;
  GThread     *wait_thread;
  guint16      port;        /* servers: the port they listen on */
};

typedef struct
{
  TestProcess  *process;
  GInputStream *stream;
  gboolean      is_stderr;
} ReaderData;

/* Settings the tests must not inherit from whoever runs them. */
static const char * const scrubbed_env[] = {
  "CLI_ID", "CLI_SERVER_ADDRESS", "CLI_BATCH_MAXAMOUNT", "CLI_BETS_FILE",
  "CLI_LOG_LEVEL", "NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO",
  "SERVER_PORT", "SERVER_LISTEN_BACKLOG", "SERVER_AGENCIES", "SERVER_STORAGE",
  "LOGGING_LEVEL", "G_MESSAGES_DEBUG", "CLI_AUTH_TOKEN", "CLI_AUTH_TOKEN_FILE",
  "SERVER_AUTH_TOKENS", "SERVER_HTTP_LISTEN", NULL
};

static const char *
require_env (const char *name)
{
  const char *value = g_getenv (name);

  if (value == NULL)
    g_error ("%s is not set; run the tests with meson test", name);

  return value;
}

/* ---- fixture ---- */

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) &&
            !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static void test_process_free (TestProcess *process);

void
test_fixture_setup (TestFixture   *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("lottery-test-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->processes =
    g_ptr_array_new_with_free_func ((GDestroyNotify) test_process_free);
}

void
test_fixture_teardown (TestFixture   *fixture,
                       gconstpointer  data)
{
  g_clear_pointer (&fixture->processes, g_ptr_array_unref);
  if (g_getenv ("LOTTERY_TEST_KEEP") == NULL)
    remove_tree (fixture->dir);
  g_clear_pointer (&fixture->dir, g_free);
}

char *
test_fixture_path (TestFixture *fixture,
                   const char  *name)
{
  return g_build_filename (fixture->dir, name, NULL);
}

void
test_fixture_dump (TestFixture *fixture)
{
  guint i;

  for (i = 0; i < fixture->processes->len; i++)
    test_process_dump (g_ptr_array_index (fixture->processes, i));
}

/* ---- files ---- */

char *
test_write_file (TestFixture *fixture,
                 const char  *name,
                 const char  *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = test_fixture_path (fixture, name);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);

  return path;
}

/* Runs lottery-gen-bets into @name; @winners < 0 leaves the winning
 * number to chance. */
char *
test_gen_bets (TestFixture *fixture,
               const char  *name,
               guint64      rows,
               gint64       seed,
               gint64       winners,
               gboolean     crlf)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) subprocess = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *path = test_fixture_path (fixture, name);

  g_ptr_array_add (argv, g_strdup (require_env ("LOTTERY_GEN_BETS")));
  g_ptr_array_add (argv, g_strdup ("--rows"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GUINT64_FORMAT, rows));
  g_ptr_array_add (argv, g_strdup ("--seed"));
  g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, seed));
  if (winners >= 0)
    {
      g_ptr_array_add (argv, g_strdup ("--winners"));
      g_ptr_array_add (argv, g_strdup_printf ("%" G_GINT64_FORMAT, winners));
    }
  if (crlf)
    g_ptr_array_add (argv, g_strdup ("--crlf"));
  g_ptr_array_add (argv, g_strdup ("--output"));
  g_ptr_array_add (argv, g_strdup (path));
  g_ptr_array_add (argv, NULL);

  subprocess = g_subprocess_newv ((const char * const *) argv->pdata,
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (subprocess, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (subprocess));
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpint (g_subprocess_get_exit_status (subprocess), ==, 0);

  return path;
}

/* The rows of a bets.csv: the file must be empty or end with CRLF, and
 * every row ends with CRLF and holds no other line break. */
GPtrArray *
test_read_rows (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_free);
  gsize len;
  const char *p, *end;

  if (!g_file_get_contents (path, &contents, &len, &error))
    {
      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      return rows;
    }

  p = contents;
  end = contents + len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));

      g_assert_nonnull (nl);
      g_assert_true (nl > p && nl[-1] == '\r');
      g_assert_null (memchr (p, '\r', (gsize) (nl - 1 - p)));
      g_ptr_array_add (rows, g_strndup (p, (gsize) (nl - 1 - p)));
      p = nl + 1;
    }

  return rows;
}

/* Splits one CSV record; quoted fields may hold commas and doubled
 * quotes. Written apart from the project's own reader on purpose. */
char **
test_csv_split (const char *line,
                gsize       len)
{
  GPtrArray *fields = g_ptr_array_new ();
  const char *p = line;
  const char *end = line + len;

  for (;;)
    {
      GString *field = g_string_new (NULL);

      if (p < end && *p == '"')
        {
          for (p++; p < end; p++)
            {
              if (*p == '"')
                {
                  if (p + 1 < end && p[1] == '"')
                    p++;
                  else
                    break;
                }
              g_string_append_c (field, *p);
            }
          g_assert_true (p < end);
          p++;
        }
      else
        while (p < end && *p != ',')
          g_string_append_c (field, *p++);

      g_ptr_array_add (fields, g_string_free (field, FALSE));
      if (p == end)
        break;
      g_assert_cmpint (*p, ==, ',');
      p++;
    }
  g_ptr_array_add (fields, NULL);

  return (char **) g_ptr_array_free (fields, FALSE);
}

/* Python's csv.QUOTE_MINIMAL, as bets.csv is written. */
char *
test_csv_join (const char * const *fields)
{
  GString *out = g_string_new (NULL);
  guint i;

  for (i = 0; fields[i] != NULL; i++)
    {
      const char *f = fields[i];

      if (i > 0)
        g_string_append_c (out, ',');
      if (strpbrk (f, ",\"\r\n") == NULL)
        {
          g_string_append (out, f);
          continue;
        }
      g_string_append_c (out, '"');
      for (; *f != '\0'; f++)
        {
          if (*f == '"')
            g_string_append_c (out, '"');
          g_string_append_c (out, *f);
        }
      g_string_append_c (out, '"');
    }

  return g_string_free (out, FALSE);
}

typedef gboolean (*RowFunc) (char    **fields,
                             gpointer  user_data);

/* Calls @func with the fields of each row of an agency file (LF or
 * CRLF ends). The files can be large: they are mapped, not copied. */
static void
foreach_agency_row (const char *path,
                    RowFunc     func,
                    gpointer    user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMappedFile) file = g_mapped_file_new (path, FALSE, &error);
  const char *p, *end;

  g_assert_no_error (error);
  p = g_mapped_file_get_contents (file);
  end = p + g_mapped_file_get_length (file);
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      const char *stop = nl != NULL ? nl : end;
      g_auto(GStrv) fields = NULL;

      if (stop > p && stop[-1] == '\r')
        stop--;
      fields = test_csv_split (p, (gsize) (stop - p));
      p = nl != NULL ? nl + 1 : end;
      if (!func (fields, user_data))
        break;
    }
}

typedef struct
{
  GPtrArray *rows;
  char      *agency;
} ExpectData;

static gboolean
expect_row (char     **fields,
            gpointer   user_data)
{
  ExpectData *data = user_data;
  const char *row[7] = { data->agency, NULL, };
  guint i;

  g_assert_cmpuint (g_strv_length (fields), ==, 5);
  for (i = 0; i < 5; i++)
    row[i + 1] = fields[i];
  g_ptr_array_add (data->rows, test_csv_join (row));

  return TRUE;
}

/* The rows bets.csv should hold for an agency file (all rows valid),
 * in file order, without line ends. */
GPtrArray *
test_expected_rows (const char *agency_file,
                    guint       agency)
{
  ExpectData data;

  data.rows = g_ptr_array_new_with_free_func (g_free);
  data.agency = g_strdup_printf ("%u", agency);
  foreach_agency_row (agency_file, expect_row, &data);
  g_free (data.agency);

  return data.rows;
}

typedef struct
{
  GPtrArray *rows;
  char      *agency;
  guint      index;
} PrefixData;

static gboolean
compare_row (char     **fields,
             gpointer   user_data)
{
  PrefixData *data = user_data;
  const char *row[7] = { data->agency, NULL, };
  g_autofree char *expected = NULL;
  guint i;

  if (data->index == data->rows->len)
    return FALSE;
  g_assert_cmpuint (g_strv_length (fields), ==, 5);
  for (i = 0; i < 5; i++)
    row[i + 1] = fields[i];
  expected = test_csv_join (row);
  g_assert_cmpstr (g_ptr_array_index (data->rows, data->index), ==, expected);
  data->index++;

  return TRUE;
}

/* @rows are the first rows of @agency_file, in order, as bets.csv
 * holds them. Streams the file: it may be large. */
void
test_assert_rows_prefix (GPtrArray  *rows,
                         const char *agency_file,
                         guint       agency)
{
  PrefixData data = { rows, g_strdup_printf ("%u", agency), 0 };

  foreach_agency_row (agency_file, compare_row, &data);
  g_free (data.agency);
  g_assert_cmpuint (data.index, ==, rows->len);
}

static gboolean
collect_winner (char     **fields,
                gpointer   user_data)
{
  GPtrArray *documents = user_data;

  if (g_strcmp0 (fields[4], "7574") == 0)
    g_ptr_array_add (documents, g_strdup (fields[2]));

  return TRUE;
}

/* Documents of the rows of @agency_file that hold the winning number. */
GPtrArray *
test_winning_documents (const char *agency_file)
{
  GPtrArray *documents = g_ptr_array_new_with_free_func (g_free);

  foreach_agency_row (agency_file, collect_winner, documents);

  return documents;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* Same strings, each as many times, in any order. */
void
test_assert_same_strings (GPtrArray *actual,
                          GPtrArray *expected)
{
  g_autoptr(GPtrArray) a = g_ptr_array_sized_new (actual->len);
  g_autoptr(GPtrArray) e = g_ptr_array_sized_new (expected->len);
  guint i;

  /* Borrowed pointers: g_ptr_array_copy () would take the free func. */
  for (i = 0; i < actual->len; i++)
    g_ptr_array_add (a, g_ptr_array_index (actual, i));
  for (i = 0; i < expected->len; i++)
    g_ptr_array_add (e, g_ptr_array_index (expected, i));

  g_ptr_array_sort (a, compare_strings);
  g_ptr_array_sort (e, compare_strings);
  for (i = 0; i < a->len && i < e->len; i++)
    g_assert_cmpstr (g_ptr_array_index (a, i), ==, g_ptr_array_index (e, i));
  g_assert_cmpuint (a->len, ==, e->len);
}

void
test_assert_same_rows (GPtrArray *actual,
                       GPtrArray *expected)
{
  test_assert_same_strings (actual, expected);
}

/* ---- processes ---- */

static void
child_setup (gpointer user_data)
{
#ifdef __linux__
  /* If the test dies, its servers and clients go with it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
#endif
}

static gpointer
reader_thread (gpointer user_data)
{
  ReaderData *data = user_data;
  TestProcess *process = data->process;
  g_autoptr(GDataInputStream) in = g_data_input_stream_new (data->stream);
  gboolean verbose = g_getenv ("LOTTERY_TEST_VERBOSE") != NULL;
  char *line;

  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  while ((line = g_data_input_stream_read_line (in, NULL, NULL, NULL)) != NULL)
    {
      if (verbose)
        g_printerr ("# [%s%s] %s\n", process->label,
                    data->is_stderr ? " stderr" : "", line);
      g_mutex_lock (&process->lock);
      g_ptr_array_add (data->is_stderr ? process->err_lines
                                       : process->out_lines, line);
      g_cond_broadcast (&process->cond);
      g_mutex_unlock (&process->lock);
    }

  g_mutex_lock (&process->lock);
  if (data->is_stderr)
    process->err_eof = TRUE;
  else
    process->out_eof = TRUE;
  g_cond_broadcast (&process->cond);
  g_mutex_unlock (&process->lock);

  g_free (data);
  return NULL;
}

static gpointer
wait_thread (gpointer user_data)
{
  TestProcess *process = user_data;

  g_subprocess_wait (process->subprocess, NULL, NULL);

  g_mutex_lock (&process->lock);
  process->exited = TRUE;
  process->exit_time = g_get_monotonic_time ();
  g_cond_broadcast (&process->cond);
  g_mutex_unlock (&process->lock);

  return NULL;
}

static void
start_reader (TestProcess  *process,
              GInputStream *stream,
              gboolean      is_stderr)
{
  ReaderData *data = g_new0 (ReaderData, 1);

  data->process = process;
  data->stream = stream;
  data->is_stderr = is_stderr;
  if (is_stderr)
    process->err_thread = g_thread_new ("test-stderr", reader_thread, data);
  else
    process->out_thread = g_thread_new ("test-stdout", reader_thread, data);
}

static void
test_process_free (TestProcess *process)
{
  if (!test_process_wait_exit (process, 0))
    g_subprocess_force_exit (process->subprocess);

  g_thread_join (process->wait_thread);
  g_thread_join (process->out_thread);
  g_thread_join (process->err_thread);

  g_object_unref (process->subprocess);
  g_ptr_array_unref (process->out_lines);
  g_ptr_array_unref (process->err_lines);
  g_mutex_clear (&process->lock);
  g_cond_clear (&process->cond);
  g_free (process->label);
  g_free (process);
}

/* Starts @argv in the fixture's directory with stdout and stderr
 * collected; @env holds NAME=VALUE entries to set on top of the
 * scrubbed environment. */
TestProcess *
test_process_spawn (TestFixture        *fixture,
                    const char         *label,
                    const char * const *argv,
                    const char * const *env)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  TestProcess *process;
  guint i;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_cwd (launcher, fixture->dir);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  for (i = 0; scrubbed_env[i] != NULL; i++)
    g_subprocess_launcher_unsetenv (launcher, scrubbed_env[i]);
  for (i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit (env[i], "=", 2);

      g_assert_nonnull (kv[1]);
      g_subprocess_launcher_setenv (launcher, kv[0], kv[1], TRUE);
    }

  process = g_new0 (TestProcess, 1);
  process->label = g_strdup (label);
  g_mutex_init (&process->lock);
  g_cond_init (&process->cond);
  process->out_lines = g_ptr_array_new_with_free_func (g_free);
  process->err_lines = g_ptr_array_new_with_free_func (g_free);
  process->subprocess = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);

  start_reader (process, g_subprocess_get_stdout_pipe (process->subprocess),
                FALSE);
  start_reader (process, g_subprocess_get_stderr_pipe (process->subprocess),
                TRUE);
  process->wait_thread = g_thread_new ("test-wait", wait_thread, process);
  g_ptr_array_add (fixture->processes, process);

  return process;
}

static GPtrArray *
new_argv (const char *program)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_strdup (program));
  return argv;
}

static void
add_args (GPtrArray          *argv,
          const char * const *args)
{
  guint i;

  for (i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
}

/* Starts lottery-server on a free port with bets.csv in the fixture's
 * directory and waits until it listens. */
TestProcess *
test_server_start (TestFixture        *fixture,
                   guint               agencies,
                   const char * const *extra_args)
{
  static const char needle[] =
    "action: accept_connections | result: in_progress | port: ";
  g_autoptr(GPtrArray) argv = new_argv (require_env ("LOTTERY_SERVER"));
  g_autoptr(GPtrArray) lines = NULL;
  gboolean has_port = FALSE;
  TestProcess *server;
  const char *p;
  char *end;
  guint64 port;
  guint i;

  for (i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    if (g_str_equal (extra_args[i], "--port"))
      has_port = TRUE;
  if (!has_port)
    {
      g_ptr_array_add (argv, g_strdup ("--port"));
      g_ptr_array_add (argv, g_strdup ("0"));
    }
  g_ptr_array_add (argv, g_strdup ("--agencies"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", agencies));
  g_ptr_array_add (argv, g_strdup ("--storage"));
  g_ptr_array_add (argv, test_fixture_path (fixture, "bets.csv"));
  add_args (argv, extra_args);
  g_ptr_array_add (argv, NULL);

  server = test_process_spawn (fixture, "server",
                               (const char * const *) argv->pdata, NULL);
  test_assert_line (server, "action: accept_connections | result: in_progress",
                    1);

  lines = test_process_get_lines (server, needle);
  p = strstr (g_ptr_array_index (lines, 0), needle) + strlen (needle);
  /* More keys may follow the port (tls). */
  port = g_ascii_strtoull (p, &end, 10);
  g_assert_true (end != p && (*end == '\0' || *end == ' '));
  g_assert_cmpuint (port, >=, 1);
  g_assert_cmpuint (port, <=, 65535);
  server->port = (guint16) port;

  return server;
}

guint16
test_server_get_port (TestProcess *server)
{
  return server->port;
}

const char *
test_process_get_pid (TestProcess *process)
{
  return g_subprocess_get_identifier (process->subprocess);
}

TestProcess *
test_client_start (TestFixture        *fixture,
                   guint16             port,
                   guint               id,
                   const char * const *extra_args,
                   const char * const *env)
{
  g_autoptr(GPtrArray) argv = new_argv (require_env ("LOTTERY_CLIENT"));
  g_autofree char *label = g_strdup_printf ("client %u", id);

  g_ptr_array_add (argv, g_strdup ("--id"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", id));
  g_ptr_array_add (argv, g_strdup ("--server"));
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u", port));
  add_args (argv, extra_args);
  g_ptr_array_add (argv, NULL);

  return test_process_spawn (fixture, label,
                             (const char * const *) argv->pdata, env);
}

/* Starts a client and waits for it to exit. */
TestProcess *
test_client_run (TestFixture        *fixture,
                 guint16             port,
                 guint               id,
                 const char * const *extra_args,
                 const char * const *env)
{
  TestProcess *client = test_client_start (fixture, port, id, extra_args, env);

  if (!test_process_wait_exit (client, TEST_TIMEOUT_MS))
    test_process_dump (client);
  g_assert_false (test_process_is_running (client));

  return client;
}

static guint
count_matching (GPtrArray  *lines,
                const char *needle)
{
  guint i, n = 0;

  for (i = 0; i < lines->len; i++)
    if (needle == NULL || strstr (g_ptr_array_index (lines, i), needle) != NULL)
      n++;

  return n;
}

/* Waits until @count stdout lines hold @needle; FALSE if stdout closed
 * or @timeout_ms passed first. */
gboolean
test_process_wait_for_line (TestProcess *process,
                            const char  *needle,
                            guint        count,
                            guint        timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () +
                    (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean found;

  g_mutex_lock (&process->lock);
  for (;;)
    {
      found = count_matching (process->out_lines, needle) >= count;
      if (found || process->out_eof ||
          !g_cond_wait_until (&process->cond, &process->lock, deadline))
        break;
    }
  found = count_matching (process->out_lines, needle) >= count;
  g_mutex_unlock (&process->lock);

  return found;
}

/* Waits for the exit and for the end of its output; FALSE on timeout. */
gboolean
test_process_wait_exit (TestProcess *process,
                        guint        timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () +
                    (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  gboolean done;

  g_mutex_lock (&process->lock);
  for (;;)
    {
      done = process->exited && process->out_eof && process->err_eof;
      if (done || !g_cond_wait_until (&process->cond, &process->lock, deadline))
        break;
    }
  done = process->exited && process->out_eof && process->err_eof;
  g_mutex_unlock (&process->lock);

  return done;
}

gboolean
test_process_is_running (TestProcess *process)
{
  gboolean running;

  g_mutex_lock (&process->lock);
  running = !process->exited;
  g_mutex_unlock (&process->lock);

  return running;
}

/* The exit status, or -signal if a signal ended it. */
int
test_process_get_exit_status (TestProcess *process)
{
  g_assert_false (test_process_is_running (process));

  if (g_subprocess_get_if_signaled (process->subprocess))
    return -g_subprocess_get_term_sig (process->subprocess);

  return g_subprocess_get_exit_status (process->subprocess);
}

gint64
test_process_get_exit_time (TestProcess *process)
{
  g_assert_false (test_process_is_running (process));

  return process->exit_time;
}

void
test_process_send_signal (TestProcess *process,
                          int          signum)
{
  g_subprocess_send_signal (process->subprocess, signum);
}

guint
test_process_count_lines (TestProcess *process,
                          const char  *needle)
{
  guint n;

  g_mutex_lock (&process->lock);
  n = count_matching (process->out_lines, needle);
  g_mutex_unlock (&process->lock);

  return n;
}

guint
test_process_count_stderr_lines (TestProcess *process,
                                 const char  *needle)
{
  guint n;

  g_mutex_lock (&process->lock);
  n = count_matching (process->err_lines, needle);
  g_mutex_unlock (&process->lock);

  return n;
}

static GPtrArray *
copy_matching (TestProcess *process,
               GPtrArray   *lines,
               const char  *needle)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  guint i;

  g_mutex_lock (&process->lock);
  for (i = 0; i < lines->len; i++)
    if (needle == NULL || strstr (g_ptr_array_index (lines, i), needle) != NULL)
      g_ptr_array_add (out, g_strdup (g_ptr_array_index (lines, i)));
  g_mutex_unlock (&process->lock);

  return out;
}

/* Copies of the stdout lines holding @needle (all when NULL). */
GPtrArray *
test_process_get_lines (TestProcess *process,
                        const char  *needle)
{
  return copy_matching (process, process->out_lines, needle);
}

GPtrArray *
test_process_get_stderr_lines (TestProcess *process)
{
  return copy_matching (process, process->err_lines, NULL);
}

/* For each stdout line holding @needle, the text after “@key: ” up to
 * the next “ | ” or the end of the line. */
GPtrArray *
test_process_get_values (TestProcess *process,
                         const char  *needle,
                         const char  *key)
{
  g_autoptr(GPtrArray) lines = test_process_get_lines (process, needle);
  g_autofree char *prefix = g_strdup_printf ("| %s: ", key);
  GPtrArray *values = g_ptr_array_new_with_free_func (g_free);
  guint i;

  for (i = 0; i < lines->len; i++)
    {
      const char *p = strstr (g_ptr_array_index (lines, i), prefix);
      const char *end;

      g_assert_nonnull (p);
      p += strlen (prefix);
      end = strstr (p, " | ");
      g_ptr_array_add (values, end != NULL ? g_strndup (p, (gsize) (end - p))
                                           : g_strdup (p));
    }

  return values;
}

guint64
test_process_sum_values (TestProcess *process,
                         const char  *needle,
                         const char  *key)
{
  g_autoptr(GPtrArray) values = test_process_get_values (process, needle, key);
  guint64 sum = 0;
  guint i;

  for (i = 0; i < values->len; i++)
    {
      guint64 v;

      g_assert_true (g_ascii_string_to_unsigned (g_ptr_array_index (values, i),
                                                 10, 0, G_MAXUINT64, &v, NULL));
      sum += v;
    }

  return sum;
}

/* Shows what a process said, for a failing test's log. */
void
test_process_dump (TestProcess *process)
{
  g_autoptr(GPtrArray) out = test_process_get_lines (process, NULL);
  g_autoptr(GPtrArray) err = test_process_get_stderr_lines (process);
  guint first = out->len > 40 ? out->len - 40 : 0;
  guint i;

  g_test_message ("%s: %u lines on stdout%s", process->label, out->len,
                  first > 0 ? ", the last 40:" : ":");
  for (i = first; i < out->len; i++)
    g_test_message ("  %s", (char *) g_ptr_array_index (out, i));
  for (i = 0; i < err->len; i++)
    g_test_message ("  stderr: %s", (char *) g_ptr_array_index (err, i));
}

/* ---- raw protocol ---- */

GSocketConnection *
test_raw_connect (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string (
    "127.0.0.1", port);
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  g_socket_client_set_timeout (client, TEST_TIMEOUT_MS / 1000);
  /* Isolated test dirs have no proxy settings schemas. */
  g_socket_client_set_enable_proxy (client, FALSE);
  connection = g_socket_client_connect (client,
                                        G_SOCKET_CONNECTABLE (address), NULL,
                                        &error);
  g_assert_no_error (error);

  return connection;
}

void
test_raw_send (GSocketConnection *connection,
               const guint8      *frame,
               gsize              len)
{
  g_autoptr(GError) error = NULL;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));

  lottery_stream_write (out, frame, len, NULL, &error);
  g_assert_no_error (error);
}

void
test_raw_receive (GSocketConnection *connection,
                  guint8            *buffer,
                  LotteryMessage    *message)
{
  g_autoptr(GError) error = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));

  lottery_stream_read_message (in, buffer, message, NULL, &error);
  g_assert_no_error (error);
}

/* The server closed the connection: the next read finds the end. */
void
test_raw_expect_closed (GSocketConnection *connection)
{
  g_autoptr(GError) error = NULL;
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  guint8 byte;
  gssize n;

  n = g_input_stream_read (in, &byte, 1, NULL, &error);
  if (n < 0)
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  else
    g_assert_cmpint (n, ==, 0);
}

/* @process wrote nothing on stderr (dumped if it did). */
void
test_assert_no_stderr (TestProcess *process)
{
  g_autoptr(GPtrArray) lines = test_process_get_stderr_lines (process);

  if (lines->len > 0)
    test_process_dump (process);
  g_assert_cmpuint (lines->len, ==, 0);
}

/* SIGTERM stops @process with status 0 within @max_usec. */
void
test_assert_quick_stop (TestProcess *process,
                        gint64       max_usec)
{
  gint64 sent = g_get_monotonic_time ();

  test_process_send_signal (process, SIGTERM);
  test_assert_exit (process, 0);
  g_assert_cmpint (test_process_get_exit_time (process) - sent, <, max_usec);
}

/* @client logged exactly the winners of @agency_file, @expected of
 * them, and one answer line saying so. */
void
test_assert_winners (TestProcess *client,
                     const char  *agency_file,
                     guint        expected)
{
  g_autoptr(GPtrArray) winners =
    test_process_get_values (client, "action: ganador | result: success",
                             "dni");
  g_autoptr(GPtrArray) documents = test_winning_documents (agency_file);
  g_autofree char *answer = g_strdup_printf (
    "action: consulta_ganadores | result: success | cant_ganadores: %u",
    expected);

  g_assert_cmpuint (test_process_count_lines (client, answer), ==, 1);
  g_assert_cmpuint (documents->len, ==, expected);
  test_assert_same_strings (winners, documents);
}

/* Every stdout line of @process holding @needle (every line, if NULL)
 * is a log line:
 * YYYY-MM-DD HH:MM:SS LEVEL    action: X | result: Y[ | key: value…] */
void
test_assert_log_format (TestProcess *process,
                        const char  *needle)
{
  g_autoptr(GPtrArray) lines = test_process_get_lines (process, needle);
  g_autoptr(GRegex) regex = g_regex_new (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} "
    "(DEBUG    |INFO     |WARNING  |ERROR    )"
    "action: [a-z_]+ \\| result: (success|fail|in_progress|interrupted)"
    "( \\| [a-z_]+: [^|]*)*$", 0, 0, NULL);
  guint i;

  g_assert_cmpuint (lines->len, >, 0);
  for (i = 0; i < lines->len; i++)
    {
      const char *line = g_ptr_array_index (lines, i);

      if (!g_regex_match (regex, line, 0, NULL))
        g_test_message ("not a log line: %s", line);
      g_assert_true (g_regex_match (regex, line, 0, NULL));
    }
}

/* Reads one message: an ERROR with @code. Returns its sequence. */
guint32
test_raw_expect_error (GSocketConnection *connection,
                       guint16            code)
{
  guint8 buffer[LOTTERY_FRAME_MAX];
  LotteryMessage message;

  test_raw_receive (connection, buffer, &message);
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_ERROR);
  g_test_message ("ERROR %s: %.*s", lottery_error_code_name (message.error.code),
                  (int) message.error.len, message.error.text);
  g_assert_cmpuint (message.error.code, ==, code);

  return message.error.sequence;
}

/* A BATCH frame into @out (LOTTERY_FRAME_MAX bytes) holding the one bet
 * of CSV @row, numbered @sequence; returns its length. */
gsize
test_raw_encode_batch (guint8     *out,
                       guint32     sequence,
                       const char *row)
{
  g_autofree LotteryBatchEncoder *encoder = g_new (LotteryBatchEncoder, 1);
  g_autoptr(GError) error = NULL;
  LotteryBet bet = { 0, };
  gsize len;

  lottery_bet_parse_line (&bet, row, strlen (row), &error);
  g_assert_no_error (error);
  lottery_batch_encoder_init (encoder, 10);
  g_assert_true (lottery_batch_encoder_add (encoder, &bet));
  len = lottery_batch_encoder_finish (encoder, sequence);
  memcpy (out, encoder->frame, len);

  return len;
}
