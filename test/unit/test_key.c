/*
 * TPMKMS_KEY (provider/key.c) over the fake backend and a temporary key
 * store: create saves a record and hands back a key that signs; a name is
 * not replaced without overwrite; opening by name reads the record and
 * sends nothing; a key with an auth value is never tried without one;
 * key files (blobs) open without the TPM; persistent keys are machine
 * keys, and eviction never removes a handle that holds another key.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "fake_backend.h"
#include "ctx.h"
#include "key.h"
#include "pubkey_evp.h"
#include "record.h"
#include "uri.h"
#include "temp_store.h"
#include "test_util.h"

static TPMKMS_CTX *ctx;

static int setup(void **state)
{
    (void)state;
    if (temp_store_make("key") != 0)
        return -1;
    fake_backend_reset();
    ERR_clear_error();
    ctx = tpmkms_ctx_new(NULL, NULL, fake_backend_method());
    return ctx == NULL;
}

static int teardown(void **state)
{
    (void)state;
    tpmkms_ctx_free(ctx);
    ctx = NULL;
    return temp_store_remove();
}

static TPMKMS_URI *uri_of(const char *text)
{
    TPMKMS_URI *uri = NULL;

    if (tpmkms_uri_parse(text, &uri) != TPMKMS_R_OK)
        fail_msg("%s does not parse: %s", text, last_message());
    return uri;
}

static tpmkms_rc create(const char *text, int overwrite, TPMKMS_KEY **out)
{
    TPMKMS_URI *uri = uri_of(text);
    tpmkms_rc rc = tpmkms_key_create(ctx, uri, TPMKMS_ALG_EC_P256, overwrite,
                                     out);

    tpmkms_uri_free(uri);
    return rc;
}

static tpmkms_rc open_key(const char *text, TPMKMS_KEY **out)
{
    TPMKMS_URI *uri = uri_of(text);
    tpmkms_rc rc = tpmkms_key_open(ctx, uri, out);

    tpmkms_uri_free(uri);
    return rc;
}

/* Signs a SHA-256 digest with key and checks it with its public half. */
static void signs_and_verifies(TPMKMS_KEY *key)
{
    unsigned char digest[32], sig[TPMKMS_SIG_MAX], *der = NULL;
    size_t siglen = sizeof(sig);
    ECDSA_SIG *es;
    EVP_PKEY *pub;
    EVP_PKEY_CTX *vctx;
    int derlen;

    memset(digest, 0x5a, sizeof(digest));
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                     TPMKMS_HASH_SHA256, digest,
                                     sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    assert_int_equal(siglen, 64);
    assert_non_null(es = ECDSA_SIG_new());
    assert_true(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
                               BN_bin2bn(sig + 32, 32, NULL)));
    assert_true((derlen = i2d_ECDSA_SIG(es, &der)) > 0);
    assert_non_null(pub = tpmkms_public_to_evp(NULL, &key->pub));
    assert_non_null(vctx = EVP_PKEY_CTX_new(pub, NULL));
    assert_int_equal(EVP_PKEY_verify_init(vctx), 1);
    assert_int_equal(EVP_PKEY_verify(vctx, der, (size_t)derlen, digest,
                                     sizeof(digest)), 1);
    EVP_PKEY_CTX_free(vctx);
    EVP_PKEY_free(pub);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
}

/* A fresh fake key's blob (the backend's own material, as a key file). */
static void fresh_blob(TPMKMS_KEYBLOB *blob, TPMKMS_PUBLIC *pub)
{
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(ctx, NULL);
    TPMKMS_CREATE_PARAMS params = { TPMKMS_ALG_EC_P256, NULL, 0, "blob",
                                    TPMKMS_USAGE_BOTH };
    TPMKMS_KEYDATA made = { 0 };

    assert_non_null(b);
    assert_int_equal(tpmkms_backend_create_key(b, &params, &made, pub),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_keydata_to_blob(&made, blob, "blob"), TPMKMS_R_OK);
    tpmkms_keydata_clear(&made);
    tpmkms_backend_free(b);
}

