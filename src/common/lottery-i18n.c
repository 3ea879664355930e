/* lottery-i18n.c: the locale and message catalog setup both programs
 * share. Main thread, once, before anything is printed. */
#include "config.h"

#include "lottery-i18n.h"

#include <glib/gi18n.h>
#include <locale.h>

/* Sets the locale from the environment and binds the message catalog:
 * the installed one, or LOTTERY_LOCALEDIR's (the build tree's
 * translations, for devenv and tests). */
void
lottery_i18n_init (void)
{
  const char *localedir;

  /* Only what the programs use: the charset and the messages. Loading
   * every category (LC_ALL) costs a client more than the rest of its
   * start-up; dates and numbers are written in fixed formats. */
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
  /* Names, paths and --bet are UTF-8: in the C locale GOption would
   * refuse their non-ASCII bytes. */
  if (!g_get_charset (NULL))
    setlocale (LC_CTYPE, "C.UTF-8");
  localedir = g_getenv ("LOTTERY_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}
