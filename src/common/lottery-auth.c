/* lottery-auth.c: agency tokens and the proof that an agency holds one.
 *
 * The header describes the scheme. Secrets (tokens, client keys) are
 * wiped from the stack once used; stored keys and proofs are not
 * secret.
 */
#include "config.h"

#include "lottery-auth.h"
#include "lottery-error.h"
#include "lottery-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Domain separation: a ClientKey is not some other HMAC of the token,
 * and a proof made for this protocol is not valid for another. */
#define CLIENT_KEY_LABEL "lottery client key"
#define PROOF_LABEL      "lottery-auth-v1"
/* A token file holds one token and maybe a line end; read no more than
 * this, so that a wrong path (a device, a big file) is not read whole. */
#define TOKEN_FILE_MAX   256

struct _LotteryAuth
{
  GObject parent_instance;

  guint   agencies;
  guint8 *keys;     /* StoredKey of agency i at (i - 1) * KEY_LEN */
};

G_DEFINE_FINAL_TYPE (LotteryAuth, lottery_auth, G_TYPE_OBJECT)

static void
lottery_auth_finalize (GObject *object)
{
  LotteryAuth *self = LOTTERY_AUTH (object);

  g_free (self->keys);

  G_OBJECT_CLASS (lottery_auth_parent_class)->finalize (object);
}

static void
lottery_auth_class_init (LotteryAuthClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lottery_auth_finalize;
}

static void
lottery_auth_init (LotteryAuth *self)
{
}

/* ---- primitives ---- */

/* explicit_bzero: a plain memset of a buffer about to die may be
 * optimised away. */
void
lottery_auth_wipe (gpointer data,
                   gsize    len)
{
  explicit_bzero (data, len);
}

/* Fills @buffer from the kernel's CSPRNG; blocks only until it is
 * seeded at boot. */
gboolean
lottery_auth_random (guint8  *buffer,
                     gsize    len,
                     GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      gssize n = getrandom (buffer + done, len - done, 0);

      if (n < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EINTR)
            continue;
          return lottery_fail_errno (error, LOTTERY_ERROR,
                                     LOTTERY_ERROR_FAILED, saved_errno,
                                     N_("Cannot get random bytes: "));
        }
      done += (gsize) n;
    }

  return TRUE;
}

gboolean
lottery_auth_token_generate (guint8  *token,
                             GError **error)
{
  return lottery_auth_random (token, LOTTERY_AUTH_TOKEN_LEN, error);
}

/* Lowercase hex of @data. */
char *
lottery_auth_hex (const guint8 *data,
                  gsize         len)
{
  static const char digits[] = "0123456789abcdef";
  char *out = g_malloc (2 * len + 1);
  gsize i;

  for (i = 0; i < len; i++)
    {
      out[2 * i] = digits[data[i] >> 4];
      out[2 * i + 1] = digits[data[i] & 0xf];
    }
  out[2 * len] = '\0';

  return out;
}

/* @text must be exactly 2 × @out_len hex digits (either case). */
gboolean
lottery_auth_parse_hex (const char *text,
                        gsize       text_len,
                        guint8     *out,
                        gsize       out_len)
{
  gsize i;

  if (text_len != 2 * out_len)
    return FALSE;

  for (i = 0; i < text_len; i++)
    if (!g_ascii_isxdigit (text[i]))
      return FALSE;

  for (i = 0; i < out_len; i++)
    out[i] = (guint8) ((g_ascii_xdigit_value (text[2 * i]) << 4) |
                       g_ascii_xdigit_value (text[2 * i + 1]));

  return TRUE;
}

/* A token as a person or a file gives it: hex, maybe with spaces or a
 * line end around it. The error names @source and never quotes the
 * text, which may be a secret with a typo. */
gboolean
lottery_auth_token_parse (const char *text,
                          const char *source,
                          guint8     *token,
                          GError    **error)
{
  const char *start = text;
  const char *end = text + strlen (text);

  while (start < end && g_ascii_isspace (*start))
    start++;
  while (end > start && g_ascii_isspace (end[-1]))
    end--;

  if (!lottery_auth_parse_hex (start, (gsize) (end - start), token,
                               LOTTERY_AUTH_TOKEN_LEN))
    return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                N_("%s: a token is %d hexadecimal digits (as "
                                   "lottery-server --gen-token prints it); "
                                   "this one has %u characters"), source,
                                LOTTERY_AUTH_TOKEN_HEX_LEN,
                                (guint) (end - start));

  return TRUE;
}

