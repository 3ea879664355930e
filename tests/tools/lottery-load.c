/* lottery-load: many agencies against one server, from one process.
 *
 *   lottery-load --server 127.0.0.1:PORT --agencies N [--bets B]
 *                [--batch-size S] [--window W] [--seed X] [--json]
 *
 * Each agency 1..N gets its own connection and runs the real session
 * over the real protocol: HELLO, its batches pipelined W at a time (as
 * lottery-client does), FINISH, then QUERY until the last WINNERS frame.
 * Bets are generated from the seed, valid, and agency a holds exactly
 * a % 4 winners, so the tool knows each agency's answer and checks it.
 * One thread drives every connection with epoll: non-blocking sockets,
 * a frame generated only when the previous one has left. The server
 * must run without auth.tokens, with lottery.agencies = N,
 * server.max_connections above N and server.listen_backlog at least
 * --max-connecting (256): with the default backlog of 5, connections
 * past it wait out SYN retransmissions, seconds each.
 *
 * It prints the time from the first connection to the last winners
 * answer, bets per second, and the time from each batch's last byte
 * written to its ACK (p50, p99, max); exit status 0 when every agency
 * got exactly its winners, 1 otherwise, 2 for bad options.
 */
#include "config.h"

#include <gio/gio.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lottery-error.h"
#include "lottery-protocol.h"

/* Winners of agency a: a % WINNERS_CYCLE. */
#define WINNERS_CYCLE   4
#define RETRY_DELAY_US  (100 * G_TIME_SPAN_MILLISECOND)
#define MAX_ATTEMPTS    50
#define READ_CHUNK      (64 * 1024)

typedef enum
{
  SESSION_IDLE,        /* not connected: waiting for its turn or a retry */
  SESSION_CONNECTING,
  SESSION_WELCOME,     /* HELLO sent */
  SESSION_UPLOADING,   /* batches out, ACKs in */
  SESSION_FINISHING,   /* FINISH sent */
  SESSION_QUERYING,    /* QUERY sent, WINNERS frames in */
  SESSION_DONE,
  SESSION_FAILED,
} SessionState;

typedef struct
{
  guint32 sequence;
  guint16 count;
  guint64 end;         /* stream offset of the frame's last byte + 1 */
  gint64  sent;        /* when it left, 0 while still queued */
} InFlight;

typedef struct
{
  guint32       agency;
  SessionState  state;
  int           fd;
  guint         attempts;
  gint64        retry_at;
  guint32       n_batches;
  guint32       next_batch;  /* next sequence to send */
  guint32       acked;       /* last sequence acknowledged */
  InFlight     *window;      /* (owned) ring of window_size */
  guint         window_head;
  guint         window_len;
  guint8       *out;         /* (owned) the frame being written */
  gsize         out_len;
  gsize         out_pos;
  guint64       written;     /* bytes written on this connection */
  guint8       *in;          /* (owned) bytes not yet a whole frame */
  gsize         in_len;
  gsize         in_cap;
  guint         n_winners;   /* received */
  guint         winners_seen; /* bit i: the agency's winner i came */
  gboolean      want_out;    /* registered for EPOLLOUT */
} Session;

typedef struct
{
  int           epfd;
  struct sockaddr_storage address;
  socklen_t     address_len;
  guint32       n_agencies;
  guint32       bets;
  guint         batch_size;
  guint         window_size;
  guint64       seed;
  guint         max_connecting;
  Session      *sessions;
  GQueue        idle;        /* sessions to connect, in order */
  guint         connecting;
  guint         finished;    /* done or failed */
  guint         failed;
  guint         reconnects;
  GArray       *ack_us;      /* guint32 per ACK */
  gint64        start;
  gint64        last_answer;
  GString      *problems;    /* the first few failures, for the report */
  guint         n_problems;
} Load;

static guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static const char * const first_names[] = {
  "José", "María", "Juan", "Lucía", "Martín", "Sofía", "Iñaki", "Ángela",
  "María José", "Juan Pablo", "Zoé", "Rubén",
};

