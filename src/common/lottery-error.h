/* lottery-error.h: the wire codes, the LOTTERY_ERROR domain, and errors
 * that carry their message twice: translated for the person at the
 * terminal (error->message), in C for log lines
 * (lottery_error_get_untranslated ()).
 *
 * Every constructor here takes the msgid, untranslated: call sites pass
 * N_("…"), never _("…") (tests/tools/check-error-text.sh keeps it so).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What travels in an ERROR reply (README, "Error codes"). Append-only:
 * never renumber or reuse one. */
typedef enum
{
  LOTTERY_WIRE_FAILED = 0,           /* anything else */
  LOTTERY_WIRE_PROTOCOL = 1,         /* malformed or oversized message */
  LOTTERY_WIRE_VERSION = 2,          /* unsupported protocol version */
  LOTTERY_WIRE_UNKNOWN_AGENCY = 3,   /* agency id outside 1..N */
  LOTTERY_WIRE_OUT_OF_ORDER = 4,     /* message not valid now, sequence gap */
  LOTTERY_WIRE_INVALID_BET = 5,      /* a bet failed validation */
  LOTTERY_WIRE_ALREADY_FINISHED = 6, /* agency already said it finished */
  LOTTERY_WIRE_DRAW_DONE = 7,        /* bets after the draw */
  LOTTERY_WIRE_STORAGE = 8,          /* the server could not store */
  LOTTERY_WIRE_AGENCY_BUSY = 9,      /* agency has another live connection */
  LOTTERY_WIRE_SHUTTING_DOWN = 10,   /* server is stopping */
  LOTTERY_WIRE_CONFIG = 11,          /* reserved, never sent: once a bad
                                      * setting, now LOTTERY_CONFIG_ERROR */
  LOTTERY_WIRE_BETS_FILE = 12,       /* reserved, never sent: once a bad
                                      * bets file, now
                                      * LOTTERY_BETS_FILE_ERROR */
  LOTTERY_WIRE_AUTH = 13,            /* wrong or missing agency token */
  LOTTERY_WIRE_SERVER_FULL = 14,     /* max_connections reached; retry */
  LOTTERY_WIRE_TIMEOUT = 15,         /* message not finished in time */
  LOTTERY_WIRE_UNAVAILABLE = 16,     /* the server cannot store now (disk
                                      * full, database down); retry */
} LotteryWireCode;

#define LOTTERY_WIRE_N_CODES (LOTTERY_WIRE_UNAVAILABLE + 1)

#define LOTTERY_ERROR (lottery_error_quark ())

/* The codes a server refuses with: the wire codes of the same name
 * (lottery_error_to_wire_code () is the one mapping). Local failures
 * that are never sent have their own domains below; wire codes 11 and
 * 12 stay reserved, with no code here. */
typedef enum
{
  LOTTERY_ERROR_FAILED = LOTTERY_WIRE_FAILED,
  LOTTERY_ERROR_PROTOCOL = LOTTERY_WIRE_PROTOCOL,
  LOTTERY_ERROR_VERSION = LOTTERY_WIRE_VERSION,
  LOTTERY_ERROR_UNKNOWN_AGENCY = LOTTERY_WIRE_UNKNOWN_AGENCY,
  LOTTERY_ERROR_OUT_OF_ORDER = LOTTERY_WIRE_OUT_OF_ORDER,
  LOTTERY_ERROR_INVALID_BET = LOTTERY_WIRE_INVALID_BET,
  LOTTERY_ERROR_ALREADY_FINISHED = LOTTERY_WIRE_ALREADY_FINISHED,
  LOTTERY_ERROR_DRAW_DONE = LOTTERY_WIRE_DRAW_DONE,
  LOTTERY_ERROR_STORAGE = LOTTERY_WIRE_STORAGE,
  LOTTERY_ERROR_AGENCY_BUSY = LOTTERY_WIRE_AGENCY_BUSY,
  LOTTERY_ERROR_SHUTTING_DOWN = LOTTERY_WIRE_SHUTTING_DOWN,
  LOTTERY_ERROR_AUTH = LOTTERY_WIRE_AUTH,
  LOTTERY_ERROR_SERVER_FULL = LOTTERY_WIRE_SERVER_FULL,
  LOTTERY_ERROR_TIMEOUT = LOTTERY_WIRE_TIMEOUT,
  LOTTERY_ERROR_UNAVAILABLE = LOTTERY_WIRE_UNAVAILABLE,
} LotteryError;

GQuark      lottery_error_quark    (void);

#define LOTTERY_CONFIG_ERROR (lottery_config_error_quark ())

/* A bad setting: a configuration file, a flag, the environment, a key
 * or token file. Never sent; the client exits with its usage status. */
typedef enum
{
  LOTTERY_CONFIG_ERROR_INVALID,
} LotteryConfigError;

GQuark      lottery_config_error_quark (void);

#define LOTTERY_BETS_FILE_ERROR (lottery_bets_file_error_quark ())

/* A bad bets file. Never sent. */
typedef enum
{
  LOTTERY_BETS_FILE_ERROR_UNREADABLE,  /* cannot be opened or read */
  LOTTERY_BETS_FILE_ERROR_INVALID_ROW, /* a row is unusable (too long); the
                                        * reader goes on after it */
} LotteryBetsFileError;

GQuark      lottery_bets_file_error_quark (void);

gboolean    lottery_fail           (GError     **error,
                                    LotteryError code,
                                    const char  *format,
                                    ...) G_GNUC_PRINTF (3, 4);
gboolean    lottery_config_fail    (GError            **error,
                                    LotteryConfigError  code,
                                    const char         *format,
                                    ...) G_GNUC_PRINTF (3, 4);
gboolean    lottery_bets_file_fail (GError              **error,
                                    LotteryBetsFileError  code,
                                    const char           *format,
                                    ...) G_GNUC_PRINTF (3, 4);

gboolean    lottery_fail_valist    (GError     **error,
                                    GQuark       domain,
                                    int          code,
                                    const char  *format,
                                    va_list      args) G_GNUC_PRINTF (4, 0);
GError     *lottery_error_new      (GQuark      domain,
                                    int         code,
                                    const char *format,
                                    ...) G_GNUC_PRINTF (3, 4);
void        lottery_error_set      (GError    **error,
                                    GQuark      domain,
                                    int         code,
                                    const char *format,
                                    ...) G_GNUC_PRINTF (4, 5);
gboolean    lottery_fail_wrap      (GError       **error,
                                    GQuark         domain,
                                    int            code,
                                    const GError  *cause,
                                    const char    *format,
                                    ...) G_GNUC_PRINTF (5, 6);
gboolean    lottery_fail_as        (GError       **error,
                                    GQuark         domain,
                                    int            code,
                                    const GError  *cause);
gboolean    lottery_fail_errno     (GError     **error,
                                    GQuark       domain,
                                    int          code,
                                    int          errnum,
                                    const char  *format,
                                    ...) G_GNUC_PRINTF (5, 6);
void        lottery_error_prefix   (GError    **error,
                                    const char *format,
                                    ...) G_GNUC_PRINTF (2, 3);

const char *lottery_error_get_untranslated (const GError *error);
const char *lottery_strerror_c     (int errnum);

const char *lottery_error_code_name    (int code);
gboolean    lottery_wire_code_is_known (guint code);
guint16     lottery_error_to_wire_code (const GError *error);

G_END_DECLS
