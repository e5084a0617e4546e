/*
 * What every backend needs the same way: refcount, the command lock, the
 * lazy connection and fork detection.  The method table does the TPM work
 * and is always called with the lock held.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifndef _WIN32
# include <pthread.h>
#endif
#include <openssl/crypto.h>
#include "backend.h"
#include "debug.h"
#include "platform/platform.h"

/*
 * The command lock.  A mutex where there is pthreads, so that the exit
 * hook below can try it without waiting; elsewhere OpenSSL's lock.
 */
#ifndef _WIN32
typedef pthread_mutex_t CMD_LOCK;

static CMD_LOCK *cmd_lock_new(void)
{
    CMD_LOCK *l = OPENSSL_malloc(sizeof(*l));

    if (l != NULL && pthread_mutex_init(l, NULL) != 0) {
        OPENSSL_free(l);
        l = NULL;
    }
    return l;
}

static int cmd_lock(CMD_LOCK *l)
{
    return pthread_mutex_lock(l) == 0;
}

static int cmd_trylock(CMD_LOCK *l)
{
    return pthread_mutex_trylock(l) == 0;
}

static void cmd_unlock(CMD_LOCK *l)
{
    pthread_mutex_unlock(l);
}

static void cmd_lock_free(CMD_LOCK *l)
{
    if (l != NULL)
        pthread_mutex_destroy(l);
    OPENSSL_free(l);
}
#else
typedef CRYPTO_RWLOCK CMD_LOCK;

static CMD_LOCK *cmd_lock_new(void) { return CRYPTO_THREAD_lock_new(); }
static int cmd_lock(CMD_LOCK *l) { return CRYPTO_THREAD_write_lock(l); }
static void cmd_unlock(CMD_LOCK *l) { CRYPTO_THREAD_unlock(l); }
static void cmd_lock_free(CMD_LOCK *l) { CRYPTO_THREAD_lock_free(l); }
#endif

struct tpmkms_backend_st {
    int refcnt;
    CRYPTO_RWLOCK *refcnt_lock;
    CMD_LOCK *lock;             /* held for each whole command sequence */
    const TPMKMS_BACKEND_METHOD *meth;
    char *conn;                 /* NULL: the backend's default */
    char *owner_auth_file;      /* NULL: none */
    unsigned timeout_s;         /* 0: the backend's default */
    void *state;                /* NULL until the first command */
    pid_t pid;                  /* the process that connected */
    uint64_t generation;        /* bumped on every connect */
    struct tpmkms_backend_st *held_prev; /* see backend_hold */
    struct tpmkms_backend_st *next;  /* the fork registry */
};

#ifndef _WIN32
/*
 * fork() while another thread is inside a command sequence would leave
 * that backend's lock held for good in the child, which has no such
 * thread.  Every live backend is registered; around fork() the forking
 * thread takes all their locks (waiting for commands in flight to end)
 * and releases them on both sides, so the child starts with free locks
 * and, at its first command, a connection of its own.
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static TPMKMS_BACKEND *registry;

/*
 * This process's id, kept up to date by the fork handler below (set when
 * the first backend registers it), so that checking for a new process
 * before each command costs no getpid() system call.  A child made
 * without fork()'s handlers (vfork, posix_spawn) only execs.
 */
static volatile pid_t current_pid;

static pid_t self_pid(void)
{
    return current_pid;
}

/*
 * The backends whose command lock this thread holds, most recent first
 * (chained through held_prev).  A thread that forks inside a command
 * sequence (a TCTI that starts a process: cmd:, or tabrmd's D-Bus
 * autolaunch, forks during connect) already holds its backend's lock:
 * the fork handlers below must leave that one alone, or the thread waits
 * on itself for ever.
 */
static __thread TPMKMS_BACKEND *held_here;

static int held_by_this_thread(const TPMKMS_BACKEND *b)
{
    for (const TPMKMS_BACKEND *h = held_here; h != NULL; h = h->held_prev)
        if (h == b)
            return 1;
    return 0;
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    for (TPMKMS_BACKEND *b = registry; b != NULL; b = b->next)
        if (!held_by_this_thread(b))
            cmd_lock(b->lock);
}

