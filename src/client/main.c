/* lottery-client: an agency of the national lottery. */
#include "config.h"

#include "lottery-client.h"

#include <glib/gi18n.h>
#include <locale.h>

int
main (int   argc,
      char *argv[])
{
  g_autoptr(LotteryClient) client = NULL;
  const char *localedir;
  int status;

  /* Only what the client uses: the charset and the messages. Loading
   * every category (LC_ALL) costs more than the rest of its start-up;
   * dates and numbers are written in fixed formats. */
  setlocale (LC_CTYPE, "");
  setlocale (LC_MESSAGES, "");
  /* Names, paths and --bet are UTF-8: in the C locale GOption would
   * refuse their non-ASCII bytes. */
  if (!g_get_charset (NULL))
    setlocale (LC_CTYPE, "C.UTF-8");
  /* LOTTERY_LOCALEDIR: the build tree's translations (devenv, tests). */
  localedir = g_getenv ("LOTTERY_LOCALEDIR");
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  client = lottery_client_new ();

  status = g_application_run (G_APPLICATION (client), argc, argv);
  if (status != 0)
    return status;

  return lottery_client_get_exit_status (client);
}
