/*
 * The resolver's rules (locate.c): where a key's certificate lives for
 * every combination of key-scope, store-location and storage-directory,
 * the canonical URI handed back, finding a key's record; and the one
 * auth-value policy (keyauth.c).  Pure logic over temp stores: every test
 * gets its own HOME and machine store.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include "key.h"
#include "keyauth.h"
#include "locate.h"
#include "record.h"
#include "test_util.h"
#include "temp_store.h"

static char other_dir[128];

static int setup(void **state)
{
    (void)state;
    if (temp_store_make("locate") != 0)
        return -1;
    snprintf(other_dir, sizeof(other_dir), "%s/elsewhere", ts_root);
    ERR_clear_error();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return temp_store_remove();
}

static TPMKMS_URI *parse(const char *text)
{
    TPMKMS_URI *uri = NULL;

    if (tpmkms_uri_parse(text, &uri) != TPMKMS_R_OK)
        fail_msg("parse %s: %s", text, last_message());
    return uri;
}

static unsigned char pub_bytes[] = { 0x00, 0x04, 0x00, 0x23, 0x00, 0x0b };
static unsigned char priv_bytes[] = { 0x00, 0x03, 0xde, 0xad, 0x01 };

static void save(const char *dir, const char *name, tpmkms_scope scope)
{
    TPMKMS_RECORD r;

    memset(&r, 0, sizeof(r));
    r.version = TPMKMS_RECORD_VERSION;
    r.name = (char *)name;
    r.scope = scope;
    r.alg = TPMKMS_ALG_EC_P256;
    r.created = (char *)"2026-11-25T12:00:00Z";
    r.blob.parent = TPMKMS_SRK_HANDLE;
    r.blob.empty_auth = 1;
    r.blob.pub = pub_bytes;
    r.blob.pub_len = sizeof(pub_bytes);
    r.blob.priv = priv_bytes;
    r.blob.priv_len = sizeof(priv_bytes);
    if (tpmkms_record_save(dir, &r, 0) != TPMKMS_R_OK)
        fail_msg("save %s in %s: %s", name, dir, last_message());
}

static const char *store_of(tpmkms_scope scope)
{
    return scope == TPMKMS_SCOPE_MACHINE ? ts_machine_store : ts_user_store;
}

/* ---- the certificate directory ---- */

static void cert_dir_is(const char *text, tpmkms_scope key_scope,
                        const char *want)
{
    TPMKMS_URI *uri = parse(text);
    char *dir = tpmkms_locate_cert_dir(uri, key_scope);

    if (dir == NULL)
        fail_msg("%s: no cert dir: %s", text, last_message());
    if (strcmp(dir, want) != 0)
        fail_msg("%s (key scope %s): cert dir %s, want %s", text,
                 tpmkms_scope_name(key_scope), dir, want);
    OPENSSL_free(dir);
    tpmkms_uri_free(uri);
}

static void cert_dir_without_store_location_is_the_key_scope_store(void **state)
{
    cert_dir_is("tpmkms:name=web", TPMKMS_SCOPE_USER, ts_user_store);
    cert_dir_is("tpmkms:name=web", TPMKMS_SCOPE_MACHINE, ts_machine_store);
    /* The record's scope wins over the URI's (they agree once resolved). */
    cert_dir_is("tpmkms:name=web;key-scope=machine", TPMKMS_SCOPE_MACHINE,
                ts_machine_store);
    cert_dir_is("tpmkms:name=web;key-scope=user", TPMKMS_SCOPE_USER,
                ts_user_store);
}

static void cert_dir_follows_store_location_for_every_key_scope(void **state)
{
    static const char *const ks[] = { "", ";key-scope=user",
                                       ";key-scope=machine" };
    static const tpmkms_scope rec[] = { TPMKMS_SCOPE_UNSET, TPMKMS_SCOPE_USER,
                                        TPMKMS_SCOPE_MACHINE };

    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++) {
            char text[128];

            snprintf(text, sizeof(text), "tpmkms:name=web%s;store-location=user",
                     ks[i]);
            cert_dir_is(text, rec[j], ts_user_store);
            snprintf(text, sizeof(text),
                     "tpmkms:name=web%s;store-location=machine", ks[i]);
            cert_dir_is(text, rec[j], ts_machine_store);
        }
}

