/*
 * Deleting a key and storing its certificate chain (lifecycle.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "lifecycle.h"
#include "backend.h"
#include "key.h"
#include "locate.h"
#include "pubkey_evp.h"
#include "debug.h"

/* ---- results --------------------------------------------------------- */

void tpmkms_delete_result_clear(TPMKMS_DELETE_RESULT *res)
{
    if (res == NULL)
        return;
    OPENSSL_free(res->uri);
    memset(res, 0, sizeof(*res));
}

void tpmkms_import_result_clear(TPMKMS_IMPORT_RESULT *res)
{
    if (res == NULL)
        return;
    OPENSSL_free(res->uri);
    OPENSSL_free(res->cert_dir);
    memset(res, 0, sizeof(*res));
}

/* Appends "[sep]<formatted>" to buf, a bounded list. */
static void append(char *buf, size_t len, const char *sep, const char *fmt,
                   ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void append(char *buf, size_t len, const char *sep, const char *fmt,
                   ...)
{
    size_t used = strlen(buf);
    va_list ap;

    if (used > 0 && used < len)
        used += (size_t)snprintf(buf + used, len - used, "%s", sep);
    if (used >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* ---- shared helpers -------------------------------------------------- */

/* The backend for the TPM a URI names (its tcti=/device=), else ctx's. */
static tpmkms_rc uri_backend(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                             TPMKMS_BACKEND **out)
{
    /* NULL was raised (ctx.h). */
    *out = tpmkms_ctx_backend_for_uri(ctx, uri);
    return *out != NULL ? TPMKMS_R_OK : TPMKMS_R_TPM_UNAVAILABLE;
}

EVP_PKEY *tpmkms_record_public(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                               const TPMKMS_RECORD *rec, const char *label)
{
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_KEYINFO info;
    EVP_PKEY *pkey = NULL;

    /* From the blob alone: no TPM command. */
    if (uri_backend(ctx, uri, &backend) == TPMKMS_R_OK
            && tpmkms_keyblob_info(backend, &rec->blob, &info, label)
               == TPMKMS_R_OK)
        pkey = tpmkms_public_to_evp(tpmkms_ctx_libctx(ctx), &info.pub);
    tpmkms_backend_free(backend);
    return pkey;
}

tpmkms_rc tpmkms_record_check_key(const TPMKMS_BACKEND *backend,
                                  const TPMKMS_RECORD *rec, const char *path,
                                  TPMKMS_KEYINFO *info)
{
    TPMKMS_KEYINFO mine;
    tpmkms_rc rc;

    if (info == NULL)
        info = &mine;
    /* Pure describe: no TPM command.  Its error names path already. */
    if ((rc = tpmkms_keyblob_info(backend, &rec->blob, info, path))
            != TPMKMS_R_OK)
        return rc;
    if (rec->alg != info->pub.alg) {
        const char *key_alg = tpmkms_alg_name(info->pub.alg);

        TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                     "%s: field algorithm: the record says %s but its key "
                     "is %s", path, tpmkms_alg_name(rec->alg),
                     key_alg != NULL ? key_alg : "of another kind");
        return TPMKMS_R_BAD_RECORD;
    }
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_record_check_kind(const TPMKMS_RECORD *rec, const char *uri,
                                   tpmkms_key_kind want, const char *verb)
{
    if (rec->kind == want)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                 "%s is %s, not %s: use tpmkms %s%s", uri,
                 rec->kind == TPMKMS_KIND_AK ? "an attestation key" : "a key",
                 want == TPMKMS_KIND_AK ? "an attestation key" : "a key",
                 rec->kind == TPMKMS_KIND_AK ? "ak " : "", verb);
    return TPMKMS_R_BAD_PARAMETER;
}

/* Reads every PEM certificate in bio onto certs; returns how many. */
static int read_pem_certs(BIO *bio, STACK_OF(X509) *certs)
{
    X509 *x;
    int n = 0;

    /* Reading past the last certificate is not an error: mark it away. */
    ERR_set_mark();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            break;
        }
        n++;
    }
    ERR_pop_to_mark();
    return n;
}

int tpmkms_cert_matches(const char *pem, size_t len, EVP_PKEY *pub)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *certs = sk_X509_new_null();
    int r = -1;

    if (bio != NULL && certs != NULL && read_pem_certs(bio, certs) > 0) {
        EVP_PKEY *leaf = X509_get0_pubkey(sk_X509_value(certs, 0));

        r = leaf != NULL && pub != NULL && EVP_PKEY_eq(leaf, pub) == 1;
        ERR_clear_error();   /* EVP_PKEY_eq of unlike types queues one */
    }
    sk_X509_pop_free(certs, X509_free);
    BIO_free(bio);
    return r;
}

