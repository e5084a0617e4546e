/*
 * OSSL_STORE loader for tpmkms: URIs.
 *
 * tpmkms:name=web     the private key (by reference: keymgmt's load takes
 *                     its own ref), then the certificate chain stored for
 *                     it, if any, in the store that store-location names.
 * tpmkms:             (no name) the names of all keys, as URIs; not
 *                     attestation keys, which sign nothing an
 *                     application asks (tpmkms ak list lists them; each
 *                     still opens by its name=, for its public key).
 */
#include <string.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include "provider.h"
#include "key.h"
#include "keyauth.h"
#include "lifecycle.h"
#include "locate.h"
#include "record.h"
#include "uri.h"
#include "debug.h"

static OSSL_FUNC_store_open_fn tpmkms_store_open;
static OSSL_FUNC_store_settable_ctx_params_fn tpmkms_store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn tpmkms_store_set_ctx_params;
static OSSL_FUNC_store_load_fn tpmkms_store_load;
static OSSL_FUNC_store_eof_fn tpmkms_store_eof;
static OSSL_FUNC_store_close_fn tpmkms_store_close;

typedef enum {
    STATE_KEY,          /* next: the key */
    STATE_CERTS,        /* next: certificate number next_cert */
    STATE_LIST,         /* next: name number next_name */
    STATE_DONE
} store_state;

/*
 * One entry of a listing: a key's URI, or a record that is there but
 * does not load (or contradicts its key), with why; load raises that and
 * fails for this entry alone, so the application sees it and goes on.
 */
typedef struct {
    char *uri;                   /* NULL for a skipped record */
    char *path;                  /* the skipped record's file */
    char *why;                   /* why it was skipped */
    tpmkms_rc reason;
} LIST_ENTRY;

typedef struct {
    TPMKMS_PROVCTX *provctx;
    TPMKMS_URI *uri;
    store_state state;
    int expect;                  /* OSSL_STORE_INFO_* or 0 */
    STACK_OF(X509) *certs;
    int next_cert;
    TPMKMS_KEY *key;             /* opened at open(), handed out once */
    tpmkms_scope key_scope;      /* the opened key's scope */
    LIST_ENTRY *names;           /* listing: every record, in name order */
    size_t n_names, next_name;
    int listed;                  /* names filled in */
    int skip_raised;             /* names[next_name]'s error is raised */
    int failed;
} TPMKMS_STORE_CTX;

static void *tpmkms_store_open(void *provctx, const char *text)
{
    TPMKMS_STORE_CTX *ctx;
    TPMKMS_URI *uri = NULL;

    /* A refused openssl.cnf setting fails every open, naming it. */
    if (tpmkms_ctx_ready(tpmkms_provctx_ctx(provctx)) != TPMKMS_R_OK
            || tpmkms_uri_parse(text, &uri) != TPMKMS_R_OK)
        return NULL;
    if ((ctx = OPENSSL_zalloc(sizeof(*ctx))) == NULL) {
        tpmkms_uri_free(uri);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->uri = uri;
    ctx->state = (uri->name != NULL || uri->handle != 0) ? STATE_KEY : STATE_LIST;
    /*
     * A URI naming a key that is not there fails here, so the application
     * sees a failed open and not an empty store.  Reading the record sends
     * nothing to the TPM.
     */
    if (ctx->state == STATE_KEY
            && tpmkms_key_open(tpmkms_provctx_ctx(provctx), uri, &ctx->key)
               != TPMKMS_R_OK) {
        tpmkms_store_close(ctx);
        return NULL;
    }
    if (ctx->key != NULL)
        ctx->key_scope = ctx->key->scope;
    return ctx;
}

static const OSSL_PARAM store_settable[] = {
    OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tpmkms_store_settable_ctx_params(void *provctx)
{
    return store_settable;
}

static int tpmkms_store_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TPMKMS_STORE_CTX *ctx = vctx;
    const OSSL_PARAM *p;
    int expect = ctx->expect;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &expect))
        return 0;
    ctx->expect = expect;
    return 1;
}

static int wants(const TPMKMS_STORE_CTX *ctx, int type)
{
    return ctx->expect == 0 || ctx->expect == type;
}

