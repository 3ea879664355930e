/* test-ops.c: what operators see: the status view, the progress line
 * and the Spanish translation.
 *
 * The status message is checked as bytes (STATUS_REPLY over several
 * frames, malformed frames), then end to end with a real server and
 * `lottery-client --status`, as a table and as JSON. The progress line
 * is checked on a pseudo-terminal (it must appear, update in place and
 * disappear) and off one (nothing at all). The translation is checked
 * with the .mo built into the build tree (LOTTERY_LOCALEDIR).
 */
#include "config.h"

#include "test-utils.h"
#include "lottery-error.h"
#include "lottery-progress.h"
#include "lottery-protocol.h"
#include "lottery-status-view.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define ADD_TEST(path, func) \
  g_test_add (path, TestFixture, NULL, test_fixture_setup, func, \
              test_fixture_teardown)

#define ARGS(...) ((const char * const []) { __VA_ARGS__, NULL })

/* English, whatever the environment of the test run says. */
#define ENGLISH ARGS ("LC_ALL=C.UTF-8", "LANGUAGE=")
#define SPANISH ARGS ("LC_ALL=C.UTF-8", "LANGUAGE=es")

static const char EXITED[] = "action: done | result: success";
static const char FINISHED[] = "action: finish | result: success";

/* ---- STATUS_REPLY as bytes ---- */

static GArray *
make_entries (guint n)
{
  GArray *entries = g_array_sized_new (FALSE, FALSE,
                                       sizeof (LotteryStatusEntry), n);
  guint i;

  for (i = 0; i < n; i++)
    {
      LotteryStatusEntry e;

      e.bets = (guint64) i * 1000003 + (i % 3 == 0 ? G_MAXUINT32 + 7ull : 0);
      e.flags = (guint8) (i % 4);
      g_array_append_val (entries, e);
    }

  return entries;
}

/* Encodes @entries as the server does: frames until the last. */
static GPtrArray *
encode_status (GArray  *entries,
               guint8   flags,
               gint64   draw_time)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint8 frame[LOTTERY_FRAME_MAX];
  guint sent = 0;

  do
    {
      guint encoded;
      gsize len = lottery_message_encode_status_reply (
        frame, flags, draw_time, entries->len, sent + 1,
        &g_array_index (entries, LotteryStatusEntry, sent),
        entries->len - sent, &encoded);

      g_assert_cmpuint (len, <=, LOTTERY_FRAME_MAX);
      g_ptr_array_add (frames, g_bytes_new (frame, len));
      sent += encoded;
    }
  while (sent < entries->len);

  return frames;
}

static gboolean
decode_frame (GBytes         *frame,
              LotteryMessage *message,
              GError        **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);
  gsize body_len;

  if (!lottery_frame_parse_prefix (data, &body_len, error))
    return FALSE;
  g_assert_cmpuint (body_len + LOTTERY_FRAME_PREFIX, ==, len);

  return lottery_message_decode (data + LOTTERY_FRAME_PREFIX, body_len,
                                 message, error);
}

static void
test_status_reply_round_trip (void)
{
  const guint sizes[] = { 0, 1, 5, LOTTERY_STATUS_MAX_ENTRIES,
                          LOTTERY_STATUS_MAX_ENTRIES + 1, 100000 };
  guint s;

  g_test_summary ("STATUS_REPLY carries every agency's counts over as "
                  "many frames as needed, the last one flagged");

  for (s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autoptr(GArray) entries = make_entries (sizes[s]);
      g_autoptr(GPtrArray) frames = encode_status (entries,
                                                   LOTTERY_STATUS_DRAW_DONE,
                                                   1795000000);
      g_autoptr(LotteryStatusView) view = lottery_status_view_new ();
      guint expected_frames = MAX (1, (sizes[s] + LOTTERY_STATUS_MAX_ENTRIES - 1) /
                                      LOTTERY_STATUS_MAX_ENTRIES);
      guint i;

      g_test_message ("%u agencies", sizes[s]);
      g_assert_cmpuint (frames->len, ==, expected_frames);
      for (i = 0; i < frames->len; i++)
        {
          g_autoptr(GError) error = NULL;
          LotteryMessage message;

          g_assert_true (decode_frame (frames->pdata[i], &message, &error));
          g_assert_no_error (error);
          g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_STATUS_REPLY);
          g_assert_cmpuint (message.status.agencies, ==, sizes[s]);
          g_assert_cmpint (message.status.draw_time, ==, 1795000000);
          g_assert_cmpuint (!!(message.status.flags & LOTTERY_STATUS_LAST), ==,
                            i == frames->len - 1);
          g_assert_false (view->complete);
          g_assert_true (lottery_status_view_add_reply (view, &message, &error));
          g_assert_no_error (error);
        }

      g_assert_true (view->complete);
      g_assert_true (view->draw_done);
      g_assert_cmpint (view->draw_time, ==, 1795000000);
      g_assert_cmpuint (view->entries->len, ==, sizes[s]);
      for (i = 0; i < sizes[s]; i++)
        {
          LotteryStatusEntry *a = &g_array_index (view->entries,
                                                  LotteryStatusEntry, i);
          LotteryStatusEntry *b = &g_array_index (entries,
                                                  LotteryStatusEntry, i);

          g_assert_cmpuint (a->bets, ==, b->bets);
          g_assert_cmpuint (a->flags, ==, b->flags);
        }
    }
}

