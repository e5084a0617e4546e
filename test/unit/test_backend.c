/*
 * The backend wrapper's promises: no TPM until needed, one connection
 * reused, a key loaded once, a forked child that never talks over the
 * parent's connection, and signing from many threads at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include "fake_backend.h"
#include "key.h"

static unsigned char digest[32] = { 1, 2, 3 };

static TPMKMS_KEY *fake_key(TPMKMS_BACKEND *b, int with_auth)
{
    TPMKMS_CREATE_PARAMS params = { TPMKMS_ALG_EC_P256, NULL, 0, "test",
                                    TPMKMS_USAGE_BOTH };
    TPMKMS_KEY *key = tpmkms_key_new(b, NULL);

    if (with_auth) {
        params.auth = (const unsigned char *)"1234";
        params.auth_len = 4;
    }
    assert_non_null(key);
    assert_int_equal(tpmkms_backend_create_key(b, &params, &key->ref.key,
                                               &key->pub), TPMKMS_R_OK);
    key->needs_auth = with_auth;
    key->uri = OPENSSL_strdup("tpmkms:name=test;key-scope=user");
    key->ref.label = key->uri;
    return key;
}

static int setup(void **state)
{
    fake_backend_reset();
    ERR_clear_error();
    return 0;
}

static void backend_new_touches_no_tpm(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), "swtpm:port=1");

    assert_non_null(b);
    assert_int_equal(fake_counts.connects, 0);
    tpmkms_backend_free(b);
    assert_int_equal(fake_counts.disconnects, 0);
}

static void first_command_connects_once_and_reuses_it(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), "swtpm:port=1");
    TPMKMS_KEY *key = fake_key(b, 0);
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;

    for (int i = 0; i < 5; i++)
        assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                         TPMKMS_HASH_SHA256, digest,
                                         sizeof(digest), sig, &siglen),
                         TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 1);
    assert_string_equal(fake_counts.last_tcti, "swtpm:port=1");
    assert_int_equal(fake_counts.loads, 1);
    assert_int_equal(fake_counts.signs, 5);
    tpmkms_key_free(key);
    assert_int_equal(fake_counts.unloads, 1);
    tpmkms_backend_free(b);
    assert_int_equal(fake_counts.disconnects, 1);
}

/* Provider teardown at exit, with a key the program never freed. */
static void close_disconnects_under_live_keys_and_use_afterwards_reconnects(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), "swtpm:port=1");
    TPMKMS_KEY *key = fake_key(b, 0);
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;

    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                     TPMKMS_HASH_SHA256, digest,
                                     sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    tpmkms_backend_close(b);
    assert_int_equal(fake_counts.disconnects, 1);
    assert_int_equal(fake_counts.loads, 1);
    /* The key is still usable: a new connection, loaded again. */
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                     TPMKMS_HASH_SHA256, digest,
                                     sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 2);
    assert_int_equal(fake_counts.loads, 2);
    tpmkms_backend_close(b);
    tpmkms_backend_close(b);        /* closed already: nothing to do */
    assert_int_equal(fake_counts.disconnects, 2);
    tpmkms_key_free(key);
    assert_int_equal(fake_counts.unloads, 0);   /* nothing left loaded */
    tpmkms_backend_free(b);
    assert_int_equal(fake_counts.disconnects, 2);
}

/*
 * The connection string is the backend's to interpret: an unset one
 * reaches it as NULL (the ESYS backend then reads $TPMKMS_TCTI, which
 * every integration test relies on), and the wrapper reads no
 * environment of its own.
 */
static void unset_connection_is_left_to_the_backend(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_PROBE probe;

    setenv("TPMKMS_TCTI", "swtpm:port=4242", 1);
    assert_null(tpmkms_backend_conn(b));
    assert_int_equal(tpmkms_backend_probe(b, &probe), TPMKMS_R_OK);
    assert_string_equal(fake_counts.last_tcti, "");
    unsetenv("TPMKMS_TCTI");
    tpmkms_backend_free(b);
}

