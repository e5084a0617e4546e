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
    TPMKMS_CREATE_PARAMS params = { TPMKMS_ALG_EC_P256, NULL, 0, "test" };
    TPMKMS_KEY *key = tpmkms_key_new(b, NULL);

    if (with_auth) {
        params.auth = (const unsigned char *)"1234";
        params.auth_len = 4;
    }
    assert_non_null(key);
    assert_int_equal(tpmkms_backend_create_key(b, &params, &key->ref.blob,
                                               &key->pub), TPMKMS_R_OK);
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

static void tcti_comes_from_environment_when_unset(void **state)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(fake_backend_method(), NULL);
    TPMKMS_PROBE probe;

    setenv("TPMKMS_TCTI", "swtpm:port=4242", 1);
    assert_int_equal(tpmkms_backend_probe(b, &probe), TPMKMS_R_OK);
    assert_string_equal(fake_counts.last_tcti, "swtpm:port=4242");
    unsetenv("TPMKMS_TCTI");
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

    while (keep_signing)
        tpmkms_key_sign(key, TPMKMS_SCHEME_ECDSA, TPMKMS_HASH_SHA256, digest,
                        sizeof(digest), sig, &siglen);
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
        cmocka_unit_test_setup(tcti_comes_from_environment_when_unset, setup),
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