static void cert_dir_of_an_unknown_record_is_the_uri_key_scope_store(void **state)
{
    cert_dir_is("tpmkms:name=web", TPMKMS_SCOPE_UNSET, ts_user_store);
    cert_dir_is("tpmkms:name=web;key-scope=user", TPMKMS_SCOPE_UNSET,
                ts_user_store);
    cert_dir_is("tpmkms:name=web;key-scope=machine", TPMKMS_SCOPE_UNSET,
                ts_machine_store);
}

static void cert_dir_storage_directory_overrides_both(void **state)
{
    static const char *const attrs[] = {
        "", ";key-scope=user", ";key-scope=machine",
        ";store-location=user", ";store-location=machine",
        ";key-scope=user;store-location=machine",
        ";key-scope=machine;store-location=user",
    };
    static const tpmkms_scope rec[] = { TPMKMS_SCOPE_UNSET, TPMKMS_SCOPE_USER,
                                        TPMKMS_SCOPE_MACHINE };

    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        for (size_t j = 0; j < 3; j++) {
            char text[256];

            snprintf(text, sizeof(text),
                     "tpmkms:name=web%s;storage-directory=%s", attrs[i],
                     other_dir);
            cert_dir_is(text, rec[j], other_dir);
        }
}

static void cert_scope_names_the_store_that_holds_the_certificate(void **state)
{
    TPMKMS_URI *u = parse("tpmkms:name=web");
    TPMKMS_URI *m = parse("tpmkms:name=web;key-scope=machine");
    TPMKMS_URI *sl = parse("tpmkms:name=web;key-scope=machine;store-location=user");

    assert_int_equal(tpmkms_locate_cert_scope(u, TPMKMS_SCOPE_MACHINE),
                     TPMKMS_SCOPE_MACHINE);
    assert_int_equal(tpmkms_locate_cert_scope(u, TPMKMS_SCOPE_UNSET),
                     TPMKMS_SCOPE_USER);
    assert_int_equal(tpmkms_locate_cert_scope(m, TPMKMS_SCOPE_UNSET),
                     TPMKMS_SCOPE_MACHINE);
    assert_int_equal(tpmkms_locate_cert_scope(sl, TPMKMS_SCOPE_MACHINE),
                     TPMKMS_SCOPE_USER);
    tpmkms_uri_free(u);
    tpmkms_uri_free(m);
    tpmkms_uri_free(sl);
}

/* ---- the canonical URI ---- */

static void canonical_uri_has_key_scope_and_no_pin(void **state)
{
    TPMKMS_URI *uri = parse("tpmkms:name=web;pin-value=1234;store-location=machine");
    char *text = tpmkms_locate_canonical_uri(uri, TPMKMS_SCOPE_USER);

    assert_non_null(text);
    assert_string_equal(text, "tpmkms:name=web;key-scope=user;store-location=machine");
    assert_null(strstr(text, "pin-value"));
    assert_null(strstr(text, "1234"));
    /* The URI itself is left as it was. */
    assert_int_equal(uri->key_scope, TPMKMS_SCOPE_UNSET);
    assert_non_null(uri->pin_value);
    OPENSSL_free(text);
    tpmkms_uri_free(uri);
}

static void canonical_uri_replaces_the_written_key_scope(void **state)
{
    TPMKMS_URI *uri = parse("tpmkms:name=web;key-scope=user");
    char *text = tpmkms_locate_canonical_uri(uri, TPMKMS_SCOPE_MACHINE);

    assert_string_equal(text, "tpmkms:name=web;key-scope=machine");
    OPENSSL_free(text);
    tpmkms_uri_free(uri);
}

static void canonical_uri_of_a_handle_keeps_the_handle(void **state)
{
    TPMKMS_URI *uri = parse("tpmkms:handle=0x81000010;pin-value=s3cret");
    char *text = tpmkms_locate_canonical_uri(uri, TPMKMS_SCOPE_MACHINE);

    assert_non_null(strstr(text, "handle=0x81000010"));
    assert_non_null(strstr(text, "key-scope=machine"));
    assert_null(strstr(text, "s3cret"));
    OPENSSL_free(text);
    tpmkms_uri_free(uri);
}

/* ---- finding the key ---- */