static const char * const last_names[] = {
  "González", "Peña", "Núñez", "Ibáñez", "Díaz", "O'Connor",
  "de la Fuente", "Pérez, hijo", "\"Cacho\" Ruiz", "San Martín",
};

static guint
winners_of (const Load *load,
            guint32     agency)
{
  return MIN (agency % WINNERS_CYCLE, load->bets);
}

/* Winners sit at evenly spread rows, shifted by the agency. */
static gboolean
is_winner_row (const Load *load,
               guint32     agency,
               guint32     row)
{
  guint n = winners_of (load, agency);
  guint32 stride;

  if (n == 0)
    return FALSE;
  stride = load->bets / n;
  return row % stride == agency % stride && row / stride < n;
}

/* Documents are unique across agencies: agency × 10^8 + row. */
static guint64
document_of (guint32 agency,
             guint32 row)
{
  return (guint64) agency * 100000000 + row;
}

static void
set_name (char       *field,
          guint8     *len,
          const char *name)
{
  *len = (guint8) strlen (name);
  memcpy (field, name, *len + 1);
}

static void
make_bet (const Load *load,
          guint32     agency,
          guint32     row,
          LotteryBet *bet)
{
  guint64 state = load->seed ^ ((guint64) agency << 32) ^ row;
  guint64 r = splitmix64 (&state);
  guint number;

  set_name (bet->first_name, &bet->first_name_len,
            first_names[r % G_N_ELEMENTS (first_names)]);
  set_name (bet->last_name, &bet->last_name_len,
            last_names[(r >> 8) % G_N_ELEMENTS (last_names)]);
  bet->document_len = (guint8) g_snprintf (bet->document,
                                           sizeof bet->document,
                                           "%" G_GUINT64_FORMAT,
                                           document_of (agency, row));
  g_snprintf (bet->birthdate, sizeof bet->birthdate, "%04u-%02u-%02u",
              (guint) (1940 + (r >> 16) % 66), (guint) (1 + (r >> 24) % 12),
              (guint) (1 + (r >> 32) % 28));
  if (is_winner_row (load, agency, row))
    number = LOTTERY_WINNING_NUMBER;
  else
    {
      number = (guint) ((r >> 40) % 9999);
      if (number >= LOTTERY_WINNING_NUMBER)
        number++;
    }
  bet->number = number;
  bet->agency = agency;
}

static void
problem (Load       *load,
         Session    *session,
         const char *format,
         ...) G_GNUC_PRINTF (3, 4);

static void
problem (Load       *load,
         Session    *session,
         const char *format,
         ...)
{
  va_list args;

  load->n_problems++;
  if (load->n_problems > 20)
    return;
  g_string_append_printf (load->problems, "agency %u: ", session->agency);
  va_start (args, format);
  g_string_append_vprintf (load->problems, format, args);
  va_end (args);
  g_string_append_c (load->problems, '\n');
}

static void
watch (Load    *load,
       Session *session,
       gboolean want_out)
{
  struct epoll_event event = { 0, };

  if (session->want_out == want_out)
    return;
  event.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
  event.data.ptr = session;
  epoll_ctl (load->epfd, EPOLL_CTL_MOD, session->fd, &event);
  session->want_out = want_out;
}

static void
close_connection (Load    *load,
                  Session *session)
{
  if (session->fd >= 0)
    {
      if (session->state == SESSION_CONNECTING)
        load->connecting--;
      epoll_ctl (load->epfd, EPOLL_CTL_DEL, session->fd, NULL);
      close (session->fd);
      session->fd = -1;
    }
  g_clear_pointer (&session->out, g_free);
  g_clear_pointer (&session->in, g_free);
  session->in_len = session->in_cap = 0;
  session->out_len = session->out_pos = 0;
  session->window_head = session->window_len = 0;
}

static void
finish_session (Load        *load,
                Session     *session,
                SessionState state)
{
  close_connection (load, session);
  g_clear_pointer (&session->window, g_free);
  session->state = state;
  load->finished++;
  if (state == SESSION_FAILED)
    load->failed++;
  else
    load->last_answer = g_get_monotonic_time ();
}

/* A connection that broke: connect again later and resume where the
 * server's WELCOME says, as the client does. */
