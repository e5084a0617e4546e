/*
 * Reason codes, their strings, and TPMKMS_raise.
 *
 * OpenSSL-facing functions return 1/0.  Internal functions return tpmkms_rc:
 * TPMKMS_R_OK on success, otherwise the reason code that was raised.
 * Raise once, where the failure is understood; callers pass the code up.
 *
 * The two conventions are opposite (0 is failure for one, success for the
 * other), so test a tpmkms_rc against TPMKMS_R_OK, never with `!`.  What
 * the compiler checks for us:
 *  - TPMKMS_MUST_CHECK (warn_unused_result, GCC and Clang) on the seam and
 *    core functions: a result dropped on the floor is a warning (an error
 *    with TPMKMS_WERROR).  A deliberate drop is written
 *    tpmkms_rc_ignored(f(...)) with a comment saying why; a (void) cast
 *    does not silence GCC.
 *  - tpmkms_rc is a named enum, so -Wenum-conversion and -Wswitch see it
 *    (a tpmkms_rc assigned from another enum, a switch missing a case).
 * What it cannot check: C converts enums to and from int freely, so
 * `if (!tpmkms_f(...))`, `return tpmkms_f(...);` from a function that
 * returns 1/0, or a 1/0 result stored in a tpmkms_rc all compile silently.
 * Reviews and tests still have to catch those.
 */
#ifndef TPMKMS_ERRORS_H
#define TPMKMS_ERRORS_H

#include <openssl/core.h>
#include <openssl/crypto.h>

#if defined(__GNUC__) || defined(__clang__)
#define TPMKMS_MUST_CHECK __attribute__((warn_unused_result))
#else
#define TPMKMS_MUST_CHECK
#endif

/* New codes go at the end: the numbers are visible to users. */
typedef enum tpmkms_rc_e {
    TPMKMS_R_OK = 0,
    TPMKMS_R_BAD_URI = 100,          /* a tpmkms: URI does not parse        */
    TPMKMS_R_KEY_NOT_FOUND,          /* no record / handle for that name    */
    TPMKMS_R_TPM_UNAVAILABLE,        /* TCTI could not be opened            */
    TPMKMS_R_AUTH_FAILED,            /* wrong key auth value                */
    TPMKMS_R_LOCKOUT,                /* TPM in dictionary-attack lockout    */
    TPMKMS_R_SIGN_FAILED,            /* TPM2_Sign failed for another reason */
    TPMKMS_R_UNSUPPORTED_ALGORITHM,  /* algorithm / padding / hash not here */
    TPMKMS_R_TPM_ERROR,              /* any other TPM response code         */
    TPMKMS_R_BAD_RECORD,             /* a key record that does not parse    */
    TPMKMS_R_STORE_IO,               /* reading/writing the key store       */
    TPMKMS_R_KEY_EXISTS,             /* create without --force on a name    */
    TPMKMS_R_SCOPE_MISMATCH,         /* scope in URI/store/record disagree  */
    TPMKMS_R_REQUIRES_ELEVATION,     /* machine store needs root            */
    TPMKMS_R_PARTIAL_DELETE,         /* record gone, TPM half left          */
    TPMKMS_R_BAD_PARAMETER,          /* an OSSL_PARAM / CLI argument        */
    TPMKMS_R_INTERNAL,               /* allocation and impossible states    */
    TPMKMS_R_OBJECT_MEMORY,          /* TPM out of object slots             */
    TPMKMS_R_BAD_KEY_FILE,           /* TSS2 PRIVATE KEY that does not parse */
    TPMKMS_R_AMBIGUOUS_KEY,          /* name present in user and machine    */
    TPMKMS_R_INSECURE_STORE,         /* store or record writable by others  */
    TPMKMS_R_WRONG_SRK,              /* 0x81000001 holds an unexpected key  */
    TPMKMS_R_NOT_SUPPORTED,          /* the TPM backend lacks the operation */
    TPMKMS_R_WRONG_TPM,              /* the key was made by another TPM     */
    TPMKMS_R_BAD_EK_CERT,            /* an EK certificate that does not parse */
    TPMKMS_R_EK_MISMATCH,            /* EK certificate is for another key   */
    TPMKMS_R_BAD_TPM_PUBLIC,         /* a TPMT_PUBLIC that does not parse   */
    TPMKMS_R_NOT_AN_AK,              /* AK attributes of no attestation key */
    TPMKMS_R_BAD_REQUEST,            /* enrollment request/state/response   */
    TPMKMS_R_AK_NAME_MISMATCH,       /* AK name is not its public area's    */
    TPMKMS_R_STATE_MISMATCH,         /* challenge state of another request  */
    TPMKMS_R_ACTIVATION_FAILED,      /* returned secret is not the one sent */
    TPMKMS_R_LEVEL_TOO_LOW,          /* EK graded below --min-level         */
    TPMKMS_R_DECRYPT_FAILED,         /* a ciphertext that does not decrypt  */
    TPMKMS_R_DERIVE_FAILED,          /* ECDH refused (peer point, key)      */
    TPMKMS_R_BAD_QUOTE,              /* quote, signature or PCR file malformed */
    TPMKMS_R_QUOTE_SIGNATURE,        /* quote signature does not verify     */
    TPMKMS_R_QUOTE_NONCE,            /* quote's extraData is not the nonce  */
    TPMKMS_R_QUOTE_PCR_SELECTION,    /* quoted PCRs are not the ones shipped */
    TPMKMS_R_QUOTE_PCR_DIGEST,       /* PCR values do not give pcrDigest    */
    TPMKMS_R_MAX
} tpmkms_rc;

/*
 * A tpmkms_rc deliberately not acted on, where a comment says why.  It
 * counts as a use for warn_unused_result (a (void) cast does not, on GCC)
 * and makes every such place one grep away.
 */
static inline void tpmkms_rc_ignored(tpmkms_rc rc)
{
    (void)rc;
}

/* The OpenSSL library code under which the reasons are raised. */
int tpmkms_err_lib(void);

/*
 * Inside the provider: route errors through the core's upcalls.
 * Outside (the tpmkms command, unit tests) errors go to libcrypto's
 * own queue under a library code of our own, with loaded strings.
 */
void tpmkms_err_init_provider(const OSSL_CORE_HANDLE *handle,
                              const OSSL_DISPATCH *in);
void tpmkms_err_init_standalone(void);

/* The provider's reason strings, for OSSL_FUNC_PROVIDER_GET_REASON_STRINGS */
const OSSL_ITEM *tpmkms_err_reason_strings(void);
const char *tpmkms_err_reason_string(int reason);

void tpmkms_raise_at(const char *file, int line, const char *func,
                     int reason, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#define TPMKMS_raise(reason, ...) \
    tpmkms_raise_at(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)

/* Error marks around speculative lookups. */
void tpmkms_err_set_mark(void);
void tpmkms_err_pop_to_mark(void);
void tpmkms_err_clear_last_mark(void);

/*
 * Error text, as the tpmkms command prints it ("reason: detail").
 *   tpmkms_err_format: one error e with its data and flags.
 *   tpmkms_err_take_text: takes every error off the queue into buf,
 *   "; "-separated ("no detail" if there were none); returns buf.
 */
void tpmkms_err_format(char *buf, size_t len, unsigned long e,
                       const char *data, int flags);
char *tpmkms_err_take_text(char *buf, size_t len);

#endif