static void connection_questions_are_answered_by_the_backend(void **state)
{
    TPMKMS_BACKEND *safe = tpmkms_backend_new(fake_backend_method(),
                                              "forksafe:1");
    TPMKMS_BACKEND *other = tpmkms_backend_new(fake_backend_method(),
                                               "tabrmd:x");
    TPMKMS_BACKEND *none = tpmkms_backend_new(fake_backend_keys_only_method(),
                                              "forksafe:1");

    assert_int_equal(tpmkms_backend_survives_fork(safe), 1);
    assert_int_equal(tpmkms_backend_survives_fork(other), 0);
    /* A backend that does not say: no. */
    assert_int_equal(tpmkms_backend_survives_fork(none), 0);
    assert_int_equal(tpmkms_backend_is_direct(safe), 0);
    assert_int_equal(fake_counts.connects, 0);
    tpmkms_backend_free(safe);
    tpmkms_backend_free(other);
    tpmkms_backend_free(none);
}

static void expect_not_supported(tpmkms_rc rc, const char *op)
{
    char buf[512];
    unsigned long e;
    const char *data = NULL;
    int flags = 0;

    assert_int_equal(rc, TPMKMS_R_NOT_SUPPORTED);
    e = ERR_peek_last_error_data(&data, &flags);
    assert_int_equal(ERR_GET_REASON(e), TPMKMS_R_NOT_SUPPORTED);
    snprintf(buf, sizeof(buf), "%s is not supported by the fake keys-only "
             "TPM backend", op);
    assert_non_null(data);
    assert_string_equal(data, buf);
    ERR_clear_error();
}

/*
 * A backend that offers only the key group: every administration and
 * attestation entry point fails with "not supported", naming the
 * operation, and nothing is sent (no connection is even made).
 */
static void keys_only_backend_refuses_admin_and_attestation_sending_nothing(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_keys_only_method(),
                                           "swtpm:port=1");
    TPMKMS_KEY *key = fake_key(b, 0);
    TPMKMS_KEYREF *ref = &key->ref;
    TPMKMS_PUBLIC pub;
    TPMKMS_PROBE probe;
    TPMKMS_KEYDATA kd = { 0 };
    TPMKMS_BUF a = { 0 }, s = { 0 };
    TPMKMS_EK_LIST eks = { NULL, 0 };
    tpmkms_setup_result res;
    TPMKMS_CREATE_PARAMS params = { TPMKMS_ALG_EC_P256, NULL, 0, "ak",
                                    TPMKMS_USAGE_BOTH };
    unsigned char nonce[8] = { 0 }, out[64];
    size_t outlen = sizeof(out);
    TPMKMS_DECRYPT_PARAMS dparams = { TPMKMS_PAD_PKCS1, TPMKMS_HASH_NONE,
                                      NULL, 0 };
    int connects = fake_counts.connects;

    expect_not_supported(tpmkms_backend_read_persistent(b, 0x81000001, &pub),
                         "reading a persistent key");
    expect_not_supported(tpmkms_backend_persist(b, &ref->key, 0x81000010, "k"),
                         "making a key persistent");
    expect_not_supported(tpmkms_backend_evict(b, 0x81000010, "k"),
                         "evicting a persistent key");
    expect_not_supported(tpmkms_backend_probe(b, &probe), "probing the TPM");
    expect_not_supported(tpmkms_backend_setup(b, &res),
                         "setting up the TPM (the SRK)");
    expect_not_supported(tpmkms_backend_tpm_identity(b, &a),
                         "identifying the TPM (its SRK's name)");
    expect_not_supported(tpmkms_backend_ek(b, &eks),
                         "reading the endorsement keys");
    assert_int_equal(eks.n, 0);
    expect_not_supported(tpmkms_backend_ak_create(b, &params, &kd, &pub),
                         "creating an attestation key");
    expect_not_supported(tpmkms_backend_certify(b, ref, ref, nonce,
                                                sizeof(nonce), &a, &s),
                         "certifying a key");
    expect_not_supported(tpmkms_backend_quote(b, ref, TPMKMS_HASH_SHA256, 0x81,
                                              nonce, sizeof(nonce), &a, &s,
                                              &a),
                         "quoting PCRs");
    expect_not_supported(tpmkms_backend_activate(b, ref, "L-1", &a, &s, &a),
                         "activating a credential");
    /* The key group's own gaps say so too. */
    expect_not_supported(tpmkms_backend_decrypt(b, ref, &dparams, nonce,
                                                sizeof(nonce), out, &outlen),
                         "decryption");
    expect_not_supported(tpmkms_backend_derive(b, ref, nonce, sizeof(nonce),
                                               out, &outlen),
                         "key agreement (ECDH)");
    assert_int_equal(fake_counts.connects, connects);
    assert_int_equal(fake_counts.admin_calls, 0);
    assert_null(a.data);
    assert_null(kd.data);
    tpmkms_key_free(key);
    tpmkms_backend_free(b);
}