/* ---- delete ---------------------------------------------------------- */

tpmkms_rc tpmkms_key_remove_certs(const TPMKMS_URI *uri, const char *name,
                                  const char *key_dir, EVP_PKEY *pub,
                                  TPMKMS_DELETE_RESULT *res)
{
    char *dirs[2] = { NULL, NULL };
    int ndirs = 0, failed = 0;

    if (key_dir != NULL)
        dirs[ndirs++] = OPENSSL_strdup(key_dir);
    if (uri->storage_directory == NULL) {
        /* The other store too: store-location may have put it there. */
        for (int s = TPMKMS_SCOPE_USER; s <= TPMKMS_SCOPE_MACHINE; s++) {
            char *d;

            tpmkms_err_set_mark();
            d = tpmkms_store_dir((tpmkms_scope)s, NULL);
            tpmkms_err_pop_to_mark();
            if (d == NULL)
                continue;
            if (key_dir != NULL && strcmp(d, key_dir) == 0) {
                OPENSSL_free(d);
                continue;
            }
            dirs[ndirs++] = d;
            break;
        }
    }
    for (int k = 0; k < ndirs; k++) {
        const char *dir = dirs[k];
        int own = key_dir != NULL && k == 0;
        char *pem = NULL, path[4096], why[512];
        size_t len = 0;
        int match;
        tpmkms_rc rc;

        if (dir == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/certs/%s.pem", dir, name);
        tpmkms_err_set_mark();
        rc = tpmkms_cert_load(dir, name, &pem, &len);
        if (rc != TPMKMS_R_OK) {
            tpmkms_err_clear_last_mark();
            tpmkms_err_take_text(why, sizeof(why));
            if (own) {
                append(res->left, sizeof(res->left), "; ",
                       "certificate %s is still there: %s", path, why);
                failed = 1;
            } else {
                append(res->notes, sizeof(res->notes), "\n",
                       "%s not examined: %s", path, why);
            }
            continue;
        }
        tpmkms_err_pop_to_mark();
        if (pem == NULL)
            continue;
        match = tpmkms_cert_matches(pem, len, pub);
        OPENSSL_free(pem);
        /* Another key's certificate of the same name is not ours to take. */
        if (match == 0 || (match < 0 && !own)) {
            append(res->notes, sizeof(res->notes), "\n", "left %s: %s", path,
                   match == 0 ? "its certificate is for another key"
                              : "it holds no certificate this key could "
                                "be checked against");
            continue;
        }
        tpmkms_err_set_mark();
        rc = tpmkms_cert_remove(dir, name);
        if (rc == TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
            append(res->removed, sizeof(res->removed), "; ", "%s", path);
        } else {
            tpmkms_err_clear_last_mark();
            append(res->left, sizeof(res->left), "; ",
                   "certificate %s is still there: %s", path,
                   tpmkms_err_take_text(why, sizeof(why)));
            failed = 1;
        }
    }
    for (int k = 0; k < ndirs; k++)
        OPENSSL_free(dirs[k]);
    return failed ? TPMKMS_R_PARTIAL_DELETE : TPMKMS_R_OK;
}

/* The record (if any) in dir that names a persistent handle. */
typedef struct {
    uint32_t handle;
    char name[TPMKMS_NAME_MAX + 1];
} HANDLE_OWNER;

static int find_owner(const TPMKMS_RECORD *rec, void *arg)
{
    HANDLE_OWNER *o = arg;

    if (rec->persistent != o->handle)
        return 0;
    snprintf(o->name, sizeof(o->name), "%s", rec->name);
    return 1;
}

/* The name whose pending record in dir names handle, if any, in name. */
static tpmkms_rc pending_owner(const char *dir, uint32_t handle, char *name,
                               size_t len)
{
    char **names = NULL;
    size_t count = 0;
    tpmkms_rc rc;

    name[0] = '\0';
    if ((rc = tpmkms_record_pending_names(dir, &names, &count))
            != TPMKMS_R_OK)
        return rc;
    for (size_t i = 0; i < count && name[0] == '\0'; i++) {
        TPMKMS_RECORD *rec = NULL;

        /* One that does not load names nothing we could trust. */
        tpmkms_err_set_mark();
        if (tpmkms_record_load_pending(dir, names[i], &rec) == TPMKMS_R_OK
                && rec->persistent == handle)
            snprintf(name, len, "%s", rec->name);
        tpmkms_err_pop_to_mark();
        tpmkms_record_free(rec);
    }
    tpmkms_record_names_free(names, count);
    return TPMKMS_R_OK;
}

/* handle=: what a partial delete left in the TPM. */
static tpmkms_rc delete_handle(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                               TPMKMS_DELETE_RESULT *res)
{
    HANDLE_OWNER owner = { uri->handle, "" };
    TPMKMS_BACKEND *backend = NULL;
    char *mdir = NULL, label[64];
    tpmkms_rc rc;

    snprintf(label, sizeof(label), "persistent handle 0x%08x",
             (unsigned)uri->handle);
    if (uri->handle == TPMKMS_SRK_HANDLE || uri->handle > 0x817FFFFFu) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s is %s; tpmkms does not "
                     "evict it", label, uri->handle == TPMKMS_SRK_HANDLE
                     ? "the SRK every key is loaded under"
                     : "not an owner handle (0x81000000..0x817FFFFF)");
        return TPMKMS_R_BAD_PARAMETER;
    }
    if ((mdir = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL)) == NULL)
        return TPMKMS_R_STORE_IO;
    /* A persistent object is the machine's: as much as a machine key. */
    if ((rc = tpmkms_store_check_writable(mdir, TPMKMS_SCOPE_MACHINE, 0))
            != TPMKMS_R_OK
            || (rc = tpmkms_record_list(mdir, find_owner, &owner))
               != TPMKMS_R_OK)
        goto out;
    if (owner.name[0] != '\0') {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s belongs to the machine key "
                     "'%s': delete that key (tpmkms delete "
                     "'tpmkms:name=%s;key-scope=machine')", label, owner.name,
                     owner.name);
        rc = TPMKMS_R_BAD_PARAMETER;
        goto out;
    }
    if ((rc = pending_owner(mdir, uri->handle, owner.name,
                            sizeof(owner.name))) != TPMKMS_R_OK)
        goto out;
    if (owner.name[0] != '\0') {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s is named by the pending "
                     "record of an interrupted create of the machine key "
                     "'%s': settle that first (tpmkms list), then delete the "
                     "key if it is complete", label, owner.name);
        rc = TPMKMS_R_BAD_PARAMETER;
        goto out;
    }
    if ((rc = uri_backend(ctx, uri, &backend)) != TPMKMS_R_OK
            || (rc = tpmkms_backend_evict(backend, uri->handle, label))
               != TPMKMS_R_OK)
        goto out;
    res->evicted = uri->handle;
 out:
    tpmkms_backend_free(backend);
    OPENSSL_free(mdir);
    return rc;
}

