/* lottery-status-page.c: what the HTTP port shows of the state: the
 * status view (/status.json, and the page's numbers) decoded from the
 * same STATUS frames the agencies' client reads, and the status page
 * itself, rendered from its resource with the page's words translated
 * and the chart of bets per second. Owns nothing: pure functions of
 * the state and the history the caller keeps. Runs on the main context
 * (the HTTP server's); reads LotteryState through its lock.
 */
#include "config.h"

#include "lottery-status-page.h"
#include "lottery-protocol.h"
#include "lottery-status-reply.h"

#include <glib/gi18n.h>
#include <string.h>

#define PAGE_RESOURCE "/org/lottery/server/status-page.html"

/* The STATUS answer, decoded as lottery-client --status decodes it, so
 * that /status.json is the same document as --status --json. Building
 * the view from LotteryState directly would skip an encode and a
 * decode, but would be a second path from the state to that document,
 * free to drift from the one the client prints; the round trip costs
 * microseconds per agency, once per request on a capped port. */
LotteryStatusView *
lottery_status_page_fetch_view (LotteryState *state)
{
  g_autoptr(GBytes) reply = lottery_status_reply_new (state);
  g_autoptr(LotteryStatusView) view = lottery_status_view_new ();
  gsize len, offset = 0;
  const guint8 *data = g_bytes_get_data (reply, &len);

  while (offset + LOTTERY_FRAME_PREFIX <= len)
    {
      LotteryMessage message;
      gsize body_len;

      if (!lottery_frame_parse_prefix (data + offset, &body_len, NULL) ||
          offset + LOTTERY_FRAME_PREFIX + body_len > len ||
          !lottery_message_decode (data + offset + LOTTERY_FRAME_PREFIX,
                                   body_len, &message, NULL) ||
          message.type != LOTTERY_MESSAGE_STATUS_REPLY ||
          !lottery_status_view_add_reply (view, &message, NULL))
        return NULL;
      offset += LOTTERY_FRAME_PREFIX + body_len;
    }

  return view->complete ? g_steal_pointer (&view) : NULL;
}

/* The page's words, for xgettext; the page names them @_text_@. */
static const char * const page_words[] G_GNUC_UNUSED = {
  N_("Lottery status"), N_("Agencies finished"), N_("Bets stored"),
  N_("Bets per second"), N_("Draw"), N_("Agencies"), N_("Agency"),
  N_("Bets"), N_("Share"), N_("State"), N_("Bets per second, last 5 minutes"),
  N_("Finished"), N_("Uploading"), N_("Waiting"), N_("Not yet"),
  N_("Updated every second"), N_("Static view: JavaScript is off"),
  N_("Connection lost, retrying"),
};

/* Replaces every @_text_@ by the translation of text. */
static void
translate_page (GString *page)
{
  gsize from = 0;
  char *start;

  while ((start = strstr (page->str + from, "@_")) != NULL)
    {
      gsize pos = (gsize) (start - page->str);
      char *end = strstr (start + 2, "_@");
      g_autofree char *word = NULL;
      const char *translated;

      if (end == NULL)
        break;
      word = g_strndup (start + 2, (gsize) (end - start - 2));
      translated = _(word);
      g_string_erase (page, (gssize) pos, end + 2 - start);
      g_string_insert (page, (gssize) pos, translated);
      from = pos + strlen (translated);
    }
}

static const char *
agency_state (const LotteryStatusEntry *entry,
              const char              **css)
{
  if (entry->flags & LOTTERY_AGENCY_FINISHED)
    {
      *css = "finished";
      return _("Finished");
    }
  if (entry->flags & LOTTERY_AGENCY_CONNECTED)
    {
      *css = "uploading";
      return _("Uploading");
    }
  *css = "waiting";
  return _("Waiting");
}

/* The chart of bets per second: an SVG path in a 300 x 100 box, the
 * newest second on the right, and its area below. */
