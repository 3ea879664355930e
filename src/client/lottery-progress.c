/* lottery-progress.c: the upload's progress line on a terminal.
 *
 * One line on stderr, redrawn in place at most ten times a second:
 * bets the server has answered, of the total (estimated from the file's
 * size and the bytes read so far until the whole file is read), the
 * rate and the time elapsed. The cursor is left at the start of the
 * line; before a log line goes to the same terminal the line is
 * cleared, and drawn again after it, so that neither hides the other. The caller decides whether to
 * show it at all (stderr a terminal, no --quiet); everything here runs
 * on the uploader's thread.
 */
#include "config.h"

#include "lottery-progress.h"
#include "lottery-log.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define REDRAW_INTERVAL_USEC (G_USEC_PER_SEC / 10)

struct _LotteryProgress
{
  int     fd;
  guint64 file_size;  /* 0: unknown (not a regular file) */
  gint64  start;      /* monotonic */
  gint64  last_draw;  /* monotonic */
  glong   shown;      /* characters on the line now, 0 when blank */
  char   *text;       /* the line's last text, to draw it again */
};

/* @bets_file is only looked at for its size, to estimate the total. */
LotteryProgress *
lottery_progress_new (int         fd,
                      const char *bets_file)
{
  LotteryProgress *progress = g_new0 (LotteryProgress, 1);
  GStatBuf st;

  progress->fd = fd;
  progress->start = progress->last_draw = g_get_monotonic_time ();
  if (bets_file != NULL && g_stat (bets_file, &st) == 0 &&
      S_ISREG (st.st_mode))
    progress->file_size = (guint64) st.st_size;

  return progress;
}

void
lottery_progress_free (LotteryProgress *progress)
{
  if (progress == NULL)
    return;

  g_free (progress->text);
  g_free (progress);
}

static char *
format_elapsed (gint64 usec)
{
  gint64 s = usec / G_USEC_PER_SEC;

  if (s >= 3600)
    return g_strdup_printf ("%d:%02d:%02d", (int) (s / 3600),
                            (int) (s / 60 % 60), (int) (s % 60));
  return g_strdup_printf ("%d:%02d", (int) (s / 60), (int) (s % 60));
}

/* The line's text, without any terminal control: @done bets answered,
 * @read valid rows read from the first @offset bytes of the file (all
 * of it if @read_all), @elapsed microseconds since the start. */
char *
lottery_progress_format (LotteryProgress *progress,
                         guint64          done,
                         guint64          read,
                         guint64          offset,
                         gboolean         read_all,
                         gint64           elapsed)
{
  g_autofree char *elapsed_text = format_elapsed (elapsed);
  g_autofree char *sent = g_strdup_printf ("%" G_GUINT64_FORMAT, done);
  g_autofree char *rate = g_strdup_printf ("%" G_GUINT64_FORMAT,
                                           done * G_USEC_PER_SEC /
                                           (guint64) MAX (elapsed, 1));
  g_autofree char *total = NULL;
  guint64 n_total = 0;
  guint percent;

  if (read_all)
    {
      n_total = read;
      total = g_strdup_printf ("%" G_GUINT64_FORMAT, n_total);
    }
  else if (progress->file_size > 0 && offset > 0 && read > 0)
    {
      n_total = (guint64) ((double) read * progress->file_size / offset);
      n_total = MAX (n_total, read);
      total = g_strdup_printf ("~%" G_GUINT64_FORMAT, n_total);
    }

  if (total == NULL || n_total == 0)
    /* TRANSLATORS: bets answered by the server, bets per second, time
     * elapsed (m:ss) */
    return g_strdup_printf (_("Sent %s bets, %s bets/s, %s"), sent, rate,
                            elapsed_text);

  percent = (guint) MIN (done * 100 / n_total, 100);
  /* TRANSLATORS: bets answered by the server, of the total (with a
   * leading ~ when it is an estimate), percentage, bets per second,
   * time elapsed (m:ss) */
  return g_strdup_printf (_("Sent %s of %s bets (%u%%), %s bets/s, %s"), sent,
                          total, percent, rate, elapsed_text);
}

/* Replaces the line with @text, cut to the terminal's width. */
static void
draw (LotteryProgress *progress,
      const char      *text)
{
  g_autoptr(GString) out = g_string_new ("\r");
  struct winsize ws;
  glong len = g_utf8_strlen (text, -1);
  glong width = 0;

  if (ioctl (progress->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
    width = ws.ws_col - 1;
  if (width > 0 && len > width)
    {
      g_string_append_len (out, text,
                           g_utf8_offset_to_pointer (text, width) - text);
      len = width;
    }
  else
    g_string_append (out, text);

  /* Blank what is left of a longer line. */
  if (progress->shown > len)
    g_string_append_printf (out, "%*s", (int) (progress->shown - len), "");
  g_string_append_c (out, '\r');

  lottery_write_all (progress->fd, out->str, out->len);
  progress->shown = len;
  if (progress->text != text)
    {
      g_free (progress->text);
      progress->text = g_strdup (text);
    }
}

/* Redraws the line unless it was drawn less than 0.1 s ago. Cheap
 * enough to call after every batch. */
void
lottery_progress_update (LotteryProgress *progress,
                         guint64          done,
                         guint64          read,
                         guint64          offset,
                         gboolean         read_all)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;

  if (now - progress->last_draw < REDRAW_INTERVAL_USEC)
    return;

  progress->last_draw = now;
  text = lottery_progress_format (progress, done, read, offset, read_all,
                                  now - progress->start);
  draw (progress, text);
}

/* Every bet is sent: the answer comes after the draw. */
void
lottery_progress_show_waiting (LotteryProgress *progress,
                               guint64          done)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *elapsed_text = format_elapsed (now - progress->start);
  g_autofree char *sent = g_strdup_printf ("%" G_GUINT64_FORMAT, done);
  g_autofree char *text = NULL;

  /* TRANSLATORS: bets sent, time elapsed (m:ss) */
  text = g_strdup_printf (_("Sent %s bets in %s; waiting for the draw…"),
                          sent, elapsed_text);
  progress->last_draw = now;
  draw (progress, text);
}

/* Draws the last text again, once a log line (written after
 * lottery_progress_clear ()) has moved the cursor down. */
void
lottery_progress_redraw (LotteryProgress *progress)
{
  if (progress->text != NULL && progress->shown == 0)
    draw (progress, progress->text);
}

/* Blanks the line, if anything is on it. */
void
lottery_progress_clear (LotteryProgress *progress)
{
  g_autoptr(GString) out = NULL;

  if (progress->shown == 0)
    return;

  out = g_string_new ("\r");
  g_string_append_printf (out, "%*s\r", (int) progress->shown, "");
  lottery_write_all (progress->fd, out->str, out->len);
  progress->shown = 0;
}