static void fork_parent(void)
{
    for (TPMKMS_BACKEND *b = registry; b != NULL; b = b->next)
        if (!held_by_this_thread(b))
            cmd_unlock(b->lock);
    pthread_mutex_unlock(&registry_lock);
}

/*
 * In the child the forking thread has a new thread id: rather than
 * unlocking what another thread id locked, each lock is initialised
 * afresh in place (nothing else in the child can hold it).  A lock this
 * thread held across fork() stays held: the child is inside that command
 * sequence and releases it on the way out (or execs).
 */
static void fork_child(void)
{
    for (TPMKMS_BACKEND *b = registry; b != NULL; b = b->next)
        if (!held_by_this_thread(b))
            pthread_mutex_init(b->lock, NULL);
    current_pid = getpid();
    pthread_mutex_init(&registry_lock, NULL);
}

/* Takes b's command lock for this thread (see held_here). */
static int backend_hold(TPMKMS_BACKEND *b)
{
    if (!cmd_lock(b->lock))
        return 0;
    b->held_prev = held_here;
    held_here = b;
    return 1;
}

static void backend_release(TPMKMS_BACKEND *b)
{
    held_here = b->held_prev;
    b->held_prev = NULL;
    cmd_unlock(b->lock);
}

static void backends_at_exit(void);

static void registry_init(void)
{
    current_pid = getpid();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    (void)tpmkms_platform_at_exit(backends_at_exit);
}

static void registry_add(TPMKMS_BACKEND *b)
{
    pthread_once(&registry_once, registry_init);
    pthread_mutex_lock(&registry_lock);
    b->next = registry;
    registry = b;
    pthread_mutex_unlock(&registry_lock);
}

