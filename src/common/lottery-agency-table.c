/* lottery-agency-table.c: the per-agency records owned by LotteryState:
 * each agency's last batch, the bets its batches used up and stored,
 * whether a connection holds it and whether it finished, and the rules
 * a claim, a batch and a finish must meet.
 *
 * No lock of its own: every function is called with the state's GMutex
 * held (from the main context or a batch worker), which is what guards
 * these records. No I/O, no signals.
 */
#include "config.h"

#include "lottery-agency-table.h"
#include "lottery-error.h"

#include <glib/gi18n-lib.h>
#include <string.h>

typedef struct
{
  guint32    last_sequence; /* last batch stored, 0 for none */
  guint64    bets;          /* stored */
  guint64    consumed;      /* in every batch that used its number,
                             * stored or refused: where the agency's
                             * file resumes, whatever its batch size */
  gboolean   connected;
  gboolean   finished;
} AgencyRecord;

/* How long a shared store's view says who is connected: three reads. */
#define VIEW_FRESH_USEC (6 * G_USEC_PER_SEC)

struct _LotteryAgencyTable
{
  guint         agencies;
  AgencyRecord *records;   /* [agencies], agency id - 1 */
  LotteryAgencyStatus *view; /* (nullable) [agencies]: every agency as a
                              * shared store last read it */
  gint64        view_time;   /* monotonic, when it was read */
};

LotteryAgencyTable *
lottery_agency_table_new (guint agencies)
{
  LotteryAgencyTable *self = g_new0 (LotteryAgencyTable, 1);

  self->agencies = agencies;
  self->records = g_new0 (AgencyRecord, agencies);

  return self;
}

void
lottery_agency_table_free (LotteryAgencyTable *self)
{
  g_free (self->records);
  g_free (self->view);
  g_free (self);
}

static AgencyRecord *
lookup_agency (LotteryAgencyTable *self,
               guint               agency,
               GError            **error)
{
  if (agency < 1 || agency > self->agencies)
    {
      lottery_fail (error, LOTTERY_ERROR_UNKNOWN_AGENCY,
                    N_("Agency %u is not one of 1 to %u"), agency,
                    self->agencies);
      return NULL;
    }

  return &self->records[agency - 1];
}

/* Marks @agency connected, unless a connection already holds it, and
 * tells where it left off. */
gboolean
lottery_agency_table_claim (LotteryAgencyTable *self,
                            guint               agency,
                            guint32            *last_sequence,
                            guint64            *consumed,
                            guint64            *stored,
                            gboolean           *finished,
                            GError            **error)
{
  AgencyRecord *record = lookup_agency (self, agency, error);

  if (record == NULL)
    return FALSE;
  if (record->connected)
    return lottery_fail (error, LOTTERY_ERROR_AGENCY_BUSY,
                         N_("Agency %u already has a connection"), agency);

  record->connected = TRUE;
  *last_sequence = record->last_sequence;
  *consumed = record->consumed;
  *stored = record->bets;
  *finished = record->finished;

  return TRUE;
}

/* Sets where @agency stands, as a store that several servers share
 * read it under the agency's lease: it may have moved on another
 * server, or lost what a failed round held. Tells how the agency's bets
 * stored and its finish changed. */
void
lottery_agency_table_set_position (LotteryAgencyTable *self,
                                   guint               agency,
                                   guint32             last_sequence,
                                   guint64             consumed,
                                   guint64             stored,
                                   gboolean            finished,
                                   gint64             *stored_change,
                                   int                *finished_change)
{
  AgencyRecord *record = lookup_agency (self, agency, NULL);

  g_return_if_fail (record != NULL);

  *stored_change = (gint64) stored - (gint64) record->bets;
  *finished_change = (finished ? 1 : 0) - (record->finished ? 1 : 0);
  record->last_sequence = last_sequence;
  record->consumed = consumed;
  record->bets = stored;
  record->finished = finished;
}

/* Returns: FALSE (a programmer error) when @agency is unknown or was
 * not connected */
gboolean
lottery_agency_table_release (LotteryAgencyTable *self,
                              guint               agency)
{
  AgencyRecord *record = lookup_agency (self, agency, NULL);

  g_return_val_if_fail (record != NULL && record->connected, FALSE);

  record->connected = FALSE;
  return TRUE;
}

/* May batch @sequence of @agency be stored now? @drawing: the draw has
 * started or taken place. */