gboolean
lottery_auth_token_read_file (const char *path,
                              guint8     *token,
                              GError    **error)
{
  char buffer[TOKEN_FILE_MAX + 2];
  gsize len = 0;
  gboolean ok;

  /* On the stack, to be wiped whatever happens. */
  if (!lottery_file_read_into (path, buffer, TOKEN_FILE_MAX, &len, error))
    {
      lottery_auth_wipe (buffer, sizeof buffer);
      return FALSE;
    }

  if (memchr (buffer, '\0', len) != NULL)
    {
      lottery_auth_wipe (buffer, sizeof buffer);
      return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                  N_("%s: this is not a token file: a token "
                                     "is %d hexadecimal digits"), path,
                                  LOTTERY_AUTH_TOKEN_HEX_LEN);
    }
  buffer[len] = '\0';
  ok = lottery_auth_token_parse (buffer, path, token, error);
  lottery_auth_wipe (buffer, sizeof buffer);

  return ok;
}

static void
sha256 (const guint8 *data,
        gsize         len,
        guint8       *out)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize out_len = LOTTERY_AUTH_KEY_LEN;

  g_checksum_update (checksum, data, len);
  g_checksum_get_digest (checksum, out, &out_len);
  g_assert (out_len == LOTTERY_AUTH_KEY_LEN);
}

/* ClientKey = HMAC-SHA-256 (key: the token, message: CLIENT_KEY_LABEL) */
void
lottery_auth_client_key (const guint8 *token,
                         guint8       *client_key)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, token,
                                      LOTTERY_AUTH_TOKEN_LEN);
  gsize len = LOTTERY_AUTH_KEY_LEN;

  g_hmac_update (hmac, (const guchar *) CLIENT_KEY_LABEL,
                 strlen (CLIENT_KEY_LABEL));
  g_hmac_get_digest (hmac, client_key, &len);
  g_assert (len == LOTTERY_AUTH_KEY_LEN);
}

/* StoredKey = SHA-256 (ClientKey): what the server's file holds. */
void
lottery_auth_stored_key (const guint8 *token,
                         guint8       *stored_key)
{
  guint8 client_key[LOTTERY_AUTH_KEY_LEN];

  lottery_auth_client_key (token, client_key);
  sha256 (client_key, sizeof client_key, stored_key);
  lottery_auth_wipe (client_key, sizeof client_key);
}

/* The tokens file's line for @agency: "3": "sha256:…" */
char *
lottery_auth_tokens_file_line (guint32       agency,
                               const guint8 *token)
{
  guint8 stored_key[LOTTERY_AUTH_KEY_LEN];
  g_autofree char *hex = NULL;

  lottery_auth_stored_key (token, stored_key);
  hex = lottery_auth_hex (stored_key, sizeof stored_key);

  return g_strdup_printf ("\"%u\": \"" LOTTERY_AUTH_KEY_PREFIX "%s\"", agency,
                          hex);
}

/* HMAC-SHA-256 (key: StoredKey, message: PROOF_LABEL || agency || nonce).
 * The agency is in the message so that a proof for one agency says
 * nothing about another sharing the nonce. */
static void
signature (const guint8 *stored_key,
           guint32       agency,
           const guint8 *nonce,
           guint8       *out)
{
  g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA256, stored_key,
                                      LOTTERY_AUTH_KEY_LEN);
  guint8 agency_be[4] = {
    (guint8) (agency >> 24), (guint8) (agency >> 16),
    (guint8) (agency >> 8), (guint8) agency,
  };
  gsize len = LOTTERY_AUTH_KEY_LEN;

  g_hmac_update (hmac, (const guchar *) PROOF_LABEL, strlen (PROOF_LABEL));
  g_hmac_update (hmac, agency_be, sizeof agency_be);
  g_hmac_update (hmac, nonce, LOTTERY_AUTH_NONCE_LEN);
  g_hmac_get_digest (hmac, out, &len);
  g_assert (len == LOTTERY_AUTH_KEY_LEN);
}

/* The agency's answer to @nonce: ClientKey XOR signature. */
void
lottery_auth_compute_proof (const guint8 *token,
                            guint32       agency,
                            const guint8 *nonce,
                            guint8       *proof)
{
  guint8 client_key[LOTTERY_AUTH_KEY_LEN];
  guint8 stored_key[LOTTERY_AUTH_KEY_LEN];
  guint8 sig[LOTTERY_AUTH_KEY_LEN];
  guint i;

  lottery_auth_client_key (token, client_key);
  sha256 (client_key, sizeof client_key, stored_key);
  signature (stored_key, agency, nonce, sig);
  for (i = 0; i < LOTTERY_AUTH_PROOF_LEN; i++)
    proof[i] = client_key[i] ^ sig[i];

  /* With the proof, the signature gives the ClientKey back. */
  lottery_auth_wipe (client_key, sizeof client_key);
  lottery_auth_wipe (stored_key, sizeof stored_key);
  lottery_auth_wipe (sig, sizeof sig);
}

