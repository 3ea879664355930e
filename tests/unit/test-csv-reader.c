/* test-csv-reader.c: the streaming line reader and the CSV splitter. */
#include "config.h"

#include "lottery-csv-reader.h"
#include "lottery-error.h"

#include "unit-utils.h"

#include <string.h>
#include <sys/stat.h>

/* Must match BLOCK_SIZE in lottery-csv-reader.c. */
#define READER_BLOCK (256 * 1024)

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  fixture->dir = unit_make_tmp_dir ();
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  unit_remove_tree (fixture->dir);
  g_free (fixture->dir);
}

/* Reads every line of @contents (from a file) into a GPtrArray of
 * strings; the line numbers must count up from 1. */
static GPtrArray *
read_lines_from_path (const char *path,
                      GError    **error)
{
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) local_error = NULL;
  const char *line;
  gsize len;

  reader = lottery_csv_reader_new_for_path (path, error);
  if (reader == NULL)
    return NULL;
  g_assert_cmpstr (lottery_csv_reader_get_name (reader), ==, path);
  g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==, 0);

  while (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                       &local_error))
    {
      g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==,
                        lines->len + 1);
      g_ptr_array_add (lines, g_strndup (line, len));
    }
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  /* The end stays the end. */
  g_assert_false (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                                &local_error));
  g_assert_no_error (local_error);

  return g_steal_pointer (&lines);
}

static GPtrArray *
read_lines (Fixture    *fixture,
            const char *contents,
            gssize      len)
{
  g_autofree char *path = unit_write_file (fixture->dir, "lines.csv",
                                           contents, len);
  g_autoptr(GError) error = NULL;
  GPtrArray *lines = read_lines_from_path (path, &error);

  g_assert_no_error (error);
  g_assert_nonnull (lines);

  return lines;
}

static void
assert_lines (GPtrArray          *lines,
              const char * const *expected)
{
  guint i;

  for (i = 0; expected[i] != NULL; i++)
    {
      g_assert_cmpuint (i, <, lines->len);
      g_assert_cmpstr (g_ptr_array_index (lines, i), ==, expected[i]);
    }
  g_assert_cmpuint (lines->len, ==, i);
}

static void
test_lines_lf (Fixture       *fixture,
               gconstpointer  user_data)
{
  const char * const expected[] = { "a,b", "c,d", "", "e", NULL };
  g_autoptr(GPtrArray) lines = read_lines (fixture, "a,b\nc,d\n\ne\n", -1);

  assert_lines (lines, expected);
}

static void
test_lines_crlf (Fixture       *fixture,
                 gconstpointer  user_data)
{
  /* Only the CR of a CRLF goes; a CR elsewhere is data. */
  const char * const expected[] = { "a,b", "c\rd", "", "mixed", "e\r", NULL };
  g_autoptr(GPtrArray) lines = NULL;

  lines = read_lines (fixture, "a,b\r\nc\rd\r\n\r\nmixed\ne\r\r\n", -1);
  assert_lines (lines, expected);
}

static void
test_lines_no_final_newline (Fixture       *fixture,
                             gconstpointer  user_data)
{
  const char * const expected[] = { "a", "last", NULL };
  const char * const expected_cr[] = { "a", "last", NULL };
  const char * const expected_one[] = { "only", NULL };
  g_autoptr(GPtrArray) lines = read_lines (fixture, "a\nlast", -1);
  g_autoptr(GPtrArray) lines_cr = read_lines (fixture, "a\r\nlast\r", -1);
  g_autoptr(GPtrArray) lines_one = read_lines (fixture, "only", -1);

  assert_lines (lines, expected);
  assert_lines (lines_cr, expected_cr);
  assert_lines (lines_one, expected_one);
}

static void
test_lines_empty (Fixture       *fixture,
                  gconstpointer  user_data)
{
  const char * const none[] = { NULL };
  const char * const blanks[] = { "", "", "x", "", NULL };
  g_autoptr(GPtrArray) empty = read_lines (fixture, "", 0);
  g_autoptr(GPtrArray) lines = read_lines (fixture, "\n\r\nx\n\n", -1);

  assert_lines (empty, none);
  assert_lines (lines, blanks);
}