/*
 * The record goes first: when that fails nothing was changed.  Then the
 * certificates and the persistent handle; what of those is left makes a
 * partial delete.
 */
/*
 * The machine store to name instead of a failed lookup's error (rc):
 * the record could not be read (TPMKMS_R_STORE_IO) where the URI can
 * mean the machine store, the user store has no such key, and this
 * process may not write the machine store, as a user outside the
 * machine group may not.  Deleting a machine key needs that write
 * access, so what to do is elevation (exit 4), not an I/O error
 * (exit 1).  NULL otherwise.  Raises nothing.
 */
static char *closed_machine_store(const TPMKMS_URI *uri, tpmkms_rc rc)
{
    char *mdir = NULL, *udir = NULL;
    int closed = 0;

    if (rc != TPMKMS_R_STORE_IO || uri->storage_directory != NULL
            || uri->key_scope == TPMKMS_SCOPE_USER)
        return NULL;
    tpmkms_err_set_mark();
    if (uri->key_scope == TPMKMS_SCOPE_UNSET)
        udir = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
    if ((udir == NULL || !tpmkms_record_exists(udir, uri->name))
            && (mdir = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL)) != NULL)
        closed = tpmkms_store_check_writable(mdir, TPMKMS_SCOPE_MACHINE, 0)
                 == TPMKMS_R_REQUIRES_ELEVATION;
    tpmkms_err_pop_to_mark();
    OPENSSL_free(udir);
    if (!closed) {
        OPENSSL_free(mdir);
        return NULL;
    }
    return mdir;
}

