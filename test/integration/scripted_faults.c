/*
 * The ESYS backend's answer to each TPM fault, through backend.h, on
 * connections that go through libtss2-tcti-faults.so (test/faults/) to
 * swtpm.  Driven by scripted_tpm_faults.sh:
 *
 *   scripted_faults LIB SCRIPT
 *
 * $TPMKMS_TCTI is the real TPM (swtpm, with no SRK yet); LIB the faults
 * TCTI; SCRIPT the script file it reads, which this program rewrites for
 * each case (the log is SCRIPT.log).  For each case it prints the fault,
 * the commands the TCTI saw (a fault marked '!') and the result, and last
 * "faults injected: N", counted from the TCTI's log.  Exit 0 only if every
 * case behaved as the backend's policy says (provider/esys/esys.h):
 *
 *   - TPM_RC_RETRY / YIELDED / TESTING: ESYS resends a command up to
 *     ESYS_SUBMISSIONS times and ESYS_CALL makes ESYS_RETRIES more paced
 *     attempts, so a command is sent at most 30 times: 29 such answers
 *     and then success signs; 30 is an error saying so;
 *   - TPM_RC_LOCKOUT, AUTH_FAIL, BAD_AUTH: sent once, never again, an
 *     error naming the decoded code (lockout: the dictionary-attack
 *     lockout);
 *   - TPM_RC_OBJECT_MEMORY on TPM2_Load: our own keys are flushed and the
 *     Load sent again at once; if it persists, the connection turns
 *     shared and retries with backoff for ESYS_SLOT_WAIT_MS, then fails;
 *   - a short or garbled response: an error, the connection is dropped,
 *     the next call connects again and works;
 *   - no answer: the deadline error after tpm-timeout, then as above.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tpm2_types.h>
#include "backend.h"
#include "errors.h"
#include "pubkey.h"
#include "pubkey_evp.h"
#include "tss2key.h"

#define FAIL(...)                                                       \
    do {                                                                \
        fprintf(stderr, "  FAIL %s:%d: ", __func__, __LINE__);          \
        fprintf(stderr, __VA_ARGS__);                                   \
        fputc('\n', stderr);                                            \
        ERR_print_errors_fp(stderr);                                    \
        return 0;                                                       \
    } while (0)
#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond))                                                    \
            FAIL(__VA_ARGS__);                                          \
    } while (0)

/* ESYS's own resubmissions (tpm2-tss esys_int.h) times our attempts. */
#define MAX_SENDS 30

typedef struct {
    TPMKMS_KEYREF ref;
    TPMKMS_PUBLIC pub;
    char label[96];
} TKEY;

static const TPMKMS_BACKEND_METHOD *meth;
static const char *lib, *script, *real_tcti;
static char logpath[4096], conn[8192];
static long faults_total;
static TKEY key_a, key_b, key_pin;

/* ------------------------------------------------------------ helpers */

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The script: the real TPM, the log, then `rules` (may be ""). */
static int script_set(const char *rules)
{
    FILE *f = fopen(script, "w");

    if (f == NULL)
        return 0;
    fprintf(f, "tcti %s\nlog %s\n%s\n", real_tcti, logpath, rules);
    return fclose(f) == 0;
}

/*
 * What the TCTI saw since the last call: command names in order, a
 * fault marked '!' ("Load! FlushContext Load Sign") and an answer from the
 * TPM that is not success with its code ("Sign=0x00000922"), into seq;
 * the faults join the total.  Empties the log.
 */
static long log_take(char *seq, size_t n)
{
    char line[1024];
    long faults = 0;
    size_t used = 0;
    FILE *f = fopen(logpath, "r");

    seq[0] = '\0';
    if (f != NULL) {
        while (fgets(line, sizeof(line), f) != NULL) {
            char name[64], rc[16] = "";
            int fault = strstr(line, " fault ") != NULL;
            const char *p = strstr(line, " pass rc=");

            if (sscanf(line, "%63s", name) != 1)
                continue;
            faults += fault;
            /* A pass-through answer that is not success shows its code. */
            if (p != NULL && strncmp(p + 9, "0x00000000", 10) != 0)
                snprintf(rc, sizeof(rc), "=%.10s", p + 9);
            if (used < n)
                used += (size_t)snprintf(seq + used, n - used, "%s%s%s%s",
                                         used > 0 ? " " : "", name,
                                         fault ? "!" : "", rc);
        }
        fclose(f);
    }
    f = fopen(logpath, "w");
    if (f != NULL)
        fclose(f);
    faults_total += faults;
    return faults;
}

