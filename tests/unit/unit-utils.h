/* unit-utils.h: scratch directories and files for the unit tests. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *unit_make_tmp_dir (void);
void  unit_remove_tree  (const char *path);
char *unit_write_file   (const char *dir,
                         const char *name,
                         const char *contents,
                         gssize      len);
char *unit_read_file    (const char *path,
                         gsize      *len);

G_END_DECLS
