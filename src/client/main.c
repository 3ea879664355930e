/* lottery-client: an agency of the national lottery. */
#include "config.h"

#include "lottery-client.h"
#include "lottery-i18n.h"

#include <glib/gi18n.h>

int
main (int   argc,
      char *argv[])
{
  g_autoptr(LotteryClient) client = NULL;
  int status;

  lottery_i18n_init ();

  client = lottery_client_new ();

  status = g_application_run (G_APPLICATION (client), argc, argv);
  if (status != 0)
    return status;

  return lottery_client_get_exit_status (client);
}