static void locate_key_fills_record_dirs_and_uri(void **state)
{
    TPMKMS_URI *uri = parse("tpmkms:name=svc;store-location=user;pin-value=9");
    TPMKMS_LOCATION loc;

    save(ts_machine_store, "svc", TPMKMS_SCOPE_MACHINE);
    assert_int_equal(tpmkms_locate_key(uri, &loc), TPMKMS_R_OK);
    assert_string_equal(loc.rec->name, "svc");
    assert_int_equal(loc.rec->scope, TPMKMS_SCOPE_MACHINE);
    assert_string_equal(loc.key_dir, ts_machine_store);
    assert_string_equal(loc.cert_dir, ts_user_store);
    assert_int_equal(loc.cert_scope, TPMKMS_SCOPE_USER);
    assert_string_equal(loc.uri,
                        "tpmkms:name=svc;key-scope=machine;store-location=user");
    tpmkms_location_clear(&loc);
    assert_null(loc.rec);
    tpmkms_uri_free(uri);
}

static void locate_key_certificate_beside_the_key_without_store_location(void **state)
{
    static const tpmkms_scope scopes[] = { TPMKMS_SCOPE_USER,
                                           TPMKMS_SCOPE_MACHINE };

    for (size_t i = 0; i < 2; i++) {
        TPMKMS_URI *uri = parse("tpmkms:name=k");
        TPMKMS_LOCATION loc;

        save(store_of(scopes[i]), "k", scopes[i]);
        assert_int_equal(tpmkms_locate_key(uri, &loc), TPMKMS_R_OK);
        assert_string_equal(loc.cert_dir, store_of(scopes[i]));
        assert_int_equal(loc.cert_scope, scopes[i]);
        tpmkms_location_clear(&loc);
        tpmkms_uri_free(uri);
        assert_int_equal(tpmkms_record_remove(store_of(scopes[i]), "k"),
                         TPMKMS_R_OK);
    }
}

static void locate_key_in_a_storage_directory(void **state)
{
    char text[256];
    TPMKMS_URI *uri;
    TPMKMS_LOCATION loc;

    save(other_dir, "k", TPMKMS_SCOPE_USER);
    snprintf(text, sizeof(text),
             "tpmkms:name=k;store-location=machine;storage-directory=%s",
             other_dir);
    uri = parse(text);
    assert_int_equal(tpmkms_locate_key(uri, &loc), TPMKMS_R_OK);
    assert_string_equal(loc.key_dir, other_dir);
    assert_string_equal(loc.cert_dir, other_dir);
    tpmkms_location_clear(&loc);
    tpmkms_uri_free(uri);
}

static void locate_key_not_found_leaves_nothing(void **state)
{
    TPMKMS_URI *uri = parse("tpmkms:name=nope");
    TPMKMS_LOCATION loc;

    memset(&loc, 0xff, sizeof(loc));
    assert_int_equal(tpmkms_locate_key(uri, &loc), TPMKMS_R_KEY_NOT_FOUND);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_NOT_FOUND);
    assert_null(loc.rec);
    assert_null(loc.key_dir);
    assert_null(loc.cert_dir);
    assert_null(loc.uri);
    tpmkms_uri_free(uri);
}

/* ---- the auth value ---- */

static TPMKMS_KEY *key_with(int empty_auth, uint32_t persistent,
                            const char *name)
{
    TPMKMS_KEY *key = tpmkms_key_new(NULL, NULL);

    assert_non_null(key);
    key->needs_auth = !empty_auth;
    key->ref.persistent = persistent;
    key->uri = OPENSSL_strdup(name != NULL ? "tpmkms:name=k;key-scope=user"
                                           : "TSS2 key file (ec-p256)");
    key->name = name != NULL ? OPENSSL_strdup(name) : NULL;
    key->ref.label = key->uri;
    return key;
}

static void needs_auth_only_for_a_key_with_one_and_none_given(void **state)
{
    TPMKMS_KEY *key = key_with(0, 0, "k");

    assert_true(tpmkms_key_needs_auth(key));
    assert_int_equal(tpmkms_key_set_auth(key, "", 0), TPMKMS_R_OK);
    assert_false(tpmkms_key_needs_auth(key));    /* an empty value is one */
    tpmkms_key_free(key);

    key = key_with(1, 0, "k");                   /* emptyAuth */
    assert_false(tpmkms_key_needs_auth(key));
    tpmkms_key_free(key);
    key = key_with(-1, 0x81000010, NULL);        /* handle=: the TPM decides */
    assert_false(tpmkms_key_needs_auth(key));
    tpmkms_key_free(key);
    key = key_with(0, 0x81000010, "k");          /* through its handle */
    assert_false(tpmkms_key_needs_auth(key));
    tpmkms_key_free(key);
}

