/* unit-utils.c: scratch directories and files for the unit tests. */
#include "config.h"

#include "unit-utils.h"

#include <string.h>

#include <glib/gstdio.h>

/* A fresh directory under the (per-test) temporary directory. */
char *
unit_make_tmp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("lottery-unit-XXXXXX", &error);

  g_assert_no_error (error);
  g_assert_nonnull (dir);

  return dir;
}

/* Removes @path and, if it is a directory, everything below it. */
void
unit_remove_tree (const char *path)
{
  if (path == NULL)
    return;

  if (g_file_test (path, G_FILE_TEST_IS_DIR) &&
      !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;

      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          unit_remove_tree (child);
        }
      g_assert_cmpint (g_rmdir (path), ==, 0);
    }
  else
    g_assert_cmpint (g_unlink (path), ==, 0);
}

/* Writes @contents (@len bytes, or up to its NUL when -1) to @dir/@name
 * and returns the path. */
char *
unit_write_file (const char *dir,
                 const char *name,
                 const char *contents,
                 gssize      len)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, contents, len, &error);
  g_assert_no_error (error);

  return path;
}

char *
unit_read_file (const char *path,
                gsize      *len)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, len, &error);
  g_assert_no_error (error);

  return contents;
}

/* Fills @bet from valid field values, asserting that they validate. */
void
unit_set_bet (LotteryBet *bet,
              guint32     agency,
              const char *first_name,
              const char *last_name,
              const char *document,
              const char *birthdate,
              const char *number)
{
  const char *values[] = { first_name, last_name, document, birthdate, number };
  gsize lens[LOTTERY_BET_N_FIELDS];
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < LOTTERY_BET_N_FIELDS; i++)
    lens[i] = strlen (values[i]);
  memset (bet, 0, sizeof *bet);
  g_assert_true (lottery_bet_set_fields (bet, values, lens, &error));
  g_assert_no_error (error);
  bet->agency = agency;
}

/* Runs the test again in a child whose WARNING and CRITICAL lines are
 * not fatal. In the parent, checks that the child passed and wrote
 * @stderr_pattern, and returns TRUE: the parent is done. In the child,
 * returns FALSE: the test goes on there. */
gboolean
unit_run_in_subprocess (const char *stderr_pattern)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      g_test_trap_assert_stderr (stderr_pattern);
      return TRUE;
    }
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR);

  return FALSE;
}