static void
assert_decode_fails (const guint8 *body,
                     gsize         len)
{
  g_autoptr(GError) error = NULL;
  LotteryMessage message;

  g_assert_false (lottery_message_decode (body, len, &message, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
}

static void
test_status_reply_malformed (void)
{
  g_autoptr(GArray) entries = make_entries (3);
  g_autoptr(GPtrArray) frames = encode_status (entries, 0, 0);
  gsize len;
  const guint8 *frame = g_bytes_get_data (frames->pdata[0], &len);
  g_autofree guint8 *body = g_memdup2 (frame + LOTTERY_FRAME_PREFIX,
                                       len - LOTTERY_FRAME_PREFIX);
  g_autofree guint8 *longer = g_malloc0 (len);
  gsize body_len = len - LOTTERY_FRAME_PREFIX;
  static const guint8 status_with_payload[] = { LOTTERY_MESSAGE_STATUS, 0 };
  static const guint8 status[] = { LOTTERY_MESSAGE_STATUS };
  LotteryMessage message;
  gsize cut;

  g_test_summary ("A STATUS_REPLY must use its bytes exactly and list "
                  "agencies within 1..N");

  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_STATUS), ==,
                   "STATUS");
  g_assert_cmpstr (lottery_message_type_name (LOTTERY_MESSAGE_STATUS_REPLY),
                   ==, "STATUS_REPLY");
  g_assert_true (lottery_message_decode (status, sizeof status, &message,
                                         NULL));
  g_assert_cmpint (message.type, ==, LOTTERY_MESSAGE_STATUS);
  assert_decode_fails (status_with_payload, sizeof status_with_payload);

  g_assert_true (lottery_message_decode (body, body_len, &message, NULL));
  for (cut = 1; cut < body_len; cut++)
    assert_decode_fails (body, cut);
  memcpy (longer, body, body_len);
  assert_decode_fails (longer, body_len + 1);

  /* Agencies are numbered from 1. */
  body[14] = 0;
  body[15] = 0;
  body[16] = 0;
  body[17] = 0;
  assert_decode_fails (body, body_len);
  /* Agencies 2..4 of 3. */
  body[17] = 2;
  assert_decode_fails (body, body_len);
}

