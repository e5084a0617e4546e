/*
 * The backend seam.  Nothing above this header includes tss2 or ncrypt
 * headers, and nothing above it looks inside a key's material or a
 * connection string: a backend (provider/esys/ on Linux, provider/ncrypt/
 * on Windows, test/unit/fake_backend.c in unit tests) interprets both.
 *
 * A backend is a method table in groups:
 *
 *   - connection: connect, disconnect, abandon (after fork), drop (broken),
 *     and what a connection string means (survives fork? direct TPM?);
 *   - keys: create, sign, unload/forget, describe (pure), check, decrypt
 *     (RSA) and derive (ECDH);
 *   - administration: read_persistent, persist, evict, probe, setup,
 *     tpm_identity, list_persistent;
 *   - attestation: EK (the endorsement keys and their certificates), AK,
 *     certify, quote, activate credential.
 *
 * A NULL group or method is an operation the backend does not offer: its
 * entry point below raises TPMKMS_R_NOT_SUPPORTED naming the operation and
 * the backend, takes no lock and sends nothing.
 *
 * backend.c wraps every method and owns what every backend needs the same
 * way:
 *   - a refcount, and one lock: every entry point holds it for its whole
 *     command sequence (load parent, load key, sign, flush) and releases
 *     it before returning;
 *   - a lazy connection: tpmkms_backend_new() touches no TPM, the first
 *     entry point that needs the TPM calls connect;
 *   - fork safety: an entry point that finds a new pid drops the parent's
 *     connection with abandon (no command is sent over it) and connects
 *     afresh.  Keys loaded by the parent reload from their material.
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

typedef struct tpmkms_backend_st TPMKMS_BACKEND;

/* What a key's material is; only the backend of that format reads it. */
typedef enum {
    TPMKMS_KEYFMT_NONE = 0,      /* no material: a persistent locator only */
    TPMKMS_KEYFMT_TSS2_DER = 1   /* a TSS2 PRIVATE KEY, DER (ESYS) */
} tpmkms_keyfmt;

/* A key as its backend keeps it outside the TPM: a format tag and bytes. */
typedef struct tpmkms_keydata_st {
    tpmkms_keyfmt format;
    unsigned char *data;
    size_t len;
} TPMKMS_KEYDATA;

TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_keydata_copy(TPMKMS_KEYDATA *dst, const TPMKMS_KEYDATA *src);
void tpmkms_keydata_clear(TPMKMS_KEYDATA *kd);  /* frees, zeroes */

/*
 * What a backend needs to use one key.  Embedded in TPMKMS_KEY; the
 * backend reads it and owns `loaded` (touched only under the lock).
 */
typedef struct tpmkms_keyref_st {
    TPMKMS_KEYDATA key;         /* the key's material; may be empty */
    uint32_t persistent;        /* a persistent locator (TPM handle), or 0 */
    unsigned char *auth;        /* auth value or NULL; cleansed on free */
    size_t auth_len;
    const char *label;          /* the key's URI, for error messages */
    void *loaded;               /* backend's cache of the loaded object */
    uint64_t generation;        /* connection generation `loaded` is from */
} TPMKMS_KEYREF;

/* What key material says about its key, read without a TPM. */
typedef struct tpmkms_keyinfo_st {
    TPMKMS_PUBLIC pub;
    int needs_auth;             /* 1: has an auth value; 0: none */
} TPMKMS_KEYINFO;

/* What a key may be used for (TPMA_OBJECT sign, decrypt). */
typedef enum {
    TPMKMS_USAGE_BOTH = 0,      /* sign and decrypt: the default */
    TPMKMS_USAGE_SIGN,          /* signatures only */
    TPMKMS_USAGE_DECRYPT        /* RSA decryption, ECDH only */
} tpmkms_usage;

typedef struct tpmkms_create_params_st {
    tpmkms_alg alg;
    const unsigned char *auth;  /* NULL: no auth value, key gets noDA */
    size_t auth_len;
    const char *label;          /* for error messages */
    tpmkms_usage usage;         /* keys; an AK is a restricted signing key */
} TPMKMS_CREATE_PARAMS;

/* RSA decryption paddings (RSAES), as TPM2_RSA_Decrypt's schemes. */
typedef enum {
    TPMKMS_PAD_PKCS1 = 1,       /* RSAES-PKCS1-v1_5 */
    TPMKMS_PAD_OAEP             /* RSAES-OAEP, MGF1 with the OAEP hash */
} tpmkms_padding;

