/* test-utils.h: helpers for the integration tests.
 *
 * A TestFixture owns a temporary directory and every process started
 * through it; teardown kills what is still running and removes the
 * directory. Every wait has a deadline, so a hung process fails the
 * test instead of hanging it.
 */
#pragma once

#include <gio/gio.h>

#include "lottery-protocol.h"

G_BEGIN_DECLS

/* The default deadline of every wait. */
#define TEST_TIMEOUT_MS 20000

typedef struct _TestProcess TestProcess;

typedef struct
{
  char      *dir;       /* temporary directory, removed in teardown */
  GPtrArray *processes; /* TestProcess *, killed in teardown */
} TestFixture;

void         test_fixture_setup            (TestFixture        *fixture,
                                            gconstpointer       data);
void         test_fixture_teardown         (TestFixture        *fixture,
                                            gconstpointer       data);
char        *test_fixture_path             (TestFixture        *fixture,
                                            const char         *name);
void         test_fixture_dump             (TestFixture        *fixture);

/* Files */
char        *test_write_file               (TestFixture        *fixture,
                                            const char         *name,
                                            const char         *contents);
char        *test_gen_bets                 (TestFixture        *fixture,
                                            const char         *name,
                                            guint64             rows,
                                            gint64              seed,
                                            gint64              winners,
                                            gboolean            crlf);
GPtrArray   *test_read_rows                (const char         *path);
GPtrArray   *test_expected_rows            (const char         *agency_file,
                                            guint               agency);
void         test_assert_rows_prefix       (GPtrArray          *rows,
                                            const char         *agency_file,
                                            guint               agency);
GPtrArray   *test_winning_documents        (const char         *agency_file);
char       **test_csv_split                (const char         *line,
                                            gsize               len);
char        *test_csv_join                 (const char * const *fields);
void         test_assert_same_rows         (GPtrArray          *actual,
                                            GPtrArray          *expected);
void         test_assert_same_strings      (GPtrArray          *actual,
                                            GPtrArray          *expected);

/* Processes */
TestProcess *test_process_spawn            (TestFixture        *fixture,
                                            const char         *label,
                                            const char * const *argv,
                                            const char * const *env);
TestProcess *test_server_start             (TestFixture        *fixture,
                                            guint               agencies,
                                            const char * const *extra_args);
guint16      test_server_get_port          (TestProcess        *server);
const char  *test_process_get_pid          (TestProcess        *process);
TestProcess *test_client_start             (TestFixture        *fixture,
                                            guint16             port,
                                            guint               id,
                                            const char * const *extra_args,
                                            const char * const *env);
TestProcess *test_client_run               (TestFixture        *fixture,
                                            guint16             port,
                                            guint               id,
                                            const char * const *extra_args,
                                            const char * const *env);

gboolean     test_process_wait_for_line    (TestProcess        *process,
                                            const char         *needle,
                                            guint               count,
                                            guint               timeout_ms);
gboolean     test_process_wait_exit        (TestProcess        *process,
                                            guint               timeout_ms);
gboolean     test_process_is_running       (TestProcess        *process);
int          test_process_get_exit_status  (TestProcess        *process);
gint64       test_process_get_exit_time    (TestProcess        *process);
void         test_process_send_signal      (TestProcess        *process,
                                            int                 signum);
guint        test_process_count_lines      (TestProcess        *process,
                                            const char         *needle);
guint        test_process_count_stderr_lines (TestProcess      *process,
                                              const char       *needle);
GPtrArray   *test_process_get_lines        (TestProcess        *process,
                                            const char         *needle);
GPtrArray   *test_process_get_stderr_lines (TestProcess        *process);
GPtrArray   *test_process_get_values       (TestProcess        *process,
                                            const char         *needle,
                                            const char         *key);
guint64      test_process_sum_values       (TestProcess        *process,
                                            const char         *needle,
                                            const char         *key);
void         test_process_dump             (TestProcess        *process);
void         test_assert_no_stderr         (TestProcess        *process);
void         test_assert_log_format        (TestProcess        *process,
                                            const char         *needle);
void         test_assert_quick_stop        (TestProcess        *process,
                                            gint64              max_usec);
void         test_assert_winners           (TestProcess        *client,
                                            const char         *agency_file,
                                            guint               expected);

#define test_assert_line(process, needle, count)                          \
  G_STMT_START {                                                          \
    if (!test_process_wait_for_line ((process), (needle), (count),        \
                                     TEST_TIMEOUT_MS))                    \
      {                                                                   \
        test_process_dump (process);                                      \
        g_test_message ("waited for “%s”", (needle));                     \
        g_assert_cmpuint (test_process_count_lines ((process), (needle)), \
                          >=, (count));                                   \
      }                                                                   \
  } G_STMT_END

/* Waits for @count lines holding @needle, then checks there are no more:
 * the lines of a process are collected as they come, so a line must be
 * waited for even when what it reports is known to have happened. */
#define test_assert_lines(process, needle, count)                         \
  G_STMT_START {                                                          \
    test_assert_line ((process), (needle), (count));                      \
    g_assert_cmpuint (test_process_count_lines ((process), (needle)), ==, \
                      (count));                                           \
  } G_STMT_END

#define test_assert_exit(process, status)                                 \
  G_STMT_START {                                                          \
    if (!test_process_wait_exit ((process), TEST_TIMEOUT_MS))             \
      test_process_dump (process);                                        \
    g_assert_false (test_process_is_running (process));                   \
    if (test_process_get_exit_status (process) != (status))               \
      test_process_dump (process);                                        \
    g_assert_cmpint (test_process_get_exit_status (process), ==, (status)); \
  } G_STMT_END

/* Raw protocol, blocking, with a socket timeout */
GSocketConnection *test_raw_connect        (guint16             port);
void         test_raw_send                 (GSocketConnection  *connection,
                                            const guint8       *frame,
                                            gsize               len);
void         test_raw_receive              (GSocketConnection  *connection,
                                            guint8             *buffer,
                                            LotteryMessage     *message);
void         test_raw_expect_closed        (GSocketConnection  *connection);
guint32      test_raw_expect_error         (GSocketConnection  *connection,
                                            guint16             code);
gsize        test_raw_encode_batch         (guint8             *out,
                                            guint32             sequence,
                                            const char         *row);

G_END_DECLS