static void
test_status_view_follows_on (void)
{
  g_autoptr(GArray) entries = make_entries (LOTTERY_STATUS_MAX_ENTRIES * 2);
  g_autoptr(GPtrArray) frames = encode_status (entries, 0, 0);
  g_autoptr(LotteryStatusView) view = lottery_status_view_new ();
  g_autoptr(GError) error = NULL;
  LotteryMessage first, second;
  guint8 frame[LOTTERY_FRAME_MAX];
  guint encoded;
  gsize len;

  g_test_summary ("The client accepts STATUS_REPLY frames only in order "
                  "and whole");

  g_assert_cmpuint (frames->len, ==, 2);
  g_assert_true (decode_frame (frames->pdata[0], &first, NULL));
  g_assert_true (decode_frame (frames->pdata[1], &second, NULL));

  /* The second frame first. */
  g_assert_false (lottery_status_view_add_reply (view, &second, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* The first frame twice. */
  g_assert_true (lottery_status_view_add_reply (view, &first, &error));
  g_assert_false (lottery_status_view_add_reply (view, &first, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* A "last" frame that leaves agencies out. */
  g_clear_pointer (&view, lottery_status_view_free);
  view = lottery_status_view_new ();
  len = lottery_message_encode_status_reply (frame, 0, 0, 5, 1,
                                             (LotteryStatusEntry *) entries->data,
                                             3, &encoded);
  g_assert_cmpuint (encoded, ==, 3);
  /* Claimed last although agencies 4 and 5 are missing. */
  frame[5] |= LOTTERY_STATUS_LAST;
  g_assert_true (lottery_message_decode (frame + LOTTERY_FRAME_PREFIX,
                                         len - LOTTERY_FRAME_PREFIX, &first,
                                         NULL));
  g_assert_false (lottery_status_view_add_reply (view, &first, &error));
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_PROTOCOL);
}

/* ---- the table and the JSON, from a view ---- */

static LotteryStatusView *
sample_view (gboolean drawn)
{
  LotteryStatusView *view = lottery_status_view_new ();
  const LotteryStatusEntry entries[] = {
    { 52736, LOTTERY_AGENCY_FINISHED },
    { 1234567, LOTTERY_AGENCY_CONNECTED },
    { 0, 0 },
  };

  g_array_append_vals (view->entries, entries, G_N_ELEMENTS (entries));
  view->agencies = G_N_ELEMENTS (entries);
  view->draw_done = drawn;
  view->draw_time = drawn ? 1795000000 : 0;
  view->complete = TRUE;

  return view;
}

static void
test_status_table (void)
{
  g_autoptr(LotteryStatusView) view = sample_view (FALSE);
  g_autofree char *table = lottery_status_view_format_table (view);

  g_test_summary ("--status prints one aligned row per agency, totals and "
                  "the draw");

  g_assert_cmpstr (table, ==,
                   "AGENCY     BETS  FINISHED  CONNECTED\n"
                   "     1    52736  yes       no\n"
                   "     2  1234567  no        yes\n"
                   "     3        0  no        no\n"
                   "Total: 1287303 bets; 1 of 3 agencies finished\n"
                   "Draw: not yet\n");
}

static void
test_status_json (void)
{
  g_autoptr(LotteryStatusView) view = sample_view (TRUE);
  g_autofree char *text = lottery_status_view_format_json (view);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonObject *root, *draw, *agency;
  JsonArray *agencies;

  g_test_summary ("--status --json prints the same counts as JSON");

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));
  agencies = json_object_get_array_member (root, "agencies");
  g_assert_cmpuint (json_array_get_length (agencies), ==, 3);
  agency = json_array_get_object_element (agencies, 1);
  g_assert_cmpint (json_object_get_int_member (agency, "id"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (agency, "bets"), ==, 1234567);
  g_assert_false (json_object_get_boolean_member (agency, "finished"));
  g_assert_true (json_object_get_boolean_member (agency, "connected"));
  g_assert_cmpint (json_object_get_int_member (root, "bets"), ==, 1287303);
  g_assert_cmpint (json_object_get_int_member (root, "finished"), ==, 1);
  draw = json_object_get_object_member (root, "draw");
  g_assert_true (json_object_get_boolean_member (draw, "done"));
  g_assert_cmpstr (json_object_get_string_member (draw, "time"), ==,
                   "2026-11-18T11:06:40Z");
}

/* ---- the progress line's text ---- */

static void
test_progress_format (TestFixture   *fixture,
                      gconstpointer  data)
{
  g_autofree char *path = NULL;
  g_autofree char *estimate = NULL;
  g_autofree char *exact = NULL;
  g_autofree char *unknown = NULL;
  g_autofree char *late = NULL;
  g_autofree char *short_estimate = NULL;
  g_autofree char *contents = g_strnfill (1000, 'x');
  g_autoptr(LotteryProgress) sized = NULL;
  g_autoptr(LotteryProgress) unsized = NULL;

  g_test_summary ("The progress line: bets answered of the (estimated) "
                  "total, rate, time elapsed");

  path = test_write_file (fixture, "agency.csv", contents);
  sized = lottery_progress_new (-1, path);
  unsized = lottery_progress_new (-1, NULL);

  /* 250 of 1000 bytes held 50 rows: about 200 in all. */
  estimate = lottery_progress_format (sized, 20, 50, 250, FALSE,
                                      (gint64) 2 * G_USEC_PER_SEC);
  g_assert_cmpstr (estimate, ==, "Sent 20 of ~200 bets (10%), 10 bets/s, 0:02");
  exact = lottery_progress_format (sized, 150, 190, 1000, TRUE,
                                   (gint64) 75 * G_USEC_PER_SEC);
  g_assert_cmpstr (exact, ==, "Sent 150 of 190 bets (78%), 2 bets/s, 1:15");
  unknown = lottery_progress_format (unsized, 300, 400, 5000, FALSE,
                                     G_USEC_PER_SEC);
  g_assert_cmpstr (unknown, ==, "Sent 300 bets, 300 bets/s, 0:01");
  late = lottery_progress_format (sized, 10, 10, 1000, TRUE,
                                  (gint64) 3725 * G_USEC_PER_SEC);
  g_assert_cmpstr (late, ==, "Sent 10 of 10 bets (100%), 0 bets/s, 1:02:05");
  /* An estimate that fell short never shows more than 100%. */
  short_estimate = lottery_progress_format (sized, 300, 250, 1000, FALSE,
                                            G_USEC_PER_SEC);
  g_assert_cmpstr (short_estimate, ==,
                   "Sent 300 of ~250 bets (100%), 300 bets/s, 0:01");
}

/* ---- processes on a pseudo-terminal ---- */

/* Settings the child must not inherit. */
static const char * const scrubbed_env[] = {
  "CLI_ID", "CLI_SERVER_ADDRESS", "CLI_BATCH_MAXAMOUNT", "CLI_BETS_FILE",
  "CLI_LOG_LEVEL", "NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO",
  "G_MESSAGES_DEBUG", NULL
};

typedef struct
{
  GString *tty;    /* all that was written to the terminal */
  char    *out;    /* standard output (NULL if shared) */
  gboolean shared; /* stdout on the terminal too, as for a person */
  int      status; /* exit status */
  gint64   usec;   /* how long it ran */
} PtyRun;

static void
pty_run_clear (PtyRun *run)
{
  if (run->tty != NULL)
    g_string_free (run->tty, TRUE);
  g_free (run->out);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PtyRun, pty_run_clear)

/* Runs @argv with its stderr on a new pseudo-terminal @cols wide (0:
 * not set) and stdout on a pipe, until it exits. */
static void
run_on_pty (TestFixture        *fixture,
            const char * const *argv,
            const char * const *env,
            guint               cols,
            PtyRun             *run)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + TEST_TIMEOUT_MS * (gint64) 1000;
  int master, slave;
  guint i;

  master = posix_openpt (O_RDWR | O_NOCTTY);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY);
  g_assert_cmpint (slave, >=, 0);
  if (cols > 0)
    {
      struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short) cols };

      g_assert_cmpint (ioctl (master, TIOCSWINSZ, &ws), ==, 0);
    }

  launcher = g_subprocess_launcher_new (run->shared
                                        ? G_SUBPROCESS_FLAGS_NONE
                                        : G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  if (run->shared)
    g_subprocess_launcher_take_stdout_fd (launcher, dup (slave));
  g_subprocess_launcher_set_cwd (launcher, fixture->dir);
  for (i = 0; scrubbed_env[i] != NULL; i++)
    g_subprocess_launcher_unsetenv (launcher, scrubbed_env[i]);
  for (i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) kv = g_strsplit (env[i], "=", 2);

      g_subprocess_launcher_setenv (launcher, kv[0], kv[1], TRUE);
    }
  g_subprocess_launcher_take_stderr_fd (launcher, slave);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  /* Closes our copy of the terminal's end: reads then end with EIO
   * once the child has gone. */
  g_clear_object (&launcher);

  run->tty = g_string_new (NULL);
  for (;;)
    {
      struct pollfd pfd = { .fd = master, .events = POLLIN };
      char buf[4096];
      gssize n;
      int ready;

      ready = poll (&pfd, 1,
                    (int) MAX ((deadline - g_get_monotonic_time ()) / 1000, 0));
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready == 0)
        {
          g_subprocess_force_exit (process);
          g_error ("%s did not finish in time; terminal so far: %s", argv[0],
                   run->tty->str);
        }
      n = read (master, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_len (run->tty, buf, n);
    }
  close (master);

  g_subprocess_communicate_utf8 (process, NULL, NULL,
                                 run->shared ? NULL : &run->out, NULL,
                                 &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  run->status = g_subprocess_get_exit_status (process);
  run->usec = g_get_monotonic_time () - start;
}