static int load_key(TPMKMS_STORE_CTX *ctx, OSSL_CALLBACK *object_cb,
                    void *object_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                    void *pw_cbarg)
{
    TPMKMS_KEY *key = ctx->key;
    int ok;

    ctx->key = NULL;
    /*
     * A caller that expects a public key (OSSL_STORE_expect PUBKEY:
     * `openssl pkey -pubin`, load_pubkey) gets the public half by value,
     * with no auth value asked for.
     */
    if (ctx->expect == OSSL_STORE_INFO_PUBKEY) {
        ok = tpmkms_key_hand_out_public(key,
                                        tpmkms_provctx_libctx(ctx->provctx),
                                        object_cb, object_cbarg);
        tpmkms_key_free(key);
        return ok;
    }
    /* A key with an auth value and none given: keyauth.h's one policy. */
    if (tpmkms_key_ask_auth(key, pw_cb, pw_cbarg) != TPMKMS_R_OK) {
        tpmkms_key_free(key);
        return 0;
    }
    /* keymgmt's load takes its own reference during the callback. */
    ok = tpmkms_key_hand_out(key, object_cb, object_cbarg);
    tpmkms_key_free(key);
    return ok;
}

static tpmkms_rc read_certs(TPMKMS_STORE_CTX *ctx)
{
    char *certdir = NULL, *pem = NULL;
    size_t len = 0;
    tpmkms_rc rc;
    BIO *bio = NULL;
    X509 *x;

    if (ctx->uri->name == NULL)
        return TPMKMS_R_OK;
    /* Where store-location says, else in the store of the key's scope. */
    if ((certdir = tpmkms_locate_cert_dir(ctx->uri, ctx->key_scope)) == NULL)
        return TPMKMS_R_STORE_IO;
    rc = tpmkms_cert_load(certdir, ctx->uri->name, &pem, &len);
    OPENSSL_free(certdir);
    if (rc != TPMKMS_R_OK || pem == NULL)
        return rc;
    if ((ctx->certs = sk_X509_new_null()) == NULL
            || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    /* Reading past the last certificate is not an error: mark it away. */
    tpmkms_err_set_mark();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(ctx->certs, x);
    tpmkms_err_pop_to_mark();
 out:
    BIO_free(bio);
    OPENSSL_free(pem);
    return rc;
}

static int load_cert(TPMKMS_STORE_CTX *ctx, OSSL_CALLBACK *object_cb,
                     void *object_cbarg)
{
    X509 *x = sk_X509_value(ctx->certs, ctx->next_cert++);
    unsigned char *der = NULL;
    int derlen, ok;
    int object_type = OSSL_OBJECT_CERT;
    OSSL_PARAM params[3];

    if ((derlen = i2d_X509(x, &der)) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode a stored certificate");
        return 0;
    }
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
                                                  der, (size_t)derlen);
    params[2] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
    OPENSSL_free(der);
    return ok;
}

typedef struct {
    TPMKMS_STORE_CTX *ctx;
    const char *storage_directory;
    TPMKMS_BACKEND *backend;     /* describes key material, no TPM command */
    tpmkms_rc rc;
} LIST_ARG;

/* A new entry at the end of ctx->names (zeroed); NULL on no memory. */
static LIST_ENTRY *add_entry(TPMKMS_STORE_CTX *ctx)
{
    LIST_ENTRY *grown = OPENSSL_realloc(ctx->names,
                                        (ctx->n_names + 1) * sizeof(*grown));

    if (grown == NULL)
        return NULL;
    ctx->names = grown;
    memset(&grown[ctx->n_names], 0, sizeof(*grown));
    return &grown[ctx->n_names++];
}

static int collect_skip(const char *path, tpmkms_rc reason, const char *why,
                        void *varg)
{
    LIST_ARG *arg = varg;
    LIST_ENTRY *e = add_entry(arg->ctx);

    if (e == NULL || (e->path = OPENSSL_strdup(path)) == NULL
            || (e->why = OPENSSL_strdup(why)) == NULL) {
        arg->rc = TPMKMS_R_INTERNAL;
        return 1;
    }
    e->reason = reason;
    return 0;
}