/* Compares every byte whatever the first difference, so the time taken
 * says nothing about how much of a guess was right. */
gboolean
lottery_auth_equal (const guint8 *a,
                    const guint8 *b,
                    gsize         len)
{
  volatile guint8 diff = 0;
  gsize i;

  for (i = 0; i < len; i++)
    diff |= a[i] ^ b[i];

  return diff == 0;
}

/* The server's check: the ClientKey recovered from @proof must hash to
 * @stored_key. */
gboolean
lottery_auth_check_proof (const guint8 *stored_key,
                          guint32       agency,
                          const guint8 *nonce,
                          const guint8 *proof)
{
  guint8 client_key[LOTTERY_AUTH_KEY_LEN];
  guint8 hashed[LOTTERY_AUTH_KEY_LEN];
  gboolean ok;
  guint i;

  signature (stored_key, agency, nonce, client_key);
  for (i = 0; i < LOTTERY_AUTH_KEY_LEN; i++)
    client_key[i] ^= proof[i];
  sha256 (client_key, sizeof client_key, hashed);
  ok = lottery_auth_equal (hashed, stored_key, LOTTERY_AUTH_KEY_LEN);
  lottery_auth_wipe (client_key, sizeof client_key);

  return ok;
}

/* ---- the tokens file ---- */

/* json-glib keeps the last of two members with one name: remember the
 * first name met twice, so that a doubled agency is an error, not a
 * silent choice. */
typedef struct
{
  GHashTable *seen;      /* "object address/name" */
  char       *duplicate; /* first name met twice, or NULL */
} MemberCheck;

static void
object_member_cb (JsonParser *parser,
                  JsonObject *object,
                  const char *name,
                  gpointer    user_data)
{
  MemberCheck *check = user_data;
  char *key = g_strdup_printf ("%p/%s", (gpointer) object, name);

  if (!g_hash_table_add (check->seen, key) && check->duplicate == NULL)
    check->duplicate = g_strdup (name);
}

/* "7" for agency 7; not "07", "+7" or "7 ". */
static gboolean
parse_agency_id (const char *name,
                 guint       agencies,
                 guint      *agency)
{
  guint64 v;

  if (name[0] < '1' || name[0] > '9' ||
      !g_ascii_string_to_unsigned (name, 10, 1, agencies, &v, NULL))
    return FALSE;

  *agency = (guint) v;
  return TRUE;
}

static gboolean
read_agencies (LotteryAuth *self,
               JsonReader  *reader,
               const char  *path,
               GError     **error)
{
  g_auto(GStrv) members = json_reader_list_members (reader);
  g_autoptr(GHashTable) by_key = g_hash_table_new_full (g_str_hash,
                                                        g_str_equal, g_free,
                                                        NULL);
  g_autofree gboolean *present = g_new0 (gboolean, self->agencies + 1);
  guint i;

  for (i = 0; members != NULL && members[i] != NULL; i++)
    {
      const char *value = NULL;
      gsize prefix_len = strlen (LOTTERY_AUTH_KEY_PREFIX);
      guint agency;
      gpointer other;
      g_autofree char *hex = NULL;

      if (!parse_agency_id (members[i], self->agencies, &agency))
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: agency “%s” is not one of 1 to "
                                       "%u"), path, members[i],
                                    self->agencies);

      json_reader_read_member (reader, members[i]);
      if (json_reader_is_value (reader) &&
          json_node_get_value_type (json_reader_get_value (reader)) ==
          G_TYPE_STRING)
        value = json_reader_get_string_value (reader);
      json_reader_end_member (reader);

      if (value == NULL || strncmp (value, LOTTERY_AUTH_KEY_PREFIX,
                                    prefix_len) != 0 ||
          !lottery_auth_parse_hex (value + prefix_len,
                                   strlen (value + prefix_len),
                                   self->keys +
                                   (gsize) (agency - 1) * LOTTERY_AUTH_KEY_LEN,
                                   LOTTERY_AUTH_KEY_LEN))
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: agency %u: the key must be “%s” "
                                       "and %d hexadecimal digits, as the "
                                       "second line of lottery-server "
                                       "--gen-token"), path, agency,
                                    LOTTERY_AUTH_KEY_PREFIX,
                                    2 * LOTTERY_AUTH_KEY_LEN);

      /* One token for two agencies would let either act as the other. */
      hex = g_ascii_strdown (value + prefix_len, -1);
      if (g_hash_table_lookup_extended (by_key, hex, NULL, &other))
        return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                    N_("%s: agencies %u and %u have the same "
                                       "key; each agency needs a token of its "
                                       "own"), path, GPOINTER_TO_UINT (other),
                                    agency);
      g_hash_table_insert (by_key, g_steal_pointer (&hex),
                           GUINT_TO_POINTER (agency));
      present[agency] = TRUE;
    }

  /* The draw waits for every agency: one that cannot log in would hold
   * it up for good. */
  for (i = 1; i <= self->agencies; i++)
    if (!present[i])
      return lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                                  N_("%s: no key for agency %u; every agency "
                                     "from 1 to %u needs one (lottery-server "
                                     "--gen-token %u makes it)"), path, i,
                                  self->agencies, i);

  return TRUE;
}