/*
 * The largest OAEP label a backend passes on: a TPM takes at most
 * sizeof(TPMT_HA) bytes (a TPM2B_DATA), 66 with SHA-512, less on a TPM
 * without it (the TPM then answers TPM_RC_SIZE).
 */
#define TPMKMS_OAEP_LABEL_MAX 66

/* One RSA decryption. */
typedef struct tpmkms_decrypt_params_st {
    tpmkms_padding padding;
    tpmkms_hash hash;           /* OAEP: its hash, MGF1's too */
    /*
     * OAEP: the label, as a TPM takes it (TPM 2.0 Part 3, RSA_Decrypt):
     * empty, or ending in a zero octet, which is part of the label.  At
     * most TPMKMS_OAEP_LABEL_MAX bytes.
     */
    const unsigned char *label;
    size_t label_len;
} TPMKMS_DECRYPT_PARAMS;

/* Bytes a backend returns (attestation structures, certificates). */
typedef struct tpmkms_buf_st {
    unsigned char *data;
    size_t len;
} TPMKMS_BUF;

void tpmkms_buf_clear(TPMKMS_BUF *buf);

/*
 * One endorsement key, where the TCG EK Credential Profile for TPM
 * Family 2.0 puts it (docs/attestation.md names the templates and the
 * indices).  An EK is the primary key TPM2_CreatePrimary derives from the
 * endorsement seed with one of the profile's templates; its certificate,
 * if the manufacturer provisioned one, sits in an NV index of that
 * template, and the owner may have made it persistent (0x81010001 ...).
 */
typedef struct tpmkms_ek_st {
    char tmpl[8];               /* the profile's template: "L-1", "H-3";
                                   "" for a persistent key that is none */
    char key_desc[32];          /* "RSA 2048", "ECC NIST P384", ... */
    uint32_t cert_index;        /* NV index of its certificate; 0: none */
    TPMKMS_BUF cert;            /* the index's bytes, as read (a DER
                                   certificate, maybe padded after it) */
    uint32_t persistent;        /* persistent handle holding this key; 0 */
    int template_from_nv;       /* low range: the template was read from
                                   0x01C00004 / 0x01C0000C */
    int nonce_from_nv;          /* ... and its unique from the nonce index */
    int recomputed;             /* pub is what TPM2_CreatePrimary made of
                                   the template (0: a key tpmkms does not
                                   hold, pub.alg NONE; or a persistent key
                                   matching no template, pub its key) */
    TPMKMS_PUBLIC pub;
    TPMKMS_BUF public_area;     /* recomputed: the EK's TPM2B_PUBLIC as the
                                   TPM marshals it (an enrollment request's
                                   ek-public); else empty */
} TPMKMS_EK;

typedef struct tpmkms_ek_list_st {
    TPMKMS_EK *ek;              /* OPENSSL_malloc'd, n of them, in index
                                   order: low range, high range, then
                                   persistent keys matching no template */
    size_t n;
} TPMKMS_EK_LIST;

void tpmkms_ek_list_clear(TPMKMS_EK_LIST *list);  /* frees, zeroes */

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
    char connection[256];       /* what was connected to, as the backend says */
    char manufacturer[5];       /* e.g. "IBM", "INTC", "MSFT" */
    char vendor[65];            /* vendor strings 1..4 joined */
    uint32_t manufacturer_id;   /* TPM_PT_MANUFACTURER as the TPM says it */
    uint32_t vendor_words[4];   /* TPM_PT_VENDOR_STRING_1..4, likewise */
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

/* What a connection is made with. */
typedef struct tpmkms_conn_config_st {
    const char *conn;           /* the backend's connection string; NULL:
                                   the backend's default */
    const char *owner_auth_file; /* the owner's auth value is this file's
                                    first line; NULL: empty */
    unsigned timeout_s;         /* seconds the TPM has to answer a command
                                   (key generation: ten times that); 0: the
                                   backend's default */
} TPMKMS_CONN_CONFIG;

/* ------------------------------------------------------------- groups */

