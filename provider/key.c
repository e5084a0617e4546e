/*
 * TPMKMS_KEY: open a key by URI or blob, create one, sign with it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include "key.h"
#include "record.h"
#include "debug.h"

TPMKMS_KEY *tpmkms_key_new(TPMKMS_BACKEND *backend, OSSL_LIB_CTX *libctx)
{
    TPMKMS_KEY *key = OPENSSL_zalloc(sizeof(*key));

    if (key == NULL || (key->refcnt_lock = CRYPTO_THREAD_lock_new()) == NULL) {
        OPENSSL_free(key);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory creating a key");
        return NULL;
    }
    key->refcnt = 1;
    key->libctx = libctx;
    if (backend != NULL) {
        tpmkms_backend_up_ref(backend);
        key->backend = backend;
    }
    return key;
}

int tpmkms_key_up_ref(TPMKMS_KEY *key)
{
    int n;

    return CRYPTO_atomic_add(&key->refcnt, 1, &n, key->refcnt_lock);
}

void tpmkms_key_free(TPMKMS_KEY *key)
{
    int n;

    if (key == NULL)
        return;
    if (!CRYPTO_atomic_add(&key->refcnt, -1, &n, key->refcnt_lock) || n > 0)
        return;
    if (key->backend != NULL)
        tpmkms_backend_release_key(key->backend, &key->ref);
    tpmkms_keyblob_clear(&key->ref.blob);
    OPENSSL_clear_free(key->ref.auth, key->ref.auth_len);
    tpmkms_backend_free(key->backend);
    OPENSSL_free(key->uri);
    OPENSSL_free(key->name);
    OPENSSL_free(key->store_dir);
    CRYPTO_THREAD_lock_free(key->refcnt_lock);
    OPENSSL_free(key);
}

tpmkms_rc tpmkms_key_set_auth(TPMKMS_KEY *key, const void *auth, size_t len)
{
    OPENSSL_clear_free(key->ref.auth, key->ref.auth_len);
    key->ref.auth = NULL;
    key->ref.auth_len = 0;
    if (auth == NULL)
        return TPMKMS_R_OK;
    /* One spare byte so an empty value is still a non-NULL "has auth". */
    if ((key->ref.auth = OPENSSL_malloc(len + 1)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    memcpy(key->ref.auth, auth, len);
    key->ref.auth[len] = '\0';
    key->ref.auth_len = len;
    return TPMKMS_R_OK;
}

/* The canonical URI handed back: always with key-scope, never a pin. */
static char *handed_back_uri(const TPMKMS_URI *uri, tpmkms_scope scope)
{
    TPMKMS_URI copy = *uri;

    copy.key_scope = scope;
    copy.pin_value = NULL;
    copy.pin_value_len = 0;
    return tpmkms_uri_to_string(&copy);
}

static const char *uri_tcti(const TPMKMS_URI *uri, char *buf, size_t len)
{
    return tpmkms_uri_tcti(uri, buf, len);
}

static tpmkms_rc key_take_pin(TPMKMS_KEY *key, const TPMKMS_URI *uri)
{
    char *pin = NULL;
    size_t len = 0;
    tpmkms_rc rc = tpmkms_uri_get_pin(uri, &pin, &len);

    if (rc != TPMKMS_R_OK)
        return rc;
    if (pin != NULL)
        rc = tpmkms_key_set_auth(key, pin, len);
    OPENSSL_clear_free(pin, len);
    return rc;
}

/* Fills a key from a record that was found in dir. */
static tpmkms_rc key_from_record(TPMKMS_KEY *key, const TPMKMS_URI *uri,
                                 const TPMKMS_RECORD *rec, const char *dir)
{
    tpmkms_rc rc;

    key->scope = rec->scope;
    if ((key->name = OPENSSL_strdup(rec->name)) == NULL
            || (dir != NULL && (key->store_dir = OPENSSL_strdup(dir)) == NULL)
            || (key->uri = handed_back_uri(uri, rec->scope)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    key->ref.label = key->uri;
    if ((rc = tpmkms_keyblob_copy(&key->ref.blob, &rec->blob)) != TPMKMS_R_OK)
        return rc;
    key->ref.persistent = rec->persistent;
    rc = tpmkms_backend_public_from_blob(key->backend, &key->ref.blob,
                                         &key->pub, key->uri);
    if (rc != TPMKMS_R_OK)
        return rc;
    if (rec->alg != TPMKMS_ALG_NONE && rec->alg != key->pub.alg) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                     "%s: the record says %s but its key is %s", key->uri,
                     tpmkms_alg_name(rec->alg), tpmkms_alg_name(key->pub.alg));
        return TPMKMS_R_BAD_RECORD;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc key_open_handle(TPMKMS_KEY *key, const TPMKMS_URI *uri)
{
    tpmkms_rc rc;

    /* A persistent object is the machine's: anyone with the TPM can use it. */
    key->scope = uri->key_scope != TPMKMS_SCOPE_UNSET ? uri->key_scope
                                                      : TPMKMS_SCOPE_MACHINE;
    if ((key->uri = handed_back_uri(uri, key->scope)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    key->ref.label = key->uri;
    key->ref.persistent = uri->handle;
    key->ref.blob.empty_auth = -1;       /* unknown: the TPM decides */
    rc = tpmkms_backend_read_persistent(key->backend, uri->handle, &key->pub);
    return rc;
}

tpmkms_rc tpmkms_key_open(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                          TPMKMS_KEY **out)
{
    char tbuf[512];
    TPMKMS_BACKEND *backend;
    TPMKMS_KEY *key = NULL;
    TPMKMS_RECORD *rec = NULL;
    char *dir = NULL;
    tpmkms_rc rc;

    *out = NULL;
    if (uri->name == NULL && uri->handle == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "the URI names no key: add name=<key> or handle=0x81......");
        return TPMKMS_R_BAD_URI;
    }
    backend = tpmkms_ctx_backend(ctx, uri_tcti(uri, tbuf, sizeof(tbuf)));
    if (backend == NULL)
        return TPMKMS_R_INTERNAL;
    key = tpmkms_key_new(backend, tpmkms_ctx_libctx(ctx));
    tpmkms_backend_free(backend);
    if (key == NULL)
        return TPMKMS_R_INTERNAL;

    if (uri->handle != 0) {
        rc = key_open_handle(key, uri);
    } else {
        rc = tpmkms_record_resolve(uri, &rec, &dir);
        if (rc == TPMKMS_R_OK)
            rc = key_from_record(key, uri, rec, dir);
    }
    if (rc == TPMKMS_R_OK)
        rc = key_take_pin(key, uri);
    tpmkms_record_free(rec);
    OPENSSL_free(dir);
    if (rc != TPMKMS_R_OK) {
        tpmkms_key_free(key);
        return rc;
    }
    TPMKMS_debug("opened %s (%s)", key->uri, tpmkms_alg_name(key->pub.alg));
    *out = key;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_key_from_blob(TPMKMS_CTX *ctx, const TPMKMS_KEYBLOB *blob,
                               const char *label, TPMKMS_KEY **out)
{
    TPMKMS_BACKEND *backend = tpmkms_ctx_backend(ctx, NULL);
    TPMKMS_KEY *key;
    tpmkms_rc rc;

    *out = NULL;
    if (backend == NULL)
        return TPMKMS_R_INTERNAL;
    key = tpmkms_key_new(backend, tpmkms_ctx_libctx(ctx));
    tpmkms_backend_free(backend);
    if (key == NULL)
        return TPMKMS_R_INTERNAL;
    key->scope = TPMKMS_SCOPE_UNSET;
    if ((key->uri = OPENSSL_strdup(label != NULL ? label : "TSS2 key file")) == NULL) {
        tpmkms_key_free(key);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    key->ref.label = key->uri;
    rc = tpmkms_keyblob_copy(&key->ref.blob, blob);
    if (rc == TPMKMS_R_OK)
        rc = tpmkms_backend_public_from_blob(key->backend, &key->ref.blob,
                                             &key->pub, key->uri);
    if (rc != TPMKMS_R_OK) {
        tpmkms_key_free(key);
        return rc;
    }
    *out = key;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_key_sign(TPMKMS_KEY *key, tpmkms_scheme scheme,
                          tpmkms_hash hash, const unsigned char *in,
                          size_t inlen, unsigned char *sig, size_t *siglen)
{
    /*
     * A key with an auth value is never tried without one: the TPM would
     * count the failure toward its dictionary-attack lockout.
     */
    if (key->ref.persistent == 0 && key->ref.blob.empty_auth == 0
            && key->ref.auth == NULL) {
        TPMKMS_raise(TPMKMS_R_AUTH_FAILED,
                     "%s needs an auth value: add pin-value=... or "
                     "pin-source=file:... to the URI (nothing was sent to the TPM)",
                     key->uri);
        return TPMKMS_R_AUTH_FAILED;
    }
    return tpmkms_backend_sign(key->backend, &key->ref, scheme, hash, in, inlen,
                               sig, siglen);
}

/*
 * Before asking the TPM for a key: can this caller write the store?  A
 * machine store owned by root answers an unprivileged caller with a
 * distinct error rather than a key that could not be saved.
 */
static tpmkms_rc check_store_writable(const char *dir, tpmkms_scope scope)
{
    char *probe = OPENSSL_strdup(dir);
    tpmkms_rc rc = TPMKMS_R_OK;

    if (probe == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    /* The nearest existing ancestor decides. */
    for (;;) {
        if (access(probe, F_OK) == 0)
            break;
        char *slash = strrchr(probe, '/');
        if (slash == NULL || slash == probe) {
            strcpy(probe, "/");
            break;
        }
        *slash = '\0';
    }
    if (access(probe, W_OK) != 0) {
        if (scope == TPMKMS_SCOPE_MACHINE) {
            TPMKMS_raise(TPMKMS_R_REQUIRES_ELEVATION,
                         "a machine-scope key goes to %s, which this user cannot "
                         "write (%s): run as root or as the store's owner",
                         dir, strerror(errno));
            rc = TPMKMS_R_REQUIRES_ELEVATION;
        } else {
            TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot write the key store %s: %s",
                         dir, strerror(errno));
            rc = TPMKMS_R_STORE_IO;
        }
    }
    OPENSSL_free(probe);
    return rc;
}

static char *utc_now(void)
{
    char buf[32];
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return OPENSSL_strdup(buf);
}

tpmkms_rc tpmkms_key_create(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            tpmkms_alg alg, int overwrite, TPMKMS_KEY **out)
{
    char tbuf[512];
    TPMKMS_CREATE_PARAMS params = { 0 };
    TPMKMS_RECORD rec = { 0 };
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_KEY *key = NULL;
    char *dir = NULL, *pin = NULL, *label = NULL;
    size_t pin_len = 0;
    tpmkms_rc rc;

    if (out != NULL)
        *out = NULL;
    if (uri->handle != 0 || uri->name == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "creating a key needs name=<key> (and no handle=)");
        return TPMKMS_R_BAD_URI;
    }
    rec.version = TPMKMS_RECORD_VERSION;
    rec.name = uri->name;
    rec.scope = tpmkms_uri_key_scope(uri);
    rec.alg = alg;
    if ((dir = tpmkms_store_dir(rec.scope, uri->storage_directory)) == NULL
            || (label = handed_back_uri(uri, rec.scope)) == NULL
            || (rec.created = utc_now()) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    if (!overwrite && tpmkms_record_exists(dir, uri->name)) {
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                     "%s already exists in %s: delete it first or use --force",
                     label, dir);
        rc = TPMKMS_R_KEY_EXISTS;
        goto out;
    }
    if ((rc = check_store_writable(dir, rec.scope)) != TPMKMS_R_OK)
        goto out;
    if ((rc = tpmkms_uri_get_pin(uri, &pin, &pin_len)) != TPMKMS_R_OK)
        goto out;
    params.alg = alg;
    params.auth = (unsigned char *)pin;
    params.auth_len = pin_len;
    params.label = label;
    backend = tpmkms_ctx_backend(ctx, uri_tcti(uri, tbuf, sizeof(tbuf)));
    if (backend == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    key = tpmkms_key_new(backend, tpmkms_ctx_libctx(ctx));
    if (key == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    rc = tpmkms_backend_create_key(backend, &params, &rec.blob, &key->pub);
    if (rc != TPMKMS_R_OK)
        goto out;
    rc = tpmkms_record_save(dir, &rec, overwrite);
    if (rc != TPMKMS_R_OK)
        goto out;
    TPMKMS_debug("created %s in %s", label, dir);
    if (out != NULL) {
        rc = key_from_record(key, uri, &rec, dir);
        if (rc == TPMKMS_R_OK && pin != NULL)
            rc = tpmkms_key_set_auth(key, pin, pin_len);
        if (rc == TPMKMS_R_OK) {
            *out = key;
            key = NULL;
        }
    }
 out:
    tpmkms_key_free(key);
    tpmkms_backend_free(backend);
    tpmkms_keyblob_clear(&rec.blob);
    OPENSSL_free(rec.created);
    OPENSSL_clear_free(pin, pin_len);
    OPENSSL_free(label);
    OPENSSL_free(dir);
    return rc;
}