static void
retry (Load       *load,
       Session    *session,
       const char *reason)
{
  close_connection (load, session);
  if (++session->attempts >= MAX_ATTEMPTS)
    {
      problem (load, session, "gave up after %u attempts: %s",
               session->attempts, reason);
      finish_session (load, session, SESSION_FAILED);
      return;
    }
  load->reconnects++;
  session->state = SESSION_IDLE;
  session->retry_at = g_get_monotonic_time () + RETRY_DELAY_US;
  g_queue_push_tail (&load->idle, session);
}

static void
fail (Load       *load,
      Session    *session,
      const char *reason)
{
  problem (load, session, "%s", reason);
  finish_session (load, session, SESSION_FAILED);
}

static void
start_connect (Load    *load,
               Session *session)
{
  struct epoll_event event = { 0, };
  int one = 1;
  int fd;

  fd = socket (load->address.ss_family,
               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      fail (load, session, g_strerror (errno));
      return;
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  session->fd = fd;
  session->state = SESSION_CONNECTING;
  session->written = 0;
  session->want_out = TRUE;
  load->connecting++;
  event.events = EPOLLIN | EPOLLOUT;
  event.data.ptr = session;
  epoll_ctl (load->epfd, EPOLL_CTL_ADD, fd, &event);
  if (connect (fd, (struct sockaddr *) &load->address, load->address_len) != 0 &&
      errno != EINPROGRESS)
    retry (load, session, g_strerror (errno));
}

/* Connections open a few hundred at a time, so that the listen queue
 * does not overflow into SYN retransmissions. */
static void
start_more (Load *load)
{
  gint64 now = g_get_monotonic_time ();

  while (load->connecting < load->max_connecting && !g_queue_is_empty (&load->idle))
    {
      Session *session = g_queue_peek_head (&load->idle);

      if (session->retry_at > now)
        break;
      g_queue_pop_head (&load->idle);
      start_connect (load, session);
    }
}

static void
queue_frame (Session      *session,
             const guint8 *frame,
             gsize         len)
{
  g_assert (session->out_pos == session->out_len);
  if (session->out == NULL)
    session->out = g_malloc (LOTTERY_FRAME_MAX);
  memcpy (session->out, frame, len);
  session->out_len = len;
  session->out_pos = 0;
}

/* The next batch into the output buffer, if the window has room. */
static gboolean
queue_batch (Load    *load,
             Session *session)
{
  LotteryBatchEncoder encoder;
  LotteryBet bet;
  InFlight *slot;
  guint32 row, end;
  gsize len;

  if (session->next_batch > session->n_batches ||
      session->window_len == load->window_size)
    return FALSE;

  row = (session->next_batch - 1) * load->batch_size;
  end = MIN (row + load->batch_size, load->bets);
  lottery_batch_encoder_init (&encoder, load->batch_size);
  for (; row < end; row++)
    {
      gboolean added;

      make_bet (load, session->agency, row, &bet);
      added = lottery_batch_encoder_add (&encoder, &bet);
      /* Generated names are short: a batch of them always fits. */
      g_assert (added);
    }
  len = lottery_batch_encoder_finish (&encoder, session->next_batch);
  queue_frame (session, encoder.frame, len);

  slot = &session->window[(session->window_head + session->window_len) %
                          load->window_size];
  slot->sequence = session->next_batch;
  slot->count = (guint16) encoder.count;
  slot->end = session->written + len;
  slot->sent = 0;
  session->window_len++;
  session->next_batch++;

  return TRUE;
}

/* Writes until the socket is full or nothing is left to send. */
static void
flush_out (Load    *load,
           Session *session)
{
  for (;;)
    {
      ssize_t n;
      guint i;

      if (session->out_pos == session->out_len &&
          (session->state != SESSION_UPLOADING || !queue_batch (load, session)))
        break;

      n = send (session->fd, session->out + session->out_pos,
                session->out_len - session->out_pos, MSG_NOSIGNAL);
      if (n < 0)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            {
              watch (load, session, TRUE);
              return;
            }
          retry (load, session, g_strerror (errno));
          return;
        }
      session->out_pos += (gsize) n;
      session->written += (guint64) n;
      if (session->out_pos == session->out_len)
        {
          gint64 now = g_get_monotonic_time ();

          for (i = 0; i < session->window_len; i++)
            {
              InFlight *f = &session->window[(session->window_head + i) %
                                             load->window_size];

              if (f->sent == 0 && f->end <= session->written)
                f->sent = now;
            }
        }
    }
  watch (load, session, FALSE);
}

