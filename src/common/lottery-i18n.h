/* lottery-i18n.h: the locale and message catalog setup both programs
 * share. Called once, first thing in main (), on the main thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void lottery_i18n_init (void);

G_END_DECLS