static void key_create_saves_the_record_and_returns_a_key_that_signs(void **state)
{
    TPMKMS_KEY *key = NULL;
    TPMKMS_RECORD *rec = NULL;

    (void)state;
    assert_int_equal(create("tpmkms:name=web", 0, &key), TPMKMS_R_OK);
    assert_non_null(key);
    assert_int_equal(fake_counts.creates, 1);
    /* The record is in the user store (the default scope)... */
    assert_true(tpmkms_record_exists(ts_user_store, "web"));
    assert_false(tpmkms_record_exists(ts_machine_store, "web"));
    assert_int_equal(tpmkms_record_load(ts_user_store, "web", &rec),
                     TPMKMS_R_OK);
    assert_int_equal(rec->scope, TPMKMS_SCOPE_USER);
    assert_int_equal(rec->alg, TPMKMS_ALG_EC_P256);
    assert_int_equal(rec->persistent, 0);
    /* ...the key handed back names it canonically, with its scope... */
    assert_string_equal(key->uri, "tpmkms:name=web;key-scope=user");
    assert_string_equal(key->name, "web");
    assert_int_equal(key->scope, TPMKMS_SCOPE_USER);
    assert_int_equal(key->pub.alg, TPMKMS_ALG_EC_P256);
    assert_int_equal(key->needs_auth, 0);
    /* ...and signs with the private half the record holds. */
    signs_and_verifies(key);
    assert_int_equal(fake_counts.signs, 1);
    tpmkms_record_free(rec);
    tpmkms_key_free(key);
}

static void key_create_refuses_an_existing_name_unless_told_to_overwrite(void **state)
{
    TPMKMS_KEY *first = NULL, *second = NULL, *again = NULL, *opened = NULL;

    (void)state;
    assert_int_equal(create("tpmkms:name=web", 0, &first), TPMKMS_R_OK);
    assert_int_equal(create("tpmkms:name=web", 0, &again), TPMKMS_R_KEY_EXISTS);
    assert_null(again);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_EXISTS);
    assert_non_null(strstr(last_message(), "tpmkms:name=web;key-scope=user"));
    assert_non_null(strstr(last_message(), "already exists"));
    /* Refused before the TPM made anything. */
    assert_int_equal(fake_counts.creates, 1);
    /* The record still holds the first key. */
    assert_int_equal(open_key("tpmkms:name=web", &opened), TPMKMS_R_OK);
    assert_true(tpmkms_public_equal(&opened->pub, &first->pub));
    tpmkms_key_free(opened);

    ERR_clear_error();
    assert_int_equal(create("tpmkms:name=web", 1, &second), TPMKMS_R_OK);
    assert_int_equal(fake_counts.creates, 2);
    assert_false(tpmkms_public_equal(&second->pub, &first->pub));
    assert_int_equal(open_key("tpmkms:name=web", &opened), TPMKMS_R_OK);
    assert_true(tpmkms_public_equal(&opened->pub, &second->pub));
    tpmkms_key_free(opened);
    tpmkms_key_free(first);
    tpmkms_key_free(second);
}

static void key_open_by_name_reads_the_record_and_sends_nothing(void **state)
{
    TPMKMS_KEY *made = NULL, *key = NULL;

    (void)state;
    assert_int_equal(create("tpmkms:name=web", 0, &made), TPMKMS_R_OK);
    /* A new context: nothing connected. */
    tpmkms_ctx_free(ctx);
    assert_non_null(ctx = tpmkms_ctx_new(NULL, NULL, fake_backend_method()));
    fake_backend_reset();

    assert_int_equal(open_key("tpmkms:name=web", &key), TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 0);
    assert_int_equal(fake_counts.loads, 0);
    assert_int_equal(fake_counts.admin_calls, 0);
    assert_true(tpmkms_public_equal(&key->pub, &made->pub));
    assert_string_equal(key->uri, "tpmkms:name=web;key-scope=user");
    assert_non_null(key->store_dir);
    assert_string_equal(key->store_dir, ts_user_store);
    /* The first signature is what connects. */
    signs_and_verifies(key);
    assert_int_equal(fake_counts.connects, 1);
    tpmkms_key_free(key);
    tpmkms_key_free(made);
}

