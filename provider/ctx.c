/*
 * The context shared by the provider and the tpmkms command: the
 * configured TPM connection and one backend per connection string, made
 * on first use.  The owner auth file (openssl.cnf's owner-auth-file, else
 * TPMKMS_OWNER_AUTH_FILE) is decided here, when a backend is made, not
 * deep in a backend.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ctx.h"
#include "uri.h"

typedef struct backend_entry_st {
    char *tcti;                 /* NULL: the default */
    unsigned timeout_s;         /* the TPM response deadline; 0: default */
    TPMKMS_BACKEND *backend;
    struct backend_entry_st *next;
} BACKEND_ENTRY;

struct tpmkms_ctx_st {
    OSSL_LIB_CTX *libctx;
    char *tcti;
    char *timeout_text;         /* openssl.cnf tpm-timeout; NULL: unset */
    char *owner_auth_file;      /* openssl.cnf owner-auth-file; NULL: unset */
    char *config_error;         /* a refused openssl.cnf setting; NULL: none */
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
    OPENSSL_free(ctx->timeout_text);
    OPENSSL_free(ctx->owner_auth_file);
    OPENSSL_free(ctx->config_error);
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

tpmkms_rc tpmkms_ctx_set_tpm_timeout(TPMKMS_CTX *ctx, const char *text)
{
    OPENSSL_free(ctx->timeout_text);
    ctx->timeout_text = NULL;
    if (text != NULL && *text != '\0'
            && (ctx->timeout_text = OPENSSL_strdup(text)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc set_text(char **slot, const char *text)
{
    OPENSSL_free(*slot);
    *slot = NULL;
    if (text != NULL && *text != '\0' && (*slot = OPENSSL_strdup(text)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_ctx_set_owner_auth_file(TPMKMS_CTX *ctx, const char *path)
{
    return set_text(&ctx->owner_auth_file, path);
}

tpmkms_rc tpmkms_ctx_set_config_error(TPMKMS_CTX *ctx, const char *message)
{
    return set_text(&ctx->config_error, message);
}

tpmkms_rc tpmkms_ctx_ready(const TPMKMS_CTX *ctx)
{
    if (ctx->config_error == NULL)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s", ctx->config_error);
    return TPMKMS_R_BAD_PARAMETER;
}

/*
 * The deadline a backend gets: asked (a URI's tpm-timeout=), else
 * openssl.cnf's tpm-timeout, else $TPMKMS_TPM_TIMEOUT, else 0 (the
 * backend's default).  A malformed setting is an error at every use, not
 * a default: openssl.cnf's was checked when the provider loaded (a
 * malformed one is the context's config error, raised before this), the
 * environment's is checked here.
 */
static tpmkms_rc effective_timeout(const TPMKMS_CTX *ctx, unsigned asked,
                                   unsigned *out)
{
    const char *env;

    *out = asked;
    if (*out != 0)
        return TPMKMS_R_OK;
    if (ctx->timeout_text != NULL)
        return tpmkms_timeout_parse(ctx->timeout_text,
                                    "the openssl.cnf setting tpm-timeout",
                                    TPMKMS_R_BAD_PARAMETER, out);
    env = getenv("TPMKMS_TPM_TIMEOUT");
    if (env == NULL || *env == '\0')
        return TPMKMS_R_OK;
    return tpmkms_timeout_parse(env, "TPMKMS_TPM_TIMEOUT",
                                TPMKMS_R_BAD_PARAMETER, out);
}

TPMKMS_BACKEND *tpmkms_ctx_backend(TPMKMS_CTX *ctx, const char *tcti)
{
    return tpmkms_ctx_backend_for(ctx, tcti, 0);
}

TPMKMS_BACKEND *tpmkms_ctx_backend_for_uri(TPMKMS_CTX *ctx,
                                           const TPMKMS_URI *uri)
{
    char buf[512];
    const char *tcti = NULL;

    if (uri != NULL && (tcti = tpmkms_uri_tcti(uri, buf, sizeof(buf))) == NULL
            && (uri->tcti != NULL || uri->device != NULL))
        return NULL;            /* raised: the device path is too long */
    return tpmkms_ctx_backend_for(ctx, tcti,
                                  uri != NULL ? uri->tpm_timeout_s : 0);
}

TPMKMS_BACKEND *tpmkms_ctx_backend_for(TPMKMS_CTX *ctx, const char *tcti,
                                       unsigned timeout_s)
{
    BACKEND_ENTRY *e;
    TPMKMS_BACKEND *b = NULL;

    if (tpmkms_ctx_ready(ctx) != TPMKMS_R_OK)
        return NULL;
    if (tcti == NULL)
        tcti = ctx->tcti;
    if (effective_timeout(ctx, timeout_s, &timeout_s) != TPMKMS_R_OK)
        return NULL;
    if (!CRYPTO_THREAD_write_lock(ctx->lock)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take the context lock");
        return NULL;
    }
    for (e = ctx->backends; e != NULL; e = e->next)
        if (same_tcti(e->tcti, tcti) && e->timeout_s == timeout_s)
            break;
    if (e == NULL) {
        if ((e = OPENSSL_zalloc(sizeof(*e))) == NULL
                || (tcti != NULL && (e->tcti = OPENSSL_strdup(tcti)) == NULL)
                || (e->backend = tpmkms_backend_new(ctx->meth, tcti)) == NULL
                || tpmkms_backend_set_owner_auth_file(e->backend,
                       ctx->owner_auth_file != NULL
                       ? ctx->owner_auth_file
                       : getenv("TPMKMS_OWNER_AUTH_FILE")) != TPMKMS_R_OK) {
            if (e != NULL) {
                tpmkms_backend_free(e->backend);
                OPENSSL_free(e->tcti);
            }
            OPENSSL_free(e);
            CRYPTO_THREAD_unlock(ctx->lock);
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory creating a backend");
            return NULL;
        }
        e->timeout_s = timeout_s;
        tpmkms_backend_set_timeout(e->backend, timeout_s);
        e->next = ctx->backends;
        ctx->backends = e;
    }
    if (tpmkms_backend_up_ref(e->backend))
        b = e->backend;
    CRYPTO_THREAD_unlock(ctx->lock);
    if (b == NULL)
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take a reference to the "
                     "backend for %s", tcti != NULL ? tcti : "the default TCTI");
    return b;
}
