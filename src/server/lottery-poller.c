/* lottery-poller.c: the readiness of every connection's socket from one
 * epoll set, watched by one GSource on the main context.
 *
 * A GSource per connection costs every main-loop iteration a prepare,
 * a check and a pollfd for each connection, idle or not: with 10,000
 * agencies connected that is most of the server's time. Here an idle
 * connection costs nothing per iteration; the kernel hands back only
 * the ready ones. Each watch is one-shot (EPOLLONESHOT): its owner
 * reads until the socket would block, then arms it again.
 *
 * Owns the epoll descriptor and the watches' registrations, not their
 * owners: an owner frees its watch before it goes away (and before its
 * socket is closed). Main context only.
 */
#include "config.h"

#include "lottery-poller.h"

#include "lottery-error.h"

#include <glib/gi18n.h>

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct _LotteryPoller
{
  int           epfd;
  GMainContext *context; /* (owned): where @source is attached */
  GSource      *source;  /* (owned): the epoll descriptor's */
  gboolean      dispatching;
  GPtrArray    *dead;    /* (owned): watches freed while dispatching */
};

struct _LotteryPollerWatch
{
  LotteryPoller    *poller;     /* (unowned) */
  int               fd;
  LotteryPollerFunc func;
  gpointer          user_data;
  gboolean          registered; /* in the epoll set */
  gboolean          dead;       /* freed while its event may be pending */
};

static gboolean
dispatch_cb (int          fd,
             GIOCondition condition,
             gpointer     user_data)
{
  LotteryPoller *self = user_data;
  struct epoll_event events[MAX_EVENTS];
  int n, i;

  n = epoll_wait (self->epfd, events, MAX_EVENTS, 0);
  if (n < 0 && errno != EINTR)
    g_error ("epoll_wait: %s", g_strerror (errno));

  /* A callback may free any watch, also one whose event is further on
   * in @events: those are kept until the batch is done. */
  self->dispatching = TRUE;
  for (i = 0; i < n; i++)
    {
      LotteryPollerWatch *watch = events[i].data.ptr;

      if (!watch->dead)
        watch->func (watch->user_data);
    }
  self->dispatching = FALSE;
  g_ptr_array_set_size (self->dead, 0);

  return G_SOURCE_CONTINUE;
}

/* Returns: (transfer none): the poller of the main context it was
 * first asked for on (the server's, which is the only one that reads
 * frames), for the life of the process */
LotteryPoller *
lottery_poller_get_default (void)
{
  static LotteryPoller *poller;

  if (poller == NULL)
    {
      LotteryPoller *self = g_new0 (LotteryPoller, 1);

      self->epfd = epoll_create1 (EPOLL_CLOEXEC);
      if (self->epfd < 0)
        g_error ("epoll_create1: %s", g_strerror (errno));
      self->dead = g_ptr_array_new_with_free_func (g_free);
      self->source = g_unix_fd_source_new (self->epfd, G_IO_IN);
      g_source_set_callback (self->source, G_SOURCE_FUNC (dispatch_cb), self,
                             NULL);
      g_source_set_static_name (self->source, "lottery-poller");
      self->context = g_main_context_ref_thread_default ();
      g_source_attach (self->source, self->context);
      poller = self;
    }
  else
    {
      /* Its watches are dispatched only there: a connection on another
       * context would wait for ever. */
      g_autoptr(GMainContext) here = g_main_context_ref_thread_default ();

      g_warn_if_fail (here == poller->context);
    }

  return poller;
}

/* Returns: (transfer full): a watch of @fd, not armed yet; @func gets
 * @user_data */
LotteryPollerWatch *
lottery_poller_watch_new (LotteryPoller     *self,
                          int                fd,
                          LotteryPollerFunc  func,
                          gpointer           user_data)
{
  LotteryPollerWatch *watch = g_new0 (LotteryPollerWatch, 1);

  watch->poller = self;
  watch->fd = fd;
  watch->func = func;
  watch->user_data = user_data;
  return watch;
}

/* Calls the watch's function once, when its descriptor is next
 * readable (at once if it is already).
 *
 * Returns: FALSE with @error if the kernel refused (out of memory, or
 *   past fs.epoll.max_user_watches) */
gboolean
lottery_poller_watch_arm (LotteryPollerWatch *watch,
                          GError            **error)
{
  struct epoll_event event = { 0 };

  g_return_val_if_fail (watch != NULL && !watch->dead, FALSE);

  event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  event.data.ptr = watch;
  if (epoll_ctl (watch->poller->epfd,
                 watch->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                 watch->fd, &event) != 0)
    {
      int saved = errno;

      return lottery_fail_errno (error, G_IO_ERROR,
                                 g_io_error_from_errno (saved), saved,
                                 N_("Cannot watch the connection: "));
    }
  watch->registered = TRUE;

  return TRUE;
}

/* Stops watching; call it before the descriptor is closed. */
void
lottery_poller_watch_free (LotteryPollerWatch *watch)
{
  LotteryPoller *self;

  if (watch == NULL)
    return;
  self = watch->poller;
  if (watch->registered)
    epoll_ctl (self->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
  if (self->dispatching)
    {
      watch->dead = TRUE;
      g_ptr_array_add (self->dead, watch);
      return;
    }
  g_free (watch);
}
