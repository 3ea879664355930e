/* unit-utils.h: scratch directories and files for the unit tests. */
#pragma once

#include <glib.h>

#include "lottery-bet.h"

G_BEGIN_DECLS

char *unit_make_tmp_dir (void);
void  unit_remove_tree  (const char *path);
char *unit_write_file   (const char *dir,
                         const char *name,
                         const char *contents,
                         gssize      len);
char *unit_read_file    (const char *path,
                         gsize      *len);
void  unit_set_bet      (LotteryBet *bet,
                         guint32     agency,
                         const char *first_name,
                         const char *last_name,
                         const char *document,
                         const char *birthdate,
                         const char *number);
gboolean unit_run_in_subprocess (const char *stderr_pattern);

G_END_DECLS