/* How many times `name` (fault or not) is in a sequence. */
static int count_of(const char *seq, const char *name)
{
    size_t len = strlen(name);
    const char *p = seq;
    int n = 0;

    while (*p != '\0') {
        size_t w = strcspn(p, " ");

        if (w >= len && strncmp(p, name, len) == 0
            && (w == len || p[len] == '!' || p[len] == '='))
            n++;
        p += w;
        p += *p == ' ';
    }
    return n;
}

/*
 * rc is `reason`, raised exactly once, its message holding each of the
 * NULL-terminated strings.
 */
static int expect_error(tpmkms_rc rc, int reason, ...)
{
    const char *data = NULL, *must;
    char msg[2048] = "";
    int flags = 0, count = 0, got = 0;
    unsigned long e;
    va_list ap;

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        count++;
        got = ERR_GET_REASON(e);
        snprintf(msg, sizeof(msg), "%s",
                 data != NULL && (flags & ERR_TXT_STRING) ? data : "");
    }
    printf("    error: %s\n", msg);
    CHECK((int)rc == reason, "rc %d, expected %d (%s)", rc, reason,
          tpmkms_err_reason_string(reason));
    CHECK(count == 1, "%d errors raised, expected exactly one", count);
    CHECK(got == reason, "raised reason %d, expected %d", got, reason);
    va_start(ap, reason);
    while ((must = va_arg(ap, const char *)) != NULL) {
        if (strstr(msg, must) == NULL) {
            va_end(ap);
            FAIL("the message lacks \"%s\"", must);
        }
    }
    va_end(ap);
    return 1;
}

static TPMKMS_BACKEND *faulty(void)
{
    TPMKMS_BACKEND *b = tpmkms_backend_new(meth, conn);

    if (b != NULL)
        tpmkms_backend_set_timeout(b, 2);
    return b;
}

/* Lets go of what b loaded for the three keys (flushing it), frees b. */
static void done(TPMKMS_BACKEND *b)
{
    if (b == NULL)
        return;
    tpmkms_backend_release_key(b, &key_a.ref);
    tpmkms_backend_release_key(b, &key_b.ref);
    tpmkms_backend_release_key(b, &key_pin.ref);
    tpmkms_backend_free(b);
}

static void key_free(TKEY *k)
{
    tpmkms_keydata_clear(&k->ref.key);
    OPENSSL_clear_free(k->ref.auth, k->ref.auth_len);
    memset(k, 0, sizeof(*k));
}

static int key_create(TPMKMS_BACKEND *b, const char *auth, const char *name,
                      TKEY *k)
{
    TPMKMS_CREATE_PARAMS p;
    tpmkms_rc rc;

    memset(k, 0, sizeof(*k));
    snprintf(k->label, sizeof(k->label), "tpmkms:name=%s;key-scope=user",
             name);
    memset(&p, 0, sizeof(p));
    p.alg = TPMKMS_ALG_EC_P256;
    p.auth = (const unsigned char *)auth;
    p.auth_len = auth != NULL ? strlen(auth) : 0;
    p.label = k->label;
    rc = tpmkms_backend_create_key(b, &p, &k->ref.key, &k->pub);
    CHECK(rc == TPMKMS_R_OK, "create %s: rc %d", name, rc);
    k->ref.label = k->label;
    if (auth != NULL) {
        k->ref.auth = (unsigned char *)OPENSSL_strdup(auth);
        k->ref.auth_len = strlen(auth);
    }
    return 1;
}