static void
render_chart (const guint64 *history,
              guint          history_len,
              guint          history_max,
              GString       *page)
{
  g_autoptr(GString) line = g_string_new (NULL);
  g_autoptr(GString) values = g_string_new (NULL);
  g_autofree char *area = NULL;
  g_autofree char *peak = NULL;
  g_autofree char *rate = NULL;
  guint x0 = history_max - history_len;
  guint64 top = 1;
  guint i;

  for (i = 0; i < history_len; i++)
    top = MAX (top, history[i]);
  for (i = 0; i < history_len; i++)
    {
      g_string_append_printf (line, "%c%u %.1f", i == 0 ? 'M' : 'L', x0 + i,
                              100 - history[i] * 95.0 / top);
      g_string_append_printf (values, "%s%" G_GUINT64_FORMAT, i == 0 ? "" : ",",
                              history[i]);
    }
  area = line->len > 0 ? g_strdup_printf ("%sL%u 100L%u 100Z", line->str,
                                          history_max, x0)
                       : g_strdup ("");
  peak = g_strdup_printf ("%" G_GUINT64_FORMAT, top);
  rate = g_strdup_printf ("%" G_GUINT64_FORMAT, history_len > 0
                          ? history[history_len - 1] : 0);
  g_string_replace (page, "@CHART_LINE@", line->str, 1);
  g_string_replace (page, "@CHART_AREA@", area, 1);
  g_string_replace (page, "@history_max@", values->str, 1);
  g_string_replace (page, "@PEAK@", peak, 1);
  g_string_replace (page, "@RATE@", rate, 1);
}

/* The page with the state as it is now: correct without JavaScript,
 * which then keeps it up to date. Every value is a number the server
 * counted or one of its own words: nothing to escape. */
char *
lottery_status_page_render (LotteryStatusView *view,
                            const guint64     *history,
                            guint              history_len,
                            guint              history_max)
{
  g_autoptr(GBytes) resource = g_resources_lookup_data (
    PAGE_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  g_autoptr(GString) rows = g_string_new (NULL);
  g_autofree char *draw = NULL;
  g_autofree char *header = NULL;
  GString *page;
  guint64 total = 0, most = 0;
  guint finished = 0;
  guint i;

  g_assert (resource != NULL);
  for (i = 0; i < view->entries->len; i++)
    {
      const LotteryStatusEntry *e =
        &g_array_index (view->entries, LotteryStatusEntry, i);

      total += e->bets;
      most = MAX (most, e->bets);
      finished += (e->flags & LOTTERY_AGENCY_FINISHED) ? 1 : 0;
    }
  for (i = 0; i < view->entries->len; i++)
    {
      const LotteryStatusEntry *e =
        &g_array_index (view->entries, LotteryStatusEntry, i);
      const char *css;
      const char *label = agency_state (e, &css);

      g_string_append_printf (
        rows,
        "<tr id=\"agency-%u\" class=\"%s\"><td>%u</td>"
        "<td class=\"num bets\">%" G_GUINT64_FORMAT "</td>"
        "<td class=\"share\"><div class=\"bar\"><span style=\"width:%u%%\">"
        "</span></div></td><td><span class=\"pill\">%s</span></td></tr>\n",
        i + 1, css, i + 1, e->bets,
        most > 0 ? (guint) (e->bets * 100 / most) : 0, label);
    }

  if (view->draw_done)
    {
      g_autoptr(GDateTime) when =
        g_date_time_new_from_unix_utc (view->draw_time);

      draw = when != NULL ? g_date_time_format (when, "%Y-%m-%d %H:%M:%S UTC")
                          : NULL;
    }
  if (draw == NULL)
    draw = g_strdup (_("Not yet"));
  header = g_strdup_printf ("%u", view->agencies);

  page = g_string_new_len (g_bytes_get_data (resource, NULL),
                           (gssize) g_bytes_get_size (resource));
  translate_page (page);
  render_chart (history, history_len, history_max, page);
  g_string_replace (page, "@ROWS@", rows->str, 1);
  g_string_replace (page, "@DRAW@", draw, 0);
  g_string_replace (page, "@DRAW_STATE@", view->draw_done ? "done" : "pending",
                    0);
  g_string_replace (page, "@AGENCIES@", header, 0);
  {
    g_autofree char *text = g_strdup_printf ("%u", finished);

    g_string_replace (page, "@FINISHED@", text, 0);
  }
  {
    g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, total);

    g_string_replace (page, "@BETS@", text, 0);
  }

  return g_string_free (page, FALSE);
}
