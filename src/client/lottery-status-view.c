/* lottery-status-view.c: the server's status, fetched and shown.
 *
 * `lottery-client --status` sends STATUS and reads STATUS_REPLY frames
 * until the last one, then prints an aligned table, or JSON with
 * --json. Counts only: the server never says more.
 */
#include "config.h"

#include "lottery-status-view.h"
#include "lottery-connect.h"
#include "lottery-error.h"
#include "lottery-server-text.h"
#include "lottery-stream.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define TIMEOUT_S    5
#define N_COLUMNS    4
/* lottery.agencies can be no more: a bigger claim is not a server's. */
#define MAX_AGENCIES 100000

LotteryStatusView *
lottery_status_view_new (void)
{
  LotteryStatusView *view = g_new0 (LotteryStatusView, 1);

  view->entries = g_array_new (FALSE, FALSE, sizeof (LotteryStatusEntry));

  return view;
}

void
lottery_status_view_free (LotteryStatusView *view)
{
  if (view == NULL)
    return;

  g_array_unref (view->entries);
  g_free (view);
}

/* Adds one STATUS_REPLY frame. Frames must follow on: same number of
 * agencies, each starting where the previous one ended. The entries
 * grow only with what was received, whatever the frames claim. */
gboolean
lottery_status_view_add_reply (LotteryStatusView    *view,
                               const LotteryMessage *message,
                               GError              **error)
{
  guint i;

  g_return_val_if_fail (message->type == LOTTERY_MESSAGE_STATUS_REPLY, FALSE);

  /* The entries are held: a claim of billions must not make us try. */
  if (message->status.agencies > MAX_AGENCIES)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("The server’s status answer claims %u agencies; "
                            "a lottery has at most %u"),
                         message->status.agencies, MAX_AGENCIES);

  if (view->complete ||
      (view->started && message->status.agencies != view->agencies) ||
      message->status.first != view->entries->len + 1 ||
      (guint64) view->entries->len + message->status.count >
        message->status.agencies)
    return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                         N_("The server’s status answer does not follow on"));

  view->started = TRUE;
  view->agencies = message->status.agencies;
  for (i = 0; i < message->status.count; i++)
    {
      LotteryStatusEntry entry;

      lottery_status_reply_get_entry (message, i, &entry);
      g_array_append_val (view->entries, entry);
    }
  view->draw_done = (message->status.flags & LOTTERY_STATUS_DRAW_DONE) != 0;
  view->draw_time = view->draw_done ? message->status.draw_time : 0;

  if (message->status.flags & LOTTERY_STATUS_LAST)
    {
      if (view->entries->len != view->agencies)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("The server’s status answer ends after %u of "
                                "%u agencies"),
                             view->entries->len, view->agencies);
      view->complete = TRUE;
    }

  return TRUE;
}

static gboolean
exchange (GIOStream         *connection,
          LotteryStatusView *view,
          GCancellable      *cancellable,
          GError           **error)
{
  GInputStream *in = g_io_stream_get_input_stream (connection);
  GOutputStream *out = g_io_stream_get_output_stream (connection);
  g_autofree guint8 *buffer = g_malloc (LOTTERY_FRAME_MAX);
  guint8 frame[LOTTERY_FRAME_MAX];
  gsize len = lottery_message_encode_empty (frame, LOTTERY_MESSAGE_STATUS);
  LotteryMessage message;

  if (!lottery_stream_write (out, frame, len, cancellable, error))
    return FALSE;

  while (!view->complete)
    {
      if (!lottery_stream_read_message (in, buffer, &message, cancellable,
                                        error))
        return FALSE;
      if (message.type == LOTTERY_MESSAGE_ERROR)
        {
          /* Sanitised: it goes to a terminal. */
          g_autofree char *text = lottery_server_text (message.error.text,
                                                       message.error.len);

          return lottery_fail (error, LOTTERY_ERROR_FAILED,
                               N_("The server refused: %s"), text);
        }
      if (message.type != LOTTERY_MESSAGE_STATUS_REPLY)
        return lottery_fail (error, LOTTERY_ERROR_PROTOCOL,
                             N_("Expected STATUS_REPLY, got %s"),
                             lottery_message_type_name (message.type));
      if (!lottery_status_view_add_reply (view, &message, error))
        return FALSE;
    }

  return TRUE;
}

/* One connection, STATUS, the answer. No retries: it says how the
 * server is now, or that it does not answer. With @ca (else NULL) the
 * connection is TLS and the server must present a certificate from one
 * of those CAs. */
LotteryStatusView *
lottery_status_view_fetch (const char    *address,
                           GTlsDatabase  *ca,
                           GCancellable  *cancellable,
                           GError       **error)
{
  g_autoptr(GIOStream) connection = NULL;
  g_autoptr(LotteryStatusView) view = lottery_status_view_new ();
  gboolean ok;

  /* Also bounds each read: the server answers at once. */
  connection = lottery_connect (address, ca, TIMEOUT_S, NULL, cancellable,
                                error);
  if (connection == NULL)
    return NULL;

  ok = exchange (connection, view, cancellable, error);
  lottery_connect_close (connection);

  return ok ? g_steal_pointer (&view) : NULL;
}

static guint64
total_bets (const LotteryStatusView *view,
            guint                   *finished)
{
  guint64 total = 0;
  guint i;

  *finished = 0;
  for (i = 0; i < view->entries->len; i++)
    {
      const LotteryStatusEntry *e =
        &g_array_index (view->entries, LotteryStatusEntry, i);

      total += e->bets;
      *finished += (e->flags & LOTTERY_AGENCY_FINISHED) != 0;
    }

  return total;
}