/* Reads the stored keys of agencies 1..@agencies:
 *
 *   { "agencies": { "1": "sha256:<64 hex>", "2": "sha256:…" } }
 *
 * Every agency needs a key, and no other key or member is allowed. */
LotteryAuth *
lottery_auth_new_from_file (const char *path,
                            guint       agencies,
                            GError    **error)
{
  g_autoptr(LotteryAuth) self = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonReader) reader = NULL;
  g_auto(GStrv) members = NULL;
  MemberCheck check = { NULL, NULL };
  gboolean loaded;
  gboolean ok;
  guint i;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (agencies > 0, NULL);

  check.seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_signal_connect (parser, "object-member", G_CALLBACK (object_member_cb),
                    &check);
  loaded = lottery_json_load_file (parser, path,
                                   LOTTERY_FILE_MAX_TOKENS_SIZE, error);
  g_signal_handlers_disconnect_by_data (parser, &check);
  g_hash_table_unref (check.seen);

  if (!loaded)
    {
      g_free (check.duplicate);
      return NULL;
    }
  if (check.duplicate != NULL)
    {
      lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                           N_("%s: “%s” is listed twice"), path,
                           check.duplicate);
      g_free (check.duplicate);
      return NULL;
    }

  reader = json_reader_new (json_parser_get_root (parser));
  if (!json_reader_is_object (reader))
    {
      lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                           N_("%s: the top level must be a JSON object"),
                           path);
      return NULL;
    }
  members = json_reader_list_members (reader);
  for (i = 0; members != NULL && members[i] != NULL; i++)
    if (strcmp (members[i], "agencies") != 0)
      {
        lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                             N_("%s: unknown key %s"), path, members[i]);
        return NULL;
      }

  self = g_object_new (LOTTERY_TYPE_AUTH, NULL);
  self->agencies = agencies;
  self->keys = g_malloc0 ((gsize) agencies * LOTTERY_AUTH_KEY_LEN);

  if (!json_reader_read_member (reader, "agencies"))
    ok = lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                              N_("%s: no “agencies” object; the file is "
                                 "{\"agencies\": {\"1\": \"sha256:…\", …}}"),
                              path);
  else if (!json_reader_is_object (reader))
    ok = lottery_config_fail (error, LOTTERY_CONFIG_ERROR_INVALID,
                              N_("%s: agencies must be an object"), path);
  else
    ok = read_agencies (self, reader, path, error);
  json_reader_end_member (reader);

  if (!ok)
    return NULL;

  return g_steal_pointer (&self);
}

guint
lottery_auth_get_agencies (LotteryAuth *self)
{
  g_return_val_if_fail (LOTTERY_IS_AUTH (self), 0);

  return self->agencies;
}

/* Whether @agency has a key here (is one of 1..N), before a challenge
 * is spent on it. */
gboolean
lottery_auth_check_agency (LotteryAuth *self,
                           guint32      agency,
                           GError     **error)
{
  g_return_val_if_fail (LOTTERY_IS_AUTH (self), FALSE);

  if (agency < 1 || agency > self->agencies)
    return lottery_fail (error, LOTTERY_ERROR_UNKNOWN_AGENCY,
                         N_("Agency %u is not one of 1 to %u"), agency,
                         self->agencies);

  return TRUE;
}

/* Checks @agency's answer (@proof) to @nonce against its stored key. */
gboolean
lottery_auth_verify (LotteryAuth  *self,
                     guint32       agency,
                     const guint8 *nonce,
                     const guint8 *proof,
                     GError      **error)
{
  g_return_val_if_fail (LOTTERY_IS_AUTH (self), FALSE);

  if (!lottery_auth_check_agency (self, agency, error))
    return FALSE;

  if (!lottery_auth_check_proof (self->keys +
                                 (gsize) (agency - 1) * LOTTERY_AUTH_KEY_LEN,
                                 agency, nonce, proof))
    return lottery_fail (error, LOTTERY_ERROR_AUTH,
                         N_("Wrong token for agency %u"), agency);

  return TRUE;
}