/* ECDSA r||s over a SHA-256 digest, checked with OpenSSL. */
static int verifies(const TPMKMS_PUBLIC *pub, const unsigned char *dg,
                    const unsigned char *sig, size_t siglen)
{
    EVP_PKEY *pk = tpmkms_public_to_evp(NULL, pub);
    EVP_PKEY_CTX *ctx = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)siglen / 2, NULL);
    BIGNUM *s = BN_bin2bn(sig + siglen / 2, (int)siglen / 2, NULL);
    unsigned char *der = NULL;
    int derlen, ok = 0;

    if (pk != NULL && es != NULL && r != NULL && s != NULL
        && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL;
        derlen = i2d_ECDSA_SIG(es, &der);
        ok = derlen > 0
            && (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) != NULL
            && EVP_PKEY_verify_init(ctx) > 0
            && EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0
            && EVP_PKEY_verify(ctx, der, (size_t)derlen, dg, 32) == 1;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return ok;
}

/* Signs a random digest with k on b: the rc; on success it must verify. */
static tpmkms_rc sign(TPMKMS_BACKEND *b, TKEY *k)
{
    unsigned char dg[32], sig[TPMKMS_SIG_MAX];
    size_t siglen = 0;
    tpmkms_rc rc;

    if (RAND_bytes(dg, sizeof(dg)) != 1)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_backend_sign(b, &k->ref, TPMKMS_SCHEME_ECDSA,
                             TPMKMS_HASH_SHA256, dg, sizeof(dg), sig, &siglen);
    if (rc == TPMKMS_R_OK && !verifies(&k->pub, dg, sig, siglen)) {
        fprintf(stderr, "  the signature by %s does not verify\n", k->label);
        return TPMKMS_R_INTERNAL;
    }
    return rc;
}

/* Prints what the TCTI saw since the last call; the fault count. */
static long report(const char *fault, const char *result, char *seq,
                   size_t n)
{
    long faults = log_take(seq, n);

    printf("  fault \"%s\": %s\n    commands: %s\n    faults injected: %ld\n",
           fault, result, seq, faults);
    return faults;
}

/* --------------------------------------------------------------- cases */

/* RETRY/YIELDED/TESTING `times` times on TPM2_Sign, then the TPM's answer:
 * the signature is made with exactly times + 1 sends. */
static int warnings_then_success(const char *code, int times)
{
    TPMKMS_BACKEND *b = faulty();
    char rules[128], seq[8192];
    tpmkms_rc rc;

    CHECK(b != NULL, "backend");
    snprintf(rules, sizeof(rules), "Sign rc=%s times=%d", code, times);
    CHECK(script_set(rules), "script");
    log_take(seq, sizeof(seq));
    rc = sign(b, &key_a);
    done(b);
    CHECK(rc == TPMKMS_R_OK, "sign after %d x %s: rc %d", times, code, rc);
    CHECK(report(rules, "signed", seq, sizeof(seq)) == times,
          "not %d faults", times);
    CHECK(count_of(seq, "Sign") == times + 1,
          "TPM2_Sign sent %d times, expected %d", count_of(seq, "Sign"),
          times + 1);
    return 1;
}

static int retry_twice_then_signs(void)
{
    return warnings_then_success("RETRY", 2);
}

static int yielded_seven_times_crosses_esys_resubmissions(void)
{
    return warnings_then_success("YIELDED", 7);
}

static int testing_29_times_is_the_last_that_signs(void)
{
    return warnings_then_success("TESTING", MAX_SENDS - 1);
}

/* RETRY for ever: exactly MAX_SENDS sends, an error that says so; the
 * connection stays (the TPM answered), the key stays loaded. */
static int retry_for_ever_gives_up_after_30_sends(void)
{
    TPMKMS_BACKEND *b = faulty();
    char seq[8192], code[16];
    long t0;
    tpmkms_rc rc;
    int ok;

    CHECK(b != NULL, "backend");
    CHECK(script_set(""), "script");
    CHECK(sign(b, &key_a) == TPMKMS_R_OK, "warm-up signature");
    log_take(seq, sizeof(seq));
    CHECK(script_set("Sign rc=RETRY"), "script");
    snprintf(code, sizeof(code), "0x%08x", (unsigned)TPM2_RC_RETRY);
    t0 = now_ms();
    rc = sign(b, &key_a);
    ok = expect_error(rc, TPMKMS_R_SIGN_FAILED, key_a.label, "TPM2_Sign",
                      code, Tss2_RC_Decode(TPM2_RC_RETRY), "30 times",
                      "try again later", (const char *)NULL);
    report("Sign rc=RETRY", "gave up", seq, sizeof(seq));
    if (count_of(seq, "Sign") != MAX_SENDS) {
        fprintf(stderr, "  FAIL: TPM2_Sign sent %d times, expected %d\n",
                count_of(seq, "Sign"), MAX_SENDS);
        ok = 0;
    }
    printf("    gave up after %ld ms\n", now_ms() - t0);
    CHECK(script_set(""), "script");
    ok = ok && sign(b, &key_a) == TPMKMS_R_OK;
    log_take(seq, sizeof(seq));
    printf("    then, without the fault: %s\n", seq);
    ok = ok && strcmp(seq, "Sign") == 0;
    done(b);
    return ok;
}