/*
 * A create of the name that was killed before its record was in place
 * left a pending record (record.h): settled first, as list would, so
 * that the delete sees the key as it is.  Only where a persistent key's
 * record can be: the machine store, or the URI's storage-directory, and
 * not when key-scope is unset and the user store has the name.
 * *removed: the pending record was all there was of the key.
 */
static tpmkms_rc settle_named(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                              TPMKMS_DELETE_RESULT *res, int *removed)
{
    TPMKMS_BACKEND *backend = NULL;
    tpmkms_pending what = TPMKMS_PENDING_NONE;
    uint32_t handle = 0;
    char *dir = NULL, *udir = NULL, *path = NULL;
    tpmkms_rc rc = TPMKMS_R_OK;

    *removed = 0;
    if (uri->storage_directory == NULL && uri->key_scope == TPMKMS_SCOPE_USER)
        return TPMKMS_R_OK;
    tpmkms_err_set_mark();
    dir = tpmkms_store_dir(uri->storage_directory != NULL
                           ? TPMKMS_SCOPE_UNSET : TPMKMS_SCOPE_MACHINE,
                           uri->storage_directory);
    if (uri->storage_directory == NULL
            && uri->key_scope == TPMKMS_SCOPE_UNSET)
        udir = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
    tpmkms_err_pop_to_mark();
    if (dir == NULL || !tpmkms_record_pending_exists(dir, uri->name)
            || (udir != NULL && tpmkms_record_exists(udir, uri->name)))
        goto out;
    if ((rc = uri_backend(ctx, uri, &backend)) != TPMKMS_R_OK
            || (rc = tpmkms_key_settle_pending(backend, dir, uri->name, &what,
                                               &handle)) != TPMKMS_R_OK
            || (path = tpmkms_record_pending_path(dir, uri->name)) == NULL)
        goto out;
    if (what == TPMKMS_PENDING_COMPLETED)
        append(res->notes, sizeof(res->notes), "\n", "completed an "
               "interrupted create of '%s' first: persistent handle 0x%08x "
               "held its key", uri->name, (unsigned)handle);
    else if (what == TPMKMS_PENDING_REMOVED)
        append(res->notes, sizeof(res->notes), "\n", "removed %s, left by "
               "an interrupted create: persistent handle 0x%08x did not hold "
               "its key, so nothing of it was in the TPM", path,
               (unsigned)handle);
    *removed = what == TPMKMS_PENDING_REMOVED;
 out:
    tpmkms_backend_free(backend);
    OPENSSL_free(path);
    OPENSSL_free(udir);
    OPENSSL_free(dir);
    return rc;
}