static char *
client_path (void)
{
  const char *path = g_getenv ("LOTTERY_CLIENT");

  if (path == NULL)
    g_error ("LOTTERY_CLIENT is not set; run the tests with meson test");
  return g_strdup (path);
}

static char *
server_path (void)
{
  const char *path = g_getenv ("LOTTERY_SERVER");

  if (path == NULL)
    g_error ("LOTTERY_SERVER is not set; run the tests with meson test");
  return g_strdup (path);
}

/* Runs one agency's upload of @rows bets with stderr on a terminal. */
static void
upload_on_pty (TestFixture        *fixture,
               guint64             rows,
               const char * const *extra,
               const char * const *env,
               guint               cols,
               PtyRun             *run)
{
  g_autofree char *client = client_path ();
  g_autofree char *bets = test_gen_bets (fixture, "agency-1.csv", rows, 7, 2,
                                         FALSE);
  g_autofree char *address = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  TestProcess *server = test_server_start (fixture, 1, NULL);
  guint i;

  address = g_strdup_printf ("127.0.0.1:%u", test_server_get_port (server));
  g_ptr_array_add (argv, g_strdup (client));
  g_ptr_array_add (argv, g_strdup ("--id=1"));
  g_ptr_array_add (argv, g_strdup_printf ("--server=%s", address));
  g_ptr_array_add (argv, g_strdup_printf ("--bets-file=%s", bets));
  for (i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);

  run_on_pty (fixture, (const char * const *) argv->pdata, env, cols, run);
  if (run->status != 0)
    g_test_message ("stdout: %s\nterminal: %s", run->out, run->tty->str);
  g_assert_cmpint (run->status, ==, 0);
  /* The log lines are as always, and only on stdout. */
  if (run->shared)
    return;
  g_assert_nonnull (strstr (run->out, EXITED));
  g_assert_nonnull (strstr (run->out, "action: consulta_ganadores | "
                                      "result: success | cant_ganadores: 2"));
  g_assert_null (strchr (run->out, '\r'));
}