typedef struct tpmkms_key_methods_st {
    tpmkms_rc (*create)(void *state, const TPMKMS_CREATE_PARAMS *params,
                        TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub);
    /* in: a digest (or an encoded block for RSA_RAW); sig: TPMKMS_SIG_MAX */
    tpmkms_rc (*sign)(void *state, TPMKMS_KEYREF *key, tpmkms_scheme scheme,
                      tpmkms_hash hash, const unsigned char *in, size_t inlen,
                      unsigned char *sig, size_t *siglen);
    /* Flushes key->loaded if it is from this connection, frees it. */
    void (*unload)(void *state, TPMKMS_KEYREF *key);
    /* Frees key->loaded without any command (stale generation). */
    void (*forget)(TPMKMS_KEYREF *key);
    /* No TPM: what the material describes.  Raises on bad material. */
    tpmkms_rc (*describe)(const TPMKMS_KEYDATA *key, TPMKMS_KEYINFO *info,
                          const char *label);
    /*
     * Whether the connected TPM holds what the key needs (its parent):
     * TPMKMS_R_KEY_NOT_FOUND or TPMKMS_R_TPM_UNAVAILABLE, raised, if not.
     */
    tpmkms_rc (*check)(void *state, const TPMKMS_KEYREF *key);
    /*
     * RSA decryption with the key's private half: in is a ciphertext of
     * the modulus size; out has room for *outlen bytes (the modulus size
     * is always enough) and gets the message, *outlen its length.  A
     * ciphertext that does not decrypt (wrong key, padding or label) is
     * TPMKMS_R_DECRYPT_FAILED, raised with one message whatever the
     * cause.  A key without the decrypt attribute is refused before any
     * command is sent.
     */
    tpmkms_rc (*decrypt)(void *state, TPMKMS_KEYREF *key,
                         const TPMKMS_DECRYPT_PARAMS *params,
                         const unsigned char *in, size_t inlen,
                         unsigned char *out, size_t *outlen);
    /*
     * ECDH: the shared secret Z of the key's private half and peer_point
     * (uncompressed, 04||X||Y, on the key's curve), as its X coordinate
     * at the field size; secret has room for *secret_len bytes and
     * *secret_len becomes that size.  Needs the decrypt attribute.
     */
    tpmkms_rc (*derive)(void *state, TPMKMS_KEYREF *key,
                        const unsigned char *peer_point, size_t peer_len,
                        unsigned char *secret, size_t *secret_len);
} TPMKMS_KEY_METHODS;

typedef struct tpmkms_admin_methods_st {
    tpmkms_rc (*read_persistent)(void *state, uint32_t handle,
                                 TPMKMS_PUBLIC *pub);
    /* Makes the key persistent at handle (TPM2_EvictControl). */
    tpmkms_rc (*persist)(void *state, const TPMKMS_KEYDATA *key,
                         uint32_t handle, const char *label);
    /* Removes a persistent object (TPM2_EvictControl). */
    tpmkms_rc (*evict)(void *state, uint32_t handle, const char *label);
    tpmkms_rc (*probe)(void *state, TPMKMS_PROBE *probe);
    tpmkms_rc (*setup)(void *state, tpmkms_setup_result *result);
    /*
     * Which TPM this is, as far as its keys are concerned: the TPM name
     * of the storage primary (SRK) keys are created under (ESYS: the
     * name of 0x81000001, or of the same primary derived from the owner
     * seed).  Equal only on the same TPM with the same owner seed, so a
     * key record keeps it (tpm:) to tell "another TPM" from "a handle
     * evicted or reused".  Into *id (OPENSSL_malloc'd; a record holds
     * up to TPMKMS_TPM_ID_MAX bytes, record.h).  Cheap right after create_key, which has the
     * SRK at hand.
     */
    tpmkms_rc (*tpm_identity)(void *state, TPMKMS_BUF *id);
    /*
     * The TPM's persistent handles (0x81000000..0x81FFFFFF) in ascending
     * order, into *handles (OPENSSL_malloc'd, *count of them; NULL and 0
     * when there are none).
     */
    tpmkms_rc (*list_persistent)(void *state, uint32_t **handles,
                                 size_t *count);
} TPMKMS_ADMIN_METHODS;