/* An answer that must never be retried: sent once, error naming it. */
static int sent_once(const char *rules, TKEY *k, int reason, uint32_t tpmrc,
                     const char *cmd, const char *what, int then_reload)
{
    TPMKMS_BACKEND *b = faulty();
    char seq[8192], code[16];
    tpmkms_rc rc;
    int ok;

    CHECK(b != NULL, "backend");
    CHECK(script_set(rules), "script");
    log_take(seq, sizeof(seq));
    snprintf(code, sizeof(code), "0x%08x", (unsigned)tpmrc);
    rc = sign(b, k);
    ok = expect_error(rc, reason, k->label, cmd, code, Tss2_RC_Decode(tpmrc),
                      what, (const char *)NULL);
    report(rules, "refused, not retried", seq, sizeof(seq));
    if (count_of(seq, cmd + strlen("TPM2_")) != 1) {
        fprintf(stderr, "  FAIL: %s sent %d times, expected once\n", cmd,
                count_of(seq, cmd + strlen("TPM2_")));
        ok = 0;
    }
    /* The TPM answered: the connection stays and works. */
    CHECK(script_set(""), "script");
    ok = ok && sign(b, k) == TPMKMS_R_OK;
    log_take(seq, sizeof(seq));
    printf("    then, without the fault: %s\n", seq);
    ok = ok && strcmp(seq, then_reload ? "Load Sign" : "Sign") == 0;
    done(b);
    return ok;
}

static int lockout_on_load_is_sent_once(void)
{
    return sent_once("Load rc=LOCKOUT", &key_a, TPMKMS_R_LOCKOUT,
                     TPM2_RC_LOCKOUT, "TPM2_Load",
                     "dictionary-attack lockout", 1);
}

static int lockout_on_sign_is_sent_once(void)
{
    return sent_once("Sign rc=LOCKOUT", &key_pin, TPMKMS_R_LOCKOUT,
                     TPM2_RC_LOCKOUT, "TPM2_Sign",
                     "dictionary-attack lockout", 0);
}

static int auth_fail_is_sent_once(void)
{
    return sent_once("Sign rc=AUTH_FAIL", &key_pin, TPMKMS_R_AUTH_FAILED,
                     TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1, "TPM2_Sign",
                     "not retried", 0);
}

static int bad_auth_is_sent_once(void)
{
    return sent_once("Sign rc=BAD_AUTH", &key_pin, TPMKMS_R_AUTH_FAILED,
                     TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1, "TPM2_Sign",
                     "not retried", 0);
}

/* OBJECT_MEMORY once, with a key of ours loaded: that key is flushed and
 * the Load sent again at once. */
static int object_memory_once_flushes_our_key_and_loads_again(void)
{
    TPMKMS_BACKEND *b = faulty();
    char seq[8192];
    int ok;

    CHECK(b != NULL, "backend");
    CHECK(script_set(""), "script");
    CHECK(sign(b, &key_a) == TPMKMS_R_OK, "key a signs");
    log_take(seq, sizeof(seq));
    CHECK(script_set("Load rc=OBJECT_MEMORY times=1"), "script");
    ok = sign(b, &key_b) == TPMKMS_R_OK;
    report("Load rc=OBJECT_MEMORY times=1", ok ? "signed" : "FAILED", seq,
           sizeof(seq));
    ok = ok && strcmp(seq, "Load! FlushContext Load Sign") == 0;
    if (!ok)
        fprintf(stderr, "  FAIL: expected \"Load! FlushContext Load Sign\"\n");
    done(b);
    return ok;
}