static void
test_lines_bom (Fixture       *fixture,
                gconstpointer  user_data)
{
  /* The BOM goes from the first line only; one on line 2 is data. */
  const char * const expected[] = { "NOMBRE,APELLIDO", "\xef\xbb\xbfx", NULL };
  const char * const bom_only[] = { "", NULL };
  const char * const bom_short[] = { "\xef\xbb", NULL };
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GPtrArray) lines_bom_only = NULL;
  g_autoptr(GPtrArray) lines_short = NULL;

  lines = read_lines (fixture,
                      "\xef\xbb\xbfNOMBRE,APELLIDO\r\n\xef\xbb\xbfx\r\n", -1);
  assert_lines (lines, expected);

  lines_bom_only = read_lines (fixture, "\xef\xbb\xbf\r\n", -1);
  assert_lines (lines_bom_only, bom_only);

  lines_short = read_lines (fixture, "\xef\xbb\n", -1);
  assert_lines (lines_short, bom_short);
}

static void
test_lines_offset (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GError) error = NULL;
  const char *data = "ab\r\ncde\n\nf";
  const char *line;
  gsize len;

  stream = g_memory_input_stream_new_from_data (data, strlen (data), NULL);
  reader = lottery_csv_reader_new (stream, NULL);
  g_assert_cmpstr (lottery_csv_reader_get_name (reader), ==, "<stream>");

  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  g_assert_cmpmem (line, len, "ab", 2);
  g_assert_cmpuint (lottery_csv_reader_get_offset (reader), ==, 4);
  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  g_assert_cmpmem (line, len, "cde", 3);
  g_assert_cmpuint (lottery_csv_reader_get_offset (reader), ==, 8);
  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==, 3);
  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  g_assert_cmpmem (line, len, "f", 1);
  g_assert_cmpuint (lottery_csv_reader_get_offset (reader), ==, strlen (data));
  g_assert_false (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                                &error));
  g_assert_no_error (error);
  g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==, 4);
}

/* Line i of the big file: lengths vary so that lines straddle the block
 * boundary at many different offsets. */
static void
append_big_line (GString *out,
                 guint    i)
{
  guint pad = (i * 7919) % 300;

  g_string_append_printf (out, "%u,", i);
  while (pad-- > 0)
    g_string_append_c (out, (char) ('a' + (pad + i) % 26));
  g_string_append_printf (out, ",%u", i * 3);
}

static void
test_lines_block_boundary (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GString) contents = g_string_new (NULL);
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autoptr(GPtrArray) lines = NULL;
  guint n = 0, i;

  /* More than 1 MiB, so several blocks are read; CRLF on odd lines. */
  while (contents->len < 1200 * 1024)
    {
      append_big_line (contents, n);
      g_string_append (contents, n % 2 ? "\r\n" : "\n");
      n++;
    }
  g_test_message ("%u lines, %" G_GSIZE_FORMAT " bytes", n, contents->len);

  lines = read_lines (fixture, contents->str, contents->len);
  g_assert_cmpuint (lines->len, ==, n);
  for (i = 0; i < n; i++)
    {
      g_string_truncate (expected, 0);
      append_big_line (expected, i);
      g_assert_cmpstr (g_ptr_array_index (lines, i), ==, expected->str);
    }
}

static void
test_lines_longest (Fixture       *fixture,
                    gconstpointer  user_data)
{
  /* The longest line that fits a block, after a short one so that it
   * has to be moved to the start of the buffer first. */
  g_autoptr(GString) contents = g_string_new ("short\n");
  g_autoptr(GPtrArray) lines = NULL;
  gsize longest = READER_BLOCK - 1;

  g_string_set_size (contents, 6 + longest);
  memset (contents->str + 6, 'x', longest);
  g_string_append (contents, "\nend\n");

  lines = read_lines (fixture, contents->str, contents->len);
  g_assert_cmpuint (lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, "short");
  g_assert_cmpuint (strlen (g_ptr_array_index (lines, 1)), ==, longest);
  g_assert_cmpstr (g_ptr_array_index (lines, 2), ==, "end");
}