static void failed_connect_is_reported_and_tried_again_later(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_PROBE probe;

    fake_fail_next_connect = TPMKMS_R_TPM_UNAVAILABLE;
    assert_int_equal(tpmkms_backend_probe(b, &probe), TPMKMS_R_TPM_UNAVAILABLE);
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()),
                     TPMKMS_R_TPM_UNAVAILABLE);
    assert_int_equal(tpmkms_backend_probe(b, &probe), TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 1);
    tpmkms_backend_free(b);
}

static void key_with_auth_is_never_tried_without_it(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_KEY *key = fake_key(b, 1);
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;

    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_AUTH_FAILED);
    assert_int_equal(fake_counts.signs, 0);
    assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()), TPMKMS_R_AUTH_FAILED);
    assert_int_equal(tpmkms_key_set_auth(key, "1234", 4), TPMKMS_R_OK);
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    tpmkms_key_free(key);
    tpmkms_backend_free(b);
}

static void forked_child_reconnects_and_reloads_without_using_parent_objects(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_KEY *key = fake_key(b, 0);
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;
    pid_t pid;
    int status;

    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int bad = 0;

        bad |= tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                               digest, sizeof(digest), sig, &siglen) != TPMKMS_R_OK;
        bad |= (fake_counts.abandons != 1) << 1;    /* parent's link dropped */
        bad |= (fake_counts.connects != 2) << 2;    /* a connection of its own */
        bad |= (fake_counts.forgets != 1) << 3;     /* parent's object unsent */
        bad |= (fake_counts.loads != 2) << 4;       /* reloaded from the blob */
        tpmkms_key_free(key);
        bad |= (fake_counts.unloads != 1) << 5;     /* its own object flushed */
        _exit(bad);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* The parent goes on over its own connection. */
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 1);
    assert_int_equal(fake_counts.loads, 1);
    tpmkms_key_free(key);
    tpmkms_backend_free(b);
}

static void broken_connection_is_dropped_and_the_next_call_reconnects(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_KEY *key = fake_key(b, 0);
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;

    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    fake_fail_next_sign = TPMKMS_R_TPM_UNAVAILABLE;
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_TPM_UNAVAILABLE);
    /* Dropped without a command (abandon: the fake has no drop method). */
    assert_int_equal(fake_counts.abandons, 1);
    assert_int_equal(fake_counts.disconnects, 0);
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_OK);
    assert_int_equal(fake_counts.connects, 2);
    assert_int_equal(fake_counts.forgets, 1);   /* the old object, unsent */
    assert_int_equal(fake_counts.loads, 2);     /* reloaded from the blob */
    /* Other failures keep the connection. */
    fake_fail_next_sign = TPMKMS_R_AUTH_FAILED;
    assert_int_equal(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                     digest, sizeof(digest), sig, &siglen),
                     TPMKMS_R_AUTH_FAILED);
    assert_int_equal(fake_counts.abandons, 1);
    tpmkms_key_free(key);
    tpmkms_backend_free(b);
}