static int collect_name(const TPMKMS_RECORD *rec, const char *path,
                        void *varg)
{
    LIST_ARG *arg = varg;
    TPMKMS_STORE_CTX *ctx = arg->ctx;
    TPMKMS_URI u = { 0 };
    LIST_ENTRY *e;
    char why[1024];
    char *text;

    /* Not a key an application could sign with. */
    if (rec->kind != TPMKMS_KIND_KEY)
        return 0;
    /* A record opening would refuse is listed as what it is. */
    tpmkms_err_set_mark();
    if (tpmkms_record_check_key(arg->backend, rec, path, NULL)
            != TPMKMS_R_OK) {
        tpmkms_err_clear_last_mark();
        return collect_skip(path, TPMKMS_R_BAD_RECORD,
                            tpmkms_err_take_text(why, sizeof(why)), arg);
    }
    tpmkms_err_clear_last_mark();
    u.name = rec->name;
    u.key_scope = rec->scope;
    u.storage_directory = (char *)arg->storage_directory;
    u.tcti = ctx->uri->tcti;
    u.device = ctx->uri->device;
    if ((text = tpmkms_uri_to_string(&u)) == NULL
            || (e = add_entry(ctx)) == NULL) {
        OPENSSL_free(text);
        arg->rc = TPMKMS_R_INTERNAL;
        return 1;
    }
    e->uri = text;
    return 0;
}

static tpmkms_rc list_names(TPMKMS_STORE_CTX *ctx)
{
    static const tpmkms_scope scopes[] = { TPMKMS_SCOPE_USER, TPMKMS_SCOPE_MACHINE };
    LIST_ARG arg = { ctx, ctx->uri->storage_directory, NULL, TPMKMS_R_OK };
    TPMKMS_RECORD_VISIT visit = { collect_name, collect_skip, &arg };
    char buf[512];
    tpmkms_rc rc = TPMKMS_R_OK;

    ctx->listed = 1;
    arg.backend = tpmkms_ctx_backend(tpmkms_provctx_ctx(ctx->provctx),
                                     tpmkms_uri_tcti(ctx->uri, buf,
                                                     sizeof(buf)));
    if (arg.backend == NULL) {
        if (ERR_peek_error() == 0)
            TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                         "cannot set up the TPM backend to list keys");
        return TPMKMS_R_TPM_UNAVAILABLE;
    }
    for (size_t i = 0; i < 2; i++) {
        char *dir;

        if (ctx->uri->key_scope != TPMKMS_SCOPE_UNSET
                && ctx->uri->key_scope != scopes[i])
            continue;
        if (ctx->uri->storage_directory != NULL && i > 0)
            break;
        if ((dir = tpmkms_store_dir(scopes[i], ctx->uri->storage_directory)) == NULL) {
            rc = TPMKMS_R_INTERNAL;
            break;
        }
        rc = tpmkms_record_walk(dir, &visit);
        OPENSSL_free(dir);
        if (rc != TPMKMS_R_OK)
            break;
        if (arg.rc != TPMKMS_R_OK) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing keys");
            rc = arg.rc;
            break;
        }
    }
    tpmkms_backend_free(arg.backend);
    return rc;
}

/*
 * The next entry: a name, or a skipped record.  A skipped record fails
 * this one load with its error raised (OSSL_STORE_load returns NULL,
 * OSSL_STORE_error says so, and `openssl storeutl` prints it and goes
 * on); eof stays false until the next load moves past it, so the error
 * is seen even when it is the last entry.
 */
static int load_name(TPMKMS_STORE_CTX *ctx, OSSL_CALLBACK *object_cb,
                     void *object_cbarg)
{
    int object_type = OSSL_OBJECT_NAME;
    OSSL_PARAM params[3];
    LIST_ENTRY *e = &ctx->names[ctx->next_name];

    if (e->uri == NULL) {
        TPMKMS_raise(e->reason, "skipped %s: %s", e->path, e->why);
        ctx->skip_raised = 1;
        return 0;
    }
    ctx->next_name++;
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA,
                                                 e->uri, 0);
    params[2] = OSSL_PARAM_construct_end();
    return object_cb(params, object_cbarg);
}