static void
test_lines_too_long (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GString) contents = g_string_new ("a,b\nc,d\n");
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GError) error = NULL;
  gsize start = contents->len;

  g_string_set_size (contents, start + READER_BLOCK + 1000);
  memset (contents->str + start, 'x', READER_BLOCK + 1000);
  g_string_append (contents, "\ne,f\n");
  path = unit_write_file (fixture->dir, "long.csv", contents->str,
                          contents->len);

  lines = read_lines_from_path (path, &error);
  g_assert_null (lines);
  g_assert_error (error, LOTTERY_BETS_FILE_ERROR,
                  LOTTERY_BETS_FILE_ERROR_INVALID_ROW);
  expected = g_strdup_printf ("%s:3: line longer than %d bytes", path,
                              READER_BLOCK - 1);
  g_assert_cmpstr (error->message, ==, expected);
}

static void
test_lines_too_long_goes_on (Fixture       *fixture,
                             gconstpointer  user_data)
{
  g_autoptr(GString) contents = g_string_new ("a,b\n");
  g_autofree char *path = NULL;
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GError) error = NULL;
  const char *line;
  gsize len, start;
  guint i;

  g_test_summary ("Lines too long are each one error, dropped in constant "
                  "memory, and the reader goes on with the next line; the "
                  "file opened as a regular file can be read again");
  /* Three long lines in a row, the second exactly two blocks long. */
  for (i = 0; i < 3; i++)
    {
      start = contents->len;
      g_string_set_size (contents, start + READER_BLOCK * (i + 1) + 7 * i);
      memset (contents->str + start, 'x', contents->len - start);
      g_string_append_c (contents, '\n');
    }
  g_string_append (contents, "e,f");
  path = unit_write_file (fixture->dir, "long.csv", contents->str,
                          contents->len);

  reader = lottery_csv_reader_new_for_regular_file (path, &error);
  g_assert_no_error (error);
  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  for (i = 0; i < 3; i++)
    {
      g_assert_false (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                                    &error));
      g_assert_error (error, LOTTERY_BETS_FILE_ERROR,
                      LOTTERY_BETS_FILE_ERROR_INVALID_ROW);
      g_clear_error (&error);
      g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==, i + 2);
    }
  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  g_assert_cmpmem (line, len, "e,f", 3);
  g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==, 5);
  g_assert_false (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                                &error));
  g_assert_no_error (error);

  g_assert_true (lottery_csv_reader_rewind (reader, &error));
  g_assert_true (lottery_csv_reader_next_line (reader, &line, &len, NULL,
                                               &error));
  g_assert_cmpmem (line, len, "a,b", 3);
  g_assert_cmpuint (lottery_csv_reader_get_line_number (reader), ==, 1);
}

static void
test_lines_not_regular (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autofree char *fifo = g_build_filename (fixture->dir, "f.fifo", NULL);
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A FIFO is refused at once (the open does not wait for "
                  "a writer), as not a regular file");
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  reader = lottery_csv_reader_new_for_regular_file (fifo, &error);
  g_assert_null (reader);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
}

static void
test_lines_too_long_first (Fixture       *fixture,
                           gconstpointer  user_data)
{
  /* A huge last line without a line end is refused too, not cut. */
  g_autofree char *huge = g_strnfill (3 * READER_BLOCK, 'y');
  g_autofree char *path = unit_write_file (fixture->dir, "huge.csv", huge, -1);
  g_autofree char *prefix = g_strdup_printf ("%s:1: ", path);
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GError) error = NULL;

  lines = read_lines_from_path (path, &error);
  g_assert_null (lines);
  g_assert_error (error, LOTTERY_BETS_FILE_ERROR,
                  LOTTERY_BETS_FILE_ERROR_INVALID_ROW);
  g_assert_true (g_str_has_prefix (error->message, prefix));
}

