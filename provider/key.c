/*
 * TPMKMS_KEY: open a key by URI or blob, create one, sign with it.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include "key.h"
#include "keyauth.h"
#include "pubkey_evp.h"
#include "locate.h"
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
    tpmkms_keydata_clear(&key->ref.key);
    OPENSSL_clear_free(key->ref.auth, key->ref.auth_len);
    tpmkms_backend_free(key->backend);
    OPENSSL_free(key->uri);
    OPENSSL_free(key->name);
    OPENSSL_free(key->store_dir);
    EVP_PKEY_free(key->soft);
    CRYPTO_THREAD_lock_free(key->refcnt_lock);
    OPENSSL_free(key);
}

int tpmkms_key_hand_out(TPMKMS_KEY *key, OSSL_CALLBACK *object_cb,
                        void *object_cbarg)
{
    int object_type = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[5];

    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                    (char *)tpmkms_alg_keytype(key->pub.alg), 0);
    /* The reference is the key pointer itself (keymgmt_load copies it). */
    /* NOLINTBEGIN(bugprone-sizeof-expression) */
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
                                                  &key, sizeof(key));
    /* NOLINTEND(bugprone-sizeof-expression) */
    params[3] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC,
                                                 key->uri, 0);
    params[4] = OSSL_PARAM_construct_end();
    return object_cb(params, object_cbarg);
}

int tpmkms_key_hand_out_public(TPMKMS_KEY *key, OSSL_LIB_CTX *libctx,
                               OSSL_CALLBACK *object_cb, void *object_cbarg)
{
    int object_type = OSSL_OBJECT_PKEY, ok = 0, len;
    EVP_PKEY *pkey;
    unsigned char *der = NULL;
    OSSL_PARAM params[6];

    if ((pkey = tpmkms_public_to_evp(libctx, &key->pub)) == NULL)
        return 0;
    if ((len = i2d_PUBKEY(pkey, &der)) <= 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot encode its public key",
                     key->uri);
        goto out;
    }
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                    (char *)tpmkms_alg_keytype(key->pub.alg), 0);
    /* DER is what OpenSSL 3.0 decodes a by-value key from. */
    params[2] = OSSL_PARAM_construct_utf8_string(
                    OSSL_OBJECT_PARAM_DATA_STRUCTURE, "SubjectPublicKeyInfo", 0);
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der,
                                                  (size_t)len);
    params[4] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC,
                                                 key->uri, 0);
    params[5] = OSSL_PARAM_construct_end();
    ok = object_cb(params, object_cbarg);
 out:
    OPENSSL_free(der);
    EVP_PKEY_free(pkey);
    return ok;
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