static int answers;

static int give_pin(char *buf, size_t size, size_t *len,
                    const OSSL_PARAM params[], void *arg)
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params,
                                                  OSSL_PASSPHRASE_PARAM_INFO);
    const char *pin = arg;

    answers++;
    assert_non_null(p);
    assert_non_null(strstr(p->data, "k"));
    if (pin == NULL)
        return 0;
    assert_true(strlen(pin) <= size);
    memcpy(buf, pin, strlen(pin));
    *len = strlen(pin);
    return 1;
}

static void ask_auth_sets_what_the_callback_gives(void **state)
{
    TPMKMS_KEY *key = key_with(0, 0, "k");

    answers = 0;
    assert_int_equal(tpmkms_key_ask_auth(key, give_pin, "1234"), TPMKMS_R_OK);
    assert_int_equal(answers, 1);
    assert_int_equal(key->ref.auth_len, 4);
    assert_memory_equal(key->ref.auth, "1234", 4);
    /* Asked once: a key holding its value is not asked again. */
    assert_int_equal(tpmkms_key_ask_auth(key, give_pin, "9999"), TPMKMS_R_OK);
    assert_int_equal(answers, 1);
    tpmkms_key_free(key);
}

static void ask_auth_does_not_ask_for_a_key_without_one(void **state)
{
    TPMKMS_KEY *key = key_with(1, 0, "k");

    answers = 0;
    assert_int_equal(tpmkms_key_ask_auth(key, give_pin, NULL), TPMKMS_R_OK);
    assert_int_equal(tpmkms_key_ask_auth(key, NULL, NULL), TPMKMS_R_OK);
    assert_int_equal(answers, 0);
    assert_null(key->ref.auth);
    tpmkms_key_free(key);
}

static void ask_auth_without_an_answer_fails_the_load(void **state)
{
    TPMKMS_KEY *key = key_with(0, 0, "k");

    answers = 0;
    assert_int_equal(tpmkms_key_ask_auth(key, give_pin, NULL),
                     TPMKMS_R_AUTH_FAILED);
    assert_int_equal(answers, 1);
    assert_int_equal(last_reason(), TPMKMS_R_AUTH_FAILED);
    assert_non_null(strstr(last_message(), "tpmkms:name=k;key-scope=user has an auth value"));
    assert_non_null(strstr(last_message(), "none was given"));
    assert_non_null(strstr(last_message(), "pin-value="));
    assert_non_null(strstr(last_message(), "nothing was sent to the TPM"));
    assert_null(key->ref.auth);
    ERR_clear_error();
    /* No callback at all: the same. */
    assert_int_equal(tpmkms_key_ask_auth(key, NULL, NULL), TPMKMS_R_AUTH_FAILED);
    tpmkms_key_free(key);
}

static void ask_auth_for_a_key_file_names_the_passphrase(void **state)
{
    TPMKMS_KEY *key = key_with(0, 0, NULL);

    assert_int_equal(tpmkms_key_ask_auth(key, NULL, NULL), TPMKMS_R_AUTH_FAILED);
    assert_non_null(strstr(last_message(), "TSS2 key file (ec-p256) has an auth value"));
    assert_non_null(strstr(last_message(), "passphrase"));
    assert_non_null(strstr(last_message(), "nothing was sent to the TPM"));
    tpmkms_key_free(key);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(cert_dir_without_store_location_is_the_key_scope_store),
        T(cert_dir_follows_store_location_for_every_key_scope),
        T(cert_dir_of_an_unknown_record_is_the_uri_key_scope_store),
        T(cert_dir_storage_directory_overrides_both),
        T(cert_scope_names_the_store_that_holds_the_certificate),
        T(canonical_uri_has_key_scope_and_no_pin),
        T(canonical_uri_replaces_the_written_key_scope),
        T(canonical_uri_of_a_handle_keeps_the_handle),
        T(locate_key_fills_record_dirs_and_uri),
        T(locate_key_certificate_beside_the_key_without_store_location),
        T(locate_key_in_a_storage_directory),
        T(locate_key_not_found_leaves_nothing),
        T(needs_auth_only_for_a_key_with_one_and_none_given),
        T(ask_auth_sets_what_the_callback_gives),
        T(ask_auth_does_not_ask_for_a_key_without_one),
        T(ask_auth_without_an_answer_fails_the_load),
        T(ask_auth_for_a_key_file_names_the_passphrase),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