static void
test_lines_missing (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "absent.csv", NULL);
  g_autofree char *prefix = g_strdup_printf ("Cannot open %s: ", path);
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GError) error = NULL;

  reader = lottery_csv_reader_new_for_path (path, &error);
  g_assert_null (reader);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_true (g_str_has_prefix (error->message, prefix));
}

static void
test_lines_cancelled (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autofree char *path = unit_write_file (fixture->dir, "c.csv", "a\nb\n", -1);
  g_autoptr(LotteryCsvReader) reader = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  const char *line;
  gsize len;

  reader = lottery_csv_reader_new_for_path (path, &error);
  g_assert_no_error (error);
  g_cancellable_cancel (cancellable);
  g_assert_false (lottery_csv_reader_next_line (reader, &line, &len,
                                                cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_nonnull (strstr (error->message, path));
}

/* Splits @line; returns the fields as strings, or NULL with @error. */
static GPtrArray *
split (const char *line,
       guint       max_fields,
       GError    **error)
{
  gsize len = strlen (line);
  g_autofree LotteryCsvField *fields = g_new0 (LotteryCsvField, max_fields);
  /* Exactly @len bytes, as documented: overruns are caught. */
  g_autofree char *scratch = g_malloc (MAX (len, 1));
  g_autofree char *copy = g_memdup2 (line, MAX (len, 1));
  GPtrArray *out;
  int n, i;

  n = lottery_csv_split (copy, len, fields, max_fields, scratch, error);
  if (n < 0)
    return NULL;
  g_assert_cmpint (n, >=, 1);
  g_assert_cmpint (n, <=, (int) max_fields);

  out = g_ptr_array_new_with_free_func (g_free);
  for (i = 0; i < n; i++)
    g_ptr_array_add (out, g_strndup (fields[i].data, fields[i].len));

  return out;
}

static void
assert_split (const char         *line,
              const char * const *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) fields = NULL;

  g_test_message ("splitting “%s”", line);
  fields = split (line, 8, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fields);
  assert_lines (fields, expected);
}

static void
assert_split_fails (const char *line,
                    guint       max_fields,
                    const char *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) fields = NULL;

  g_test_message ("splitting “%s” fails", line);
  fields = split (line, max_fields, &error);
  g_assert_null (fields);
  g_assert_error (error, LOTTERY_ERROR, LOTTERY_ERROR_INVALID_BET);
  g_assert_cmpstr (error->message, ==, message);

  /* Callers may also ignore the error. */
  fields = split (line, max_fields, NULL);
  g_assert_null (fields);
}

static void
test_split_plain (void)
{
  const char * const one[] = { "abc", NULL };
  const char * const three[] = { "a", "b c", "d", NULL };

  assert_split ("abc", one);
  assert_split ("a,b c,d", three);
}

static void
test_split_empty_fields (void)
{
  const char * const empty[] = { "", NULL };
  const char * const commas[] = { "", "", "", NULL };
  const char * const trailing[] = { "a", "", NULL };
  const char * const leading[] = { "", "a", NULL };

  assert_split ("", empty);
  assert_split (",,", commas);
  assert_split ("a,", trailing);
  assert_split (",a", leading);
}

static void
test_split_quoted (void)
{
  const char * const quoted[] = { "Ana, María", "x", NULL };
  const char * const doubled[] = { "O\"Brien", "Ana", NULL };
  const char * const two_doubled[] = { "a\"b", "c\"\"d", "\"", NULL };
  const char * const quoted_empty[] = { "", "", "x", "", NULL };
  const char * const last[] = { "a", "b,c", NULL };
  const char * const only_quotes[] = { "\"\"", NULL };

  assert_split ("\"Ana, María\",x", quoted);
  assert_split ("\"O\"\"Brien\",Ana", doubled);
  /* Each unescaped field gets its own part of the scratch buffer. */
  assert_split ("\"a\"\"b\",\"c\"\"\"\"d\",\"\"\"\"", two_doubled);
  assert_split ("\"\",\"\",x,\"\"", quoted_empty);
  assert_split ("a,\"b,c\"", last);
  assert_split ("\"\"\"\"\"\"", only_quotes);
}