static void
send_finish (Load    *load,
             Session *session)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  session->state = SESSION_FINISHING;
  queue_frame (session, frame,
               lottery_message_encode_finish (frame, session->n_batches));
  flush_out (load, session);
}

static void
send_query (Load    *load,
            Session *session)
{
  guint8 frame[LOTTERY_FRAME_MAX];

  session->state = SESSION_QUERYING;
  session->n_winners = session->winners_seen = 0;
  queue_frame (session, frame,
               lottery_message_encode_empty (frame, LOTTERY_MESSAGE_QUERY));
  flush_out (load, session);
}

static void
on_welcome (Load                 *load,
            Session              *session,
            const LotteryMessage *message)
{
  if (message->welcome.flags & LOTTERY_WELCOME_FINISHED)
    {
      send_query (load, session);
      return;
    }
  session->acked = message->welcome.last_sequence;
  session->next_batch = session->acked + 1;
  session->state = SESSION_UPLOADING;
  if (session->acked >= session->n_batches)
    send_finish (load, session);
  else
    flush_out (load, session);
}

static void
on_ack (Load                 *load,
        Session              *session,
        const LotteryMessage *message)
{
  InFlight *oldest;
  guint32 us;

  if (session->window_len == 0)
    {
      fail (load, session, "an ACK for no batch in flight");
      return;
    }
  oldest = &session->window[session->window_head];
  if (message->ack.sequence != oldest->sequence ||
      message->ack.count != oldest->count)
    {
      g_autofree char *text =
        g_strdup_printf ("ACK %u for %u bets, expected %u for %u",
                         message->ack.sequence, message->ack.count,
                         oldest->sequence, oldest->count);
      fail (load, session, text);
      return;
    }
  /* An answer before the last byte left cannot be: count it as 0. */
  us = oldest->sent != 0
    ? (guint32) MIN (g_get_monotonic_time () - oldest->sent, G_MAXUINT32) : 0;
  g_array_append_val (load->ack_us, us);
  session->acked = oldest->sequence;
  session->window_head = (session->window_head + 1) % load->window_size;
  session->window_len--;
  if (session->acked == session->n_batches)
    send_finish (load, session);
  else
    flush_out (load, session);
}

static void
on_winners (Load                 *load,
            Session              *session,
            const LotteryMessage *message)
{
  LotteryBatchReader reader;
  g_autoptr(GError) error = NULL;

  lottery_batch_reader_init (&reader, message);
  while (reader.remaining > 0)
    {
      const char *document;
      gsize len;
      guint64 value;
      char text[32];

      if (!lottery_winners_reader_next (&reader, &document, &len, &error))
        {
          fail (load, session, error->message);
          return;
        }
      session->n_winners++;
      g_snprintf (text, sizeof text, "%.*s", (int) MIN (len, 31), document);
      if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, &value, NULL) &&
          value / 100000000 == session->agency &&
          value % 100000000 < load->bets &&
          is_winner_row (load, session->agency, (guint32) (value % 100000000)))
        session->winners_seen |= 1u << ((value % 100000000) /
                                        (load->bets /
                                         winners_of (load, session->agency)));
      else
        problem (load, session, "unexpected winner %s", text);
    }
  if (!(message->winners.flags & LOTTERY_WINNERS_LAST))
    return;

  /* Each expected winner once, and nothing else. */
  if (session->n_winners != winners_of (load, session->agency) ||
      session->winners_seen != (1u << session->n_winners) - 1)
    {
      g_autofree char *text =
        g_strdup_printf ("%u winners (expected set 0x%x), expected %u",
                         session->n_winners, session->winners_seen,
                         winners_of (load, session->agency));
      fail (load, session, text);
      return;
    }
  finish_session (load, session, SESSION_DONE);
}