typedef struct tpmkms_attest_methods_st {
    /*
     * The TPM's endorsement keys (TPMKMS_EK_LIST above): every EK
     * certificate index of the TCG EK Credential Profile that is defined,
     * each with its EK recomputed from its template, and the persistent
     * EKs; with no certificate at all, the low-range EKs L-1 and L-2.
     * Raises on a TPM failure; an EK certificate that does not match is
     * not the backend's to judge (attest/ek.c compares).
     */
    tpmkms_rc (*ek)(void *state, TPMKMS_EK_LIST *list);
    /* A restricted signing key (AK). */
    tpmkms_rc (*ak_create)(void *state, const TPMKMS_CREATE_PARAMS *params,
                           TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub);
    /* TPM2_Certify of key by ak over nonce: TPMS_ATTEST and signature. */
    tpmkms_rc (*certify)(void *state, TPMKMS_KEYREF *ak, TPMKMS_KEYREF *key,
                         const unsigned char *nonce, size_t nonce_len,
                         TPMKMS_BUF *attest, TPMKMS_BUF *sig);
    /*
     * TPM2_Quote of the PCRs in pcr_mask (bit n: PCR n, 0..23) of bank by
     * ak with its own scheme over nonce: attest is the marshalled
     * TPMS_ATTEST (a TPM2B_ATTEST's content), sig the marshalled
     * TPMT_SIGNATURE, pcrs the values of the selected PCRs (TPM2_PCR_Read,
     * read before and after the quote and equal both times), in ascending
     * PCR order, each the bank's digest size.
     */
    tpmkms_rc (*quote)(void *state, TPMKMS_KEYREF *ak, tpmkms_hash bank,
                       uint32_t pcr_mask, const unsigned char *nonce,
                       size_t nonce_len, TPMKMS_BUF *attest, TPMKMS_BUF *sig,
                       TPMKMS_BUF *pcrs);
    /*
     * TPM2_ActivateCredential: the secret a verifier bound to ak's name
     * (TPM2_MakeCredential) for the EK of the profile's template
     * ek_template ("L-1", "L-2"), which the backend derives itself and
     * authorizes with the template's policy.  credential is the marshalled
     * TPM2B_ID_OBJECT, secret the marshalled TPM2B_ENCRYPTED_SECRET; out
     * gets the secret (the TPM2B_DIGEST's bytes).  A template whose policy
     * the backend cannot satisfy: TPMKMS_R_NOT_SUPPORTED, raised.
     */
    tpmkms_rc (*activate)(void *state, TPMKMS_KEYREF *ak,
                          const char *ek_template,
                          const TPMKMS_BUF *credential,
                          const TPMKMS_BUF *secret, TPMKMS_BUF *out);
} TPMKMS_ATTEST_METHODS;

typedef struct tpmkms_backend_method_st {
    const char *name;           /* "tpm2-tss ESYS", in errors */
    /* Opens the connection's state; *state is the backend's own. */
    tpmkms_rc (*connect)(const TPMKMS_CONN_CONFIG *cfg, void **state);
    /* Flushes what it loaded (not persistent objects) and closes. */
    void (*disconnect)(void *state);
    /* After fork(): frees what it can without sending any command. */
    void (*abandon)(void *state);
    /*
     * The connection broke (TPM_UNAVAILABLE from a connected state): free
     * everything without sending a command; the next call reconnects.
     * NULL: abandon is used instead.
     */
    void (*drop)(void *state);
    /*
     * About a connection string (NULL: the backend's default), without
     * connecting.  survives_fork: opening and closing a connection leaves
     * nothing behind in the process (no thread, no D-Bus connection), so
     * a process about to fork may use one.  is_direct: no resource manager
     * between the process and the TPM.  NULL: no (0).
     */
    int (*survives_fork)(const char *conn);
    int (*is_direct)(const char *conn);
    /* Once per process, before any other method (quiets native logs). */
    void (*process_init)(void);
    const TPMKMS_KEY_METHODS *keys;
    const TPMKMS_ADMIN_METHODS *admin;
    const TPMKMS_ATTEST_METHODS *attest;
} TPMKMS_BACKEND_METHOD;

/* The platform's backend: ESYS on Linux, NCrypt on Windows. */
const TPMKMS_BACKEND_METHOD *tpmkms_backend_default_method(void);
const TPMKMS_BACKEND_METHOD *tpmkms_backend_esys_method(void);

/* meth->process_init, if any: the provider's init and the command call it. */
void tpmkms_backend_process_init(const TPMKMS_BACKEND_METHOD *meth);

