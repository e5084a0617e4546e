/*
 * The context shared by the provider and the tpmkms command: the
 * configured TPM connection and one backend per connection string, made
 * on first use.  The owner auth file (TPMKMS_OWNER_AUTH_FILE) is read from
 * the environment here, when a backend is made, not deep in a backend.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ctx.h"

typedef struct backend_entry_st {
    char *tcti;                 /* NULL: the default */
    TPMKMS_BACKEND *backend;
    struct backend_entry_st *next;
} BACKEND_ENTRY;

struct tpmkms_ctx_st {
    OSSL_LIB_CTX *libctx;
    char *tcti;
    const TPMKMS_BACKEND_METHOD *meth;
    CRYPTO_RWLOCK *lock;        /* guards the backend list */
    BACKEND_ENTRY *backends;
};

TPMKMS_CTX *tpmkms_ctx_new(OSSL_LIB_CTX *libctx, const char *tcti,
                           const TPMKMS_BACKEND_METHOD *meth)
{
    TPMKMS_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL)
        goto err;
    ctx->libctx = libctx;
    ctx->meth = meth;
    if ((ctx->lock = CRYPTO_THREAD_lock_new()) == NULL)
        goto err;
    if (tcti != NULL && *tcti != '\0'
            && (ctx->tcti = OPENSSL_strdup(tcti)) == NULL)
        goto err;
    return ctx;
 err:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory creating the context");
    tpmkms_ctx_free(ctx);
    return NULL;
}

void tpmkms_ctx_free(TPMKMS_CTX *ctx)
{
    BACKEND_ENTRY *e, *next;

    if (ctx == NULL)
        return;
    for (e = ctx->backends; e != NULL; e = next) {
        next = e->next;
        /* Keys the program never freed must not stay loaded in the TPM. */
        tpmkms_backend_close(e->backend);
        tpmkms_backend_free(e->backend);
        OPENSSL_free(e->tcti);
        OPENSSL_free(e);
    }
    CRYPTO_THREAD_lock_free(ctx->lock);
    OPENSSL_free(ctx->tcti);
    OPENSSL_free(ctx);
}

OSSL_LIB_CTX *tpmkms_ctx_libctx(const TPMKMS_CTX *ctx)
{
    return ctx->libctx;
}

static int same_tcti(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

TPMKMS_BACKEND *tpmkms_ctx_backend(TPMKMS_CTX *ctx, const char *tcti)
{
    BACKEND_ENTRY *e;
    TPMKMS_BACKEND *b = NULL;

    if (tcti == NULL)
        tcti = ctx->tcti;
    if (!CRYPTO_THREAD_write_lock(ctx->lock)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take the context lock");
        return NULL;
    }
    for (e = ctx->backends; e != NULL; e = e->next)
        if (same_tcti(e->tcti, tcti))
            break;
    if (e == NULL) {
        if ((e = OPENSSL_zalloc(sizeof(*e))) == NULL
                || (tcti != NULL && (e->tcti = OPENSSL_strdup(tcti)) == NULL)
                || (e->backend = tpmkms_backend_new(ctx->meth, tcti)) == NULL
                || tpmkms_backend_set_owner_auth_file(e->backend,
                       getenv("TPMKMS_OWNER_AUTH_FILE")) != TPMKMS_R_OK) {
            if (e != NULL) {
                tpmkms_backend_free(e->backend);
                OPENSSL_free(e->tcti);
            }
            OPENSSL_free(e);
            CRYPTO_THREAD_unlock(ctx->lock);
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory creating a backend");
            return NULL;
        }
        e->next = ctx->backends;
        ctx->backends = e;
    }
    if (tpmkms_backend_up_ref(e->backend))
        b = e->backend;
    CRYPTO_THREAD_unlock(ctx->lock);
    return b;
}