static void key_open_of_a_missing_name_is_key_not_found_naming_it(void **state)
{
    TPMKMS_KEY *key = (TPMKMS_KEY *)1;

    (void)state;
    assert_int_equal(open_key("tpmkms:name=nosuchkey", &key),
                     TPMKMS_R_KEY_NOT_FOUND);
    assert_null(key);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_NOT_FOUND);
    assert_non_null(strstr(last_message(), "nosuchkey"));
    assert_int_equal(fake_counts.connects, 0);
}

static void key_with_an_auth_value_and_none_set_refuses_to_sign_and_sends_nothing(void **state)
{
    TPMKMS_KEY *key = NULL;
    unsigned char digest[32] = { 0 }, sig[TPMKMS_SIG_MAX];
    size_t siglen = sizeof(sig);

    (void)state;
    assert_int_equal(create("tpmkms:name=pinned;pin-value=1234", 0, NULL),
                     TPMKMS_R_OK);
    tpmkms_ctx_free(ctx);
    assert_non_null(ctx = tpmkms_ctx_new(NULL, NULL, fake_backend_method()));
    fake_backend_reset();

    assert_int_equal(open_key("tpmkms:name=pinned", &key), TPMKMS_R_OK);
    assert_int_equal(key->needs_auth, 1);
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                     TPMKMS_HASH_SHA256, digest,
                                     sizeof(digest), sig, &siglen),
                     TPMKMS_R_AUTH_FAILED);
    assert_int_equal(last_reason(), TPMKMS_R_AUTH_FAILED);
    assert_non_null(strstr(last_message(), "tpmkms:name=pinned;key-scope=user"));
    assert_non_null(strstr(last_message(), "nothing was sent"));
    assert_int_equal(fake_counts.signs, 0);
    assert_int_equal(fake_counts.connects, 0);

    /* With the value it signs: the refusal was about the auth value. */
    assert_int_equal(tpmkms_key_set_auth(key, "1234", 4), TPMKMS_R_OK);
    signs_and_verifies(key);
    assert_int_equal(fake_counts.signs, 1);
    tpmkms_key_free(key);
}

static void key_open_with_pin_value_holds_the_auth_value(void **state)
{
    TPMKMS_KEY *key = NULL;

    (void)state;
    assert_int_equal(create("tpmkms:name=pinned;pin-value=1234", 0, NULL),
                     TPMKMS_R_OK);
    assert_int_equal(open_key("tpmkms:name=pinned;pin-value=1234", &key),
                     TPMKMS_R_OK);
    assert_int_equal(key->ref.auth_len, 4);
    assert_memory_equal(key->ref.auth, "1234", 4);
    /* The URI handed back never carries the PIN. */
    assert_null(strstr(key->uri, "pin-value"));
    signs_and_verifies(key);
    tpmkms_key_free(key);
}

static void key_from_blob_describes_the_key_file_without_the_tpm(void **state)
{
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_PUBLIC pub;
    TPMKMS_KEY *key = NULL;

    (void)state;
    fresh_blob(&blob, &pub);
    fake_backend_reset();
    assert_int_equal(tpmkms_key_from_blob(ctx, &blob, "my.key", &key),
                     TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 0);
    assert_string_equal(key->uri, "my.key");
    assert_null(key->name);
    assert_null(key->store_dir);
    assert_int_equal(key->scope, TPMKMS_SCOPE_UNSET);
    assert_true(tpmkms_public_equal(&key->pub, &pub));
    assert_int_equal(key->ref.key.format, TPMKMS_KEYFMT_TSS2_DER);
    signs_and_verifies(key);
    tpmkms_key_free(key);

    /* Material the backend cannot read is a bad key file, named. */
    blob.priv[2] ^= 0xff;
    key = (TPMKMS_KEY *)1;
    assert_int_equal(tpmkms_key_from_blob(ctx, &blob, "broken.key", &key),
                     TPMKMS_R_BAD_KEY_FILE);
    assert_null(key);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_KEY_FILE);
    assert_non_null(strstr(last_message(), "broken.key"));
    tpmkms_keyblob_clear(&blob);
}

