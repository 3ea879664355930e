/* lottery-gen-bets: writes an agency's bets file for tests and benchmarks.
 *
 *   lottery-gen-bets --rows N --seed S [--winners K] [--crlf] [--output FILE]
 *
 * Rows are NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO, the same for the
 * same seed and options. Names come from built-in lists with accents
 * and compound names; a few rows carry a comma or double quotes in a
 * name, quoted as CSV requires. Documents have 8 digits, birth dates
 * are calendar dates from 1940 to 2005 and numbers go from 0 to 9999.
 * Without --winners the winning number comes up about once in 10,000
 * rows; with --winners K exactly K rows, at positions drawn from the
 * seed, hold it and no other row does.
 *
 * Rows are formatted into a large buffer and written a buffer at a
 * time, so any number of rows takes constant memory.
 */
#include "config.h"

#include <gio/gio.h>
#include <gio/gunixoutputstream.h>
#include <string.h>
#include <unistd.h>

#include "lottery-bet.h"

#define BUFFER_SIZE (1024 * 1024)
/* Longest row this program writes, with room to spare. */
#define ROW_MAX     512

/* One row in SPECIAL_ODDS gets a name with a comma, one with quotes. */
#define SPECIAL_ODDS 1000

/* --winners was not given: numbers are drawn freely. */
#define NO_WINNERS G_MININT64

static const char * const first_names[] = {
  "José", "María", "Juan", "Ana", "Luis", "Lucía", "Carlos", "Sofía",
  "Jorge", "Valentina", "Martín", "Camila", "Diego", "Florencia", "Pablo",
  "Agustina", "Nicolás", "Micaela", "Matías", "Julieta", "Sebastián",
  "Rocío", "Tomás", "Belén", "Joaquín", "Inés", "Andrés", "Mónica",
  "Ramón", "Verónica", "Héctor", "Estefanía", "Germán", "Noemí", "Iñaki",
  "Ángela", "Óscar", "Débora", "Rubén", "Zoé", "Facundo", "Milagros",
  "Gonzalo", "Carolina", "Santiago", "Paula", "Federico", "Laura",
  "María José", "Juan Pablo", "Ana Laura", "José Luis", "María Inés",
  "Juan Martín", "María de los Ángeles", "Luis Ángel",
};

static const char * const last_names[] = {
  "González", "Rodríguez", "Gómez", "Fernández", "López", "Díaz",
  "Martínez", "Pérez", "García", "Sánchez", "Romero", "Sosa", "Álvarez",
  "Torres", "Ruiz", "Ramírez", "Flores", "Acosta", "Benítez", "Medina",
  "Suárez", "Herrera", "Aguirre", "Giménez", "Gutiérrez", "Peña", "Núñez",
  "Muñoz", "Ibáñez", "Ordóñez", "Castaño", "Maldonado", "Domínguez",
  "Vázquez", "Cabrera", "Ríos", "Ojeda", "Quiroga", "Ledesma", "Villalba",
  "de la Fuente", "del Valle", "San Martín", "Pérez García",
  "Fernández de Córdoba", "Nuñez Peña", "Di María", "O'Connor",
};

static const char * const comma_names[] = {
  "Pérez, hijo", "Gómez, Jr.", "Núñez, de la Torre",
};

static const char * const quote_names[] = {
  "José \"Pepe\"", "María \"Mery\"", "\"Cacho\" Peña",
};

static const guint8 days_in_month[2][12] = {
  { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 },
  { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 },
};

typedef struct
{
  GOutputStream *out;
  char          *buf;
  gsize          len;
} Writer;

static gboolean
writer_flush (Writer  *writer,
              GError **error)
{
  if (writer->len > 0 &&
      !g_output_stream_write_all (writer->out, writer->buf, writer->len, NULL,
                                  NULL, error))
    return FALSE;
  writer->len = 0;

  return TRUE;
}

/* Appends @value as a CSV field, quoted when it needs to be. */
static char *
put_field (char       *p,
           const char *value)
{
  gboolean quote = strpbrk (value, ",\"") != NULL;

  if (!quote)
    {
      gsize len = strlen (value);

      memcpy (p, value, len);
      return p + len;
    }

  *p++ = '"';
  for (; *value != '\0'; value++)
    {
      if (*value == '"')
        *p++ = '"';
      *p++ = *value;
    }
  *p++ = '"';

  return p;
}

static char *
put_digits (char  *p,
            guint  value,
            guint  width)
{
  guint i;

  for (i = width; i > 0; i--)
    {
      p[i - 1] = (char) ('0' + value % 10);
      value /= 10;
    }

  return p + width;
}

static char *
put_uint (char  *p,
          guint  value)
{
  char tmp[10];
  guint n = 0;

  do
    {
      tmp[n++] = (char) ('0' + value % 10);
      value /= 10;
    }
  while (value != 0);
  while (n > 0)
    *p++ = tmp[--n];

  return p;
}

static const char *
pick_name (GRand              *rand,
           const char * const *names,
           guint               n_names,
           const char * const *quoted,
           guint               n_quoted)
{
  guint32 r = g_rand_int (rand);
  guint special = (r >> 16) % SPECIAL_ODDS;

  if (special == 0)
    return comma_names[(r & 0xffff) % G_N_ELEMENTS (comma_names)];
  if (special == 1)
    return quoted[(r & 0xffff) % n_quoted];

  return names[(r & 0xffff) % n_names];
}

/* Writes the row; @winner: -1 for any number, 1 for the winning one,
 * 0 for any other. */