static void
test_split_unterminated (void)
{
  assert_split_fails ("\"abc", 8, "field 1 has an unterminated quote");
  assert_split_fails ("a,\"b,c", 8, "field 2 has an unterminated quote");
  assert_split_fails ("a,\"b\"\"", 8, "field 2 has an unterminated quote");
  assert_split_fails ("\"", 8, "field 1 has an unterminated quote");
}

static void
test_split_after_quote (void)
{
  assert_split_fails ("\"abc\"d,e", 8,
                      "field 1 has text after its closing quote");
  assert_split_fails ("a,\"b\" ,c", 8,
                      "field 2 has text after its closing quote");
  assert_split_fails ("\"a\"\"\"b", 8,
                      "field 1 has text after its closing quote");
}

static void
test_split_stray_quote (void)
{
  assert_split_fails ("ab\"c", 8, "field 1 has a quote but is not quoted");
  assert_split_fails ("a,b\"", 8, "field 2 has a quote but is not quoted");
  assert_split_fails ("a, \"b\"", 8, "field 2 has a quote but is not quoted");
}

static void
test_split_too_many (void)
{
  const char * const three[] = { "a", "b", "c", NULL };
  g_autoptr(GPtrArray) fields = NULL;
  g_autoptr(GError) error = NULL;

  /* Callers pass one slot more than they want, to tell "one too many"
   * from "far too many". */
  assert_split_fails ("a,b,c,d", 3, "more than 2 fields");
  assert_split_fails ("a,b,\"c\",d", 3, "more than 2 fields");
  assert_split_fails ("a,b,c,", 3, "more than 2 fields");

  fields = split ("a,b,c", 3, &error);
  g_assert_no_error (error);
  assert_lines (fields, three);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  g_test_summary ("LotteryCsvReader and lottery_csv_split (): line ends, "
                  "BOM, block boundaries, over-long lines and CSV quoting.");

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/csv-reader/lines/lf", test_lines_lf);
  ADD ("/csv-reader/lines/crlf", test_lines_crlf);
  ADD ("/csv-reader/lines/no-final-newline", test_lines_no_final_newline);
  ADD ("/csv-reader/lines/empty", test_lines_empty);
  ADD ("/csv-reader/lines/bom", test_lines_bom);
  ADD ("/csv-reader/lines/offset", test_lines_offset);
  ADD ("/csv-reader/lines/block-boundary", test_lines_block_boundary);
  ADD ("/csv-reader/lines/longest", test_lines_longest);
  ADD ("/csv-reader/lines/too-long", test_lines_too_long);
  ADD ("/csv-reader/lines/too-long-unterminated", test_lines_too_long_first);
  ADD ("/csv-reader/lines/too-long-goes-on", test_lines_too_long_goes_on);
  ADD ("/csv-reader/lines/not-regular", test_lines_not_regular);
  ADD ("/csv-reader/lines/missing-file", test_lines_missing);
  ADD ("/csv-reader/lines/cancelled", test_lines_cancelled);

#undef ADD

  g_test_add_func ("/csv-reader/split/plain", test_split_plain);
  g_test_add_func ("/csv-reader/split/empty-fields", test_split_empty_fields);
  g_test_add_func ("/csv-reader/split/quoted", test_split_quoted);
  g_test_add_func ("/csv-reader/split/unterminated", test_split_unterminated);
  g_test_add_func ("/csv-reader/split/text-after-quote",
                   test_split_after_quote);
  g_test_add_func ("/csv-reader/split/stray-quote", test_split_stray_quote);
  g_test_add_func ("/csv-reader/split/too-many", test_split_too_many);

  return g_test_run ();
}