static void
append_padded (GString    *out,
               const char *text,
               glong       width,
               gboolean    right)
{
  glong pad = width - g_utf8_strlen (text, -1);

  if (right && pad > 0)
    g_string_append_printf (out, "%*s", (int) pad, "");
  g_string_append (out, text);
  if (!right && pad > 0)
    g_string_append_printf (out, "%*s", (int) pad, "");
}

/* One row per agency, columns aligned (numbers to the right), then the
 * totals and the draw:
 *
 *   AGENCY   BETS  FINISHED  CONNECTED
 *        1  52736  yes       no
 */
char *
lottery_status_view_format_table (const LotteryStatusView *view)
{
  g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  const gboolean right[N_COLUMNS] = { TRUE, TRUE, FALSE, FALSE };
  glong widths[N_COLUMNS] = { 0, };
  GString *out = g_string_new (NULL);
  g_autofree char *total = NULL;
  guint finished;
  guint i, c;

  g_ptr_array_add (cells, g_strdup (_("AGENCY")));
  g_ptr_array_add (cells, g_strdup (_("BETS")));
  g_ptr_array_add (cells, g_strdup (_("FINISHED")));
  g_ptr_array_add (cells, g_strdup (_("CONNECTED")));
  for (i = 0; i < view->entries->len; i++)
    {
      const LotteryStatusEntry *e =
        &g_array_index (view->entries, LotteryStatusEntry, i);

      g_ptr_array_add (cells, g_strdup_printf ("%u", i + 1));
      g_ptr_array_add (cells, g_strdup_printf ("%" G_GUINT64_FORMAT, e->bets));
      g_ptr_array_add (cells, g_strdup ((e->flags & LOTTERY_AGENCY_FINISHED)
                                        ? _("yes") : _("no")));
      g_ptr_array_add (cells, g_strdup ((e->flags & LOTTERY_AGENCY_CONNECTED)
                                        ? _("yes") : _("no")));
    }

  for (i = 0; i < cells->len; i++)
    widths[i % N_COLUMNS] = MAX (widths[i % N_COLUMNS],
                                 g_utf8_strlen (cells->pdata[i], -1));

  for (i = 0; i < cells->len; i += N_COLUMNS)
    {
      for (c = 0; c < N_COLUMNS; c++)
        {
          if (c > 0)
            g_string_append (out, "  ");
          /* No trailing blanks after the last column. */
          append_padded (out, cells->pdata[i + c],
                         c == N_COLUMNS - 1 ? 0 : widths[c], right[c]);
        }
      g_string_append_c (out, '\n');
    }

  total = g_strdup_printf ("%" G_GUINT64_FORMAT,
                           total_bets (view, &finished));
  /* TRANSLATORS: bets stored, agencies finished, agencies taking part */
  g_string_append_printf (out, _("Total: %s bets; %u of %u agencies "
                                 "finished"), total, finished,
                          view->agencies);
  g_string_append_c (out, '\n');

  if (view->draw_done)
    {
      g_autoptr(GDateTime) when =
        g_date_time_new_from_unix_local (view->draw_time);
      g_autofree char *shown = when != NULL
        ? g_date_time_format (when, "%Y-%m-%d %H:%M:%S %z") : NULL;

      /* TRANSLATORS: the draw's date and time */
      g_string_append_printf (out, _("Draw: done at %s"),
                              shown != NULL ? shown : "?");
    }
  else
    g_string_append (out, _("Draw: not yet"));
  g_string_append_c (out, '\n');

  return g_string_free (out, FALSE);
}

/* The same as JSON, for scripts and health checks:
 *
 *   { "agencies" : [ { "id" : 1, "bets" : 52736, "finished" : true,
 *                      "connected" : false }, … ],
 *     "bets" : 52736, "finished" : 1,
 *     "draw" : { "done" : true, "time" : "2026-11-29T22:44:41Z" } }
 *
 * "time" is null before the draw. */
char *
lottery_status_view_format_json (const LotteryStatusView *view)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  GString *out;
  guint64 total;
  guint finished;
  guint i;

  total = total_bets (view, &finished);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "agencies");
  json_builder_begin_array (builder);
  for (i = 0; i < view->entries->len; i++)
    {
      const LotteryStatusEntry *e =
        &g_array_index (view->entries, LotteryStatusEntry, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_int_value (builder, i + 1);
      json_builder_set_member_name (builder, "bets");
      json_builder_add_int_value (builder, (gint64) e->bets);
      json_builder_set_member_name (builder, "finished");
      json_builder_add_boolean_value (builder,
                                      (e->flags & LOTTERY_AGENCY_FINISHED) != 0);
      json_builder_set_member_name (builder, "connected");
      json_builder_add_boolean_value (builder,
                                      (e->flags & LOTTERY_AGENCY_CONNECTED) != 0);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "bets");
  json_builder_add_int_value (builder, (gint64) total);
  json_builder_set_member_name (builder, "finished");
  json_builder_add_int_value (builder, finished);
  json_builder_set_member_name (builder, "draw");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "done");
  json_builder_add_boolean_value (builder, view->draw_done);
  json_builder_set_member_name (builder, "time");
  if (view->draw_done)
    {
      g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc (view->draw_time);
      g_autofree char *iso = when != NULL
        ? g_date_time_format (when, "%Y-%m-%dT%H:%M:%SZ") : NULL;

      if (iso != NULL)
        json_builder_add_string_value (builder, iso);
      else
        json_builder_add_null_value (builder);
    }
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  out = g_string_new (NULL);
  json_generator_to_gstring (generator, out);
  g_string_append_c (out, '\n');

  return g_string_free (out, FALSE);
}
