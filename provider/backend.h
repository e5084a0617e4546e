/*
 * The backend seam.  Nothing above this header includes tss2 or ncrypt
 * headers.  A backend is a method table (backend_esys.c on Linux,
 * backend_ncrypt.c on Windows, fake_backend.c in unit tests) wrapped by
 * backend.c, which owns what every backend needs the same way:
 *
 *   - a refcount, and one lock: every entry point below holds it for its
 *     whole command sequence (load parent, load key, sign, flush) and
 *     releases it before returning;
 *   - a lazy connection: tpmkms_backend_new() touches no TPM, the first
 *     entry point that needs the TPM calls method->connect;
 *   - fork safety: an entry point that finds a new pid drops the parent's
 *     connection with method->abandon (no command is sent over it) and
 *     connects afresh.  Keys loaded by the parent reload from their blob.
 *   - recovery: a connection that fails with TPM_UNAVAILABLE (a restarted
 *     tpm2-abrmd, a broken socket) is dropped, and the next call connects
 *     afresh instead of failing forever.
 */
#ifndef TPMKMS_BACKEND_H
#define TPMKMS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"
#include "pubkey.h"
#include "tss2key.h"

typedef struct tpmkms_backend_st TPMKMS_BACKEND;

/*
 * What a backend needs to use one key.  Embedded in TPMKMS_KEY; the
 * backend reads it and owns `loaded` (touched only under the lock).
 */
typedef struct tpmkms_keyref_st {
    TPMKMS_KEYBLOB blob;        /* the wrapped key, when persistent == 0 */
    uint32_t persistent;        /* a persistent handle (0x81......), or 0 */
    unsigned char *auth;        /* auth value or NULL; cleansed on free */
    size_t auth_len;
    const char *label;          /* the key's URI, for error messages */
    void *loaded;               /* backend's cache of the loaded object */
    uint64_t generation;        /* connection generation `loaded` is from */
} TPMKMS_KEYREF;

typedef struct tpmkms_create_params_st {
    tpmkms_alg alg;
    const unsigned char *auth;  /* NULL: no auth value, key gets noDA */
    size_t auth_len;
    const char *label;          /* for error messages */
} TPMKMS_CREATE_PARAMS;

#define TPMKMS_PROBE_CURVE_P256  (1u << 0)
#define TPMKMS_PROBE_CURVE_P384  (1u << 1)
#define TPMKMS_PROBE_CURVE_P521  (1u << 2)
#define TPMKMS_PROBE_RSA_1024    (1u << 0)
#define TPMKMS_PROBE_RSA_2048    (1u << 1)
#define TPMKMS_PROBE_RSA_3072    (1u << 2)
#define TPMKMS_PROBE_RSA_4096    (1u << 3)
#define TPMKMS_PROBE_HASH_SHA1   (1u << 0)
#define TPMKMS_PROBE_HASH_SHA256 (1u << 1)
#define TPMKMS_PROBE_HASH_SHA384 (1u << 2)
#define TPMKMS_PROBE_HASH_SHA512 (1u << 3)
#define TPMKMS_PROBE_SIG_ECDSA   (1u << 0)
#define TPMKMS_PROBE_SIG_RSASSA  (1u << 1)
#define TPMKMS_PROBE_SIG_RSAPSS  (1u << 2)

typedef struct tpmkms_probe_st {
    char tcti[256];             /* what was connected to */
    char manufacturer[5];       /* e.g. "IBM", "INTC", "MSFT" */
    char vendor[65];            /* vendor strings 1..4 joined */
    uint32_t fw_version1, fw_version2;
    uint32_t spec_level, spec_revision, spec_year;
    uint32_t curves, rsa_sizes, hashes, sig_schemes;
    int srk_persistent;         /* 0x81000001 holds the expected SRK */
    uint32_t lockout_counter, max_auth_fail, lockout_interval,
             lockout_recovery;
    int in_lockout;
} TPMKMS_PROBE;

typedef enum {
    TPMKMS_SETUP_CREATED = 1,   /* SRK created and persisted at 0x81000001 */
    TPMKMS_SETUP_PRESENT        /* the expected SRK was already there */
} tpmkms_setup_result;

