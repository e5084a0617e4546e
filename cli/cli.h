/*
 * The tpmkms command: shared declarations between main.c (dispatch,
 * option parsing, error printing) and the command families (keys.c,
 * tpm.c).  The command calls the core library directly; it does not go
 * through the provider.
 */
#ifndef TPMKMS_CLI_H
#define TPMKMS_CLI_H

#include <stddef.h>
#include <openssl/types.h>
#include "backend.h"
#include "ctx.h"
#include "errors.h"
#include "locate.h"
#include "record.h"
#include "uri.h"

#ifndef TPMKMS_VERSION
#define TPMKMS_VERSION "0.1.0"
#endif

/* Exit codes: documented in `tpmkms --help`. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,
    CLI_EXIT_NOT_FOUND = 2,
    CLI_EXIT_PARTIAL_DELETE = 3,
    CLI_EXIT_ELEVATION = 4,
    CLI_EXIT_ORPHANS = 5,        /* list --orphans found some */
    CLI_EXIT_USAGE = 64
};

/* cli_parse's "go on" answer; any other value is the exit code. */
#define CLI_CONTINUE (-1)

typedef struct cli_command_st CLI_COMMAND;

typedef struct cli_st {
    const CLI_COMMAND *command;  /* NULL before dispatch */
    const char *tcti;            /* --tcti; NULL: TPMKMS_TCTI or default */
    TPMKMS_CTX *ctx;             /* created on first use */
} CLI;

/* One long option of a command; the table ends with name == NULL. */
typedef struct cli_option_st {
    const char *name;            /* without the leading "--" */
    const char *metavar;         /* the value's placeholder; NULL: a flag */
    const char **value;          /* set for an option with a value */
    int *flag;                   /* set to 1 for a flag */
} CLI_OPTION;

struct cli_command_st {
    const char *name;
    int (*run)(CLI *cli, int argc, char **argv);
    const char *synopsis;        /* what follows the command name */
    const char *summary;         /* one line for `tpmkms --help` */
    const char *help;            /* the details for `tpmkms CMD --help` */
};

/*
 * Parses argv[1..argc-1] (argv[0] is the command name) against opts; the
 * common options --tcti and -h/--help are always understood.  Positional
 * arguments go to pos[0..max_pos-1], their count to *npos.  Returns
 * CLI_CONTINUE, or the exit code to return at once (help printed: 0; a
 * usage error printed: CLI_EXIT_USAGE).
 */
int cli_parse(CLI *cli, int argc, char **argv, const CLI_OPTION *opts,
              const char **pos, int max_pos, int *npos);

/* Prints "tpmkms CMD: <message>" and a hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const CLI *cli, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Prints the error queue ("tpmkms: <reason>: <detail>" per error, plus
 * file:line when TPMKMS_DEBUG is set) and returns the exit code for rc.
 */
int cli_fail(tpmkms_rc rc);

/* The exit code for a core reason code. */
int cli_exit_code(tpmkms_rc rc);

/*
 * Takes every error off the queue and writes them as one line
 * ("reason: detail; reason: detail") into buf.  Returns buf.
 */
char *cli_take_errors(char *buf, size_t len);

/* The library context, created on first use; raises on failure. */
tpmkms_rc cli_ctx(CLI *cli, TPMKMS_CTX **out);

/*
 * A new backend reference for the TPM a URI names (its tcti=/device=),
 * else --tcti, else $TPMKMS_TCTI, else the TCTI loader's default.
 * uri may be NULL.  Raises on failure.
 */
tpmkms_rc cli_backend(CLI *cli, const TPMKMS_URI *uri, TPMKMS_BACKEND **out);

/*
 * Parses a key URI argument.  A URI that is not a tpmkms: URI gets a
 * usage error naming the argument (CLI_EXIT_USAGE); a bad attribute is
 * the core's TPMKMS_R_BAD_URI (printed).  Returns CLI_CONTINUE on success,
 * else the exit code.
 */
int cli_parse_uri(const CLI *cli, const char *text, TPMKMS_URI **out);

/* Prints each line of a result's notes as "tpmkms: note: ..." (certs.c). */
void cli_print_notes(const char *notes);

/*
 * Prints what a probe says the TPM is: connection, manufacturer, vendor
 * strings (the model), firmware version (tpm.c).
 */
void cli_print_tpm_identity(const TPMKMS_PROBE *p);

/*
 * The key commands of keys.c for one kind of key (record.h): KEY for
 * tpmkms create | list | show | delete, AK for tpmkms ak ... (ak.c).
 * argv[0] is the (sub)command's name.
 */
int cli_create_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind);
int cli_list_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind);
int cli_show_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind);
int cli_delete_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind);

/*
 * tpmkms cert import URI CERT [CHAIN] [--force] (certs.c); argv[0] is the
 * subcommand.  tpmkms ak cert-import uses it too.
 */
int cli_cert_import(CLI *cli, int argc, char **argv);

/* Commands (keys.c, certs.c, tpm.c, attest.c, ak.c, attestca.c). */
int cli_cmd_create(CLI *cli, int argc, char **argv);
int cli_cmd_list(CLI *cli, int argc, char **argv);
int cli_cmd_show(CLI *cli, int argc, char **argv);
int cli_cmd_delete(CLI *cli, int argc, char **argv);
int cli_cmd_cert(CLI *cli, int argc, char **argv);
int cli_cmd_probe(CLI *cli, int argc, char **argv);
int cli_cmd_setup(CLI *cli, int argc, char **argv);
int cli_cmd_ek(CLI *cli, int argc, char **argv);
int cli_cmd_ak(CLI *cli, int argc, char **argv);
int cli_cmd_attest_ca(CLI *cli, int argc, char **argv);

/*
 * A library context of the command's own with OpenSSL's default provider
 * loaded (attest-ca, verify-quote); cli_libctx_free unloads the providers
 * loaded into it (a tpmkms: CA key adds tpmkms) and frees it.
 */
tpmkms_rc cli_libctx_new(OSSL_LIB_CTX **out);
void cli_libctx_free(OSSL_LIB_CTX *libctx);
int cli_cmd_quote(CLI *cli, int argc, char **argv);        /* quote.c */
int cli_cmd_verify_quote(CLI *cli, int argc, char **argv); /* quote.c */

#endif