static int tpmkms_store_load(void *vctx, OSSL_CALLBACK *object_cb,
                             void *object_cbarg,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TPMKMS_STORE_CTX *ctx = vctx;

    for (;;) {
        switch (ctx->state) {
        case STATE_KEY:
            ctx->state = STATE_CERTS;
            if (wants(ctx, OSSL_STORE_INFO_PKEY)
                    || wants(ctx, OSSL_STORE_INFO_PUBKEY)) {
                if (!load_key(ctx, object_cb, object_cbarg, pw_cb, pw_cbarg)) {
                    ctx->failed = 1;
                    ctx->state = STATE_DONE;
                    return 0;
                }
                return 1;
            }
            break;
        case STATE_CERTS:
            if (ctx->certs == NULL && ctx->uri->handle == 0
                    && wants(ctx, OSSL_STORE_INFO_CERT)) {
                if (read_certs(ctx) != TPMKMS_R_OK) {
                    ctx->state = STATE_DONE;
                    return 0;
                }
            }
            if (ctx->certs != NULL && ctx->next_cert < sk_X509_num(ctx->certs))
                return load_cert(ctx, object_cb, object_cbarg);
            ctx->state = STATE_DONE;
            /* A store holding no key and no certificate for a name is empty. */
            break;
        case STATE_LIST:
            if (!ctx->listed && list_names(ctx) != TPMKMS_R_OK) {
                ctx->state = STATE_DONE;
                return 0;
            }
            if (ctx->skip_raised) {
                /* The skipped record before was said: on to the next. */
                ctx->skip_raised = 0;
                ctx->next_name++;
            }
            if (ctx->next_name < ctx->n_names)
                return load_name(ctx, object_cb, object_cbarg);
            ctx->state = STATE_DONE;
            break;
        case STATE_DONE:
        default:
            return 0;
        }
        if (ctx->state == STATE_DONE)
            return 0;
    }
}

static int tpmkms_store_eof(void *vctx)
{
    TPMKMS_STORE_CTX *ctx = vctx;

    if (ctx->state == STATE_CERTS && ctx->certs != NULL)
        return ctx->next_cert >= sk_X509_num(ctx->certs);
    if (ctx->state == STATE_LIST && ctx->listed)
        return !ctx->skip_raised && ctx->next_name >= ctx->n_names;
    return ctx->state == STATE_DONE;
}

static int tpmkms_store_close(void *vctx)
{
    TPMKMS_STORE_CTX *ctx = vctx;

    if (ctx == NULL)
        return 1;
    tpmkms_uri_free(ctx->uri);
    tpmkms_key_free(ctx->key);
    sk_X509_pop_free(ctx->certs, X509_free);
    for (size_t i = 0; i < ctx->n_names; i++) {
        OPENSSL_free(ctx->names[i].uri);
        OPENSSL_free(ctx->names[i].path);
        OPENSSL_free(ctx->names[i].why);
    }
    OPENSSL_free(ctx->names);
    OPENSSL_free(ctx);
    return 1;
}

static const OSSL_DISPATCH tpmkms_store_functions[] = {
    { OSSL_FUNC_STORE_OPEN, (void (*)(void))tpmkms_store_open },
    { OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
      (void (*)(void))tpmkms_store_settable_ctx_params },
    { OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))tpmkms_store_set_ctx_params },
    { OSSL_FUNC_STORE_LOAD, (void (*)(void))tpmkms_store_load },
    { OSSL_FUNC_STORE_EOF, (void (*)(void))tpmkms_store_eof },
    { OSSL_FUNC_STORE_CLOSE, (void (*)(void))tpmkms_store_close },
    { 0, NULL }
};

const OSSL_ALGORITHM tpmkms_store_algorithms[] = {
    { TPMKMS_URI_SCHEME, TPMKMS_PROPS, tpmkms_store_functions,
      "tpmkms: URIs naming TPM keys and their certificates" },
    { NULL, NULL, NULL, NULL }
};
