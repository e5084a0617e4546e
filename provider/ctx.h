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

#endif