tpmkms_rc tpmkms_keydata_from_blob(const TPMKMS_KEYBLOB *blob,
                                   TPMKMS_KEYDATA *kd)
{
    memset(kd, 0, sizeof(*kd));
    if (tpmkms_tss2key_to_der(blob, &kd->data, &kd->len) != TPMKMS_R_OK)
        return TPMKMS_R_INTERNAL;
    kd->format = TPMKMS_KEYFMT_TSS2_DER;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_keydata_to_blob(const TPMKMS_KEYDATA *kd,
                                 TPMKMS_KEYBLOB *blob, const char *label)
{
    memset(blob, 0, sizeof(*blob));
    if (kd->format != TPMKMS_KEYFMT_TSS2_DER) {
        TPMKMS_raise(TPMKMS_R_INTERNAL,
                     "%s: the TPM backend returned key material of format %d, "
                     "which a key record cannot hold", label, (int)kd->format);
        return TPMKMS_R_INTERNAL;
    }
    return tpmkms_tss2key_from_der(kd->data, kd->len, blob);
}

tpmkms_rc tpmkms_keyblob_info(const TPMKMS_BACKEND *backend,
                              const TPMKMS_KEYBLOB *blob,
                              TPMKMS_KEYINFO *info, const char *label)
{
    TPMKMS_KEYDATA kd;
    tpmkms_rc rc;

    memset(info, 0, sizeof(*info));
    if ((rc = tpmkms_keydata_from_blob(blob, &kd)) != TPMKMS_R_OK)
        return rc;
    rc = tpmkms_backend_describe(backend, &kd, info, label);
    tpmkms_keydata_clear(&kd);
    return rc;
}

/* The key's material and what it says: its public half, its auth. */
static tpmkms_rc key_take_blob(TPMKMS_KEY *key, const TPMKMS_KEYBLOB *blob)
{
    TPMKMS_KEYINFO info;
    tpmkms_rc rc;

    if ((rc = tpmkms_keydata_from_blob(blob, &key->ref.key)) != TPMKMS_R_OK
            || (rc = tpmkms_backend_describe(key->backend, &key->ref.key,
                                             &info, key->uri)) != TPMKMS_R_OK)
        return rc;
    key->pub = info.pub;
    key->needs_auth = info.needs_auth;
    return TPMKMS_R_OK;
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
    if ((key->uri = tpmkms_locate_canonical_uri(uri, rec->scope)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((key->name = OPENSSL_strdup(rec->name)) == NULL
            || (dir != NULL && (key->store_dir = OPENSSL_strdup(dir)) == NULL)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    key->ref.label = key->uri;
    key->ref.persistent = rec->persistent;
    key->kind = rec->kind;
    if ((rc = key_take_blob(key, &rec->blob)) != TPMKMS_R_OK)
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
    if ((key->uri = tpmkms_locate_canonical_uri(uri, key->scope)) == NULL)
        return TPMKMS_R_INTERNAL;
    key->ref.label = key->uri;
    key->ref.persistent = uri->handle;
    key->needs_auth = -1;                /* unknown: the TPM decides */
    rc = tpmkms_backend_read_persistent(key->backend, uri->handle, &key->pub);
    return rc;
}

tpmkms_rc tpmkms_key_open(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                          TPMKMS_KEY **out)
{
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
    backend = tpmkms_ctx_backend_for_uri(ctx, uri);
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
    if ((rc = key_take_blob(key, blob)) != TPMKMS_R_OK) {
        tpmkms_key_free(key);
        return rc;
    }
    *out = key;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_key_check_signs_data(const TPMKMS_KEY *key)
{
    if (key->kind == TPMKMS_KIND_AK) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s is an attestation key (restricted): it signs only "
                     "TPM-made statements, not arbitrary data (nothing was "
                     "sent to the TPM)", key->uri);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (!key->pub.can_sign) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the TPM key has no sign attribute (nothing was "
                     "sent to the TPM)", key->uri);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (key->pub.restricted) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s is a restricted TPM key (an attestation or storage "
                     "key): the TPM uses it only on what it made itself, not "
                     "to sign arbitrary data (nothing was sent to the TPM)",
                     key->uri);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    return TPMKMS_R_OK;
}

/*
 * A key with an auth value is never tried without one: the TPM would
 * count the failure toward its dictionary-attack lockout.
 */
static tpmkms_rc key_check_auth(const TPMKMS_KEY *key)
{
    if (tpmkms_key_needs_auth(key)) {
        TPMKMS_raise(TPMKMS_R_AUTH_FAILED,
                     "%s needs an auth value: add pin-value=... or "
                     "pin-source=file:... to the URI (nothing was sent to the TPM)",
                     key->uri);
        return TPMKMS_R_AUTH_FAILED;
    }
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_key_sign(TPMKMS_KEY *key, tpmkms_scheme scheme,
                          tpmkms_hash hash, const unsigned char *in,
                          size_t inlen, unsigned char *sig, size_t *siglen)
{
    tpmkms_rc rc;

    if ((rc = tpmkms_key_check_signs_data(key)) != TPMKMS_R_OK
            || (rc = key_check_auth(key)) != TPMKMS_R_OK)
        return rc;
    return tpmkms_backend_sign(key->backend, &key->ref, scheme, hash, in, inlen,
                               sig, siglen);
}

tpmkms_rc tpmkms_key_decrypt(TPMKMS_KEY *key,
                             const TPMKMS_DECRYPT_PARAMS *params,
                             const unsigned char *in, size_t inlen,
                             unsigned char *out, size_t *outlen)
{
    tpmkms_rc rc;

    if ((rc = key_check_auth(key)) != TPMKMS_R_OK)
        return rc;
    return tpmkms_backend_decrypt(key->backend, &key->ref, params, in, inlen,
                                  out, outlen);
}

tpmkms_rc tpmkms_key_derive(TPMKMS_KEY *key, const unsigned char *peer_point,
                            size_t peer_len, unsigned char *secret,
                            size_t *secret_len)
{
    tpmkms_rc rc;

    if ((rc = key_check_auth(key)) != TPMKMS_R_OK)
        return rc;
    return tpmkms_backend_derive(key->backend, &key->ref, peer_point, peer_len,
                                 secret, secret_len);
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

int tpmkms_public_equal(const TPMKMS_PUBLIC *a, const TPMKMS_PUBLIC *b)
{
    if (a->alg != b->alg)
        return 0;
    if (tpmkms_alg_is_ec(a->alg))
        return a->ec_point_len == b->ec_point_len
               && memcmp(a->ec_point, b->ec_point, a->ec_point_len) == 0;
    return a->rsa_e == b->rsa_e && a->rsa_n_len == b->rsa_n_len
           && memcmp(a->rsa_n, b->rsa_n, a->rsa_n_len) == 0;
}

tpmkms_rc tpmkms_key_evict(TPMKMS_BACKEND *backend, uint32_t handle,
                           const TPMKMS_KEYBLOB *blob, const char *label)
{
    TPMKMS_KEYINFO ours;
    TPMKMS_PUBLIC there;
    tpmkms_rc rc;

    if ((rc = tpmkms_keyblob_info(backend, blob, &ours, label))
            != TPMKMS_R_OK
            || (rc = tpmkms_backend_read_persistent(backend, handle, &there))
               != TPMKMS_R_OK)
        return rc;
    if (!tpmkms_public_equal(&ours.pub, &there)) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: persistent handle 0x%08x now holds a different %s "
                     "key, not this one; left alone", label, (unsigned)handle,
                     tpmkms_alg_name(there.alg) != NULL
                     ? tpmkms_alg_name(there.alg) : "kind of");
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    return tpmkms_backend_evict(backend, handle, label);
}

void tpmkms_tpm_id_short(const unsigned char *id, size_t len, char *buf,
                         size_t buflen)
{
    size_t skip = len > 2 ? 2 : 0, n = 0, i;

    if (buflen == 0)
        return;
    buf[0] = '\0';
    for (i = skip; i < len && i < skip + 6 && n + 3 <= buflen; i++)
        n += (size_t)snprintf(buf + n, buflen - n, "%02x", id[i]);
    if (i < len && n + 4 <= buflen)
        snprintf(buf + n, buflen - n, "...");
}

tpmkms_rc tpmkms_key_check_tpm(TPMKMS_BACKEND *backend,
                               const TPMKMS_RECORD *rec, const char *label,
                               const char *left)
{
    TPMKMS_BUF here = { 0 };
    char want[32], got[32];
    const char *conn;
    tpmkms_rc rc;

    if (rec->tpm_id == NULL) {
        TPMKMS_debug("%s: the record names no TPM (older record): not "
                     "checked", label);
        return TPMKMS_R_OK;
    }
    tpmkms_err_set_mark();
    rc = tpmkms_backend_tpm_identity(backend, &here);
    if (rc == TPMKMS_R_NOT_SUPPORTED) {
        tpmkms_err_pop_to_mark();
        TPMKMS_debug("%s: the backend cannot identify its TPM: not checked",
                     label);
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    if (rc != TPMKMS_R_OK)
        return rc;
    if (here.len == rec->tpm_id_len
            && memcmp(here.data, rec->tpm_id, here.len) == 0) {
        tpmkms_buf_clear(&here);
        return TPMKMS_R_OK;
    }
    tpmkms_tpm_id_short(rec->tpm_id, rec->tpm_id_len, want, sizeof(want));
    tpmkms_tpm_id_short(here.data, here.len, got, sizeof(got));
    tpmkms_buf_clear(&here);
    conn = tpmkms_backend_conn(backend);
    TPMKMS_raise(TPMKMS_R_WRONG_TPM,
                 "%s was made by another TPM than the one connected (%s): "
                 "its record names the TPM whose SRK name is %s, this TPM's "
                 "is %s; %s", label,
                 conn != NULL ? conn : "the default TCTI", want, got,
                 left != NULL ? left : "nothing was changed");
    return TPMKMS_R_WRONG_TPM;
}

/*
 * A record of name in dir of another kind than want: TPMKMS_R_KEY_EXISTS
 * (raised), overwrite or not, since neither kind replaces the other.  A
 * record that does not load is left to the caller's rules, as before.
 */
static tpmkms_rc check_same_kind(const char *dir, const char *name,
                                 tpmkms_key_kind want, const char *label)
{
    TPMKMS_RECORD *old = NULL;
    tpmkms_key_kind have;

    if (!tpmkms_record_exists(dir, name))
        return TPMKMS_R_OK;
    tpmkms_err_set_mark();
    if (tpmkms_record_load(dir, name, &old) != TPMKMS_R_OK) {
        tpmkms_err_pop_to_mark();
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    have = old->kind;
    tpmkms_record_free(old);
    if (have == want)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                 "%s is an existing %s in %s, not %s: %s cannot take its "
                 "name, even with --force; delete it first (tpmkms %sdelete)",
                 label, tpmkms_kind_name(have), dir,
                 want == TPMKMS_KIND_AK ? "an attestation key" : "a key",
                 want == TPMKMS_KIND_AK ? "an attestation key" : "a key",
                 have == TPMKMS_KIND_AK ? "ak " : "");
    return TPMKMS_R_KEY_EXISTS;
}

/* Another record in dir that names handle: TPMKMS_R_KEY_EXISTS. */
typedef struct {
    const char *name;            /* the key being created (may own it) */
    uint32_t handle;
    char other[TPMKMS_NAME_MAX + 1];
} HANDLE_USE;

static int find_handle_use(const TPMKMS_RECORD *rec, void *arg)
{
    HANDLE_USE *use = arg;

    if (rec->persistent != use->handle || strcmp(rec->name, use->name) == 0)
        return 0;
    snprintf(use->other, sizeof(use->other), "%s", rec->name);
    return 1;
}

static tpmkms_rc check_persistent_request(const TPMKMS_URI *uri,
                                          tpmkms_scope scope, uint32_t handle,
                                          const char *dir, const char *label)
{
    HANDLE_USE use = { uri->name, handle, "" };
    tpmkms_rc rc;

    if (scope != TPMKMS_SCOPE_MACHINE) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a persistent handle is a TPM-wide object, so only a "
                     "machine key can have one; use key-scope=machine",
                     label);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (handle < 0x81000000u || handle > 0x817FFFFFu
            || handle == TPMKMS_SRK_HANDLE) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: 0x%08x is not an owner persistent handle "
                     "0x81000002..0x817FFFFF (0x81000001 is the SRK)", label,
                     (unsigned)handle);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if ((rc = tpmkms_record_list(dir, find_handle_use, &use)) != TPMKMS_R_OK)
        return rc;
    if (use.other[0] != '\0') {
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                     "%s: persistent handle 0x%08x belongs to the machine key "
                     "'%s' (%s); pick another handle", label,
                     (unsigned)handle, use.other, dir);
        return TPMKMS_R_KEY_EXISTS;
    }
    return TPMKMS_R_OK;
}

/*
 * rec's tpm: from the TPM that just made its key (the SRK is at hand: no
 * command on ESYS in its usual mode).  A backend that cannot tell leaves
 * it out, as records were before.
 */
static tpmkms_rc record_tpm_identity(TPMKMS_BACKEND *backend,
                                     TPMKMS_RECORD *rec, const char *label)
{
    TPMKMS_BUF id = { 0 };
    tpmkms_rc rc;

    tpmkms_err_set_mark();
    rc = tpmkms_backend_tpm_identity(backend, &id);
    if (rc == TPMKMS_R_NOT_SUPPORTED) {
        tpmkms_err_pop_to_mark();
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    if (rc != TPMKMS_R_OK)
        return rc;
    if (id.len == 0 || id.len > TPMKMS_TPM_ID_MAX) {
        TPMKMS_debug("%s: a TPM identity of %zu bytes: not recorded", label,
                     id.len);
        tpmkms_buf_clear(&id);
        return TPMKMS_R_OK;
    }
    rec->tpm_id = id.data;
    rec->tpm_id_len = id.len;
    return TPMKMS_R_OK;
}

/*
 * tpmkms_key_settle_pending with the store already locked: a pending
 * record there now is a dead create's, never a running one's.
 */
static tpmkms_rc settle_pending_held(TPMKMS_BACKEND *backend, const char *dir,
                                     const char *name, tpmkms_pending *what,
                                     uint32_t *handle)
{
    TPMKMS_RECORD *rec = NULL;
    TPMKMS_KEYINFO ours;
    TPMKMS_PUBLIC there;
    char *path = NULL, left[4352];
    int holds;
    tpmkms_rc rc;

    *what = TPMKMS_PENDING_NONE;
    if (handle != NULL)
        *handle = 0;
    if (!tpmkms_record_pending_exists(dir, name))
        return TPMKMS_R_OK;
    if ((path = tpmkms_record_pending_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = tpmkms_record_load_pending(dir, name, &rec)) != TPMKMS_R_OK)
        goto out;
    if (handle != NULL)
        *handle = rec->persistent;
    snprintf(left, sizeof(left), "nothing was changed: %s (a create of a "
             "key persistent at 0x%08x that was interrupted) stays; settle "
             "it through the TPM that made it (tpmkms list)", path,
             (unsigned)rec->persistent);
    if ((rc = tpmkms_store_check_writable(dir, rec->scope, 0)) != TPMKMS_R_OK
            || (rc = tpmkms_key_check_tpm(backend, rec, path, left))
               != TPMKMS_R_OK
            || (rc = tpmkms_keyblob_info(backend, &rec->blob, &ours, path))
               != TPMKMS_R_OK)
        goto out;
    /*
     * The create died before or after TPM2_EvictControl: the handle says
     * which.  Empty, or holding something else (another key, put there
     * since, or what was there all along), it is not ours to touch.
     */
    tpmkms_err_set_mark();
    rc = tpmkms_backend_read_persistent(backend, rec->persistent, &there);
    if (rc == TPMKMS_R_OK) {
        holds = tpmkms_public_equal(&ours.pub, &there);
    } else if (rc == TPMKMS_R_KEY_NOT_FOUND || rc == TPMKMS_R_BAD_KEY_FILE) {
        holds = 0;
    } else {
        tpmkms_err_clear_last_mark();
        goto out;
    }
    tpmkms_err_pop_to_mark();
    if (holds) {
        if ((rc = tpmkms_record_commit_pending(dir, name, 1)) == TPMKMS_R_OK)
            *what = TPMKMS_PENDING_COMPLETED;
    } else if ((rc = tpmkms_record_remove_pending(dir, name)) == TPMKMS_R_OK) {
        *what = TPMKMS_PENDING_REMOVED;
    }
    TPMKMS_debug("%s: persistent handle 0x%08x %s its key: %s", path,
                 (unsigned)rec->persistent, holds ? "holds" : "does not hold",
                 *what == TPMKMS_PENDING_COMPLETED ? "completed"
                 : *what == TPMKMS_PENDING_REMOVED ? "removed" : "left");
 out:
    tpmkms_record_free(rec);
    OPENSSL_free(path);
    return rc;
}

tpmkms_rc tpmkms_key_settle_pending(TPMKMS_BACKEND *backend, const char *dir,
                                    const char *name, tpmkms_pending *what,
                                    uint32_t *handle)
{
    TPMKMS_STORE_LOCK *lock = NULL;
    tpmkms_rc rc;

    *what = TPMKMS_PENDING_NONE;
    if (handle != NULL)
        *handle = 0;
    if (!tpmkms_record_pending_exists(dir, name))
        return TPMKMS_R_OK;
    if ((rc = tpmkms_store_lock(dir, TPMKMS_SCOPE_UNSET, &lock))
            != TPMKMS_R_OK)
        return rc;
    rc = settle_pending_held(backend, dir, name, what, handle);
    tpmkms_store_unlock(lock);
    return rc;
}

tpmkms_rc tpmkms_key_create(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            tpmkms_alg alg, int overwrite, TPMKMS_KEY **out)
{
    TPMKMS_CREATE_OPTS opts = { 0 };

    opts.alg = alg;
    opts.overwrite = overwrite;
    return tpmkms_key_create_ex(ctx, uri, &opts, out);
}

tpmkms_rc tpmkms_key_create_ex(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                               TPMKMS_CREATE_OPTS *opts, TPMKMS_KEY **out)
{
    TPMKMS_CREATE_PARAMS params = { 0 };
    TPMKMS_RECORD rec = { 0 };
    TPMKMS_KEYDATA made = { 0 };
    TPMKMS_RECORD *old = NULL;
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_STORE_LOCK *lock = NULL;
    TPMKMS_KEY *key = NULL;
    char *dir = NULL, *pin = NULL, *label = NULL;
    size_t pin_len = 0;
    int persisted = 0, pending = 0;
    tpmkms_pending settled = TPMKMS_PENDING_NONE;
    tpmkms_rc rc;

    if (out != NULL)
        *out = NULL;
    opts->replaced = 0;
    opts->evicted = 0;
    opts->settled = TPMKMS_PENDING_NONE;
    opts->settled_handle = 0;
    if (uri->handle != 0 || uri->name == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "creating a key needs name=<key> (and no handle=)");
        return TPMKMS_R_BAD_URI;
    }
    rec.version = TPMKMS_RECORD_VERSION;
    rec.name = uri->name;
    rec.scope = tpmkms_uri_key_scope(uri);
    rec.alg = opts->alg;
    rec.persistent = opts->persistent;
    rec.kind = opts->kind;
    if ((dir = tpmkms_store_dir(rec.scope, uri->storage_directory)) == NULL
            || (label = tpmkms_locate_canonical_uri(uri, rec.scope)) == NULL
            || (rec.created = utc_now()) == NULL) {
        if (ERR_peek_last_error() == 0)
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = dir == NULL ? TPMKMS_R_STORE_IO : TPMKMS_R_INTERNAL;
        goto out;
    }
    if ((rc = check_same_kind(dir, uri->name, opts->kind, label))
            != TPMKMS_R_OK)
        goto out;
    if (!opts->overwrite && tpmkms_record_exists(dir, uri->name)) {
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                     "%s already exists in %s: delete it first or use --force",
                     label, dir);
        rc = TPMKMS_R_KEY_EXISTS;
        goto out;
    }
    if ((rc = tpmkms_store_check_writable(dir, rec.scope, 0)) != TPMKMS_R_OK)
        goto out;
    if (opts->persistent != 0
            && (rc = check_persistent_request(uri, rec.scope, opts->persistent,
                                              dir, label)) != TPMKMS_R_OK)
        goto out;
    if ((rc = tpmkms_uri_get_pin(uri, &pin, &pin_len)) != TPMKMS_R_OK)
        goto out;
    params.alg = opts->alg;
    params.usage = opts->usage;
    params.auth = (unsigned char *)pin;
    params.auth_len = pin_len;
    params.label = label;
    backend = tpmkms_ctx_backend_for_uri(ctx, uri);
    if (backend == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    key = tpmkms_key_new(backend, tpmkms_ctx_libctx(ctx));
    if (key == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    if (opts->kind == TPMKMS_KIND_AK)
        rc = tpmkms_backend_ak_create(backend, &params, &made, &key->pub);
    else
        rc = tpmkms_backend_create_key(backend, &params, &made, &key->pub);
    if (rc == TPMKMS_R_OK)
        rc = tpmkms_keydata_to_blob(&made, &rec.blob, label);
    if (rc == TPMKMS_R_OK)
        rc = record_tpm_identity(backend, &rec, label);
    if (rc != TPMKMS_R_OK)
        goto out;

    /*
     * From here to the record in place, the store is locked: a create
     * killed in between leaves a pending record that whoever locks it
     * next settles, and nobody settles ours while we run.
     */
    if ((rc = tpmkms_store_lock(dir, rec.scope, &lock)) != TPMKMS_R_OK
            || (rc = settle_pending_held(backend, dir, uri->name, &settled,
                                         &opts->settled_handle))
               != TPMKMS_R_OK)
        goto out;
    opts->settled = (int)settled;
    /* Checked again under the lock: another create may have won. */
    if ((rc = check_same_kind(dir, uri->name, opts->kind, label))
            != TPMKMS_R_OK)
        goto out;
    if (!opts->overwrite && tpmkms_record_exists(dir, uri->name)) {
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                     "%s already exists in %s%s: delete it first or use "
                     "--force", label, dir, settled == TPMKMS_PENDING_COMPLETED
                     ? " (an interrupted create of it was just completed)"
                     : "");
        rc = TPMKMS_R_KEY_EXISTS;
        goto out;
    }
    if (opts->persistent != 0) {
        if ((rc = check_persistent_request(uri, rec.scope, opts->persistent,
                                           dir, label)) != TPMKMS_R_OK
                || (rc = tpmkms_record_save_pending(dir, &rec)) != TPMKMS_R_OK)
            goto out;
        pending = 1;
    }

    /*
     * Replacing: the old key's persistent handle goes first (the new key
     * may want the same one).  A record that no longer loads has nothing
     * we could evict safely; it is simply replaced.
     */
    if (opts->overwrite && tpmkms_record_exists(dir, uri->name)) {
        tpmkms_err_set_mark();
        if (tpmkms_record_load(dir, uri->name, &old) != TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
            TPMKMS_debug("%s: the old record does not load; replacing it",
                         label);
            old = NULL;
        } else {
            tpmkms_err_clear_last_mark();
        }
        opts->replaced = 1;
        if (old != NULL && old->persistent != 0) {
            char left[160];

            /* Through another TPM the old key would be left behind in
             * its own, its record gone: refuse before anything changes. */
            snprintf(left, sizeof(left), "nothing was changed: its record "
                     "and persistent handle 0x%08x stay; replace it through "
                     "the TPM that made it", (unsigned)old->persistent);
            if ((rc = tpmkms_key_check_tpm(backend, old, label, left))
                    != TPMKMS_R_OK)
                goto out;
            tpmkms_err_set_mark();
            rc = tpmkms_key_evict(backend, old->persistent, &old->blob, label);
            if (rc == TPMKMS_R_KEY_NOT_FOUND) {
                tpmkms_err_pop_to_mark();   /* nothing of it left */
            } else {
                tpmkms_err_clear_last_mark();
                if (rc != TPMKMS_R_OK)
                    goto out;
                opts->evicted = old->persistent;
            }
        }
    }
    if (opts->persistent != 0) {
        /* The pending record names the handle before the TPM fills it. */
        rc = tpmkms_backend_persist(backend, &made, opts->persistent, label);
        if (rc != TPMKMS_R_OK)
            goto out;
        persisted = 1;
        rc = tpmkms_record_commit_pending(dir, uri->name, opts->overwrite);
    } else {
        rc = tpmkms_record_save(dir, &rec, opts->overwrite);
    }
    if (rc != TPMKMS_R_OK)
        goto out;
    persisted = 0;
    pending = 0;
    TPMKMS_debug("created %s in %s%s", label, dir,
                 opts->persistent != 0 ? " (persistent)" : "");
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
    if (persisted) {
        /* No record will name it: take the new persistent object back. */
        tpmkms_err_set_mark();
        if (tpmkms_backend_evict(backend, opts->persistent, label)
                != TPMKMS_R_OK) {
            /* The pending record still names it: the next list settles. */
            TPMKMS_debug("%s: could not evict 0x%08x after the record failed",
                         label, (unsigned)opts->persistent);
            pending = 0;
        }
        tpmkms_err_pop_to_mark();
    }
    if (pending) {
        tpmkms_err_set_mark();
        if (tpmkms_record_remove_pending(dir, uri->name) != TPMKMS_R_OK)
            TPMKMS_debug("%s: could not remove its pending record", label);
        tpmkms_err_pop_to_mark();
    }
    tpmkms_store_unlock(lock);
    tpmkms_record_free(old);
    tpmkms_key_free(key);
    tpmkms_backend_free(backend);
    tpmkms_keyblob_clear(&rec.blob);
    tpmkms_keydata_clear(&made);
    OPENSSL_free(rec.tpm_id);
    OPENSSL_free(rec.created);
    OPENSSL_clear_free(pin, pin_len);
    OPENSSL_free(label);
    OPENSSL_free(dir);
    return rc;
}