static void key_references_keep_it_until_the_last_free(void **state)
{
    TPMKMS_KEY *key = NULL;

    (void)state;
    assert_int_equal(create("tpmkms:name=web", 0, &key), TPMKMS_R_OK);
    signs_and_verifies(key);                 /* now loaded in the "TPM" */
    assert_int_equal(key->refcnt, 1);
    assert_true(tpmkms_key_up_ref(key));
    assert_int_equal(key->refcnt, 2);
    tpmkms_key_free(key);
    /* Still held: still loaded, still signs. */
    assert_int_equal(key->refcnt, 1);
    assert_int_equal(fake_counts.unloads, 0);
    signs_and_verifies(key);
    assert_int_equal(fake_counts.loads, 1);
    tpmkms_key_free(key);
    /* The last reference flushes what it loaded. */
    assert_int_equal(fake_counts.unloads, 1);
    tpmkms_key_free(NULL);
}

static void key_create_persistent_machine_key_records_and_persists_it(void **state)
{
    TPMKMS_URI *uri = uri_of("tpmkms:name=m;key-scope=machine");
    TPMKMS_CREATE_OPTS opts = { 0 };
    TPMKMS_KEY *key = NULL, *opened = NULL;
    TPMKMS_RECORD *rec = NULL;
    TPMKMS_BACKEND *b;
    TPMKMS_PUBLIC there;

    (void)state;
    opts.alg = TPMKMS_ALG_EC_P256;
    opts.persistent = 0x81000010;
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &opts, &key), TPMKMS_R_OK);
    assert_int_equal(opts.replaced, 0);
    assert_int_equal(key->ref.persistent, 0x81000010);
    assert_string_equal(key->uri, "tpmkms:name=m;key-scope=machine");
    assert_int_equal(tpmkms_record_load(ts_machine_store, "m", &rec),
                     TPMKMS_R_OK);
    assert_int_equal(rec->persistent, 0x81000010);
    assert_int_equal(rec->scope, TPMKMS_SCOPE_MACHINE);
    /* The handle holds this key. */
    assert_non_null(b = tpmkms_ctx_backend(ctx, NULL));
    assert_int_equal(tpmkms_backend_read_persistent(b, 0x81000010, &there),
                     TPMKMS_R_OK);
    assert_true(tpmkms_public_equal(&there, &key->pub));
    /* Opening by name finds the handle in the record. */
    assert_int_equal(open_key("tpmkms:name=m", &opened), TPMKMS_R_OK);
    assert_int_equal(opened->ref.persistent, 0x81000010);
    assert_true(tpmkms_public_equal(&opened->pub, &key->pub));

    /* Another key cannot take the handle this record names. */
    tpmkms_uri_free(uri);
    uri = uri_of("tpmkms:name=other;key-scope=machine");
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &opts, NULL),
                     TPMKMS_R_KEY_EXISTS);
    assert_non_null(strstr(last_message(), "'m'"));
    assert_false(tpmkms_record_exists(ts_machine_store, "other"));

    tpmkms_backend_free(b);
    tpmkms_record_free(rec);
    tpmkms_key_free(opened);
    tpmkms_key_free(key);
    tpmkms_uri_free(uri);
}

