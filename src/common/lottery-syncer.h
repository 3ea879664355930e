/* lottery-syncer.h: group commit for bets.csv and its journal. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LotterySyncer LotterySyncer;

LotterySyncer *lottery_syncer_new        (const char          *path,
                                          int                  data_fd,
                                          int                  journal_fd,
                                          guint64              synced);
void           lottery_syncer_free       (LotterySyncer       *syncer);

void           lottery_syncer_hold       (LotterySyncer       *syncer,
                                          const guint8        *records,
                                          gsize                len,
                                          guint64              ticket);
gboolean       lottery_syncer_is_broken  (LotterySyncer       *syncer);
gboolean       lottery_syncer_sync       (LotterySyncer       *syncer,
                                          guint64              ticket,
                                          GError             **error);
void           lottery_syncer_sync_async (LotterySyncer       *syncer,
                                          gpointer             source_object,
                                          gpointer             source_tag,
                                          guint64              ticket,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
guint64        lottery_syncer_get_count  (LotterySyncer       *syncer);
gboolean       lottery_syncer_close      (LotterySyncer       *syncer,
                                          guint64              ticket,
                                          GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotterySyncer, lottery_syncer_free)

G_END_DECLS