static void
on_finished (Load                 *load,
             Session              *session,
             const LotteryMessage *message)
{
  if (message->finished.stored != load->bets)
    problem (load, session, "FINISHED says %" G_GUINT64_FORMAT
             " bets stored, %u sent", message->finished.stored, load->bets);
  send_query (load, session);
}

/* The one message each state waits for (0: none). */
static const guint8 awaited[] = {
  [SESSION_WELCOME]   = LOTTERY_MESSAGE_WELCOME,
  [SESSION_UPLOADING] = LOTTERY_MESSAGE_ACK,
  [SESSION_FINISHING] = LOTTERY_MESSAGE_FINISHED,
  [SESSION_QUERYING]  = LOTTERY_MESSAGE_WINNERS,
};

static void
on_message (Load                 *load,
            Session              *session,
            const LotteryMessage *message)
{
  g_autofree char *text = NULL;

  if (message->type == LOTTERY_MESSAGE_ERROR)
    {
      text = g_strdup_printf ("ERROR %u: %.*s", message->error.code,
                              (int) message->error.len, message->error.text);
      /* A full server is a reason to come back, not to give up. */
      if (message->error.code == LOTTERY_ERROR_SERVER_FULL)
        retry (load, session, text);
      else
        fail (load, session, text);
      return;
    }
  if (session->state >= G_N_ELEMENTS (awaited) ||
      message->type != awaited[session->state])
    {
      text = g_strdup_printf ("unexpected %s",
                              lottery_message_type_name (message->type));
      fail (load, session, text);
      return;
    }

  switch (session->state)
    {
    case SESSION_WELCOME:
      on_welcome (load, session, message);
      break;
    case SESSION_UPLOADING:
      on_ack (load, session, message);
      break;
    case SESSION_FINISHING:
      on_finished (load, session, message);
      break;
    case SESSION_QUERYING:
      on_winners (load, session, message);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Cuts whole frames out of @data; keeps a partial one in session->in. */
static void
take_frames (Load         *load,
             Session      *session,
             const guint8 *data,
             gsize         len)
{
  g_autoptr(GError) error = NULL;
  const guint8 *p = data;
  const guint8 *end = data + len;

  if (session->in_len > 0)
    {
      if (session->in_len + len > session->in_cap)
        {
          session->in_cap = MAX (session->in_len + len, 2 * session->in_cap);
          session->in = g_realloc (session->in, session->in_cap);
        }
      memcpy (session->in + session->in_len, data, len);
      session->in_len += len;
      p = session->in;
      end = session->in + session->in_len;
    }

  while (session->fd >= 0 && end - p >= LOTTERY_FRAME_PREFIX)
    {
      LotteryMessage message;
      gsize body_len;

      if (!lottery_frame_parse_prefix (p, &body_len, &error))
        {
          fail (load, session, error->message);
          return;
        }
      if ((gsize) (end - p) < LOTTERY_FRAME_PREFIX + body_len)
        break;
      if (!lottery_message_decode (p + LOTTERY_FRAME_PREFIX, body_len,
                                   &message, &error))
        {
          fail (load, session, error->message);
          return;
        }
      p += LOTTERY_FRAME_PREFIX + body_len;
      on_message (load, session, &message);
    }
  if (session->fd < 0)
    return;

  len = (gsize) (end - p);
  if (len > 0 && p != session->in)
    {
      if (session->in == NULL || session->in_cap < len)
        {
          g_free (session->in);
          session->in_cap = MAX (len, 512);
          session->in = g_malloc (session->in_cap);
        }
      memmove (session->in, p, len);
    }
  session->in_len = len;
}

static void
on_connected (Load    *load,
              Session *session)
{
  guint8 frame[LOTTERY_FRAME_MAX];
  int error = 0;
  socklen_t error_len = sizeof error;

  getsockopt (session->fd, SOL_SOCKET, SO_ERROR, &error, &error_len);
  load->connecting--;
  session->state = SESSION_WELCOME;
  if (error != 0)
    {
      retry (load, session, g_strerror (error));
      return;
    }
  queue_frame (session, frame,
               lottery_message_encode_hello (frame, session->agency));
  flush_out (load, session);
}

static void
on_event (Load     *load,
          Session  *session,
          guint32   events)
{
  static guint8 buffer[READ_CHUNK];

  if (session->state == SESSION_CONNECTING)
    {
      on_connected (load, session);
      return;
    }
  if (events & EPOLLOUT)
    flush_out (load, session);
  if (session->fd < 0 || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
    return;

  for (;;)
    {
      ssize_t n = recv (session->fd, buffer, sizeof buffer, 0);

      if (n > 0)
        {
          take_frames (load, session, buffer, (gsize) n);
          if (session->fd < 0 || n < (ssize_t) sizeof buffer)
            return;
          continue;
        }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      retry (load, session, n == 0 ? "the server closed the connection"
                                   : g_strerror (errno));
      return;
    }
}

/* As the server does: every connection is a descriptor. */
static gboolean
raise_open_files (guint    needed,
                  GError **error)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return TRUE;
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
      getrlimit (RLIMIT_NOFILE, &limit);
    }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t) needed)
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                "%u agencies need %u open files; this process "
                                "may open %lu (raise ulimit -n)", needed - 64,
                                needed, (unsigned long) limit.rlim_cur);
  return TRUE;
}