static void key_create_persistent_user_key_is_a_bad_parameter(void **state)
{
    TPMKMS_URI *uri = uri_of("tpmkms:name=u;key-scope=user");
    TPMKMS_CREATE_OPTS opts = { 0 };
    TPMKMS_KEY *key = (TPMKMS_KEY *)1;

    (void)state;
    opts.alg = TPMKMS_ALG_EC_P256;
    opts.persistent = 0x81000010;
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &opts, &key),
                     TPMKMS_R_BAD_PARAMETER);
    assert_null(key);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "key-scope=machine"));
    assert_int_equal(fake_counts.creates, 0);
    assert_int_equal(fake_counts.admin_calls, 0);
    assert_false(tpmkms_record_exists(ts_user_store, "u"));
    tpmkms_uri_free(uri);
}

static void key_evict_refuses_a_handle_that_holds_another_key(void **state)
{
    TPMKMS_KEYBLOB mine = { 0 }, theirs = { 0 };
    TPMKMS_PUBLIC my_pub, their_pub, there;
    TPMKMS_KEYDATA kd;
    TPMKMS_BACKEND *b;

    (void)state;
    fresh_blob(&mine, &my_pub);
    fresh_blob(&theirs, &their_pub);
    assert_non_null(b = tpmkms_ctx_backend(ctx, NULL));
    /* The handle now holds their key. */
    assert_int_equal(tpmkms_keydata_from_blob(&theirs, &kd), TPMKMS_R_OK);
    assert_int_equal(tpmkms_backend_persist(b, &kd, 0x81000020, "theirs"),
                     TPMKMS_R_OK);
    tpmkms_keydata_clear(&kd);

    assert_int_equal(tpmkms_key_evict(b, 0x81000020, &mine, "mine"),
                     TPMKMS_R_KEY_NOT_FOUND);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_NOT_FOUND);
    assert_non_null(strstr(last_message(), "mine"));
    assert_non_null(strstr(last_message(), "0x81000020"));
    assert_non_null(strstr(last_message(), "different"));
    /* Nothing was evicted. */
    assert_int_equal(tpmkms_backend_read_persistent(b, 0x81000020, &there),
                     TPMKMS_R_OK);
    assert_true(tpmkms_public_equal(&there, &their_pub));

    /* Its own key it evicts. */
    assert_int_equal(tpmkms_key_evict(b, 0x81000020, &theirs, "theirs"),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_backend_read_persistent(b, 0x81000020, &there),
                     TPMKMS_R_KEY_NOT_FOUND);
    tpmkms_backend_free(b);
    tpmkms_keyblob_clear(&mine);
    tpmkms_keyblob_clear(&theirs);
}

/*
 * What a create --persistent killed after writing its pending record
 * leaves: the record as keys/<name>.pending naming handle, and (persisted
 * 1) the key at handle.  *pub gets the key's public half.
 */
static void interrupted_create(const char *name, uint32_t handle,
                               int persisted, TPMKMS_PUBLIC *pub)
{
    TPMKMS_RECORD rec = { 0 };
    TPMKMS_KEYDATA kd;
    TPMKMS_BACKEND *b;

    fresh_blob(&rec.blob, pub);
    rec.version = TPMKMS_RECORD_VERSION;
    rec.name = (char *)name;
    rec.scope = TPMKMS_SCOPE_MACHINE;
    rec.alg = TPMKMS_ALG_EC_P256;
    rec.persistent = handle;
    rec.tpm_id = fake_tpm_id;
    rec.tpm_id_len = sizeof(fake_tpm_id);
    assert_int_equal(tpmkms_record_save_pending(ts_machine_store, &rec),
                     TPMKMS_R_OK);
    if (persisted) {
        assert_non_null(b = tpmkms_ctx_backend(ctx, NULL));
        assert_int_equal(tpmkms_keydata_from_blob(&rec.blob, &kd),
                         TPMKMS_R_OK);
        assert_int_equal(tpmkms_backend_persist(b, &kd, handle, name),
                         TPMKMS_R_OK);
        tpmkms_keydata_clear(&kd);
        tpmkms_backend_free(b);
    }
    tpmkms_keyblob_clear(&rec.blob);
    assert_true(tpmkms_record_pending_exists(ts_machine_store, name));
    assert_false(tpmkms_record_exists(ts_machine_store, name));
}