static void registry_remove(TPMKMS_BACKEND *b)
{
    pthread_mutex_lock(&registry_lock);
    for (TPMKMS_BACKEND **p = &registry; *p != NULL; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
}
#else
static void registry_add(TPMKMS_BACKEND *b) { (void)b; }
static void registry_remove(TPMKMS_BACKEND *b) { (void)b; }
static pid_t self_pid(void) { return getpid(); }
static int backend_hold(TPMKMS_BACKEND *b) { return cmd_lock(b->lock); }
static void backend_release(TPMKMS_BACKEND *b) { cmd_unlock(b->lock); }
#endif

void tpmkms_backend_process_init(const TPMKMS_BACKEND_METHOD *meth)
{
    if (meth != NULL && meth->process_init != NULL)
        meth->process_init();
}

tpmkms_rc tpmkms_keydata_copy(TPMKMS_KEYDATA *dst, const TPMKMS_KEYDATA *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src->data != NULL
            && (dst->data = OPENSSL_memdup(src->data, src->len)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory copying a key");
        return TPMKMS_R_INTERNAL;
    }
    dst->format = src->format;
    dst->len = src->len;
    return TPMKMS_R_OK;
}

void tpmkms_keydata_clear(TPMKMS_KEYDATA *kd)
{
    OPENSSL_clear_free(kd->data, kd->len);
    memset(kd, 0, sizeof(*kd));
}

void tpmkms_buf_clear(TPMKMS_BUF *buf)
{
    OPENSSL_free(buf->data);
    buf->data = NULL;
    buf->len = 0;
}

TPMKMS_BACKEND *tpmkms_backend_new(const TPMKMS_BACKEND_METHOD *meth,
                                   const char *conn)
{
    TPMKMS_BACKEND *b = OPENSSL_zalloc(sizeof(*b));

    if (b == NULL)
        goto err;
    b->refcnt = 1;
    b->meth = meth;
    b->refcnt_lock = CRYPTO_THREAD_lock_new();
    b->lock = cmd_lock_new();
    if (b->refcnt_lock == NULL || b->lock == NULL)
        goto err;
    if (conn != NULL && (b->conn = OPENSSL_strdup(conn)) == NULL)
        goto err;
    registry_add(b);
    return b;
 err:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory creating the TPM backend");
    tpmkms_backend_free(b);
    return NULL;
}

tpmkms_rc tpmkms_backend_set_owner_auth_file(TPMKMS_BACKEND *b,
                                             const char *path)
{
    OPENSSL_free(b->owner_auth_file);
    b->owner_auth_file = NULL;
    if (path != NULL && *path != '\0'
            && (b->owner_auth_file = OPENSSL_strdup(path)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

void tpmkms_backend_set_timeout(TPMKMS_BACKEND *b, unsigned seconds)
{
    b->timeout_s = seconds;
}

int tpmkms_backend_up_ref(TPMKMS_BACKEND *b)
{
    int n;

    return CRYPTO_atomic_add(&b->refcnt, 1, &n, b->refcnt_lock);
}

/*
 * Ends this backend's connection: flushing what this process loaded, or
 * in a forked child dropping the parent's connection unsent.  Called with
 * the lock held, or on the last reference.
 */
static void close_locked(TPMKMS_BACKEND *b)
{
    if (b->state != NULL) {
        if (b->pid == self_pid())
            b->meth->disconnect(b->state);
        else
            b->meth->abandon(b->state);
        b->state = NULL;
        b->generation++;
    }
}

void tpmkms_backend_free(TPMKMS_BACKEND *b)
{
    int n;

    if (b == NULL)
        return;
    if (b->refcnt_lock != NULL) {
        if (!CRYPTO_atomic_add(&b->refcnt, -1, &n, b->refcnt_lock) || n > 0)
            return;
    }
    if (b->lock != NULL && b->refcnt_lock != NULL)
        registry_remove(b);
    close_locked(b);
    cmd_lock_free(b->lock);
    CRYPTO_THREAD_lock_free(b->refcnt_lock);
    OPENSSL_free(b->conn);
    OPENSSL_free(b->owner_auth_file);
    OPENSSL_free(b);
}

/*
 * Ends the connection now, flushing what this process loaded, even while
 * keys still hold the backend: at provider teardown (OPENSSL_cleanup at
 * exit) keys a program never freed would otherwise stay loaded in a TPM
 * without a resource manager, taking slots other processes need.  A key
 * used afterwards reconnects and loads again.
 */
void tpmkms_backend_close(TPMKMS_BACKEND *b)
{
    if (b == NULL || !backend_hold(b))
        return;
    close_locked(b);
    backend_release(b);
}

#ifndef _WIN32
/*
 * A program that exits without freeing its keys (many do) never gets the
 * provider torn down: the keys hold it.  So at exit, and when the module
 * is unloaded, every connection this process made is closed, which
 * flushes what it loaded.  A backend whose lock another thread holds (a
 * command in flight as the process exits) is left alone rather than
 * waited for: exit must not hang on a TPM.
 */
static void backends_at_exit(void)
{
    if (pthread_mutex_trylock(&registry_lock) != 0)
        return;
    for (TPMKMS_BACKEND *b = registry; b != NULL; b = b->next) {
        if (!cmd_trylock(b->lock))
            continue;
        if (b->state != NULL && b->pid == self_pid()) {
            TPMKMS_debug("exiting: closing the TPM connection");
            close_locked(b);
        }
        cmd_unlock(b->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}
#endif

const char *tpmkms_backend_conn(const TPMKMS_BACKEND *b)
{
    return b->conn;
}

const TPMKMS_BACKEND_METHOD *tpmkms_backend_method(const TPMKMS_BACKEND *b)
{
    return b->meth;
}

int tpmkms_backend_survives_fork(const TPMKMS_BACKEND *b)
{
    return b->meth->survives_fork != NULL && b->meth->survives_fork(b->conn);
}

int tpmkms_backend_is_direct(const TPMKMS_BACKEND *b)
{
    return b->meth->is_direct != NULL && b->meth->is_direct(b->conn);
}

/* Called with the lock held.  Connects on first use and after fork(). */
static tpmkms_rc backend_enter(TPMKMS_BACKEND *b)
{
    TPMKMS_CONN_CONFIG cfg;
    tpmkms_rc rc;

    if (b->state != NULL && b->pid != self_pid()) {
        TPMKMS_debug("new process %ld: abandoning the parent's connection",
                     (long)self_pid());
        b->meth->abandon(b->state);
        b->state = NULL;
    }
    if (b->state != NULL)
        return TPMKMS_R_OK;
    cfg.conn = b->conn;
    cfg.owner_auth_file = b->owner_auth_file;
    cfg.timeout_s = b->timeout_s;
    rc = b->meth->connect(&cfg, &b->state);
    if (rc != TPMKMS_R_OK) {
        b->state = NULL;
        return rc;
    }
    b->pid = self_pid();
    b->generation++;
    return TPMKMS_R_OK;
}

static int backend_lock(TPMKMS_BACKEND *b)
{
    if (!backend_hold(b)) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot take the TPM backend lock");
        return 0;
    }
    return 1;
}

/* A key's loaded object from an earlier connection is dropped unsent. */
static void key_sync_generation(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key)
{
    if (key->loaded != NULL && key->generation != b->generation) {
        b->meth->keys->forget(key);
        key->loaded = NULL;
    }
    key->generation = b->generation;
}

/*
 * Called with the lock held after a command sequence.  A connection that
 * broke under us is dropped without sending anything, so the next call
 * connects afresh; keys' loaded objects become stale and reload.
 */
static tpmkms_rc backend_leave(TPMKMS_BACKEND *b, tpmkms_rc rc)
{
    if (rc == TPMKMS_R_TPM_UNAVAILABLE && b->state != NULL
            && b->pid == self_pid()) {
        TPMKMS_debug("the TPM connection broke; the next call reconnects");
        if (b->meth->drop != NULL)
            b->meth->drop(b->state);
        else
            b->meth->abandon(b->state);
        b->state = NULL;
        b->generation++;
    }
    return rc;
}

/*
 * An operation the backend does not offer: said once, here, before any
 * lock or connection, so nothing is sent.
 */
static tpmkms_rc not_supported(const TPMKMS_BACKEND *b, const char *op)
{
    TPMKMS_raise(TPMKMS_R_NOT_SUPPORTED,
                 "%s is not supported by the %s TPM backend", op,
                 b->meth->name != NULL ? b->meth->name : "configured");
    return TPMKMS_R_NOT_SUPPORTED;
}

#define HAS(b, group, method) \
    ((b)->meth->group != NULL && (b)->meth->group->method != NULL)

/*
 * Each entry point: check the backend offers the method, lock, connect if
 * needed, run the method, unlock.  The macro keeps the sequence in one
 * place without a callback layer.
 */
#define BACKEND_CALL(b, group, method, op, call)                \
    do {                                                        \
        tpmkms_rc rc_;                                          \
        if (!HAS(b, group, method))                             \
            return not_supported(b, op);                        \
        if (!backend_lock(b))                                   \
            return TPMKMS_R_INTERNAL;                           \
        rc_ = backend_enter(b);                                 \
        if (rc_ == TPMKMS_R_OK)                                 \
            rc_ = backend_leave(b, (call));                     \
        backend_release(b);                                     \
        return rc_;                                             \
    } while (0)

/* ----------------------------------------------------------------- keys */

tpmkms_rc tpmkms_backend_create_key(TPMKMS_BACKEND *b,
                                    const TPMKMS_CREATE_PARAMS *params,
                                    TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    BACKEND_CALL(b, keys, create, "creating a key",
                 b->meth->keys->create(b->state, params, key, pub));
}

static tpmkms_rc sign_locked(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                             tpmkms_scheme scheme, tpmkms_hash hash,
                             const unsigned char *in, size_t inlen,
                             unsigned char *sig, size_t *siglen)
{
    key_sync_generation(b, key);
    return b->meth->keys->sign(b->state, key, scheme, hash, in, inlen, sig,
                               siglen);
}

tpmkms_rc tpmkms_backend_sign(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                              tpmkms_scheme scheme, tpmkms_hash hash,
                              const unsigned char *in, size_t inlen,
                              unsigned char *sig, size_t *siglen)
{
    BACKEND_CALL(b, keys, sign, "signing",
                 sign_locked(b, key, scheme, hash, in, inlen, sig, siglen));
}

static tpmkms_rc decrypt_locked(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                                const TPMKMS_DECRYPT_PARAMS *params,
                                const unsigned char *in, size_t inlen,
                                unsigned char *out, size_t *outlen)
{
    key_sync_generation(b, key);
    return b->meth->keys->decrypt(b->state, key, params, in, inlen, out,
                                  outlen);
}

tpmkms_rc tpmkms_backend_decrypt(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                                 const TPMKMS_DECRYPT_PARAMS *params,
                                 const unsigned char *in, size_t inlen,
                                 unsigned char *out, size_t *outlen)
{
    BACKEND_CALL(b, keys, decrypt, "decryption",
                 decrypt_locked(b, key, params, in, inlen, out, outlen));
}

static tpmkms_rc derive_locked(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                               const unsigned char *peer, size_t peer_len,
                               unsigned char *secret, size_t *secret_len)
{
    key_sync_generation(b, key);
    return b->meth->keys->derive(b->state, key, peer, peer_len, secret,
                                 secret_len);
}

tpmkms_rc tpmkms_backend_derive(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                                const unsigned char *peer_point,
                                size_t peer_len, unsigned char *secret,
                                size_t *secret_len)
{
    BACKEND_CALL(b, keys, derive, "key agreement (ECDH)",
                 derive_locked(b, key, peer_point, peer_len, secret,
                               secret_len));
}

void tpmkms_backend_release_key(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key)
{
    if (key->loaded == NULL || b->meth->keys == NULL)
        return;
    if (!backend_hold(b))
        return;
    if (b->state != NULL && b->pid == self_pid()
            && key->generation == b->generation)
        b->meth->keys->unload(b->state, key);
    else
        b->meth->keys->forget(key);
    key->loaded = NULL;
    backend_release(b);
}

tpmkms_rc tpmkms_backend_describe(const TPMKMS_BACKEND *b,
                                  const TPMKMS_KEYDATA *key,
                                  TPMKMS_KEYINFO *info, const char *label)
{
    /* Pure parsing: no lock, no connection. */
    memset(info, 0, sizeof(*info));
    if (!HAS(b, keys, describe))
        return not_supported(b, "reading a key's material");
    return b->meth->keys->describe(key, info, label);
}

tpmkms_rc tpmkms_backend_check_key(TPMKMS_BACKEND *b,
                                   const TPMKMS_KEYREF *key)
{
    BACKEND_CALL(b, keys, check, "checking a key's parent",
                 b->meth->keys->check(b->state, key));
}

/* ------------------------------------------------------- administration */

tpmkms_rc tpmkms_backend_read_persistent(TPMKMS_BACKEND *b, uint32_t handle,
                                         TPMKMS_PUBLIC *pub)
{
    BACKEND_CALL(b, admin, read_persistent, "reading a persistent key",
                 b->meth->admin->read_persistent(b->state, handle, pub));
}

tpmkms_rc tpmkms_backend_persist(TPMKMS_BACKEND *b, const TPMKMS_KEYDATA *key,
                                 uint32_t handle, const char *label)
{
    BACKEND_CALL(b, admin, persist, "making a key persistent",
                 b->meth->admin->persist(b->state, key, handle, label));
}

tpmkms_rc tpmkms_backend_evict(TPMKMS_BACKEND *b, uint32_t handle,
                               const char *label)
{
    BACKEND_CALL(b, admin, evict, "evicting a persistent key",
                 b->meth->admin->evict(b->state, handle, label));
}

tpmkms_rc tpmkms_backend_probe(TPMKMS_BACKEND *b, TPMKMS_PROBE *probe)
{
    memset(probe, 0, sizeof(*probe));
    BACKEND_CALL(b, admin, probe, "probing the TPM",
                 b->meth->admin->probe(b->state, probe));
}

tpmkms_rc tpmkms_backend_setup(TPMKMS_BACKEND *b, tpmkms_setup_result *res)
{
    BACKEND_CALL(b, admin, setup, "setting up the TPM (the SRK)",
                 b->meth->admin->setup(b->state, res));
}

tpmkms_rc tpmkms_backend_tpm_identity(TPMKMS_BACKEND *b, TPMKMS_BUF *id)
{
    memset(id, 0, sizeof(*id));
    BACKEND_CALL(b, admin, tpm_identity, "identifying the TPM (its SRK's name)",
                 b->meth->admin->tpm_identity(b->state, id));
}

tpmkms_rc tpmkms_backend_list_persistent(TPMKMS_BACKEND *b, uint32_t **handles,
                                         size_t *count)
{
    *handles = NULL;
    *count = 0;
    BACKEND_CALL(b, admin, list_persistent,
                 "listing the TPM's persistent handles",
                 b->meth->admin->list_persistent(b->state, handles, count));
}

/* ---------------------------------------------------------- attestation */

void tpmkms_ek_list_clear(TPMKMS_EK_LIST *list)
{
    size_t i;

    if (list == NULL)
        return;
    for (i = 0; i < list->n; i++) {
        tpmkms_buf_clear(&list->ek[i].cert);
        tpmkms_buf_clear(&list->ek[i].public_area);
    }
    OPENSSL_free(list->ek);
    list->ek = NULL;
    list->n = 0;
}

/* A failed ek method leaves no half-filled list behind. */
static tpmkms_rc ek_locked(TPMKMS_BACKEND *b, TPMKMS_EK_LIST *list)
{
    tpmkms_rc r = b->meth->attest->ek(b->state, list);

    if (r != TPMKMS_R_OK)
        tpmkms_ek_list_clear(list);
    return r;
}

tpmkms_rc tpmkms_backend_ek(TPMKMS_BACKEND *b, TPMKMS_EK_LIST *list)
{
    memset(list, 0, sizeof(*list));
    BACKEND_CALL(b, attest, ek, "reading the endorsement keys",
                 ek_locked(b, list));
}

tpmkms_rc tpmkms_backend_ak_create(TPMKMS_BACKEND *b,
                                   const TPMKMS_CREATE_PARAMS *params,
                                   TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    BACKEND_CALL(b, attest, ak_create, "creating an attestation key",
                 b->meth->attest->ak_create(b->state, params, key, pub));
}

tpmkms_rc tpmkms_backend_certify(TPMKMS_BACKEND *b, TPMKMS_KEYREF *ak,
                                 TPMKMS_KEYREF *key,
                                 const unsigned char *nonce, size_t nonce_len,
                                 TPMKMS_BUF *attest, TPMKMS_BUF *sig)
{
    BACKEND_CALL(b, attest, certify, "certifying a key",
                 (key_sync_generation(b, ak), key_sync_generation(b, key),
                  b->meth->attest->certify(b->state, ak, key, nonce,
                                           nonce_len, attest, sig)));
}

tpmkms_rc tpmkms_backend_quote(TPMKMS_BACKEND *b, TPMKMS_KEYREF *ak,
                               tpmkms_hash bank, uint32_t pcr_mask,
                               const unsigned char *nonce, size_t nonce_len,
                               TPMKMS_BUF *attest, TPMKMS_BUF *sig,
                               TPMKMS_BUF *pcrs)
{
    BACKEND_CALL(b, attest, quote, "quoting PCRs",
                 (key_sync_generation(b, ak),
                  b->meth->attest->quote(b->state, ak, bank, pcr_mask, nonce,
                                         nonce_len, attest, sig, pcrs)));
}

tpmkms_rc tpmkms_backend_activate(TPMKMS_BACKEND *b, TPMKMS_KEYREF *ak,
                                  const char *ek_template,
                                  const TPMKMS_BUF *credential,
                                  const TPMKMS_BUF *secret, TPMKMS_BUF *out)
{
    BACKEND_CALL(b, attest, activate, "activating a credential",
                 (key_sync_generation(b, ak),
                  b->meth->attest->activate(b->state, ak, ek_template,
                                            credential, secret, out)));
}