static char *
put_row (char     *p,
         GRand    *rand,
         int       winner,
         gboolean  crlf)
{
  guint32 r = g_rand_int (rand);
  guint year = 1940 + r % 66;
  guint month = 1 + (r >> 8) % 12;
  gboolean leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  guint day = 1 + (r >> 16) % days_in_month[leap][month - 1];
  guint number;

  p = put_field (p, pick_name (rand, first_names, G_N_ELEMENTS (first_names),
                               quote_names, G_N_ELEMENTS (quote_names)));
  *p++ = ',';
  p = put_field (p, pick_name (rand, last_names, G_N_ELEMENTS (last_names),
                               quote_names, G_N_ELEMENTS (quote_names)));
  *p++ = ',';
  p = put_uint (p, (guint) g_rand_int_range (rand, 10000000, 100000000));
  *p++ = ',';
  p = put_digits (p, year, 4);
  *p++ = '-';
  p = put_digits (p, month, 2);
  *p++ = '-';
  p = put_digits (p, day, 2);
  *p++ = ',';

  if (winner > 0)
    number = LOTTERY_WINNING_NUMBER;
  else if (winner == 0)
    {
      /* 0..9999 without the winning number. */
      number = (guint) g_rand_int_range (rand, 0, 9999);
      if (number >= LOTTERY_WINNING_NUMBER)
        number++;
    }
  else
    number = (guint) g_rand_int_range (rand, 0, 10000);
  p = put_uint (p, number);

  if (crlf)
    *p++ = '\r';
  *p++ = '\n';

  return p;
}

/* Values above 2^32 reach GRand too. */
static GRand *
rand_for_seed (gint64  seed,
               guint32 stream)
{
  guint32 words[3] = { (guint32) seed, (guint32) ((guint64) seed >> 32),
                       stream };

  return g_rand_new_with_seed_array (words, G_N_ELEMENTS (words));
}

static gboolean
generate (GOutputStream *out,
          gint64         n_rows,
          gint64         seed,
          gint64         n_winners,
          gboolean       crlf,
          GError       **error)
{
  g_autoptr(GRand) rows = rand_for_seed (seed, 1);
  g_autoptr(GRand) places = rand_for_seed (seed, 2);
  g_autofree char *buf = g_malloc (BUFFER_SIZE);
  Writer writer = { out, buf, 0 };
  gint64 left = n_winners;
  gint64 i;

  for (i = 0; i < n_rows; i++)
    {
      int winner = -1;

      /* Selection sampling (Knuth's algorithm S): each row is a winner
       * with probability winners left / rows left, which places
       * exactly n_winners of them uniformly, without a list. */
      if (n_winners != NO_WINNERS)
        {
          winner = 0;
          if (left > 0 &&
              (gint64) (g_rand_double (places) * (double) (n_rows - i)) < left)
            {
              winner = 1;
              left--;
            }
        }

      if (BUFFER_SIZE - writer.len < ROW_MAX && !writer_flush (&writer, error))
        return FALSE;
      writer.len = (gsize) (put_row (writer.buf + writer.len, rows, winner,
                                     crlf) - writer.buf);
    }

  return writer_flush (&writer, error);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GOutputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;
  gint64 n_rows = -1;
  gint64 seed = 0;
  gint64 n_winners = NO_WINNERS;
  g_autofree char *seed_text = NULL;
  gboolean crlf = FALSE;
  const GOptionEntry entries[] = {
    { "rows", 'n', 0, G_OPTION_ARG_INT64, &n_rows,
      "Number of rows to write", "N" },
    { "seed", 's', 0, G_OPTION_ARG_STRING, &seed_text,
      "Seed: the same seed gives the same rows", "S" },
    { "winners", 'w', 0, G_OPTION_ARG_INT64, &n_winners,
      "Exactly K rows hold the winning number", "K" },
    { "crlf", 0, 0, G_OPTION_ARG_NONE, &crlf,
      "End rows with CRLF instead of LF", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
      "Write to FILE instead of standard output", "FILE" },
    G_OPTION_ENTRY_NULL
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
    "Writes an agency's bets file: NOMBRE,APELLIDO,DOCUMENTO,NACIMIENTO,NUMERO.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("lottery-gen-bets: %s\n", error->message);
      return 2;
    }

  if (n_rows < 0)
    {
      g_printerr ("lottery-gen-bets: --rows N, with N >= 0, is required\n");
      return 2;
    }
  if (seed_text == NULL ||
      !g_ascii_string_to_signed (seed_text, 10, G_MININT64, G_MAXINT64, &seed,
                                 &error))
    {
      g_printerr ("lottery-gen-bets: --seed S, an integer, is required%s%s\n",
                  error != NULL ? ": " : "",
                  error != NULL ? error->message : "");
      return 2;
    }
  if (n_winners != NO_WINNERS && (n_winners < 0 || n_winners > n_rows))
    {
      g_printerr ("lottery-gen-bets: --winners must be from 0 to --rows "
                  "(%" G_GINT64_FORMAT ")\n", n_rows);
      return 2;
    }

  if (output != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (output);

      out = G_OUTPUT_STREAM (g_file_replace (file, NULL, FALSE,
                                             G_FILE_CREATE_NONE, NULL,
                                             &error));
      if (out == NULL)
        {
          g_printerr ("lottery-gen-bets: %s\n", error->message);
          return 1;
        }
    }
  else
    out = g_unix_output_stream_new (STDOUT_FILENO, FALSE);

  if (!generate (out, n_rows, seed, n_winners, crlf, &error) ||
      !g_output_stream_close (out, NULL, &error))
    {
      g_printerr ("lottery-gen-bets: %s\n", error->message);
      return 1;
    }

  return 0;
}
