/* lottery-auth.h: agency tokens and the proof that an agency holds one.
 *
 * An agency's token is 32 random bytes, written as 64 hex digits. The
 * server keeps only StoredKey = SHA-256 (ClientKey), where ClientKey =
 * HMAC-SHA-256 (token, "lottery client key"). To connect, the agency
 * answers the server's fresh nonce with
 *
 *   ClientProof = ClientKey XOR HMAC-SHA-256 (StoredKey,
 *                   "lottery-auth-v1" || agency (u32 BE) || nonce)
 *
 * and the server, which can compute the HMAC, recovers ClientKey and
 * checks its hash against StoredKey. The token never crosses the wire,
 * a proof is good for one nonce only, and the server's file of stored
 * keys alone does not let its reader log in. (As in SCRAM, a reader of
 * that file who also sees one exchange can recover that agency's
 * ClientKey: the file stays private, and TLS hides the exchange.)
 *
 * LotteryAuth is the server's table of stored keys, read from the
 * tokens file; it does not change once loaded.
 */
#pragma once

#include <glib-object.h>

#include "lottery-protocol.h"

G_BEGIN_DECLS

#define LOTTERY_AUTH_TOKEN_LEN     32 /* secret bytes of a token */
#define LOTTERY_AUTH_TOKEN_HEX_LEN (2 * LOTTERY_AUTH_TOKEN_LEN)
#define LOTTERY_AUTH_KEY_LEN       32 /* SHA-256: ClientKey, StoredKey */
/* What a tokens file holds before the hex of a stored key. */
#define LOTTERY_AUTH_KEY_PREFIX    "sha256:"

G_STATIC_ASSERT (LOTTERY_AUTH_PROOF_LEN == LOTTERY_AUTH_KEY_LEN);

#define LOTTERY_TYPE_AUTH (lottery_auth_get_type ())
G_DECLARE_FINAL_TYPE (LotteryAuth, lottery_auth, LOTTERY, AUTH, GObject)

LotteryAuth *lottery_auth_new_from_file     (const char    *path,
                                             guint          agencies,
                                             GError       **error);
guint        lottery_auth_get_agencies      (LotteryAuth   *self);
gboolean     lottery_auth_check_agency      (LotteryAuth   *self,
                                             guint32        agency,
                                             GError       **error);
gboolean     lottery_auth_verify            (LotteryAuth   *self,
                                             guint32        agency,
                                             const guint8  *nonce,
                                             const guint8  *proof,
                                             GError       **error);

/* Secrets and keys */
gboolean     lottery_auth_random            (guint8        *buffer,
                                             gsize          len,
                                             GError       **error);
gboolean     lottery_auth_token_generate    (guint8        *token,
                                             GError       **error);
gboolean     lottery_auth_token_parse       (const char    *text,
                                             const char    *source,
                                             guint8        *token,
                                             GError       **error);
gboolean     lottery_auth_token_read_file   (const char    *path,
                                             guint8        *token,
                                             GError       **error);
char        *lottery_auth_hex               (const guint8  *data,
                                             gsize          len);
gboolean     lottery_auth_parse_hex         (const char    *text,
                                             gsize          text_len,
                                             guint8        *out,
                                             gsize          out_len);
void         lottery_auth_client_key        (const guint8  *token,
                                             guint8        *client_key);
void         lottery_auth_stored_key        (const guint8  *token,
                                             guint8        *stored_key);
char        *lottery_auth_tokens_file_line  (guint32        agency,
                                             const guint8  *token);
void         lottery_auth_compute_proof     (const guint8  *token,
                                             guint32        agency,
                                             const guint8  *nonce,
                                             guint8        *proof);
gboolean     lottery_auth_check_proof       (const guint8  *stored_key,
                                             guint32        agency,
                                             const guint8  *nonce,
                                             const guint8  *proof);
gboolean     lottery_auth_equal             (const guint8  *a,
                                             const guint8  *b,
                                             gsize          len);
void         lottery_auth_wipe              (gpointer       data,
                                             gsize          len);

G_END_DECLS
