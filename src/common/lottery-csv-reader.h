/* lottery-csv-reader.h: streaming line reader and CSV field splitter. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  const char *data;
  gsize       len;
} LotteryCsvField;

typedef struct _LotteryCsvReader LotteryCsvReader;

LotteryCsvReader *lottery_csv_reader_new          (GInputStream      *stream,
                                                   const char        *name);
LotteryCsvReader *lottery_csv_reader_new_for_path (const char        *path,
                                                   GError           **error);
LotteryCsvReader *lottery_csv_reader_new_for_regular_file (const char *path,
                                                           GError    **error);
void              lottery_csv_reader_free         (LotteryCsvReader  *reader);
gboolean          lottery_csv_reader_rewind       (LotteryCsvReader  *reader,
                                                   GError           **error);

gboolean          lottery_csv_reader_next_line    (LotteryCsvReader  *reader,
                                                   const char       **line,
                                                   gsize             *len,
                                                   GCancellable      *cancellable,
                                                   GError           **error);
guint64           lottery_csv_reader_get_line_number (LotteryCsvReader *reader);
guint64           lottery_csv_reader_get_offset   (LotteryCsvReader  *reader);
const char       *lottery_csv_reader_get_name     (LotteryCsvReader  *reader);

int               lottery_csv_split               (const char        *line,
                                                   gsize              len,
                                                   LotteryCsvField   *fields,
                                                   guint              max_fields,
                                                   char              *scratch,
                                                   GError           **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LotteryCsvReader, lottery_csv_reader_free)

G_END_DECLS