static tpmkms_rc settle(const char *name, tpmkms_pending *what,
                        uint32_t *handle)
{
    TPMKMS_BACKEND *b = tpmkms_ctx_backend(ctx, NULL);
    tpmkms_rc rc;

    assert_non_null(b);
    rc = tpmkms_key_settle_pending(b, ts_machine_store, name, what, handle);
    tpmkms_backend_free(b);
    return rc;
}

static void key_settle_completes_a_pending_record_whose_handle_holds_its_key(void **state)
{
    TPMKMS_PUBLIC pub;
    TPMKMS_KEY *key = NULL;
    tpmkms_pending what;
    uint32_t handle;

    (void)state;
    interrupted_create("p", 0x81000030, 1, &pub);
    assert_int_equal(settle("p", &what, &handle), TPMKMS_R_OK);
    assert_int_equal(what, TPMKMS_PENDING_COMPLETED);
    assert_int_equal(handle, 0x81000030);
    assert_false(tpmkms_record_pending_exists(ts_machine_store, "p"));
    assert_int_equal(open_key("tpmkms:name=p", &key), TPMKMS_R_OK);
    assert_int_equal(key->ref.persistent, 0x81000030);
    assert_true(tpmkms_public_equal(&key->pub, &pub));
    tpmkms_key_free(key);
    /* Nothing left to settle. */
    assert_int_equal(settle("p", &what, &handle), TPMKMS_R_OK);
    assert_int_equal(what, TPMKMS_PENDING_NONE);
}

static void key_settle_removes_a_pending_record_whose_handle_is_empty_or_another_keys(void **state)
{
    TPMKMS_PUBLIC pub, theirs, there;
    TPMKMS_KEYBLOB blob = { 0 };
    TPMKMS_KEYDATA kd;
    TPMKMS_BACKEND *b;
    tpmkms_pending what;
    uint32_t handle;

    (void)state;
    /* Killed before TPM2_EvictControl: the handle is empty. */
    interrupted_create("e", 0x81000031, 0, &pub);
    assert_int_equal(settle("e", &what, &handle), TPMKMS_R_OK);
    assert_int_equal(what, TPMKMS_PENDING_REMOVED);
    assert_false(tpmkms_record_pending_exists(ts_machine_store, "e"));
    assert_false(tpmkms_record_exists(ts_machine_store, "e"));

    /* Someone else's key took the handle since: it stays. */
    interrupted_create("t", 0x81000032, 0, &pub);
    fresh_blob(&blob, &theirs);
    assert_non_null(b = tpmkms_ctx_backend(ctx, NULL));
    assert_int_equal(tpmkms_keydata_from_blob(&blob, &kd), TPMKMS_R_OK);
    assert_int_equal(tpmkms_backend_persist(b, &kd, 0x81000032, "theirs"),
                     TPMKMS_R_OK);
    tpmkms_keydata_clear(&kd);
    assert_int_equal(settle("t", &what, &handle), TPMKMS_R_OK);
    assert_int_equal(what, TPMKMS_PENDING_REMOVED);
    assert_false(tpmkms_record_exists(ts_machine_store, "t"));
    assert_int_equal(tpmkms_backend_read_persistent(b, 0x81000032, &there),
                     TPMKMS_R_OK);
    assert_true(tpmkms_public_equal(&there, &theirs));
    tpmkms_backend_free(b);
    tpmkms_keyblob_clear(&blob);
}

static void key_settle_through_another_tpm_changes_nothing(void **state)
{
    TPMKMS_PUBLIC pub;
    tpmkms_pending what;
    uint32_t handle;

    (void)state;
    interrupted_create("w", 0x81000033, 0, &pub);
    fake_set_tpm(0xB2);
    assert_int_equal(settle("w", &what, &handle), TPMKMS_R_WRONG_TPM);
    assert_int_equal(what, TPMKMS_PENDING_NONE);
    assert_non_null(strstr(last_message(), "w.pending"));
    assert_non_null(strstr(last_message(), "nothing was changed"));
    assert_true(tpmkms_record_pending_exists(ts_machine_store, "w"));
    fake_set_tpm(0xA1);
    assert_int_equal(settle("w", &what, &handle), TPMKMS_R_OK);
    assert_int_equal(what, TPMKMS_PENDING_REMOVED);
}