/* The states the line went through: the text between carriage returns. */
static GStrv
tty_segments (const GString *tty)
{
  return g_strsplit (tty->str, "\r", -1);
}

static gboolean
is_blank (const char *s)
{
  return s[strspn (s, " ")] == '\0';
}

static void
test_progress_on_terminal (TestFixture   *fixture,
                           gconstpointer  data)
{
  g_auto(PtyRun) run = { 0, };
  g_auto(GStrv) segments = NULL;
  guint n, i, drawn = 0;
  gboolean waited = FALSE;
  const char *last_text = NULL;

  g_test_summary ("With stderr on a terminal, one line shows the upload's "
                  "progress in place, at most ten times a second, and is "
                  "blanked at the end");

  /* Long enough to outlast a redraw interval (0.1 s) several times,
   * even on a fast machine. */
  upload_on_pty (fixture, 1500000, NULL, ENGLISH, 0, &run);
  g_test_message ("%" G_GSIZE_FORMAT " bytes on the terminal in %.2f s",
                  run.tty->len, run.usec / 1e6);

  /* Never a new line: everything happens on one line. */
  g_assert_null (strchr (run.tty->str, '\n'));
  segments = tty_segments (run.tty);
  n = g_strv_length (segments);
  g_assert_cmpuint (n, >=, 3);
  /* It ends blank, with the cursor at the start of the line. */
  g_assert_cmpstr (segments[n - 1], ==, "");
  g_assert_true (is_blank (segments[n - 2]));
  for (i = 0; i < n; i++)
    {
      if (is_blank (segments[i]))
        continue;
      last_text = segments[i];
      if (g_str_has_prefix (segments[i], "Sent ") &&
          strstr (segments[i], "bets/s") != NULL)
        {
          g_assert_null (strstr (segments[i], "waiting"));
          g_assert_nonnull (strstr (segments[i], " of "));
          drawn++;
        }
      else if (g_str_has_prefix (segments[i], "Sent 1500000 bets in ") &&
               g_str_has_suffix (g_strchomp (segments[i]),
                                 "; waiting for the draw…"))
        waited = TRUE;
      else
        g_error ("unexpected text on the terminal: “%s”", segments[i]);
    }
  g_assert_nonnull (last_text);
  g_assert_true (waited);
  g_assert_cmpuint (drawn, >=, 1);
  /* Cheap: no more than ten redraws a second. */
  g_assert_cmpuint (drawn, <=, run.usec / 100000 + 1);
}

static void
test_progress_after_log_lines (TestFixture   *fixture,
                               gconstpointer  data)
{
  g_auto(PtyRun) run = { .shared = TRUE, };
  const char *logged;
  const char *waiting;

  g_test_summary ("Log lines and the progress line on one terminal: the "
                  "waiting line is drawn after the log line that says the "
                  "agency waits, not under it");
  upload_on_pty (fixture, 20000, NULL, ENGLISH, 0, &run);
  logged = strstr (run.tty->str,
                   "action: consulta_ganadores | result: in_progress");
  g_assert_nonnull (logged);
  waiting = strstr (logged, "; waiting for the draw");
  if (waiting == NULL)
    g_test_message ("terminal: %s", run.tty->str);
  g_assert_nonnull (waiting);
  /* Each log line starts on a blank line: none is written on top of
   * the progress text. */
  g_assert_null (strstr (run.tty->str, "/s, 0:00INFO"));
  g_assert_nonnull (strstr (run.tty->str, "action: done | result: success"));
}

static void
test_progress_narrow_terminal (TestFixture   *fixture,
                               gconstpointer  data)
{
  g_auto(PtyRun) run = { 0, };
  g_auto(GStrv) segments = NULL;
  guint i;

  g_test_summary ("The progress line is cut to the terminal's width, so it "
                  "never wraps");

  upload_on_pty (fixture, 1000, NULL, ENGLISH, 30, &run);
  segments = tty_segments (run.tty);
  g_assert_cmpuint (g_strv_length (segments), >=, 3);
  for (i = 0; segments[i] != NULL; i++)
    g_assert_cmpint (g_utf8_strlen (segments[i], -1), <=, 29);
  g_assert_nonnull (strstr (run.tty->str, "Sent 1000 bets in "));
}

