/* lottery-file.h: bounded reads of the small files an operator hands
 * the programs (JSON settings, the tokens file, a CA bundle), and the
 * checks a JSON file passes before json-glib sees it.
 *
 * A configuration path may name anything: /dev/zero, a FIFO, a file of
 * a gigabyte, JSON nested 100,000 deep (json-glib recurses once per
 * level). Each is refused with one line naming the file, before any of
 * it is held in memory or parsed.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Far above any real settings or CA bundle. */
#define LOTTERY_FILE_MAX_SIZE  (1024 * 1024)
/* A tokens file for 100,000 agencies is about 8.6 MB. */
#define LOTTERY_FILE_MAX_TOKENS_SIZE (16 * 1024 * 1024)
/* Settings are two levels deep; the tokens file three. */
#define LOTTERY_JSON_MAX_DEPTH 32

gboolean  lottery_file_read_into     (const char  *path,
                                     char        *buffer,
                                     gsize        max_size,
                                     gsize       *len,
                                     GError     **error);
GBytes   *lottery_file_read_bounded (const char  *path,
                                     gsize        max_size,
                                     GError     **error);
gboolean  lottery_json_check        (const char  *path,
                                     const char  *data,
                                     gsize        len,
                                     guint        max_depth,
                                     GError     **error);
gboolean  lottery_json_load_file    (JsonParser  *parser,
                                     const char  *path,
                                     gsize        max_size,
                                     GError     **error);

G_END_DECLS