static tpmkms_rc delete_named(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                              tpmkms_key_kind kind, TPMKMS_DELETE_RESULT *res)
{
    TPMKMS_LOCATION loc;
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_RECORD *rec;
    EVP_PKEY *pub = NULL;
    char why[1024], tpm_why[1024] = "";
    int pending_only;
    tpmkms_rc rc;

    if ((rc = settle_named(ctx, uri, res, &pending_only)) != TPMKMS_R_OK)
        return rc;
    tpmkms_err_set_mark();
    if ((rc = tpmkms_locate_key(uri, &loc)) != TPMKMS_R_OK) {
        char *mdir;

        if (rc == TPMKMS_R_KEY_NOT_FOUND && pending_only) {
            /* What there was of the key was its pending record: gone. */
            tpmkms_err_pop_to_mark();
            if ((res->uri = tpmkms_locate_canonical_uri(
                     uri, uri->storage_directory != NULL
                          ? uri->key_scope : TPMKMS_SCOPE_MACHINE)) == NULL)
                return TPMKMS_R_INTERNAL;
            return TPMKMS_R_OK;
        }
        mdir = closed_machine_store(uri, rc);

        if (mdir == NULL) {
            tpmkms_err_clear_last_mark();
            return rc;
        }
        /* The read's error is what elevation's says, less what to do. */
        tpmkms_err_pop_to_mark();
        rc = tpmkms_store_check_writable(mdir, TPMKMS_SCOPE_MACHINE, 0);
        OPENSSL_free(mdir);
        return rc != TPMKMS_R_OK ? rc : TPMKMS_R_STORE_IO;
    }
    tpmkms_err_clear_last_mark();
    rec = loc.rec;
    /* The other kind's command deletes it; nothing changed yet. */
    if ((rc = tpmkms_record_check_kind(rec, loc.uri, kind, "delete"))
            != TPMKMS_R_OK)
        goto out;
    if ((res->uri = OPENSSL_strdup(loc.uri)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    if ((rc = tpmkms_store_check_writable(loc.key_dir, rec->scope, 0))
            != TPMKMS_R_OK)
        goto out;
    /* Which certificates are this key's: by its public half. */
    tpmkms_err_set_mark();
    pub = tpmkms_record_public(ctx, uri, rec, loc.uri);
    tpmkms_err_pop_to_mark();

    /*
     * A persistent key deleted through another TPM would find its handle
     * empty or holding another key there and look complete, while the
     * key stays in the TPM that made it: refuse that before anything
     * changes.  A TPM that cannot be asked (not answering) is not refused
     * here: the eviction below fails the same way, as a partial delete.
     */
    if (rec->persistent != 0) {
        tpmkms_err_set_mark();
        if ((rc = uri_backend(ctx, uri, &backend)) == TPMKMS_R_OK) {
            char *path = tpmkms_record_path(loc.key_dir, rec->name);
            char left[4352];

            snprintf(left, sizeof(left), "nothing was changed: the record "
                     "%s and persistent handle 0x%08x stay; delete it "
                     "through the TPM that made it (--tcti, TPMKMS_TCTI or "
                     "tcti= in the URI)", path != NULL ? path : rec->name,
                     (unsigned)rec->persistent);
            OPENSSL_free(path);
            rc = tpmkms_key_check_tpm(backend, rec, loc.uri, left);
        }
        if (rc == TPMKMS_R_WRONG_TPM) {
            tpmkms_err_clear_last_mark();
            goto out;
        }
        if (rc == TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
        } else {
            tpmkms_err_clear_last_mark();
            tpmkms_err_take_text(tpm_why, sizeof(tpm_why));
        }
    }

    if ((rc = tpmkms_record_remove(loc.key_dir, rec->name)) != TPMKMS_R_OK)
        goto out;
    TPMKMS_debug("deleted the record of %s in %s", loc.uri, loc.key_dir);
    /*
     * Not acted on here: what is left of the certificates is in res->left,
     * which decides the partial delete below together with the handle's,
     * and the handle is evicted either way.
     */
    tpmkms_rc_ignored(tpmkms_key_remove_certs(uri, rec->name, loc.key_dir,
                                              pub, res));

    if (rec->persistent != 0 && tpm_why[0] != '\0') {
        append(res->left, sizeof(res->left), "; ",
               "persistent handle 0x%08x is still in the TPM: %s; to "
               "evict it later: tpmkms delete 'tpmkms:handle=0x%08x'",
               (unsigned)rec->persistent, tpm_why, (unsigned)rec->persistent);
    } else if (rec->persistent != 0) {
        tpmkms_err_set_mark();
        rc = tpmkms_key_evict(backend, rec->persistent, &rec->blob, loc.uri);
        if (rc == TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
            res->evicted = rec->persistent;
        } else if (rc == TPMKMS_R_KEY_NOT_FOUND) {
            /* Nothing of this key is in the TPM: the delete is complete. */
            tpmkms_err_clear_last_mark();
            append(res->notes, sizeof(res->notes), "\n",
                   "persistent handle 0x%08x was not in the TPM as this key, "
                   "nothing to evict: %s", (unsigned)rec->persistent,
                   tpmkms_err_take_text(why, sizeof(why)));
        } else {
            tpmkms_err_clear_last_mark();
            tpmkms_err_take_text(why, sizeof(why));
            append(res->left, sizeof(res->left), "; ",
                   "persistent handle 0x%08x is still in the TPM: %s; to "
                   "evict it later: tpmkms delete 'tpmkms:handle=0x%08x'",
                   (unsigned)rec->persistent, why, (unsigned)rec->persistent);
        }
    }
    rc = TPMKMS_R_OK;
    if (res->left[0] != '\0') {
        TPMKMS_raise(TPMKMS_R_PARTIAL_DELETE, "record removed, %s", res->left);
        rc = TPMKMS_R_PARTIAL_DELETE;
    }
 out:
    EVP_PKEY_free(pub);
    tpmkms_backend_free(backend);
    tpmkms_location_clear(&loc);
    return rc;
}

tpmkms_rc tpmkms_key_delete_kind(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                                 tpmkms_key_kind kind,
                                 TPMKMS_DELETE_RESULT *res)
{
    memset(res, 0, sizeof(*res));
    if (uri->handle != 0 && kind == TPMKMS_KIND_KEY)
        return delete_handle(ctx, uri, res);
    if (uri->name == NULL || uri->handle != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_URI, "%s",
                     kind == TPMKMS_KIND_KEY
                     ? "the URI names no key: add name=<key> (or handle= for "
                       "a persistent handle a partial delete left)"
                     : "the URI names no attestation key: it needs name=<key> "
                       "(and no handle=)");
        return TPMKMS_R_BAD_URI;
    }
    return delete_named(ctx, uri, kind, res);
}

tpmkms_rc tpmkms_key_delete(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            TPMKMS_DELETE_RESULT *res)
{
    return tpmkms_key_delete_kind(ctx, uri, TPMKMS_KIND_KEY, res);
}

/* ---- certificate import ---------------------------------------------- */

tpmkms_rc tpmkms_certs_read_file(const char *file, STACK_OF(X509) *certs)
{
    BIO *bio = BIO_new_file(file, "rb");
    X509 *x;
    int n;

    if (bio == NULL) {
        char why[256];

        tpmkms_err_take_text(why, sizeof(why));
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "cannot read %s: %s", file, why);
        return TPMKMS_R_BAD_PARAMETER;
    }
    n = read_pem_certs(bio, certs);
    if (n == 0 && BIO_reset(bio) == 0) {
        ERR_set_mark();
        if ((x = d2i_X509_bio(bio, NULL)) != NULL && sk_X509_push(certs, x))
            n = 1;
        else
            X509_free(x);
        ERR_pop_to_mark();
    }
    BIO_free(bio);
    if (n == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s holds no certificate (PEM or DER)", file);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

/* "CN=www.example.com" of a certificate, for messages. */
static void subject_of(X509 *x, char *buf, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;

    buf[0] = '\0';
    if (b != NULL
            && X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                                  XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = BIO_read(b, buf, (int)len - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

tpmkms_rc tpmkms_cert_import(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                             STACK_OF(X509) *certs, const char *source,
                             int overwrite, TPMKMS_IMPORT_RESULT *res)
{
    TPMKMS_LOCATION loc;
    EVP_PKEY *pub = NULL;
    BIO *out = NULL;
    X509 *leaf;
    char *pem = NULL;
    long pem_len;
    tpmkms_rc rc;

    memset(res, 0, sizeof(*res));
    if (certs == NULL || sk_X509_num(certs) == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "%s holds no certificate",
                     source != NULL ? source : "the input");
        return TPMKMS_R_BAD_PARAMETER;
    }
    if ((rc = tpmkms_locate_key(uri, &loc)) != TPMKMS_R_OK)
        return rc;
    if ((pub = tpmkms_record_public(ctx, uri, loc.rec, loc.uri)) == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    /* The leaf must certify this key, or TLS fails later and obscurely. */
    leaf = sk_X509_value(certs, 0);
    subject_of(leaf, res->subject, sizeof(res->subject));
    if (EVP_PKEY_eq(X509_get0_pubkey(leaf), pub) != 1) {
        ERR_clear_error();
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "the certificate in %s (subject %s) is for another "
                     "public key than %s: refusing it (the first certificate "
                     "must be the key's own, then its chain)",
                     source != NULL ? source : "the input",
                     res->subject[0] != '\0' ? res->subject : "empty",
                     loc.uri);
        rc = TPMKMS_R_BAD_PARAMETER;
        goto out;
    }
    if ((rc = tpmkms_store_check_writable(loc.cert_dir, loc.cert_scope, 1))
            != TPMKMS_R_OK)
        goto out;
    if ((out = BIO_new(BIO_s_mem())) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    for (int k = 0; k < sk_X509_num(certs); k++)
        if (!PEM_write_bio_X509(out, sk_X509_value(certs, k))) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode certificate %d",
                         k + 1);
            rc = TPMKMS_R_INTERNAL;
            goto out;
        }
    pem_len = BIO_get_mem_data(out, &pem);
    rc = tpmkms_cert_save(loc.cert_dir, loc.rec->name, pem, (size_t)pem_len,
                          overwrite);
    if (rc != TPMKMS_R_OK)
        goto out;
    res->count = sk_X509_num(certs);
    res->uri = loc.uri;
    res->cert_dir = loc.cert_dir;
    loc.uri = NULL;
    loc.cert_dir = NULL;
 out:
    BIO_free(out);
    EVP_PKEY_free(pub);
    tpmkms_location_clear(&loc);
    return rc;
}
