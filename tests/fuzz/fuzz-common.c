/* fuzz-common.c: what the libFuzzer targets share.
 *
 * A finding must end the run with the input saved. GLib stops on
 * g_error () and on fatal criticals with SIGTRAP, which libFuzzer does
 * not catch by itself; AddressSanitizer does when asked, and then
 * libFuzzer writes the crash file as for any other crash.
 */
#include "config.h"

#include "fuzz-common.h"

const char *
__asan_default_options (void)
{
  return "handle_sigtrap=1";
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  /* A g_return_if_fail () reached from input is a bug like a crash. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);

  return 0;
}
