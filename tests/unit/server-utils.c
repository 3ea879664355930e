/* server-utils.c: socket pairs, raw frames and a log capture for the
 * in-process tests of the server's units. The "client" end is blocking
 * and read by the test itself; the server end belongs to the main
 * context, which the test iterates. */
#include "config.h"

#include "server-utils.h"
#include "unit-utils.h"

#include <string.h>

/* Log messages come from worker threads too (a batch job logs what it
 * stored): the array is only touched under its lock. */
static GMutex log_lock;
static GPtrArray *log_lines; /* char * (owned): every log message */

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  gsize i;

  for (i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      {
        g_mutex_lock (&log_lock);
        g_ptr_array_add (log_lines, g_strdup (fields[i].value));
        g_mutex_unlock (&log_lock);
        if (g_test_verbose ())
          g_test_message ("log: %s", (const char *) fields[i].value);
      }

  return G_LOG_WRITER_HANDLED;
}

/* After g_test_init (): logs are captured, and the server's error lines
 * (CRITICAL) are data for the tests, not fatal. */
void
server_test_init (void)
{
  log_lines = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR);
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
}

/* Log lines so far that contain @needle. */
guint
server_log_count (const char *needle)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&log_lock);
  guint i, n = 0;

  for (i = 0; i < log_lines->len; i++)
    if (strstr (g_ptr_array_index (log_lines, i), needle) != NULL)
      n++;

  return n;
}

void
server_log_clear (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&log_lock);

  g_ptr_array_set_size (log_lines, 0);
}

/* (transfer full) both ends of a TCP connection over 127.0.0.1: what
 * the server sees (a socket pair of another family would not honour the
 * low-water mark the TLS gate uses). */
void
server_socket_pair (GSocketConnection **server,
                    GSocketConnection **client)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) listener = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GSocket) connecting = NULL;
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new_from_string (
    "127.0.0.1", 0);
  g_autoptr(GSocketAddress) bound = NULL;

  listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, any, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  bound = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);

  connecting = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                             G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_connect (connecting, bound, NULL, &error));
  accepted = g_socket_accept (listener, NULL, &error);
  g_assert_no_error (error);

  *server = g_socket_connection_factory_create_connection (accepted);
  *client = g_socket_connection_factory_create_connection (connecting);
}

void
server_client_send (GSocketConnection *client,
                    const guint8      *frame,
                    gsize              len)
{
  g_autoptr(GError) error = NULL;
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (client));

  g_output_stream_write_all (out, frame, len, NULL, NULL, &error);
  g_assert_no_error (error);
}

/* Iterates the main context while waiting, so that the server end can
 * answer: the client socket is polled, never blocked on. */
static void
wait_readable (GSocketConnection *client)
{
  GSocket *socket = g_socket_connection_get_socket (client);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!(g_socket_condition_check (socket, G_IO_IN | G_IO_HUP) != 0))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static void
read_exactly (GSocketConnection *client,
              guint8            *buffer,
              gsize              len)
{
  GSocket *socket = g_socket_connection_get_socket (client);
  gsize got = 0;

  while (got < len)
    {
      g_autoptr(GError) error = NULL;
      gssize n;

      wait_readable (client);
      n = g_socket_receive (socket, (char *) buffer + got, len - got, NULL,
                            &error);
      g_assert_no_error (error);
      g_assert_cmpint (n, >, 0);
      got += (gsize) n;
    }
}

/* Reads one frame into @frame (LOTTERY_FRAME_MAX bytes); returns the
 * body's length, the body starting at @frame. */
gsize
server_client_read_frame (GSocketConnection *client,
                          guint8            *frame)
{
  g_autoptr(GError) error = NULL;
  guint8 prefix[LOTTERY_FRAME_PREFIX];
  gsize len;

  read_exactly (client, prefix, sizeof prefix);
  g_assert_true (lottery_frame_parse_prefix (prefix, &len, &error));
  g_assert_no_error (error);
  read_exactly (client, frame, len);

  return len;
}

/* Reads the next frame and checks that it is a @type; @message points
 * into @frame. */
void
server_client_expect (GSocketConnection  *client,
                      LotteryMessageType  type,
                      LotteryMessage     *message,
                      guint8             *frame)
{
  g_autoptr(GError) error = NULL;
  gsize len = server_client_read_frame (client, frame);

  g_assert_true (lottery_message_decode (frame, len, message, &error));
  g_assert_no_error (error);
  if (message->type == LOTTERY_MESSAGE_ERROR && type != LOTTERY_MESSAGE_ERROR)
    g_error ("expected %s, got ERROR %u: %.*s",
             lottery_message_type_name (type), message->error.code,
             (int) message->error.len, message->error.text);
  g_assert_cmpuint (message->type, ==, type);
}

/* Has the server end closed (EOF, or reset)? */
gboolean
server_client_at_eof (GSocketConnection *client)
{
  GSocket *socket = g_socket_connection_get_socket (client);
  char byte;
  gssize n;

  wait_readable (client);
  n = g_socket_receive (socket, &byte, 1, NULL, NULL);

  return n <= 0;
}

void
server_iterate_until (gboolean *flag)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (!*flag)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

void
server_iterate_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag_cb, &done);
  server_iterate_until (&done);
}

/* A BATCH of @count good bets (the last one bad with @bad_last). */
gsize
server_encode_batch (guint8   *frame,
                     guint32   agency,
                     guint32   sequence,
                     guint     count,
                     gboolean  bad_last)
{
  LotteryBatchEncoder encoder;
  gsize len;
  guint i;

  lottery_batch_encoder_init (&encoder, count);
  for (i = 0; i < count; i++)
    {
      LotteryBet bet;
      char document[16];
      char number[16];

      memset (&bet, 0, sizeof bet);
      g_snprintf (document, sizeof document, "%u", 30000000 + sequence * 100 + i);
      g_snprintf (number, sizeof number, "%u", 1000 + i);
      unit_set_bet (&bet, agency, "Ana", "Pérez", document, "1990-01-01",
                    number);
      if (bad_last && i == count - 1)
        memcpy (bet.birthdate, "1990-13-45", 10); /* no such date */
      g_assert_true (lottery_batch_encoder_add (&encoder, &bet));
    }
  len = lottery_batch_encoder_finish (&encoder, sequence);
  memcpy (frame, encoder.frame, len);

  return len;
}