static void
test_progress_quiet (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_auto(PtyRun) run = { 0, };

  g_test_summary ("--quiet: no progress line, even on a terminal");

  upload_on_pty (fixture, 100000, ARGS ("--quiet"), ENGLISH, 0, &run);
  g_assert_cmpstr (run.tty->str, ==, "");
}

static void
test_progress_not_a_terminal (TestFixture   *fixture,
                              gconstpointer  data)
{
  g_autofree char *bets = test_gen_bets (fixture, "agency-1.csv", 100000, 7,
                                         1, FALSE);
  g_autofree char *file_arg = g_strdup_printf ("--bets-file=%s", bets);
  g_autoptr(GPtrArray) err = NULL;
  TestProcess *server = test_server_start (fixture, 1, NULL);
  TestProcess *client;

  g_test_summary ("With stderr not a terminal, no progress line at all");

  client = test_client_run (fixture, test_server_get_port (server), 1,
                            ARGS (file_arg), ENGLISH);
  test_assert_exit (client, 0);
  test_assert_line (client, EXITED, 1);
  err = test_process_get_stderr_lines (client);
  if (err->len > 0)
    test_process_dump (client);
  g_assert_cmpuint (err->len, ==, 0);
}

/* ---- the status view, end to end ---- */

static TestProcess *
run_status (TestFixture *fixture,
            guint16      port,
            gboolean     json)
{
  g_autofree char *client = client_path ();
  g_autofree char *address = g_strdup_printf ("--server=127.0.0.1:%u", port);
  const char *argv[] = { client, "--status", address, json ? "--json" : NULL,
                         NULL };
  TestProcess *process = test_process_spawn (fixture, "status", argv, ENGLISH);

  test_assert_exit (process, 0);
  return process;
}

