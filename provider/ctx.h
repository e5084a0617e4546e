/*
 * The library context shared by the provider and the tpmkms command:
 * configuration and the backends (one per connection string), created
 * lazily.
 */
#ifndef TPMKMS_CTX_H
#define TPMKMS_CTX_H

#include <openssl/types.h>
#include "backend.h"
#include "errors.h"

typedef struct tpmkms_ctx_st TPMKMS_CTX;

/* tcti: the configured default (provider config "tcti"), may be NULL. */
TPMKMS_CTX *tpmkms_ctx_new(OSSL_LIB_CTX *libctx, const char *tcti,
                           const TPMKMS_BACKEND_METHOD *meth);
void tpmkms_ctx_free(TPMKMS_CTX *ctx);
OSSL_LIB_CTX *tpmkms_ctx_libctx(const TPMKMS_CTX *ctx);

/*
 * The backend for a connection string (a URI's tcti=, the provider's
 * "tcti" setting; NULL: the default), created on first
 * use, without touching the TPM.  Returns a new reference.
 */
TPMKMS_BACKEND *tpmkms_ctx_backend(TPMKMS_CTX *ctx, const char *tcti);

/*
 * The same, for a connection and a TPM response deadline in seconds: 0
 * takes openssl.cnf's tpm-timeout, else $TPMKMS_TPM_TIMEOUT, else the
 * backend's default.  One backend (one connection) per pair.  NULL is
 * always raised: a timeout setting that is not a number of seconds, out
 * of memory.
 */
TPMKMS_BACKEND *tpmkms_ctx_backend_for(TPMKMS_CTX *ctx, const char *tcti,
                                       unsigned timeout_s);
/* The backend a URI names: its tcti=/device= and tpm-timeout=. */
struct tpmkms_uri_st;
TPMKMS_BACKEND *tpmkms_ctx_backend_for_uri(TPMKMS_CTX *ctx,
                                           const struct tpmkms_uri_st *uri);

/*
 * openssl.cnf's tpm-timeout (seconds); NULL/"" unsets it.  Checked where
 * it is used (tpmkms_ctx_backend_for), so a malformed value fails every
 * operation with a message naming the setting.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ctx_set_tpm_timeout(TPMKMS_CTX *ctx, const char *text);

/*
 * openssl.cnf's owner-auth-file: the owner's auth value for the backends
 * made from now on, instead of $TPMKMS_OWNER_AUTH_FILE.  NULL/"" unsets it.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ctx_set_owner_auth_file(TPMKMS_CTX *ctx, const char *path);

/*
 * A refused openssl.cnf setting (the message names the section and the
 * setting).  OpenSSL 3.0 drops the errors of a provider that fails to
 * load from openssl.cnf, leaving only "unregistered scheme", so the
 * provider loads and every operation fails with this message instead:
 * tpmkms_ctx_ready raises it, and each entry point (store open, key
 * generation, key file decoding, every backend) asks it first.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ctx_set_config_error(TPMKMS_CTX *ctx, const char *message);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_ctx_ready(const TPMKMS_CTX *ctx);

#endif