static gboolean
resolve (Load        *load,
         const char  *server,
         GError     **error)
{
  g_autoptr(GSocketConnectable) connectable = NULL;
  g_autoptr(GSocketAddressEnumerator) enumerator = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  gssize len;

  connectable = g_network_address_parse (server, 12345, error);
  if (connectable == NULL)
    return FALSE;
  enumerator = g_socket_connectable_enumerate (connectable);
  address = g_socket_address_enumerator_next (enumerator, NULL, error);
  if (address == NULL)
    return error == NULL || *error != NULL ? FALSE
      : lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                             "%s: no address", server);
  len = g_socket_address_get_native_size (address);
  if (len < 0 || (gsize) len > sizeof load->address ||
      !g_socket_address_to_native (address, &load->address, (gsize) len, error))
    return FALSE;
  load->address_len = (socklen_t) len;
  return TRUE;
}

static int
compare_u32 (const void *a,
             const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return (x > y) - (x < y);
}

static double
percentile_ms (GArray *sorted,
               double  p)
{
  guint index;

  if (sorted->len == 0)
    return 0;
  index = (guint) MIN (p * sorted->len, sorted->len - 1);
  return g_array_index (sorted, guint32, index) / 1000.0;
}

static void
run (Load *load)
{
  struct epoll_event events[256];

  load->start = g_get_monotonic_time ();
  start_more (load);
  while (load->finished < load->n_agencies)
    {
      int timeout = g_queue_is_empty (&load->idle) ? 1000 : 10;
      int n, i;

      n = epoll_wait (load->epfd, events, G_N_ELEMENTS (events), timeout);
      for (i = 0; i < n; i++)
        on_event (load, events[i].data.ptr, events[i].events);
      start_more (load);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *server = NULL;
  gint n_agencies = 0, bets = 1000, batch_size = 128, window = 128;
  gint max_connecting = 256;
  gint64 seed = 1;
  gboolean json = FALSE;
  Load load = { 0, };
  double seconds, total_bets;
  guint32 i;
  const GOptionEntry entries[] = {
    { "server", 's', 0, G_OPTION_ARG_STRING, &server,
      "The server, HOST:PORT", "HOST:PORT" },
    { "agencies", 'a', 0, G_OPTION_ARG_INT, &n_agencies,
      "Agencies 1..N, one connection each (the server's lottery.agencies)", "N" },
    { "bets", 'n', 0, G_OPTION_ARG_INT, &bets,
      "Bets per agency (default 1000)", "B" },
    { "batch-size", 0, 0, G_OPTION_ARG_INT, &batch_size,
      "Bets per batch (default 128)", "S" },
    { "window", 'w', 0, G_OPTION_ARG_INT, &window,
      "Batches in flight per agency (default 128, as the client)", "W" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed,
      "Seed of the generated bets", "X" },
    { "max-connecting", 0, 0, G_OPTION_ARG_INT, &max_connecting,
      "Connections being opened at once (default 256)", "C" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      "Print the figures as one JSON object", NULL },
    G_OPTION_ENTRY_NULL
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
    "Drives N agency sessions over the lottery protocol from one process "
    "and reports time, bets/s and ACK latency.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("lottery-load: %s\n", error->message);
      return 2;
    }
  if (server == NULL || n_agencies < 1 || bets < 1 || batch_size < 1 ||
      batch_size > LOTTERY_BATCH_MAX_BETS || window < 1 || max_connecting < 1)
    {
      g_printerr ("lottery-load: --server and --agencies N are required; "
                  "every count must be positive, --batch-size at most %d\n",
                  LOTTERY_BATCH_MAX_BETS);
      return 2;
    }
  if (!resolve (&load, server, &error) ||
      !raise_open_files ((guint) n_agencies + 64, &error))
    {
      g_printerr ("lottery-load: %s\n", error->message);
      return 2;
    }

  load.epfd = epoll_create1 (EPOLL_CLOEXEC);
  load.n_agencies = (guint32) n_agencies;
  load.bets = (guint32) bets;
  load.batch_size = (guint) batch_size;
  load.window_size = (guint) window;
  load.seed = (guint64) seed;
  load.max_connecting = (guint) max_connecting;
  load.ack_us = g_array_new (FALSE, FALSE, sizeof (guint32));
  load.problems = g_string_new (NULL);
  load.sessions = g_new0 (Session, load.n_agencies);
  g_queue_init (&load.idle);
  for (i = 0; i < load.n_agencies; i++)
    {
      Session *session = &load.sessions[i];

      session->agency = i + 1;
      session->fd = -1;
      session->n_batches = (load.bets + load.batch_size - 1) / load.batch_size;
      session->window = g_new0 (InFlight, load.window_size);
      g_queue_push_tail (&load.idle, session);
    }

  run (&load);

  if (load.last_answer == 0)
    load.last_answer = g_get_monotonic_time ();
  seconds = (load.last_answer - load.start) / 1e6;
  total_bets = (double) load.bets * (load.n_agencies - load.failed);
  g_array_sort (load.ack_us, compare_u32);
  if (json)
    g_print ("{\"agencies\": %u, \"bets\": %.0f, \"seconds\": %.3f, "
             "\"bets_per_s\": %.0f, \"ack_p50_ms\": %.3f, "
             "\"ack_p99_ms\": %.3f, \"ack_max_ms\": %.3f, \"acks\": %u, "
             "\"reconnects\": %u, \"failed\": %u, \"problems\": %u}\n",
             load.n_agencies, total_bets, seconds,
             seconds > 0 ? total_bets / seconds : 0,
             percentile_ms (load.ack_us, 0.5), percentile_ms (load.ack_us, 0.99),
             percentile_ms (load.ack_us, 1.0), load.ack_us->len,
             load.reconnects, load.failed, load.n_problems);
  else
    g_print ("%u agencies x %u bets: last winners answer after %.3f s, "
             "%.0f bets/s\n"
             "ACK after batch sent: p50 %.3f ms, p99 %.3f ms, max %.3f ms "
             "(%u batches)\n"
             "reconnects: %u, failed agencies: %u\n",
             load.n_agencies, load.bets, seconds,
             seconds > 0 ? total_bets / seconds : 0,
             percentile_ms (load.ack_us, 0.5), percentile_ms (load.ack_us, 0.99),
             percentile_ms (load.ack_us, 1.0), load.ack_us->len,
             load.reconnects, load.failed);
  if (load.n_problems > 0)
    g_printerr ("lottery-load: %u problem(s):\n%s", load.n_problems,
                load.problems->str);

  for (i = 0; i < load.n_agencies; i++)
    close_connection (&load, &load.sessions[i]);
  for (i = 0; i < load.n_agencies; i++)
    g_free (load.sessions[i].window);
  g_free (load.sessions);
  g_array_unref (load.ack_us);
  g_string_free (load.problems, TRUE);
  close (load.epfd);

  return load.n_problems == 0 && load.failed == 0 ? 0 : 1;
}