#define THREADS 8
#define SIGNS_PER_THREAD 50

static void *sign_loop(void *arg)
{
    TPMKMS_KEY *key = arg;
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;
    intptr_t failures = 0;

    for (int i = 0; i < SIGNS_PER_THREAD; i++)
        failures += tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                    digest, sizeof(digest), sig, &siglen)
                    != TPMKMS_R_OK;
    return (void *)failures;
}

static void one_key_signs_from_many_threads_at_once(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_KEY *key = fake_key(b, 0);
    pthread_t t[THREADS];
    intptr_t failures = 0;

    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sign_loop, key), 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;

        pthread_join(t[i], &r);
        failures += (intptr_t)r;
    }
    assert_int_equal(failures, 0);
    assert_int_equal(fake_counts.signs, THREADS * SIGNS_PER_THREAD);
    assert_int_equal(fake_counts.loads, 1);
    assert_int_equal(fake_counts.connects, 1);
    tpmkms_key_free(key);
    tpmkms_backend_free(b);
}

static volatile int keep_signing;

static void *sign_until_told(void *arg)
{
    TPMKMS_KEY *key = arg;
    unsigned char sig[TPMKMS_SIG_MAX];
    size_t siglen;

    /* Only keeps the backend lock busy: the results are not the test. */
    while (keep_signing)
        tpmkms_rc_ignored(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA,
                                          TPMKMS_HASH_SHA256, digest,
                                          sizeof(digest), sig, &siglen));
    return NULL;
}

static void fork_while_another_thread_signs_leaves_the_child_a_free_lock(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_KEY *key = fake_key(b, 0);
    pthread_t t;
    int stuck = 0;

    fake_sign_delay_us = 2000;     /* the other thread is mostly mid-command */
    keep_signing = 1;
    assert_int_equal(pthread_create(&t, NULL, sign_until_told, key), 0);
    usleep(10000);
    for (int i = 0; i < 20; i++) {
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
            unsigned char sig[TPMKMS_SIG_MAX];
            size_t siglen;

            alarm(5);               /* a held lock would hang here */
            _exit(tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256,
                                  digest, sizeof(digest), sig, &siglen)
                  != TPMKMS_R_OK);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        stuck += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    keep_signing = 0;
    pthread_join(t, NULL);
    assert_int_equal(stuck, 0);
    tpmkms_key_free(key);
    tpmkms_backend_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(backend_new_touches_no_tpm, setup),
        cmocka_unit_test_setup(first_command_connects_once_and_reuses_it, setup),
        cmocka_unit_test_setup(close_disconnects_under_live_keys_and_use_afterwards_reconnects, setup),
        cmocka_unit_test_setup(unset_connection_is_left_to_the_backend, setup),
        cmocka_unit_test_setup(connection_questions_are_answered_by_the_backend, setup),
        cmocka_unit_test_setup(keys_only_backend_refuses_admin_and_attestation_sending_nothing, setup),
        cmocka_unit_test_setup(failed_connect_is_reported_and_tried_again_later, setup),
        cmocka_unit_test_setup(key_with_auth_is_never_tried_without_it, setup),
        cmocka_unit_test_setup(forked_child_reconnects_and_reloads_without_using_parent_objects, setup),
        cmocka_unit_test_setup(broken_connection_is_dropped_and_the_next_call_reconnects, setup),
        cmocka_unit_test_setup(one_key_signs_from_many_threads_at_once, setup),
        cmocka_unit_test_setup(fork_while_another_thread_signs_leaves_the_child_a_free_lock, setup),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests_name("backend", tests, NULL, NULL);
}