/* OBJECT_MEMORY that persists, nothing of ours loaded: other processes
 * hold the slots; the connection turns shared and retries with backoff
 * for ESYS_SLOT_WAIT_MS (10 s), then fails saying so.  Shared, it then
 * holds no object between signatures. */
static int object_memory_that_persists_waits_then_fails(void)
{
    TPMKMS_BACKEND *b = faulty();
    char seq[65536], code[16];
    long t0, ms;
    tpmkms_rc rc;
    int ok, loads;

    CHECK(b != NULL, "backend");
    CHECK(script_set("Load rc=OBJECT_MEMORY"), "script");
    log_take(seq, sizeof(seq));
    snprintf(code, sizeof(code), "0x%08x", (unsigned)TPM2_RC_OBJECT_MEMORY);
    t0 = now_ms();
    rc = sign(b, &key_a);
    ms = now_ms() - t0;
    ok = expect_error(rc, TPMKMS_R_OBJECT_MEMORY, key_a.label, "TPM2_Load",
                      code, Tss2_RC_Decode(TPM2_RC_OBJECT_MEMORY),
                      "no free object slot", (const char *)NULL);
    log_take(seq, sizeof(seq));
    loads = count_of(seq, "Load");
    printf("  fault \"Load rc=OBJECT_MEMORY\": gave up after %ld ms and %d "
           "sends of TPM2_Load\n    faults injected: %d\n", ms, loads, loads);
    ok = ok && ms >= 10000 && ms < 15000 && loads >= 2;
    if (!ok)
        fprintf(stderr, "  FAIL: expected 10..15 s and several Loads\n");
    CHECK(script_set(""), "script");
    ok = ok && sign(b, &key_a) == TPMKMS_R_OK;
    log_take(seq, sizeof(seq));
    printf("    then, without the fault (shared: nothing kept): %s\n", seq);
    ok = ok && strcmp(seq, "Load Sign FlushContext") == 0;
    done(b);
    return ok;
}

/* A response that is no TPM response: an error, the connection dropped,
 * and the next call connects again: it first flushes the key the broken
 * connection left loaded (ReadPublic, FlushContext: swtpm has no resource
 * manager), then starts cold (ReadPublic of the SRK, Load, Sign). */
static int broken_answer(const char *rules, uint32_t esysrc)
{
    TPMKMS_BACKEND *b = faulty();
    char seq[8192];
    long t0, ms;
    tpmkms_rc rc;
    int ok;

    CHECK(b != NULL, "backend");
    CHECK(script_set(""), "script");
    CHECK(sign(b, &key_a) == TPMKMS_R_OK, "warm-up signature");
    log_take(seq, sizeof(seq));
    CHECK(script_set(rules), "script");
    t0 = now_ms();
    rc = sign(b, &key_a);
    ms = now_ms() - t0;
    if (esysrc != 0)
        ok = expect_error(rc, TPMKMS_R_TPM_UNAVAILABLE, key_a.label,
                          "TPM2_Sign", Tss2_RC_Decode(esysrc),
                          "cannot talk to the TPM", (const char *)NULL);
    else
        ok = expect_error(rc, TPMKMS_R_TPM_UNAVAILABLE, key_a.label,
                          "TPM2_Sign got no answer from the TPM within 2 s",
                          "dropped", (const char *)NULL);
    report(rules, "connection dropped", seq, sizeof(seq));
    printf("    failed after %ld ms\n", ms);
    ok = ok && count_of(seq, "Sign") == 1 && ms < 6000
        && (esysrc != 0 || ms >= 2000);
    if (!ok)
        fprintf(stderr, "  FAIL: one TPM2_Sign and a bounded time expected\n");
    CHECK(script_set(""), "script");
    ok = ok && sign(b, &key_a) == TPMKMS_R_OK;
    log_take(seq, sizeof(seq));
    printf("    then, without the fault: %s\n", seq);
    ok = ok && strcmp(seq, "ReadPublic FlushContext ReadPublic Load Sign") == 0;
    done(b);
    return ok;
}