/* No TPM is touched.  conn NULL: the backend's default. */
TPMKMS_BACKEND *tpmkms_backend_new(const TPMKMS_BACKEND_METHOD *meth,
                                   const char *conn);
/* Before the first command: the owner auth file (copied; NULL: none). */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_set_owner_auth_file(TPMKMS_BACKEND *b,
                                             const char *path);
/* Before the first command: the TPM response deadline (0: default). */
void tpmkms_backend_set_timeout(TPMKMS_BACKEND *b, unsigned seconds);
int tpmkms_backend_up_ref(TPMKMS_BACKEND *b);
void tpmkms_backend_free(TPMKMS_BACKEND *b);
void tpmkms_backend_close(TPMKMS_BACKEND *b); /* flush, disconnect now */
const char *tpmkms_backend_conn(const TPMKMS_BACKEND *b); /* NULL: default */
const TPMKMS_BACKEND_METHOD *tpmkms_backend_method(const TPMKMS_BACKEND *b);
/* The method's survives_fork / is_direct for this backend's connection. */
int tpmkms_backend_survives_fork(const TPMKMS_BACKEND *b);
int tpmkms_backend_is_direct(const TPMKMS_BACKEND *b);

/* Keys. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_create_key(TPMKMS_BACKEND *b,
                                    const TPMKMS_CREATE_PARAMS *params,
                                    TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_sign(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                              tpmkms_scheme scheme, tpmkms_hash hash,
                              const unsigned char *in, size_t inlen,
                              unsigned char *sig, size_t *siglen);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_decrypt(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                                 const TPMKMS_DECRYPT_PARAMS *params,
                                 const unsigned char *in, size_t inlen,
                                 unsigned char *out, size_t *outlen);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_derive(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key,
                                const unsigned char *peer_point,
                                size_t peer_len, unsigned char *secret,
                                size_t *secret_len);
/* Called when a key is freed: flush what is loaded for it. */
void tpmkms_backend_release_key(TPMKMS_BACKEND *b, TPMKMS_KEYREF *key);
/* Pure: no lock, no connection. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_describe(const TPMKMS_BACKEND *b,
                                  const TPMKMS_KEYDATA *key,
                                  TPMKMS_KEYINFO *info, const char *label);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_check_key(TPMKMS_BACKEND *b,
                                   const TPMKMS_KEYREF *key);

/* Administration. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_read_persistent(TPMKMS_BACKEND *b, uint32_t handle,
                                         TPMKMS_PUBLIC *pub);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_persist(TPMKMS_BACKEND *b, const TPMKMS_KEYDATA *key,
                                 uint32_t handle, const char *label);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_evict(TPMKMS_BACKEND *b, uint32_t handle,
                               const char *label);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_probe(TPMKMS_BACKEND *b, TPMKMS_PROBE *probe);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_setup(TPMKMS_BACKEND *b, tpmkms_setup_result *res);
/* id is cleared first; tpmkms_buf_clear frees it. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_tpm_identity(TPMKMS_BACKEND *b, TPMKMS_BUF *id);
/* *handles (OPENSSL_free) and *count are cleared first. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_list_persistent(TPMKMS_BACKEND *b, uint32_t **handles,
                                         size_t *count);

/* Attestation. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_ek(TPMKMS_BACKEND *b, TPMKMS_EK_LIST *list);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_ak_create(TPMKMS_BACKEND *b,
                                   const TPMKMS_CREATE_PARAMS *params,
                                   TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_certify(TPMKMS_BACKEND *b, TPMKMS_KEYREF *ak,
                                 TPMKMS_KEYREF *key,
                                 const unsigned char *nonce, size_t nonce_len,
                                 TPMKMS_BUF *attest, TPMKMS_BUF *sig);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_quote(TPMKMS_BACKEND *b, TPMKMS_KEYREF *ak,
                               tpmkms_hash bank, uint32_t pcr_mask,
                               const unsigned char *nonce, size_t nonce_len,
                               TPMKMS_BUF *attest, TPMKMS_BUF *sig,
                               TPMKMS_BUF *pcrs);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_backend_activate(TPMKMS_BACKEND *b, TPMKMS_KEYREF *ak,
                                  const char *ek_template,
                                  const TPMKMS_BUF *credential,
                                  const TPMKMS_BUF *secret, TPMKMS_BUF *out);

#endif