typedef struct tpmkms_backend_method_st {
    const char *name;
    /* Opens the connection; *state is the backend's own. */
    tpmkms_rc (*connect)(const char *tcti_conf, void **state);
    /* Flushes what it loaded (not persistent objects) and closes. */
    void (*disconnect)(void *state);
    /* After fork(): frees what it can without sending any command. */
    void (*abandon)(void *state);
    tpmkms_rc (*create_key)(void *state, const TPMKMS_CREATE_PARAMS *params,
                            TPMKMS_KEYBLOB *blob, TPMKMS_PUBLIC *pub);
    /* in: a digest (or an encoded block for RSA_RAW); sig: TPMKMS_SIG_MAX */
    tpmkms_rc (*sign)(void *state, TPMKMS_KEYREF *key, tpmkms_scheme scheme,
                      tpmkms_hash hash, const unsigned char *in, size_t inlen,
                      unsigned char *sig, size_t *siglen);
    /* Flushes key->loaded if it is from this connection, frees it. */
    void (*unload)(void *state, TPMKMS_KEYREF *key);
    /* Frees key->loaded without any command (stale generation). */
    void (*forget)(TPMKMS_KEYREF *key);
    tpmkms_rc (*read_persistent)(void *state, uint32_t handle,
                                 TPMKMS_PUBLIC *pub);
    /* Makes blob persistent at handle (TPM2_EvictControl). */
    tpmkms_rc (*persist)(void *state, const TPMKMS_KEYBLOB *blob,
                         uint32_t handle, const char *label);
    /* Removes a persistent object (TPM2_EvictControl). */
    tpmkms_rc (*evict)(void *state, uint32_t handle, const char *label);
    tpmkms_rc (*probe)(void *state, TPMKMS_PROBE *probe);
    tpmkms_rc (*setup)(void *state, tpmkms_setup_result *result);
    /* No TPM: the public half described by a blob's TPM2B_PUBLIC. */
    tpmkms_rc (*public_from_blob)(const TPMKMS_KEYBLOB *blob,
                                  TPMKMS_PUBLIC *pub, const char *label);
    /*
     * The connection broke (TPM_UNAVAILABLE from a connected state): free
     * everything without sending a command; the next call reconnects.
     * NULL: abandon is used instead.
     */
    void (*drop)(void *state);
} TPMKMS_BACKEND_METHOD;

/* The platform's backend: ESYS on Linux, NCrypt on Windows. */
const TPMKMS_BACKEND_METHOD *tpmkms_backend_default_method(void);
const TPMKMS_BACKEND_METHOD *tpmkms_backend_esys_method(void);

/* No TPM is touched.  tcti_conf NULL: $TPMKMS_TCTI, else the loader's default. */
TPMKMS_BACKEND *tpmkms_backend_new(const TPMKMS_BACKEND_METHOD *meth,
                                   const char *tcti_conf);
int tpmkms_backend_up_ref(TPMKMS_BACKEND *b);
void tpmkms_backend_free(TPMKMS_BACKEND *b);
void tpmkms_backend_close(TPMKMS_BACKEND *b); /* flush, disconnect now */
const char *tpmkms_backend_tcti(const TPMKMS_BACKEND *b); /* NULL: default */
const TPMKMS_BACKEND_METHOD *tpmkms_backend_method(const TPMKMS_BACKEND *b);

tpmkms_rc tpmkms_backend_create_key(TPMKMS_BACKEND *b,
                                    const TPMKMS_CREATE_PARAMS *params,
                                    TPMKMS_KEYBLOB *blob, TPMKMS_PUBLIC *pub);
tpmkms_rc tpmkms_backend_sign(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                              tpmkms_scheme scheme, tpmkms_hash hash,
                              const unsigned char *in, size_t inlen,
                              unsigned char *sig, size_t *siglen);
/* Called when a key is freed: flush what is loaded for it. */
void tpmkms_backend_release_key(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key);
tpmkms_rc tpmkms_backend_read_persistent(TPMKMS_BACKEND *b, uint32_t handle,
                                         TPMKMS_PUBLIC *pub);
tpmkms_rc tpmkms_backend_persist(TPMKMS_BACKEND *b, const TPMKMS_KEYBLOB *blob,
                                 uint32_t handle, const char *label);
tpmkms_rc tpmkms_backend_evict(TPMKMS_BACKEND *b, uint32_t handle,
                               const char *label);
tpmkms_rc tpmkms_backend_probe(TPMKMS_BACKEND *b, TPMKMS_PROBE *probe);
tpmkms_rc tpmkms_backend_setup(TPMKMS_BACKEND *b, tpmkms_setup_result *res);
tpmkms_rc tpmkms_backend_public_from_blob(const TPMKMS_BACKEND *b,
                                          const TPMKMS_KEYBLOB *blob,
                                          TPMKMS_PUBLIC *pub,
                                          const char *label);

#endif