static int short_answer_drops_the_connection(void)
{
    return broken_answer("Sign short", TSS2_SYS_RC_INSUFFICIENT_RESPONSE);
}

static int garbled_answer_drops_the_connection(void)
{
    return broken_answer("Sign garbled", TSS2_SYS_RC_MALFORMED_RESPONSE);
}

static int no_answer_gives_the_deadline_error(void)
{
    return broken_answer("Sign silent", 0);
}

/* Key generation is retried like any command. */
static int create_after_three_yields(void)
{
    TPMKMS_BACKEND *b = faulty();
    char seq[8192];
    TKEY k;
    int ok;

    CHECK(b != NULL, "backend");
    CHECK(script_set("Create rc=YIELDED times=3"), "script");
    log_take(seq, sizeof(seq));
    ok = key_create(b, NULL, "yielded", &k);
    report("Create rc=YIELDED times=3", ok ? "created" : "FAILED", seq,
           sizeof(seq));
    ok = ok && count_of(seq, "Create") == 4;
    if (ok) {
        CHECK(script_set(""), "script");
        ok = sign(b, &k) == TPMKMS_R_OK;
        tpmkms_backend_release_key(b, &k.ref);
        log_take(seq, sizeof(seq));
    }
    key_free(&k);
    done(b);
    return ok;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(void);
    } cases[] = {
#define T(f) { #f, f }
        T(retry_twice_then_signs),
        T(yielded_seven_times_crosses_esys_resubmissions),
        T(testing_29_times_is_the_last_that_signs),
        T(retry_for_ever_gives_up_after_30_sends),
        T(lockout_on_load_is_sent_once),
        T(lockout_on_sign_is_sent_once),
        T(auth_fail_is_sent_once),
        T(bad_auth_is_sent_once),
        T(object_memory_once_flushes_our_key_and_loads_again),
        T(object_memory_that_persists_waits_then_fails),
        T(short_answer_drops_the_connection),
        T(garbled_answer_drops_the_connection),
        T(no_answer_gives_the_deadline_error),
        T(create_after_three_yields),
#undef T
    };
    TPMKMS_BACKEND *plain;
    tpmkms_setup_result res;
    size_t i;
    int failed = 0;

    if ((argc != 3 && argc != 4) || (real_tcti = getenv("TPMKMS_TCTI")) == NULL) {
        fprintf(stderr, "usage: TPMKMS_TCTI=REAL scripted_faults LIB SCRIPT [CASE] "
                "(scripted_tpm_faults.sh runs it)\n");
        return 2;
    }
    lib = argv[1];
    script = argv[2];
    snprintf(logpath, sizeof(logpath), "%s.log", script);
    snprintf(conn, sizeof(conn), "%s:%s", lib, script);
    tpmkms_err_init_standalone();
    meth = tpmkms_backend_esys_method();

    /* The SRK and three keys, made on the real TPM directly. */
    plain = tpmkms_backend_new(meth, NULL);
    if (plain == NULL || tpmkms_backend_setup(plain, &res) != TPMKMS_R_OK
        || !key_create(plain, NULL, "a", &key_a)
        || !key_create(plain, NULL, "b", &key_b)
        || !key_create(plain, "1234", "pin", &key_pin)
        /* swtpm answers the first use of a DA-protected key after its
         * start with TPM_RC_RETRY (ESYS resends it): not in a case. */
        || sign(plain, &key_pin) != TPMKMS_R_OK) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    tpmkms_backend_release_key(plain, &key_pin.ref);
    tpmkms_backend_free(plain);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ok;

        if (argc == 4 && strcmp(argv[3], cases[i].name) != 0)
            continue;
        printf("%s\n", cases[i].name);
        fflush(stdout);
        ERR_clear_error();
        ok = cases[i].fn();
        printf("%s %s\n", ok ? "ok" : "NOT OK", cases[i].name);
        fflush(stdout);
        failed += !ok;
    }
    key_free(&key_a);
    key_free(&key_b);
    key_free(&key_pin);
    printf("%d of %zu cases failed\nfaults injected: %ld\n", failed,
           sizeof(cases) / sizeof(cases[0]), faults_total);
    return failed != 0;
}