/* A create of the name settles first; without overwrite a completed one
 * is the key that exists. */
static void key_create_settles_an_interrupted_create_of_its_name(void **state)
{
    TPMKMS_URI *uri = uri_of("tpmkms:name=c;key-scope=machine");
    TPMKMS_CREATE_OPTS opts = { 0 };
    TPMKMS_PUBLIC pub;

    (void)state;
    interrupted_create("c", 0x81000034, 1, &pub);
    opts.alg = TPMKMS_ALG_EC_P256;
    opts.persistent = 0x81000035;
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &opts, NULL),
                     TPMKMS_R_KEY_EXISTS);
    assert_int_equal(opts.settled, TPMKMS_PENDING_COMPLETED);
    assert_int_equal(opts.settled_handle, 0x81000034);
    assert_non_null(strstr(last_message(), "interrupted create"));
    assert_true(tpmkms_record_exists(ts_machine_store, "c"));

    interrupted_create("d", 0x81000036, 0, &pub);
    tpmkms_uri_free(uri);
    uri = uri_of("tpmkms:name=d;key-scope=machine");
    opts.persistent = 0x81000036;
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &opts, NULL),
                     TPMKMS_R_OK);
    assert_int_equal(opts.settled, TPMKMS_PENDING_REMOVED);
    assert_false(tpmkms_record_pending_exists(ts_machine_store, "d"));
    assert_true(tpmkms_record_exists(ts_machine_store, "d"));
    tpmkms_uri_free(uri);
}

/* A create whose TPM2_EvictControl fails leaves no pending record. */
static void key_create_persistent_that_fails_leaves_no_pending_record(void **state)
{
    TPMKMS_URI *uri = uri_of("tpmkms:name=f;key-scope=machine");
    TPMKMS_CREATE_OPTS opts = { 0 };
    TPMKMS_PUBLIC pub;

    (void)state;
    /* The handle is taken (by a pending record's key no record names). */
    interrupted_create("x", 0x81000037, 1, &pub);
    assert_int_equal(tpmkms_record_remove_pending(ts_machine_store, "x"),
                     TPMKMS_R_OK);
    opts.alg = TPMKMS_ALG_EC_P256;
    opts.persistent = 0x81000037;
    assert_int_equal(tpmkms_key_create_ex(ctx, uri, &opts, NULL),
                     TPMKMS_R_KEY_EXISTS);
    assert_false(tpmkms_record_pending_exists(ts_machine_store, "f"));
    assert_false(tpmkms_record_exists(ts_machine_store, "f"));
    tpmkms_uri_free(uri);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(key_create_saves_the_record_and_returns_a_key_that_signs),
        T(key_create_refuses_an_existing_name_unless_told_to_overwrite),
        T(key_open_by_name_reads_the_record_and_sends_nothing),
        T(key_open_of_a_missing_name_is_key_not_found_naming_it),
        T(key_with_an_auth_value_and_none_set_refuses_to_sign_and_sends_nothing),
        T(key_open_with_pin_value_holds_the_auth_value),
        T(key_from_blob_describes_the_key_file_without_the_tpm),
        T(key_references_keep_it_until_the_last_free),
        T(key_create_persistent_machine_key_records_and_persists_it),
        T(key_create_persistent_user_key_is_a_bad_parameter),
        T(key_evict_refuses_a_handle_that_holds_another_key),
        T(key_settle_completes_a_pending_record_whose_handle_holds_its_key),
        T(key_settle_removes_a_pending_record_whose_handle_is_empty_or_another_keys),
        T(key_settle_through_another_tpm_changes_nothing),
        T(key_create_settles_an_interrupted_create_of_its_name),
        T(key_create_persistent_that_fails_leaves_no_pending_record),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