gboolean
lottery_agency_table_check_batch (LotteryAgencyTable *self,
                                  guint               agency,
                                  guint32             sequence,
                                  gboolean            drawing,
                                  GError            **error)
{
  AgencyRecord *record = lookup_agency (self, agency, error);

  if (record == NULL)
    return FALSE;
  if (drawing)
    return lottery_fail (error, LOTTERY_ERROR_DRAW_DONE,
                         N_("The draw has already taken place"));
  if (record->finished)
    return lottery_fail (error, LOTTERY_ERROR_ALREADY_FINISHED,
                         N_("Agency %u has already finished"), agency);
  if (sequence != record->last_sequence + 1)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("Batch %u of agency %u is out of order: "
                            "expected batch %u"),
                         sequence, agency, record->last_sequence + 1);

  return TRUE;
}

/* @count bets of @agency stored out of @consumed used up; @sequence,
 * when not 0, is the batch they came in. @agency must be known. */
void
lottery_agency_table_add_bets (LotteryAgencyTable *self,
                               guint               agency,
                               guint32             sequence,
                               guint               count,
                               guint               consumed)
{
  AgencyRecord *record = &self->records[agency - 1];

  if (sequence != 0)
    record->last_sequence = sequence;
  record->bets += count;
  record->consumed += consumed;
}

/* Would @agency's finish after batch @last_sequence be accepted now?
 * @drawing: the draw has started. */
static gboolean
check_finish (AgencyRecord *record,
              guint         agency,
              guint32       last_sequence,
              gboolean      drawing,
              GError      **error)
{
  if (record->finished)
    return lottery_fail (error, LOTTERY_ERROR_ALREADY_FINISHED,
                         N_("Agency %u has already finished"), agency);
  if (drawing)
    return lottery_fail (error, LOTTERY_ERROR_DRAW_DONE,
                         N_("The draw has already taken place"));
  if (last_sequence != record->last_sequence)
    return lottery_fail (error, LOTTERY_ERROR_OUT_OF_ORDER,
                         N_("Agency %u says it sent %u batches, but %u were "
                            "stored"),
                         agency, last_sequence, record->last_sequence);

  return TRUE;
}

gboolean
lottery_agency_table_check_finish (LotteryAgencyTable *self,
                                   guint               agency,
                                   guint32             last_sequence,
                                   gboolean            drawing,
                                   GError            **error)
{
  AgencyRecord *record = lookup_agency (self, agency, error);

  return record != NULL &&
         check_finish (record, agency, last_sequence, drawing, error);
}

/* As lottery_agency_table_check_finish (), and marks @agency finished
 * when it passes. */
gboolean
lottery_agency_table_finish (LotteryAgencyTable *self,
                             guint               agency,
                             guint32             last_sequence,
                             gboolean            drawing,
                             GError            **error)
{
  if (!lottery_agency_table_check_finish (self, agency, last_sequence,
                                          drawing, error))
    return FALSE;

  self->records[agency - 1].finished = TRUE;
  return TRUE;
}

/* @agency must be known. */
guint64
lottery_agency_table_get_bets (LotteryAgencyTable *self,
                               guint               agency)
{
  return self->records[agency - 1].bets;
}

/* Copies the counts of agencies @first + 1 to @first + @n into @status.
 *
 * Returns: how many agencies were copied (fewer past the last one) */
guint
lottery_agency_table_copy_status (LotteryAgencyTable  *self,
                                  guint                first,
                                  guint                n,
                                  LotteryAgencyStatus *status)
{
  gboolean fresh = self->view != NULL &&
                   g_get_monotonic_time () - self->view_time < VIEW_FRESH_USEC;
  guint i;

  n = first < self->agencies ? MIN (n, self->agencies - first) : 0;
  for (i = 0; i < n; i++)
    {
      const AgencyRecord *record = &self->records[first + i];
      const LotteryAgencyStatus *seen;

      status[i].bets = record->bets;
      status[i].finished = record->finished;
      status[i].connected = record->connected;
      if (self->view == NULL || record->connected)
        continue;
      /* Held elsewhere, or since this server last saw it: the view,
       * never behind what this server knows. Who is connected goes
       * stale fast: an old view (the database out of reach) says
       * nothing about it. */
      seen = &self->view[first + i];
      status[i].bets = MAX (status[i].bets, seen->bets);
      status[i].finished |= seen->finished;
      status[i].connected = fresh && seen->connected;
    }

  return n;
}

/* A shared store's view of every agency (@view, one per agency), for
 * the status of those this server does not hold. */
void
lottery_agency_table_set_view (LotteryAgencyTable        *self,
                               const LotteryAgencyStatus *view)
{
  if (self->view == NULL)
    self->view = g_new0 (LotteryAgencyStatus, self->agencies);
  memcpy (self->view, view, sizeof *view * self->agencies);
  self->view_time = g_get_monotonic_time ();
}