static char *
process_stdout (TestProcess *process)
{
  g_autoptr(GPtrArray) lines = test_process_get_lines (process, "");
  g_autoptr(GString) out = g_string_new (NULL);
  guint i;

  for (i = 0; i < lines->len; i++)
    g_string_append_printf (out, "%s\n", (char *) lines->pdata[i]);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static JsonObject *
status_json (TestFixture *fixture,
             guint16      port,
             JsonParser  *parser)
{
  TestProcess *process = run_status (fixture, port, TRUE);
  g_autofree char *text = process_stdout (process);
  g_autoptr(GError) error = NULL;

  if (!json_parser_load_from_data (parser, text, -1, &error))
    g_test_message ("--json printed: %s", text);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_status_end_to_end (TestFixture   *fixture,
                        gconstpointer  data)
{
  g_autofree char *bets1 = test_gen_bets (fixture, "agency-1.csv", 1000, 1, 1,
                                          FALSE);
  g_autofree char *bets2 = test_gen_bets (fixture, "agency-2.csv", 500, 2, 0,
                                          FALSE);
  g_autofree char *arg1 = g_strdup_printf ("--bets-file=%s", bets1);
  g_autofree char *arg2 = g_strdup_printf ("--bets-file=%s", bets2);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *before = NULL;
  g_autofree char *during = NULL;
  g_autofree char *after = NULL;
  TestProcess *server = test_server_start (fixture, 2, NULL);
  guint16 port = test_server_get_port (server);
  TestProcess *agency1, *agency2;
  JsonObject *root, *draw;
  JsonArray *agencies;
  GDateTime *when;
  gint64 age;

  g_test_summary ("lottery-client --status shows the server's counts before, "
                  "during and after the draw, as a table or as JSON");

  before = process_stdout (run_status (fixture, port, FALSE));
  g_assert_cmpstr (before, ==,
                   "AGENCY  BETS  FINISHED  CONNECTED\n"
                   "     1     0  no        no\n"
                   "     2     0  no        no\n"
                   "Total: 0 bets; 0 of 2 agencies finished\n"
                   "Draw: not yet\n");

  /* Agency 1 finishes and waits, connected, for the draw. */
  agency1 = test_client_start (fixture, port, 1, ARGS (arg1), ENGLISH);
  test_assert_line (server, FINISHED, 1);
  during = process_stdout (run_status (fixture, port, FALSE));
  g_assert_cmpstr (during, ==,
                   "AGENCY  BETS  FINISHED  CONNECTED\n"
                   "     1  1000  yes       yes\n"
                   "     2     0  no        no\n"
                   "Total: 1000 bets; 1 of 2 agencies finished\n"
                   "Draw: not yet\n");
  root = status_json (fixture, port, parser);
  draw = json_object_get_object_member (root, "draw");
  g_assert_false (json_object_get_boolean_member (draw, "done"));
  g_assert_true (json_object_get_null_member (draw, "time"));

  agency2 = test_client_run (fixture, port, 2, ARGS (arg2), ENGLISH);
  test_assert_exit (agency2, 0);
  test_assert_exit (agency1, 0);
  test_assert_line (server, "action: close_connection | result: success | "
                    "agency: 1", 1);
  test_assert_line (server, "action: close_connection | result: success | "
                    "agency: 2", 1);
  /* Nothing about winners: counts only. */
  after = process_stdout (run_status (fixture, port, FALSE));
  g_assert_true (g_str_has_prefix (after,
                                   "AGENCY  BETS  FINISHED  CONNECTED\n"
                                   "     1  1000  yes       no\n"
                                   "     2   500  yes       no\n"
                                   "Total: 1500 bets; 2 of 2 agencies finished\n"
                                   "Draw: done at "));

  root = status_json (fixture, port, parser);
  agencies = json_object_get_array_member (root, "agencies");
  g_assert_cmpuint (json_array_get_length (agencies), ==, 2);
  g_assert_cmpint (json_object_get_int_member (
                     json_array_get_object_element (agencies, 1), "bets"),
                   ==, 500);
  g_assert_cmpint (json_object_get_int_member (root, "bets"), ==, 1500);
  g_assert_cmpint (json_object_get_int_member (root, "finished"), ==, 2);
  draw = json_object_get_object_member (root, "draw");
  g_assert_true (json_object_get_boolean_member (draw, "done"));
  when = g_date_time_new_from_iso8601 (
    json_object_get_string_member (draw, "time"), NULL);
  g_assert_nonnull (when);
  age = g_get_real_time () / G_USEC_PER_SEC - g_date_time_to_unix (when);
  g_date_time_unref (when);
  g_assert_cmpint (age, >=, 0);
  g_assert_cmpint (age, <, 120);

  /* STATUS is a read-only side door: the server still logs nothing. */
  g_assert_cmpuint (test_process_count_lines (server, "action: status"), ==, 0);
}

/* A port of 127.0.0.1 where nothing listens. */
static guint16
closed_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback =
    g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                         G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);

  /* Bound, never listening: connections are refused. */
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_status_unreachable (TestFixture   *fixture,
                         gconstpointer  data)
{
  g_autofree char *client = client_path ();
  g_autofree char *address = NULL;
  g_autoptr(GPtrArray) err = NULL;
  TestProcess *status;

  g_test_summary ("--status exits 1, with one line on stderr, when the "
                  "server does not answer; --json needs --status");

  address = g_strdup_printf ("--server=127.0.0.1:%u", closed_port ());

  status = test_process_spawn (fixture, "status",
                               ARGS (client, "--status", address), ENGLISH);
  test_assert_exit (status, 1);
  err = test_process_get_stderr_lines (status);
  g_assert_cmpuint (err->len, ==, 1);
  g_assert_true (g_str_has_prefix (err->pdata[0], "lottery-client: 127.0.0.1:"));
  g_assert_cmpuint (test_process_count_lines (status, ""), ==, 0);

  status = test_process_spawn (fixture, "json",
                               ARGS (client, "--json", address), ENGLISH);
  test_assert_exit (status, 2);
  g_clear_pointer (&err, g_ptr_array_unref);
  err = test_process_get_stderr_lines (status);
  g_assert_cmpuint (err->len, ==, 1);
  g_assert_cmpstr (err->pdata[0], ==,
                   "lottery-client: --json goes with --status");
}

/* ---- Spanish ---- */

static GPtrArray *
run_for_output (TestFixture        *fixture,
                const char * const *argv,
                int                 status,
                gboolean            err)
{
  TestProcess *process = test_process_spawn (fixture, argv[0], argv, SPANISH);

  test_assert_exit (process, status);
  return err ? test_process_get_stderr_lines (process)
             : test_process_get_lines (process, "");
}

static gboolean
has_line (GPtrArray  *lines,
          const char *line)
{
  guint i;

  for (i = 0; i < lines->len; i++)
    if (g_str_equal (lines->pdata[i], line))
      return TRUE;
  g_test_message ("no line “%s” in:", line);
  for (i = 0; i < lines->len; i++)
    g_test_message ("  %s", (char *) lines->pdata[i]);
  return FALSE;
}

static void
test_spanish_help (TestFixture   *fixture,
                   gconstpointer  data)
{
  g_autofree char *client = client_path ();
  g_autofree char *server = server_path ();
  g_autoptr(GPtrArray) client_help = NULL;
  g_autoptr(GPtrArray) server_help = NULL;
  guint i;
  gboolean found = FALSE;

  g_test_summary ("LANGUAGE=es: --help is in Spanish");

  g_assert_nonnull (g_getenv ("LOTTERY_LOCALEDIR"));
  client_help = run_for_output (fixture, ARGS (client, "--help"), 0, FALSE);
  for (i = 0; i < client_help->len; i++)
    if (g_str_has_prefix (client_help->pdata[i], "  --ping ") &&
        g_str_has_suffix (client_help->pdata[i],
                          "Solo comprobar que el servidor responde (estado "
                          "de salida 0 si responde)"))
      found = TRUE;
  if (!found)
    for (i = 0; i < client_help->len; i++)
      g_test_message ("%s", (char *) client_help->pdata[i]);
  g_assert_true (found);
  g_assert_true (has_line (client_help,
                           "Configuración, de mayor a menor precedencia: "
                           "las opciones; las"));
  g_assert_true (has_line (client_help, "variables de entorno"));
  g_assert_true (has_line (client_help,
                           "el archivo JSON indicado con --config o, si no, "
                           "./client.json si existe;"));

  server_help = run_for_output (fixture, ARGS (server, "--help"), 0, FALSE);
  g_assert_true (has_line (server_help,
                           "Servidor central de la Lotería Nacional: recibe "
                           "las apuestas de las"));
  g_assert_true (has_line (server_help,
                           "el archivo JSON indicado con --config o, si no, "
                           "./server.json si existe;"));
}

static void
test_spanish_errors (TestFixture   *fixture,
                     gconstpointer  data)
{
  g_autofree char *client = client_path ();
  g_autofree char *server = server_path ();
  g_autoptr(GPtrArray) client_err = NULL;
  g_autoptr(GPtrArray) server_err = NULL;

  g_test_summary ("LANGUAGE=es: error messages are in Spanish");

  client_err = run_for_output (fixture,
                               ARGS (client, "--batch-max-amount=0"), 2, TRUE);
  g_assert_cmpuint (client_err->len, ==, 1);
  g_assert_cmpstr (client_err->pdata[0], ==,
                   "lottery-client: --batch-max-amount: batch.maxAmount debe "
                   "ser un entero de 1 a 409, no “0”");

  server_err = run_for_output (fixture,
                               ARGS (server, "--log-level=RUIDOSO"), 2, TRUE);
  g_assert_cmpuint (server_err->len, ==, 1);
  g_assert_cmpstr (server_err->pdata[0], ==,
                   "lottery-server: --log-level: log.level debe ser DEBUG, "
                   "INFO, WARNING o ERROR, no «RUIDOSO»");
}

static void
test_spanish_progress_and_logs (TestFixture   *fixture,
                                gconstpointer  data)
{
  g_auto(PtyRun) run = { 0, };

  g_test_summary ("LANGUAGE=es: the progress line is in Spanish, the log "
                  "lines stay as they are (they are read by programs)");

  upload_on_pty (fixture, 1000, NULL, SPANISH, 0, &run);
  g_assert_nonnull (strstr (run.tty->str, "\rEnviadas 1000 apuestas en "));
  g_assert_nonnull (strstr (run.tty->str, "; esperando el sorteo…"));
  g_assert_nonnull (strstr (run.out, "action: config | result: success"));
  g_assert_nonnull (strstr (run.out, "action: ganador | result: success | dni: "));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/ops/protocol/status-reply/round-trip",
                   test_status_reply_round_trip);
  g_test_add_func ("/ops/protocol/status-reply/malformed",
                   test_status_reply_malformed);
  g_test_add_func ("/ops/status/view/follows-on", test_status_view_follows_on);
  g_test_add_func ("/ops/status/view/table", test_status_table);
  g_test_add_func ("/ops/status/view/json", test_status_json);
  ADD_TEST ("/ops/status/end-to-end", test_status_end_to_end);
  ADD_TEST ("/ops/status/unreachable", test_status_unreachable);
  ADD_TEST ("/ops/progress/format", test_progress_format);
  ADD_TEST ("/ops/progress/terminal", test_progress_on_terminal);
  ADD_TEST ("/ops/progress/narrow-terminal", test_progress_narrow_terminal);
  ADD_TEST ("/ops/progress/after-log-lines", test_progress_after_log_lines);
  ADD_TEST ("/ops/progress/quiet", test_progress_quiet);
  ADD_TEST ("/ops/progress/not-a-terminal", test_progress_not_a_terminal);
  ADD_TEST ("/ops/i18n/help", test_spanish_help);
  ADD_TEST ("/ops/i18n/errors", test_spanish_errors);
  ADD_TEST ("/ops/i18n/progress-and-logs", test_spanish_progress_and_logs);

  return g_test_run ();
}
