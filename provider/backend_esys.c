/*
 * The tpm2-tss ESYS backend (Linux).  The only file that includes tss2
 * headers.  backend.c calls these methods with the backend lock held, one
 * thread at a time, so nothing here locks.
 *
 * TPM objects and commands, per connection:
 *
 *   - the storage parent (SRK): looked up lazily at 0x81000001 with one
 *     TPM2_ReadPublic; if absent, the TCG ECC P-256 SRK is derived with
 *     TPM2_CreatePrimary and kept loaded until disconnect;
 *   - keys from blobs: TPM2_Load on first use, kept loaded so that a warm
 *     signature is exactly one command (TPM2_Sign or TPM2_RSA_Decrypt).
 *     At most ESYS_MAX_KEYS stay loaded (least recently used is flushed):
 *     without a resource manager a TPM holds about three objects;
 *   - persistent objects (keys, parents): one Esys_TR_FromTPMPublic
 *     (TPM2_ReadPublic) per handle per connection, cached, never flushed.
 *
 * Per-key state (key->loaded) names its connection and its slot by
 * number, not by pointer, so a key from a dropped connection is simply
 * "not loaded" and can be freed without touching any connection.
 *
 * Sharing a TPM without a resource manager (swtpm, mssim, /dev/tpm0 used
 * by several processes): the TPM's few object slots are shared by every
 * process, and objects one process keeps loaded are slots the others
 * lack.  A connection therefore works in one of two modes:
 *
 *   - keep (the default): keys stay loaded as above; a warm signature is
 *     one command (TPM2_Sign);
 *   - shared: no object is held between entry points; each signature is
 *     TPM2_Load, TPM2_Sign, TPM2_FlushContext (three commands; with a
 *     transient SRK also TPM2_CreatePrimary and its flush), so a process
 *     needs slots only for the length of a signature.
 *
 * A connection turns shared (and stays so) when TPM_RC_OBJECT_MEMORY
 * persists after it flushed its own objects: other processes hold the
 * slots.  It then retries with a short, bounded backoff (ESYS_SLOT_WAIT_MS)
 * while the others finish their signatures.  A connection made in a
 * forked child (a process other than the one that loaded tpmkms) to a
 * TPM without a resource manager starts shared: its parent and siblings
 * use the same TPM.  Through a resource manager (tpm2-abrmd, /dev/tpmrm0)
 * each connection has its own slots and stays in keep mode.  Auth
 * failures are never retried.
 */
#include <stdatomic.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include "backend.h"
#include "debug.h"
#include "errors.h"
#include "tss2key.h"

#define ESYS_MAX_KEYS 2          /* loaded transient keys per connection */
#define ESYS_TPM_OBJECT_SLOTS 3  /* what a TPM without resource manager has */
#define ESYS_RETRIES 5           /* for TPM_RC_RETRY / YIELDED / TESTING */
#define ESYS_SLOT_WAIT_MS 10000  /* wait for another process's object slot */
#define ESYS_SLOT_BACKOFF_MS 50  /* longest pause between those retries */
#define ESYS_SRK_ATTRS (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT        \
                        | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT    \
                        | TPMA_OBJECT_SENSITIVEDATAORIGIN                   \
                        | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA)
#define ESYS_PROBE_HINT "`tpmkms probe` lists what this TPM supports"
#define ESYS_RM_HINT "use the kernel resource manager " \
    "(TPMKMS_TCTI=device:/dev/tpmrm0) or tpm2-abrmd"

typedef struct {
    ESYS_TR tr;
    uint64_t seq;               /* 0: free */
    uint64_t last_use;
} ESYS_SLOT;

typedef struct {
    TPM2_HANDLE handle;
    ESYS_TR tr;
} ESYS_PERSISTENT;

typedef struct {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *ctx;          /* NULL until esys_open() */
    char tcti_name[256];
    int default_tcti;           /* no config: the TCTI loader's default */
    char *owner_auth_file;      /* TPMKMS_OWNER_AUTH_FILE; NULL: none */
    uint64_t conn_id;
    uint64_t clock;             /* LRU clock and slot sequence numbers */
    ESYS_TR srk;                /* ESYS_TR_NONE until first needed */
    int srk_persistent;         /* srk is 0x81000001 (else our primary) */
    int shared;                 /* hold no object between entry points */
    int srk_absent;             /* 0x81000001 was empty: our own primary */
    unsigned int waited_ms;     /* last wait for an object slot, for errors */
    ESYS_SLOT slots[ESYS_MAX_KEYS];
    ESYS_PERSISTENT *persist;
    size_t npersist, cappersist;
} ESYS_STATE;

typedef struct {                /* one command's wait for a slot */
    int flushed;                /* our own keys were flushed for it */
    unsigned int waits;
    struct timespec start;
} ESYS_SLOT_WAIT;

#define ESYS_SLOT_WAIT_INIT { 0, 0, { 0, 0 } }

typedef struct {                /* what a key's public area says */
    tpmkms_alg alg;
    size_t size;                /* curve bytes or modulus bytes */
    int can_sign, can_decrypt;
    unsigned char n[TPMKMS_RSA_N_MAX]; /* RSA: the modulus, size bytes */
} ESYS_KEYINFO;

typedef struct {                /* TPMKMS_KEYREF.loaded */
    uint64_t conn_id;
    int have_info;
    ESYS_KEYINFO info;
    int slot;                   /* transient keys: slots[slot] if seq matches */
    uint64_t seq;
} ESYS_KEY;

static atomic_uint_fast64_t esys_connections;
/* The process that fetched this method table (loaded tpmkms); a connection
 * made under another pid is a forked child's. */
static atomic_long esys_origin_pid;

/* ---------------------------------------------------------------- names */

static const struct esys_alg {
    tpmkms_alg alg;
    const char *name;
    TPM2_ALG_ID type;
    TPM2_ECC_CURVE curve;
    TPMI_RSA_KEY_BITS bits;
    size_t size;
} esys_algs[] = {
    { TPMKMS_ALG_EC_P256, "ec-p256", TPM2_ALG_ECC, TPM2_ECC_NIST_P256, 0, 32 },
    { TPMKMS_ALG_EC_P384, "ec-p384", TPM2_ALG_ECC, TPM2_ECC_NIST_P384, 0, 48 },
    { TPMKMS_ALG_RSA_2048, "rsa-2048", TPM2_ALG_RSA, 0, 2048, 256 },
    { TPMKMS_ALG_RSA_3072, "rsa-3072", TPM2_ALG_RSA, 0, 3072, 384 },
};

static const struct esys_alg *alg_info(tpmkms_alg alg)
{
    size_t i;

    for (i = 0; i < sizeof(esys_algs) / sizeof(esys_algs[0]); i++)
        if (esys_algs[i].alg == alg)
            return &esys_algs[i];
    return NULL;
}

static const struct esys_alg *alg_of_public(const TPMT_PUBLIC *p)
{
    size_t i;

    for (i = 0; i < sizeof(esys_algs) / sizeof(esys_algs[0]); i++) {
        const struct esys_alg *a = &esys_algs[i];

        if (a->type != p->type)
            continue;
        if (a->type == TPM2_ALG_ECC
            && a->curve == p->parameters.eccDetail.curveID)
            return a;
        if (a->type == TPM2_ALG_RSA
            && a->bits == p->parameters.rsaDetail.keyBits)
            return a;
    }
    return NULL;
}

static const char *alg_name(tpmkms_alg alg)
{
    const struct esys_alg *a = alg_info(alg);

    return a != NULL ? a->name : "(none)";
}

static const struct esys_hash {
    tpmkms_hash hash;
    TPM2_ALG_ID alg;
    size_t size;
    const char *name;
} esys_hashes[] = {
    { TPMKMS_HASH_SHA1, TPM2_ALG_SHA1, 20, "SHA-1" },
    { TPMKMS_HASH_SHA256, TPM2_ALG_SHA256, 32, "SHA-256" },
    { TPMKMS_HASH_SHA384, TPM2_ALG_SHA384, 48, "SHA-384" },
    { TPMKMS_HASH_SHA512, TPM2_ALG_SHA512, 64, "SHA-512" },
};

static const struct esys_hash *hash_info(tpmkms_hash hash)
{
    size_t i;

    for (i = 0; i < sizeof(esys_hashes) / sizeof(esys_hashes[0]); i++)
        if (esys_hashes[i].hash == hash)
            return &esys_hashes[i];
    return NULL;
}

static const char *scheme_name(tpmkms_scheme scheme)
{
    switch (scheme) {
    case TPMKMS_SCHEME_ECDSA:
        return "ECDSA";
    case TPMKMS_SCHEME_RSA_PKCS1:
        return "RSASSA-PKCS1-v1_5";
    case TPMKMS_SCHEME_RSA_PSS:
        return "RSASSA-PSS";
    case TPMKMS_SCHEME_RSA_RAW:
        return "raw RSA";
    }
    return "(unknown scheme)";
}

/* TPM algorithm identifiers that appear in messages about public areas. */
static const char *tpm_alg_name(TPM2_ALG_ID id)
{
    switch (id) {
    case TPM2_ALG_RSA: return "RSA";
    case TPM2_ALG_ECC: return "ECC";
    case TPM2_ALG_KEYEDHASH: return "KEYEDHASH";
    case TPM2_ALG_SYMCIPHER: return "SYMCIPHER";
    case TPM2_ALG_SHA1: return "SHA-1";
    case TPM2_ALG_SHA256: return "SHA-256";
    case TPM2_ALG_SHA384: return "SHA-384";
    case TPM2_ALG_SHA512: return "SHA-512";
    case TPM2_ALG_SM3_256: return "SM3-256";
    case TPM2_ALG_AES: return "AES";
    case TPM2_ALG_SM4: return "SM4";
    case TPM2_ALG_CAMELLIA: return "CAMELLIA";
    case TPM2_ALG_CFB: return "CFB";
    case TPM2_ALG_NULL: return "NULL";
    }
    return NULL;
}

static const char *tpm_curve_name(TPM2_ECC_CURVE c)
{
    switch (c) {
    case TPM2_ECC_NIST_P192: return "NIST P-192";
    case TPM2_ECC_NIST_P224: return "NIST P-224";
    case TPM2_ECC_NIST_P256: return "NIST P-256";
    case TPM2_ECC_NIST_P384: return "NIST P-384";
    case TPM2_ECC_NIST_P521: return "NIST P-521";
    case TPM2_ECC_BN_P256: return "BN P-256";
    case TPM2_ECC_BN_P638: return "BN P-638";
    case TPM2_ECC_SM2_P256: return "SM2 P-256";
    }
    return NULL;
}

static void fmt_alg(char *buf, size_t n, TPM2_ALG_ID id)
{
    const char *s = tpm_alg_name(id);

    if (s != NULL)
        snprintf(buf, n, "%s", s);
    else
        snprintf(buf, n, "alg 0x%04x", id);
}

/* "an ECC NIST P-256 key (attributes 0x00030472, nameAlg SHA-256, ...)" */
static void describe_public(const TPMT_PUBLIC *p, char *buf, size_t n)
{
    char type[48], name_alg[24], sym[24], mode[24];
    const TPMT_SYM_DEF_OBJECT *s = NULL;

    if (p->type == TPM2_ALG_ECC) {
        const char *c = tpm_curve_name(p->parameters.eccDetail.curveID);

        if (c != NULL)
            snprintf(type, sizeof(type), "an ECC %s key", c);
        else
            snprintf(type, sizeof(type), "an ECC key on curve 0x%04x",
                     p->parameters.eccDetail.curveID);
        s = &p->parameters.eccDetail.symmetric;
    } else if (p->type == TPM2_ALG_RSA) {
        snprintf(type, sizeof(type), "an RSA %u key",
                 (unsigned)p->parameters.rsaDetail.keyBits);
        s = &p->parameters.rsaDetail.symmetric;
    } else {
        char t[24];

        fmt_alg(t, sizeof(t), p->type);
        snprintf(type, sizeof(type), "a %s object", t);
    }
    fmt_alg(name_alg, sizeof(name_alg), p->nameAlg);
    if (s != NULL && s->algorithm != TPM2_ALG_NULL) {
        fmt_alg(sym, sizeof(sym), s->algorithm);
        fmt_alg(mode, sizeof(mode), s->mode.sym);
        snprintf(buf, n, "%s (attributes 0x%08x, nameAlg %s, %s-%u-%s)",
                 type, (unsigned)p->objectAttributes, name_alg, sym,
                 (unsigned)s->keyBits.sym, mode);
    } else {
        snprintf(buf, n, "%s (attributes 0x%08x, nameAlg %s, no symmetric "
                 "algorithm)", type, (unsigned)p->objectAttributes, name_alg);
    }
}

/* -------------------------------------------------------- response codes */

/* The TPM's own code with handle/parameter/session numbers masked off, or
 * 0 when rc does not come from the TPM (or a resource manager speaking for
 * it).  Format one: bit 7 plus the 6-bit error; format zero: severity,
 * vendor, version bits plus the 7-bit error. */
static uint32_t tpm_base(TSS2_RC rc)
{
    uint32_t layer = rc & TSS2_RC_LAYER_MASK;
    uint32_t code = rc & 0xffff;

    if (rc == TSS2_RC_SUCCESS
        || (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER))
        return 0;
    if (code & TPM2_RC_FMT1)
        return code & (TPM2_RC_FMT1 | 0x3f);
    return code & 0xd7f;
}

/* TPM_RC_HANDLE for the first handle of the command. */
static int rc_is_handle1(TSS2_RC rc)
{
    return tpm_base(rc) == TPM2_RC_HANDLE
        && (rc & (TPM2_RC_N_MASK | TPM2_RC_P)) == TPM2_RC_1;
}

/* The object behind the first handle is gone (flushed by someone else). */
static int rc_is_stale_object(TSS2_RC rc)
{
    return tpm_base(rc) == TPM2_RC_REFERENCE_H0 || rc_is_handle1(rc);
}

static int rc_is_retry(TSS2_RC rc)
{
    uint32_t b = tpm_base(rc);

    return b == TPM2_RC_RETRY || b == TPM2_RC_YIELDED || b == TPM2_RC_TESTING;
}

static int rc_is_auth(TSS2_RC rc)
{
    uint32_t b = tpm_base(rc);

    return b == TPM2_RC_AUTH_FAIL || b == TPM2_RC_BAD_AUTH;
}

/* The TCTI, or the transport under ESYS, failed: no TPM to talk to. */
static int rc_is_io(TSS2_RC rc)
{
    uint32_t layer = rc & TSS2_RC_LAYER_MASK;
    uint32_t base = rc & 0xffff;

    if (layer == TSS2_TCTI_RC_LAYER)
        return 1;
    if (layer != TSS2_ESAPI_RC_LAYER && layer != TSS2_SYS_RC_LAYER
        && layer != TSS2_RESMGR_RC_LAYER)
        return 0;
    return base == TSS2_BASE_RC_NO_CONNECTION
        || base == TSS2_BASE_RC_IO_ERROR
        || base == TSS2_BASE_RC_BAD_TCTI_STRUCTURE
        || base == TSS2_BASE_RC_INCOMPATIBLE_TCTI
        || base == TSS2_BASE_RC_MALFORMED_RESPONSE
        || base == TSS2_BASE_RC_INSUFFICIENT_RESPONSE
        || base == TSS2_BASE_RC_TRY_AGAIN
        /* ESYS refuses every later call once a command broke mid-way */
        || (layer == TSS2_ESAPI_RC_LAYER && base == TSS2_BASE_RC_BAD_SEQUENCE);
}

static void backoff(int attempt)
{
    struct timespec ts = { 0, 20L * 1000 * 1000 * attempt };

    nanosleep(&ts, NULL);
}

/* ESYS resubmits RETRY/YIELDED/TESTING itself without pausing; this adds
 * up to ESYS_RETRIES paced attempts.  Auth failures are never retried. */
#define ESYS_RETRY(rc, call)                                            \
    do {                                                                \
        int esys_try_ = 0;                                              \
        for (;;) {                                                      \
            (rc) = (call);                                              \
            if (!rc_is_retry(rc) || ++esys_try_ > ESYS_RETRIES)         \
                break;                                                  \
            backoff(esys_try_);                                         \
        }                                                               \
    } while (0)

static const struct esys_rc_map {
    uint32_t code;
    tpmkms_rc reason;           /* TPMKMS_R_OK: the caller's default */
    int probe;                  /* mention `tpmkms probe` */
    const char *text;
} esys_rc_map[] = {
    { TPM2_RC_AUTH_FAIL, TPMKMS_R_AUTH_FAILED, 0,
      "wrong auth value; not retried: each failure counts toward the TPM's "
      "dictionary-attack lockout" },
    { TPM2_RC_BAD_AUTH, TPMKMS_R_AUTH_FAILED, 0,
      "wrong auth value; not retried" },
    { TPM2_RC_OBJECT_MEMORY, TPMKMS_R_OBJECT_MEMORY, 0,
      NULL /* raise_tss() says how long it waited */ },
    { TPM2_RC_SESSION_MEMORY, TPMKMS_R_TPM_ERROR, 0,
      "the TPM has no room for another session: another process holds "
      "them; " ESYS_RM_HINT },
    { TPM2_RC_MEMORY, TPMKMS_R_TPM_ERROR, 0,
      "the TPM is out of memory: another process holds its objects or "
      "sessions; " ESYS_RM_HINT },
    { TPM2_RC_SESSION_HANDLES, TPMKMS_R_TPM_ERROR, 0,
      "the TPM is out of session handles: another process holds them; "
      ESYS_RM_HINT },
    { TPM2_RC_INITIALIZE, TPMKMS_R_TPM_UNAVAILABLE, 0,
      "the TPM has not been started (TPM2_Startup): the firmware normally "
      "does this; for swtpm use --flags startup-clear or run tpm2_startup -c" },
    { TPM2_RC_FAILURE, TPMKMS_R_OK, 0,
      "the TPM reports an internal failure; if every command fails, it is "
      "in failure mode and needs a reset" },
    { TPM2_RC_REBOOT, TPMKMS_R_TPM_UNAVAILABLE, 0,
      "the TPM needs a reset (TPM2_Startup) before it can be used" },
    { TPM2_RC_CURVE, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM does not support this curve" },
    { TPM2_RC_KEY_SIZE, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM does not support this key size" },
    { TPM2_RC_ASYMMETRIC, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM does not support this key algorithm" },
    { TPM2_RC_HASH, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM refused the hash algorithm" },
    { TPM2_RC_SCHEME, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM refused the signature scheme (or the key fixes another one)" },
    { TPM2_RC_KDF, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM refused the key derivation function" },
    { TPM2_RC_MGF, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM refused the mask generation function" },
    { TPM2_RC_SYMMETRIC, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM refused the symmetric algorithm of the template" },
    { TPM2_RC_MODE, TPMKMS_R_UNSUPPORTED_ALGORITHM, 1,
      "the TPM refused the symmetric mode of the template" },
    { TPM2_RC_VALUE, TPMKMS_R_OK, 1,
      "the TPM refused a value as out of range or not right for the "
      "algorithm or hash" },
    { TPM2_RC_KEY, TPMKMS_R_OK, 0,
      "the key's attributes or scheme do not allow this operation" },
    { TPM2_RC_ATTRIBUTES, TPMKMS_R_OK, 0,
      "the key's attributes do not allow this operation" },
    { TPM2_RC_TYPE, TPMKMS_R_OK, 0,
      "the object has the wrong type for this operation" },
    { TPM2_RC_TICKET, TPMKMS_R_OK, 0,
      "the key is restricted: it signs only digests the TPM computed itself" },
    { TPM2_RC_INTEGRITY, TPMKMS_R_OK, 0,
      "the key blob does not belong to this TPM and parent (integrity check "
      "failed): it was made on another TPM or under another SRK, or the TPM "
      "was cleared since" },
    { TPM2_RC_BINDING, TPMKMS_R_OK, 0,
      "the key blob's public and private parts do not belong together" },
    { TPM2_RC_SIZE, TPMKMS_R_OK, 0,
      "a structure has the wrong size (a damaged or foreign key blob, or an "
      "input that does not fit the key)" },
    { TPM2_RC_INSUFFICIENT, TPMKMS_R_OK, 0,
      "a structure is truncated (a damaged key blob?)" },
    { TPM2_RC_HANDLE, TPMKMS_R_OK, 0,
      "the TPM has no object at that handle" },
    { TPM2_RC_REFERENCE_H0, TPMKMS_R_OK, 0,
      "an object tpmkms had loaded is gone (flushed by another program or a "
      "TPM reset)" },
    { TPM2_RC_NV_DEFINED, TPMKMS_R_KEY_EXISTS, 0,
      "the persistent handle is already in use" },
    { TPM2_RC_NV_SPACE, TPMKMS_R_TPM_ERROR, 0,
      "the TPM has no room for another persistent object" },
    { TPM2_RC_NV_RATE, TPMKMS_R_TPM_ERROR, 0,
      "the TPM is rate-limiting NV writes; try again later" },
    { TPM2_RC_HIERARCHY, TPMKMS_R_TPM_ERROR, 0,
      "the owner hierarchy is disabled" },
    { TPM2_RC_LOCKOUT, TPMKMS_R_LOCKOUT, 0, NULL /* lockout_text() */ },
};

static const struct esys_rc_map *rc_lookup(TSS2_RC rc)
{
    uint32_t b = tpm_base(rc);
    size_t i;

    if (b == 0)
        return NULL;
    for (i = 0; i < sizeof(esys_rc_map) / sizeof(esys_rc_map[0]); i++)
        if (esys_rc_map[i].code == b)
            return &esys_rc_map[i];
    return NULL;
}

static void fmt_duration(char *buf, size_t n, uint64_t s)
{
    if (s < 120)
        snprintf(buf, n, "%u s", (unsigned)s);
    else if (s < 2 * 3600)
        snprintf(buf, n, "%u min", (unsigned)((s + 59) / 60));
    else
        snprintf(buf, n, "%.1f h", (double)s / 3600.0);
}

/* One GetCapability for the four dictionary-attack properties. */
static void lockout_text(ESYS_STATE *st, char *buf, size_t n)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    uint32_t v[4] = { 0, 0, 0, 0 };
    int seen = 0;
    TSS2_RC rc;
    UINT32 i;

    rc = Esys_GetCapability(st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            TPM2_CAP_TPM_PROPERTIES, TPM2_PT_LOCKOUT_COUNTER,
                            4, &more, &cap);
    if (rc == TSS2_RC_SUCCESS) {
        TPML_TAGGED_TPM_PROPERTY *p = &cap->data.tpmProperties;

        for (i = 0; i < p->count; i++) {
            uint32_t prop = p->tpmProperty[i].property;

            if (prop >= TPM2_PT_LOCKOUT_COUNTER
                && prop <= TPM2_PT_LOCKOUT_RECOVERY) {
                v[prop - TPM2_PT_LOCKOUT_COUNTER] = p->tpmProperty[i].value;
                seen++;
            }
        }
    }
    Esys_Free(cap);
    if (seen < 4) {
        snprintf(buf, n, "the TPM is in dictionary-attack lockout (its "
                 "lockout counters could not be read: %s); it refuses keys "
                 "with an auth value until it recovers or its lockout is "
                 "reset (tpm2_dictionarylockout --clear-lockout)",
                 rc == TSS2_RC_SUCCESS ? "incomplete answer"
                                       : Tss2_RC_Decode(rc));
        return;
    }
    if (v[2] == 0) {
        snprintf(buf, n, "the TPM is in dictionary-attack lockout (%u of %u "
                 "failures) and its lockout interval is 0: it does not "
                 "recover by itself; the lockout hierarchy's owner must "
                 "reset it (tpm2_dictionarylockout --clear-lockout)",
                 v[0], v[1]);
    } else {
        char wait[32], one[32];
        uint64_t failures = v[0] >= v[1] ? (uint64_t)v[0] - v[1] + 1 : 1;

        fmt_duration(wait, sizeof(wait), failures * v[2]);
        fmt_duration(one, sizeof(one), v[2]);
        snprintf(buf, n, "the TPM is in dictionary-attack lockout (%u "
                 "failures, the limit is %u); it forgives one failure every "
                 "%s, so keys with an auth value work again in about %s "
                 "(or after tpm2_dictionarylockout --clear-lockout, whose "
                 "own lockout recovery is %u s)",
                 v[0], v[1], one, wait, v[3]);
    }
}

/*
 * Raise the tpmkms reason for a failed ESYS call, once, naming the key
 * (label), the command, the code in hex with its decoding and, where the
 * decoding is opaque, what it means here.  `what` names the algorithm,
 * scheme and hash involved (may be NULL).
 */
static tpmkms_rc raise_tss(ESYS_STATE *st, TSS2_RC rc, tpmkms_rc dflt,
                           const char *label, const char *cmd,
                           const char *what)
{
    const struct esys_rc_map *m;
    const char *decoded = Tss2_RC_Decode(rc);
    char text[512];
    tpmkms_rc reason = dflt;

    if (label == NULL)
        label = "tpmkms";
    if (rc_is_io(rc)) {
        TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                     "%s: %s failed: 0x%08x (%s) — cannot talk to the TPM "
                     "through TCTI \"%s\"", label, cmd, (unsigned)rc, decoded,
                     st != NULL ? st->tcti_name : "?");
        return TPMKMS_R_TPM_UNAVAILABLE;
    }
    m = rc_lookup(rc);
    if (m == NULL) {
        TPMKMS_raise(reason, "%s: %s failed: 0x%08x (%s)%s%s", label, cmd,
                     (unsigned)rc, decoded, what != NULL ? " — " : "",
                     what != NULL ? what : "");
        return reason;
    }
    if (m->reason != TPMKMS_R_OK)
        reason = m->reason;
    if (m->code == TPM2_RC_LOCKOUT && st != NULL)
        lockout_text(st, text, sizeof(text));
    else if (m->code == TPM2_RC_OBJECT_MEMORY)
        snprintf(text, sizeof(text), "the TPM has no free object slot: "
                 "tpmkms flushed its own objects and waited %u ms for other "
                 "processes to free one; without a resource manager every "
                 "process shares the TPM's few slots, and one that keeps "
                 "keys loaded (or died without flushing them: "
                 "tpm2_flushcontext -t) starves the others;%s " ESYS_RM_HINT,
                 st != NULL ? st->waited_ms : 0,
                 st != NULL && st->srk_absent
                 ? " no SRK is persisted at 0x81000001, so each process "
                   "also holds a primary key: run tpmkms setup once;" : "");
    else
        snprintf(text, sizeof(text), "%s", m->text != NULL ? m->text : "");
    TPMKMS_raise(reason, "%s: %s failed: 0x%08x (%s) — %s%s%s%s%s", label,
                 cmd, (unsigned)rc, decoded, text,
                 what != NULL ? " (" : "", what != NULL ? what : "",
                 what != NULL ? ")" : "",
                 m->probe ? "; " ESYS_PROBE_HINT : "");
    return reason;
}

/*
 * The owner hierarchy's auth value, for the few owner commands (the SRK's
 * CreatePrimary, EvictControl): the first line of the file that
 * TPMKMS_OWNER_AUTH_FILE names, if set.  Set just before the command and
 * cleared (in ESYS and in memory) right after it.
 */
static tpmkms_rc owner_auth_begin(ESYS_STATE *st, const char *label)
{
    const char *path = st->owner_auth_file;
    char line[sizeof(((TPM2B_AUTH *)0)->buffer) + 3];
    TPM2B_AUTH auth;
    size_t len;
    FILE *f;

    if (path == NULL || *path == '\0')
        return TPMKMS_R_OK;
    if ((f = fopen(path, "r")) == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: cannot read the owner auth file %s "
                     "(TPMKMS_OWNER_AUTH_FILE): %s",
                     label != NULL ? label : "tpmkms", path, strerror(errno));
        return TPMKMS_R_BAD_PARAMETER;
    }
    memset(line, 0, sizeof(line));
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    fclose(f);
    len = strcspn(line, "\r\n");
    if (len > sizeof(auth.buffer)) {
        OPENSSL_cleanse(line, sizeof(line));
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the owner auth in %s is longer than %zu bytes",
                     label != NULL ? label : "tpmkms", path,
                     sizeof(auth.buffer));
        return TPMKMS_R_BAD_PARAMETER;
    }
    memset(&auth, 0, sizeof(auth));
    auth.size = (UINT16)len;
    memcpy(auth.buffer, line, len);
    Esys_TR_SetAuth(st->ctx, ESYS_TR_RH_OWNER, &auth);
    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(&auth, sizeof(auth));
    return TPMKMS_R_OK;
}

static void owner_auth_end(ESYS_STATE *st)
{
    TPM2B_AUTH none;

    memset(&none, 0, sizeof(none));
    Esys_TR_SetAuth(st->ctx, ESYS_TR_RH_OWNER, &none);
}

/*
 * TPM2_EvictControl under the owner's auth: obj made persistent at handle
 * (*out its new ESYS_TR), or, for a persistent obj, evicted.  Returns a
 * raised reason if the owner auth could not be read (nothing was sent),
 * else TPMKMS_R_OK with the command's answer in *rc.
 */
static tpmkms_rc owner_evict_control(ESYS_STATE *st, const char *label,
                                     ESYS_TR obj, TPM2_HANDLE handle,
                                     ESYS_TR *out, TSS2_RC *rc)
{
    tpmkms_rc r = owner_auth_begin(st, label);

    if (r != TPMKMS_R_OK)
        return r;
    ESYS_RETRY(*rc, Esys_EvictControl(st->ctx, ESYS_TR_RH_OWNER, obj,
                                      ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                      ESYS_TR_NONE, handle, out));
    owner_auth_end(st);
    return TPMKMS_R_OK;
}

/* Owner-hierarchy commands: an auth failure means the owner has an auth. */
static tpmkms_rc raise_owner(ESYS_STATE *st, TSS2_RC rc, const char *label,
                             const char *cmd, const char *what)
{
    if (rc_is_auth(rc)) {
        TPMKMS_raise(TPMKMS_R_AUTH_FAILED,
                     "%s: %s failed: 0x%08x (%s) — the TPM's owner hierarchy "
                     "has an auth value that was not given or is wrong: put "
                     "it in a file named by TPMKMS_OWNER_AUTH_FILE; not "
                     "retried: each failure may count toward the "
                     "dictionary-attack lockout",
                     label != NULL ? label : "tpmkms", cmd, (unsigned)rc,
                     Tss2_RC_Decode(rc));
        return TPMKMS_R_AUTH_FAILED;
    }
    return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, cmd, what);
}

/* --------------------------------------------------------- public areas */

static tpmkms_rc public_unmarshal(const unsigned char *buf, size_t len,
                                  TPM2B_PUBLIC *pub, const char *label)
{
    size_t off = 0;
    TSS2_RC rc;

    memset(pub, 0, sizeof(*pub));
    rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, pub);
    if (rc != TSS2_RC_SUCCESS || off != len) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "%s: the key's public part (TPM2B_PUBLIC, %zu bytes) "
                     "does not parse: %s", label, len,
                     rc != TSS2_RC_SUCCESS ? Tss2_RC_Decode(rc)
                                           : "trailing bytes");
        return TPMKMS_R_BAD_KEY_FILE;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc keyinfo_of(const TPMT_PUBLIC *p, ESYS_KEYINFO *info,
                            const char *label)
{
    const struct esys_alg *a = alg_of_public(p);
    TPMA_OBJECT at = p->objectAttributes;

    if (a == NULL) {
        char desc[256];

        describe_public(p, desc, sizeof(desc));
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key is %s; tpmkms handles ec-p256, ec-p384, "
                     "rsa-2048 and rsa-3072 keys", label, desc);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    info->alg = a->alg;
    info->size = a->size;
    /* A restricted key signs only TPM-made digests (or with a ticket). */
    info->can_sign = (at & TPMA_OBJECT_SIGN_ENCRYPT)
        && !(at & TPMA_OBJECT_RESTRICTED);
    info->can_decrypt = (at & TPMA_OBJECT_DECRYPT)
        && !(at & TPMA_OBJECT_RESTRICTED);
    memset(info->n, 0, sizeof(info->n));
    if (p->type == TPM2_ALG_RSA) {
        if (p->unique.rsa.size > info->size || info->size > sizeof(info->n)) {
            TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                         "%s: the key's RSA modulus has %u bytes, more than "
                         "%s allows", label, (unsigned)p->unique.rsa.size,
                         a->name);
            return TPMKMS_R_BAD_KEY_FILE;
        }
        memcpy(info->n + info->size - p->unique.rsa.size,
               p->unique.rsa.buffer, p->unique.rsa.size);
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc public_convert(const TPMT_PUBLIC *p, TPMKMS_PUBLIC *out,
                                const char *label)
{
    ESYS_KEYINFO info;
    tpmkms_rc r;

    if ((r = keyinfo_of(p, &info, label)) != TPMKMS_R_OK)
        return r;
    memset(out, 0, sizeof(*out));
    out->alg = info.alg;
    out->can_sign = info.can_sign;
    out->can_decrypt = info.can_decrypt;
    if (p->type == TPM2_ALG_ECC) {
        const TPM2B_ECC_PARAMETER *x = &p->unique.ecc.x, *y = &p->unique.ecc.y;

        if (x->size > info.size || y->size > info.size) {
            TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                         "%s: the key's EC point has coordinates of %u and %u "
                         "bytes, more than %s allows", label,
                         (unsigned)x->size, (unsigned)y->size,
                         alg_name(info.alg));
            return TPMKMS_R_BAD_KEY_FILE;
        }
        out->ec_point[0] = 0x04;
        memcpy(out->ec_point + 1 + info.size - x->size, x->buffer, x->size);
        memcpy(out->ec_point + 1 + 2 * info.size - y->size, y->buffer,
               y->size);
        out->ec_point_len = 1 + 2 * info.size;
    } else {
        memcpy(out->rsa_n, info.n, info.size);
        out->rsa_n_len = info.size;
        out->rsa_e = p->parameters.rsaDetail.exponent != 0
            ? p->parameters.rsaDetail.exponent : 65537;
    }
    return TPMKMS_R_OK;
}

/* The TCG ECC P-256 SRK template (TCG TPM v2.0 Provisioning Guidance). */
static void srk_template(TPM2B_PUBLIC *t)
{
    TPMT_PUBLIC *p = &t->publicArea;

    memset(t, 0, sizeof(*t));
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = ESYS_SRK_ATTRS;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    /*
     * unique left empty, as tpm2-openssl and tpm2_createprimary leave it:
     * a TSS2 key file whose parent is 0x40000001 is then made and loaded
     * under the same primary by tpmkms and by tpm2-openssl (with 32 zero
     * bytes of x and y the primaries differ and TPM2_Load fails its
     * integrity check).
     */
}

static int srk_matches(const TPMT_PUBLIC *p)
{
    const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;

    return p->type == TPM2_ALG_ECC
        && p->nameAlg == TPM2_ALG_SHA256
        && p->objectAttributes == ESYS_SRK_ATTRS
        && p->authPolicy.size == 0
        && e->symmetric.algorithm == TPM2_ALG_AES
        && e->symmetric.keyBits.aes == 128
        && e->symmetric.mode.aes == TPM2_ALG_CFB
        && e->scheme.scheme == TPM2_ALG_NULL
        && e->curveID == TPM2_ECC_NIST_P256
        && e->kdf.scheme == TPM2_ALG_NULL;
}

static tpmkms_rc raise_wrong_srk(const TPMT_PUBLIC *p, const char *label)
{
    char desc[256];

    describe_public(p, desc, sizeof(desc));
    TPMKMS_raise(TPMKMS_R_WRONG_SRK,
                 "%s: the persistent handle 0x%08x holds %s, not the TCG ECC "
                 "P-256 SRK (restricted decrypt key, AES-128-CFB, SHA-256, "
                 "attributes 0x%08x) that tpmkms keys are made under; "
                 "another program provisioned it: keep it and use another "
                 "TPM, or remove it (tpm2_evictcontrol) and run tpmkms setup",
                 label != NULL ? label : "tpmkms", TPMKMS_SRK_HANDLE, desc,
                 (unsigned)ESYS_SRK_ATTRS);
    return TPMKMS_R_WRONG_SRK;
}

/* ------------------------------------------------- persistent objects */

static ESYS_TR persistent_find(ESYS_STATE *st, TPM2_HANDLE h)
{
    size_t i;

    for (i = 0; i < st->npersist; i++)
        if (st->persist[i].handle == h)
            return st->persist[i].tr;
    return ESYS_TR_NONE;
}

/* Drops the cache entry; ESYS has closed the TR or the caller does. */
static void persistent_forget(ESYS_STATE *st, TPM2_HANDLE h)
{
    size_t i;

    for (i = 0; i < st->npersist; i++) {
        if (st->persist[i].handle != h)
            continue;
        if (st->srk_persistent && st->srk == st->persist[i].tr)
            st->srk = ESYS_TR_NONE;
        st->persist[i] = st->persist[--st->npersist];
        return;
    }
}

static int persistent_add(ESYS_STATE *st, TPM2_HANDLE h, ESYS_TR tr)
{
    if (st->npersist == st->cappersist) {
        size_t cap = st->cappersist == 0 ? 4 : 2 * st->cappersist;
        ESYS_PERSISTENT *p = OPENSSL_realloc(st->persist, cap * sizeof(*p));

        if (p == NULL)
            return 0;
        st->persist = p;
        st->cappersist = cap;
    }
    st->persist[st->npersist].handle = h;
    st->persist[st->npersist].tr = tr;
    st->npersist++;
    return 1;
}

/*
 * The ESYS_TR of a persistent handle: cached, else one TPM2_ReadPublic.
 * refresh: ask the TPM again even when cached (ESYS reuses its node for
 * the handle and checks the name).  ESYS closes the node on failure.
 * Returns the raw TSS2_RC: callers decide what an absent handle means.
 */
static TSS2_RC persistent_open_once(ESYS_STATE *st, TPM2_HANDLE h,
                                    int refresh, ESYS_TR *tr)
{
    ESYS_TR cached = persistent_find(st, h), t = ESYS_TR_NONE;
    TSS2_RC rc;

    if (cached != ESYS_TR_NONE && !refresh) {
        *tr = cached;
        return TSS2_RC_SUCCESS;
    }
    TPMKMS_debug("TPM2_ReadPublic(0x%08x)", h);
    ESYS_RETRY(rc, Esys_TR_FromTPMPublic(st->ctx, h, ESYS_TR_NONE,
                                         ESYS_TR_NONE, ESYS_TR_NONE, &t));
    if (rc != TSS2_RC_SUCCESS && cached != ESYS_TR_NONE) {
        persistent_forget(st, h);
        if (tpm_base(rc) != 0 || rc_is_io(rc))
            return rc;
        /* ESYS refused a name that changed (another object was put at
         * the handle since): its node is gone, ask afresh. */
        cached = ESYS_TR_NONE;
        ESYS_RETRY(rc, Esys_TR_FromTPMPublic(st->ctx, h, ESYS_TR_NONE,
                                             ESYS_TR_NONE, ESYS_TR_NONE, &t));
    }
    if (rc != TSS2_RC_SUCCESS)
        return rc;
    if (cached == ESYS_TR_NONE && !persistent_add(st, h, t)) {
        Esys_TR_Close(st->ctx, &t);
        return TSS2_ESYS_RC_MEMORY;
    }
    *tr = t;
    return TSS2_RC_SUCCESS;
}

static int slot_wait(ESYS_STATE *st, ESYS_SLOT_WAIT *w, const char *label);

/* The TPM reads a persistent object into a free slot to answer. */
static TSS2_RC persistent_open(ESYS_STATE *st, TPM2_HANDLE h, int refresh,
                               ESYS_TR *tr)
{
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    TSS2_RC rc;

    while ((rc = persistent_open_once(st, h, refresh, tr)) != TSS2_RC_SUCCESS
           && tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
           && slot_wait(st, &wait, "TPM2_ReadPublic"))
        ;
    return rc;
}

/*
 * The public area ESYS cached for a TR (no command): Esys_TR_Serialize
 * writes handle, TPM2B_NAME, resource type and, for keys, TPM2B_PUBLIC
 * (the stable format of serialized ESYS_TR files).  Falls back to
 * TPM2_ReadPublic if the serialization is not what we expect.
 */
#define ESYS_IESYSC_KEY_RSRC 1u

static TSS2_RC tr_public(ESYS_STATE *st, ESYS_TR tr, TPM2B_PUBLIC *pub)
{
    uint8_t *buf = NULL;
    size_t len = 0, off = 0;
    TPM2_HANDLE handle;
    TPM2B_NAME name;
    UINT32 type = 0;
    TPM2B_PUBLIC *rp = NULL;
    TSS2_RC rc;

    memset(pub, 0, sizeof(*pub));
    memset(&name, 0, sizeof(name));
    rc = Esys_TR_Serialize(st->ctx, tr, &buf, &len);
    if (rc == TSS2_RC_SUCCESS
        && Tss2_MU_TPM2_HANDLE_Unmarshal(buf, len, &off, &handle) == 0
        && Tss2_MU_TPM2B_NAME_Unmarshal(buf, len, &off, &name) == 0
        && Tss2_MU_UINT32_Unmarshal(buf, len, &off, &type) == 0
        && type == ESYS_IESYSC_KEY_RSRC
        && Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, pub) == 0
        && off == len) {
        Esys_Free(buf);
        return TSS2_RC_SUCCESS;
    }
    Esys_Free(buf);
    TPMKMS_debug("ESYS_TR serialization not understood; TPM2_ReadPublic");
    ESYS_RETRY(rc, Esys_ReadPublic(st->ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE,
                                   ESYS_TR_NONE, &rp, NULL, NULL));
    if (rc == TSS2_RC_SUCCESS)
        *pub = *rp;
    Esys_Free(rp);
    return rc;
}

/* ------------------------------------------------------- object budget */

static int keys_loaded(const ESYS_STATE *st)
{
    int i, n = 0;

    for (i = 0; i < ESYS_MAX_KEYS; i++)
        n += st->slots[i].seq != 0;
    return n;
}

static int srk_is_transient(const ESYS_STATE *st)
{
    return st->srk != ESYS_TR_NONE && !st->srk_persistent;
}

static void flush_tr(ESYS_STATE *st, ESYS_TR *tr)
{
    TSS2_RC rc;

    TPMKMS_debug("TPM2_FlushContext");
    ESYS_RETRY(rc, Esys_FlushContext(st->ctx, *tr));
    if (rc != TSS2_RC_SUCCESS) {
        TPMKMS_debug("TPM2_FlushContext failed: 0x%08x (%s)", (unsigned)rc,
                     Tss2_RC_Decode(rc));
        Esys_TR_Close(st->ctx, tr);
    }
    *tr = ESYS_TR_NONE;
}

static void slot_flush(ESYS_STATE *st, int i)
{
    if (st->slots[i].seq == 0)
        return;
    flush_tr(st, &st->slots[i].tr);
    st->slots[i].seq = 0;
}

/* The object is already gone from the TPM: forget it without a command. */
static void slot_drop(ESYS_STATE *st, int i)
{
    if (st->slots[i].seq == 0)
        return;
    Esys_TR_Close(st->ctx, &st->slots[i].tr);
    st->slots[i].tr = ESYS_TR_NONE;
    st->slots[i].seq = 0;
}

static void flush_all_keys(ESYS_STATE *st)
{
    int i;

    for (i = 0; i < ESYS_MAX_KEYS; i++)
        slot_flush(st, i);
}

/*
 * Before a command that needs `extra` free object slots (a Load's new
 * object, a persistent object the TPM pulls in for the command), flush
 * least-recently-used keys until our transient objects plus `extra` fit
 * in a TPM with ESYS_TPM_OBJECT_SLOTS, and, when adding a key, until at
 * most ESYS_MAX_KEYS stay loaded afterwards.
 */
static void make_room(ESYS_STATE *st, int extra, int adding_key)
{
    for (;;) {
        int keys = keys_loaded(st), lru = -1, i;
        int transient = keys + srk_is_transient(st);

        if ((!adding_key || keys + 1 <= ESYS_MAX_KEYS)
            && transient + extra <= ESYS_TPM_OBJECT_SLOTS)
            return;
        for (i = 0; i < ESYS_MAX_KEYS; i++)
            if (st->slots[i].seq != 0
                && (lru < 0 || st->slots[i].last_use < st->slots[lru].last_use))
                lru = i;
        if (lru < 0)
            return;
        slot_flush(st, lru);
    }
}

static unsigned int elapsed_ms(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (unsigned int)((now.tv_sec - t0->tv_sec) * 1000
                          + (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/*
 * One command's wait for an object slot (TPM_RC_OBJECT_MEMORY).  The
 * first time, flush our own keys and retry at once.  If the TPM is still
 * full, other processes hold its slots: this connection turns shared (it
 * holds nothing between entry points from now on) and retries after a
 * pause that doubles up to ESYS_SLOT_BACKOFF_MS, with jitter so that
 * processes waiting together do not retry in step, for at most
 * ESYS_SLOT_WAIT_MS.  Returns 1 to retry, 0 to give up (st->waited_ms
 * says how long it waited, for the error).
 */
static int slot_wait(ESYS_STATE *st, ESYS_SLOT_WAIT *w, const char *label)
{
    unsigned int pause, waited;
    struct timespec ts;

    if (!w->flushed) {
        w->flushed = 1;
        clock_gettime(CLOCK_MONOTONIC, &w->start);
        st->waited_ms = 0;
        if (keys_loaded(st) > 0) {
            TPMKMS_debug("%s: TPM object memory full: flushing our keys",
                         label);
            flush_all_keys(st);
            return 1;
        }
    }
    if (!st->shared) {
        TPMKMS_debug("%s: other processes hold the TPM's object slots: "
                     "holding no object between signatures on this "
                     "connection from now on", label);
        st->shared = 1;
    }
    waited = elapsed_ms(&w->start);
    st->waited_ms = waited;
    if (waited >= ESYS_SLOT_WAIT_MS)
        return 0;
    /* Hold nothing while waiting: our primary is derived again after. */
    if (srk_is_transient(st))
        flush_tr(st, &st->srk);
    pause = w->waits < 7 ? 1u << w->waits : ESYS_SLOT_BACKOFF_MS;
    if (pause > ESYS_SLOT_BACKOFF_MS)
        pause = ESYS_SLOT_BACKOFF_MS;
    pause += (unsigned int)(getpid() + 7919u * w->waits) % (pause / 2 + 1);
    if (waited + pause > ESYS_SLOT_WAIT_MS)
        pause = ESYS_SLOT_WAIT_MS - waited;
    w->waits++;
    ts.tv_sec = pause / 1000;
    ts.tv_nsec = (long)(pause % 1000) * 1000000L;
    nanosleep(&ts, NULL);
    return 1;
}

/* Shared mode: at the end of an entry point, let go of every object. */
static void release_if_shared(ESYS_STATE *st)
{
    if (!st->shared)
        return;
    flush_all_keys(st);
    if (srk_is_transient(st))
        flush_tr(st, &st->srk);
}

/* ----------------------------------------------------------- the SRK */

static tpmkms_rc create_primary(ESYS_STATE *st, const char *label,
                                ESYS_TR *out)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    TSS2_RC rc;

    memset(&sens, 0, sizeof(sens));
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    srk_template(&tmpl);
    for (;;) {
        make_room(st, 1, 0);
        TPMKMS_debug("TPM2_CreatePrimary(owner, TCG ECC P-256 SRK)");
        if (owner_auth_begin(st, label) != TPMKMS_R_OK)
            return TPMKMS_R_BAD_PARAMETER;
        ESYS_RETRY(rc, Esys_CreatePrimary(st->ctx, ESYS_TR_RH_OWNER,
                                          ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                          ESYS_TR_NONE, &sens, &tmpl,
                                          &outside, &pcrs, out, NULL, NULL,
                                          NULL, NULL));
        owner_auth_end(st);
        if (rc == TSS2_RC_SUCCESS)
            return TPMKMS_R_OK;
        if (tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && slot_wait(st, &wait, label))
            continue;
        return raise_owner(st, rc, label,
                           "TPM2_CreatePrimary (the TCG ECC P-256 SRK)", NULL);
    }
}

/* The storage parent for blobs under 0x81000001 or 0x40000001. */
static tpmkms_rc ensure_srk(ESYS_STATE *st, const char *label)
{
    TPM2B_PUBLIC pub;
    ESYS_TR tr = ESYS_TR_NONE;
    TSS2_RC rc;
    tpmkms_rc r;

    if (st->srk != ESYS_TR_NONE)
        return TPMKMS_R_OK;
    /* Known absent on this connection (shared mode derives it per
     * signature): no TPM2_ReadPublic each time. */
    rc = st->srk_absent ? TPM2_RC_HANDLE
                        : persistent_open(st, TPMKMS_SRK_HANDLE, 1, &tr);
    if (rc == TSS2_RC_SUCCESS) {
        rc = tr_public(st, tr, &pub);
        if (rc != TSS2_RC_SUCCESS)
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                             "TPM2_ReadPublic(0x81000001)", NULL);
        if (!srk_matches(&pub.publicArea))
            return raise_wrong_srk(&pub.publicArea, label);
        st->srk = tr;
        st->srk_persistent = 1;
        return TPMKMS_R_OK;
    }
    if (tpm_base(rc) != TPM2_RC_HANDLE)
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                         "TPM2_ReadPublic(0x81000001)", NULL);
    /* No persistent SRK: derive the same key from the owner seed. */
    st->srk_absent = 1;
    if ((r = create_primary(st, label, &tr)) != TPMKMS_R_OK)
        return r;
    st->srk = tr;
    st->srk_persistent = 0;
    return TPMKMS_R_OK;
}

/* ------------------------------------------------------------- loading */

/*
 * The TSS2 PRIVATE KEY in a key's material (parsed where it is needed:
 * describing a key, loading it; never on a warm signature).
 */
static tpmkms_rc blob_of(const TPMKMS_KEYDATA *kd, TPMKMS_KEYBLOB *blob,
                         const char *label)
{
    memset(blob, 0, sizeof(*blob));
    if (kd->format != TPMKMS_KEYFMT_TSS2_DER || kd->data == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "%s: the key's material is not a TSS2 PRIVATE KEY "
                     "(format %d): this key belongs to another TPM backend",
                     label, (int)kd->format);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    return tpmkms_tss2key_from_der(kd->data, kd->len, blob);
}

static tpmkms_rc blob_unmarshal(const TPMKMS_KEYBLOB *blob, TPM2B_PUBLIC *pub,
                                TPM2B_PRIVATE *priv, const char *label)
{
    size_t off = 0;
    TSS2_RC rc;
    tpmkms_rc r;

    if (blob->pub == NULL || (priv != NULL && blob->priv == NULL)) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE, "%s: the key blob is empty",
                     label);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    if ((r = public_unmarshal(blob->pub, blob->pub_len, pub, label))
        != TPMKMS_R_OK)
        return r;
    if (priv == NULL)
        return TPMKMS_R_OK;
    memset(priv, 0, sizeof(*priv));
    rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob->priv, blob->priv_len, &off,
                                         priv);
    if (rc != TSS2_RC_SUCCESS || off != blob->priv_len) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "%s: the key's private part (TPM2B_PRIVATE, %zu bytes) "
                     "does not parse: %s", label, blob->priv_len,
                     rc != TSS2_RC_SUCCESS ? Tss2_RC_Decode(rc)
                                           : "trailing bytes");
        return TPMKMS_R_BAD_KEY_FILE;
    }
    return TPMKMS_R_OK;
}

static int handle_is_persistent(uint32_t h)
{
    return (h >> TPM2_HR_SHIFT) == TPM2_HT_PERSISTENT;
}

/* TPM2_Load of a blob under its parent; *tr is a new transient object. */
static tpmkms_rc load_blob(ESYS_STATE *st, const TPMKMS_KEYBLOB *blob,
                           const char *label, int as_key, ESYS_TR *tr)
{
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
    int under_srk = blob->parent == TPMKMS_SRK_HANDLE
        || blob->parent == TPMKMS_PARENT_OWNER;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    int tried_srk = 0;
    char cmd[64];
    tpmkms_rc r;
    TSS2_RC rc;

    if ((r = blob_unmarshal(blob, &pub, &priv, label)) != TPMKMS_R_OK)
        return r;
    if (!under_srk && !handle_is_persistent(blob->parent)) {
        TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                     "%s: the key's parent is 0x%08x; tpmkms loads keys "
                     "under 0x40000001 (the owner hierarchy's SRK), "
                     "0x81000001 or another persistent handle 0x81xxxxxx",
                     label, blob->parent);
        return TPMKMS_R_BAD_KEY_FILE;
    }
    snprintf(cmd, sizeof(cmd), "TPM2_Load (parent 0x%08x)", blob->parent);
    for (;;) {
        ESYS_TR parent = ESYS_TR_NONE;
        int parent_persistent;

        if (under_srk) {
            if ((r = ensure_srk(st, label)) != TPMKMS_R_OK)
                return r;
            parent = st->srk;
            parent_persistent = st->srk_persistent;
        } else {
            rc = persistent_open(st, blob->parent, 0, &parent);
            if (tpm_base(rc) == TPM2_RC_HANDLE) {
                TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                             "%s: the key's parent 0x%08x is not in the TPM: "
                             "0x%08x (%s)", label, blob->parent,
                             (unsigned)rc, Tss2_RC_Decode(rc));
                return TPMKMS_R_KEY_NOT_FOUND;
            }
            if (rc != TSS2_RC_SUCCESS)
                return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                                 "TPM2_ReadPublic (the key's parent)", NULL);
            parent_persistent = 1;
        }
        make_room(st, 1 + parent_persistent, as_key);
        TPMKMS_debug("TPM2_Load under 0x%08x for %s", blob->parent, label);
        ESYS_RETRY(rc, Esys_Load(st->ctx, parent, ESYS_TR_PASSWORD,
                                 ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, tr));
        if (rc == TSS2_RC_SUCCESS)
            return TPMKMS_R_OK;
        if (tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && slot_wait(st, &wait, label))
            continue;
        if (under_srk && srk_is_transient(st) && rc_is_stale_object(rc)
            && !tried_srk) {
            /* Our primary was flushed behind our back: derive it again. */
            tried_srk = 1;
            Esys_TR_Close(st->ctx, &st->srk);
            st->srk = ESYS_TR_NONE;
            continue;
        }
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, cmd, NULL);
    }
}

static ESYS_KEY *key_state(ESYS_STATE *st, TPMKMS_KEYREF *key)
{
    ESYS_KEY *ek = key->loaded;

    if (ek != NULL && ek->conn_id != st->conn_id) {
        /* From a dropped connection: not loaded here. */
        OPENSSL_free(ek);
        key->loaded = ek = NULL;
    }
    if (ek == NULL) {
        if ((ek = OPENSSL_zalloc(sizeof(*ek))) == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", key->label);
            return NULL;
        }
        ek->conn_id = st->conn_id;
        key->loaded = ek;
    }
    return ek;
}

static int key_is_loaded(const ESYS_STATE *st, const ESYS_KEY *ek)
{
    return ek->seq != 0 && ek->slot >= 0 && ek->slot < ESYS_MAX_KEYS
        && st->slots[ek->slot].seq == ek->seq;
}

/*
 * A handle can be reused for another key behind our back: signing with
 * whatever sits there would be signing with someone else's key.
 */
static tpmkms_rc check_same_public(const TPMKMS_KEYBLOB *blob,
                                   const TPM2B_PUBLIC *found,
                                   const TPMKMS_KEYREF *key)
{
    TPM2B_PUBLIC want;
    uint8_t a[sizeof(TPMT_PUBLIC)], b[sizeof(TPMT_PUBLIC)];
    size_t alen = 0, blen = 0;
    tpmkms_rc r;

    if ((r = blob_unmarshal(blob, &want, NULL, key->label)) != TPMKMS_R_OK)
        return r;
    if (Tss2_MU_TPMT_PUBLIC_Marshal(&want.publicArea, a, sizeof(a), &alen)
            != TSS2_RC_SUCCESS
        || Tss2_MU_TPMT_PUBLIC_Marshal(&found->publicArea, b, sizeof(b), &blen)
            != TSS2_RC_SUCCESS
        || alen != blen || memcmp(a, b, alen) != 0) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: persistent handle 0x%08x holds another key than the "
                     "one this record was created with; refusing to sign with "
                     "it (delete the record, or recreate the key)",
                     key->label, key->persistent);
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    return TPMKMS_R_OK;
}

/* What the key is, from the blob (no command) or its persistent handle. */
static tpmkms_rc key_info(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY *ek)
{
    TPMKMS_KEYBLOB blob;
    TPM2B_PUBLIC pub;
    tpmkms_rc r;

    if (ek->have_info)
        return TPMKMS_R_OK;
    if (key->persistent != 0) {
        ESYS_TR tr;
        TSS2_RC rc = persistent_open(st, key->persistent, 0, &tr);

        if (tpm_base(rc) == TPM2_RC_HANDLE) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "%s: no persistent key at handle 0x%08x: 0x%08x (%s)",
                         key->label, key->persistent, (unsigned)rc,
                         Tss2_RC_Decode(rc));
            return TPMKMS_R_KEY_NOT_FOUND;
        }
        if (rc == TSS2_RC_SUCCESS)
            rc = tr_public(st, tr, &pub);
        if (rc != TSS2_RC_SUCCESS)
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, key->label,
                             "TPM2_ReadPublic", NULL);
        /* A record's persistent key: the handle must still hold it. */
        if (key->key.data != NULL) {
            if ((r = blob_of(&key->key, &blob, key->label)) == TPMKMS_R_OK)
                r = check_same_public(&blob, &pub, key);
            tpmkms_keyblob_clear(&blob);
            if (r != TPMKMS_R_OK)
                return r;
        }
    } else {
        if ((r = blob_of(&key->key, &blob, key->label)) == TPMKMS_R_OK)
            r = blob_unmarshal(&blob, &pub, NULL, key->label);
        tpmkms_keyblob_clear(&blob);
        if (r != TPMKMS_R_OK)
            return r;
    }
    if ((r = keyinfo_of(&pub.publicArea, &ek->info, key->label))
        != TPMKMS_R_OK)
        return r;
    ek->have_info = 1;
    return TPMKMS_R_OK;
}

/* The key's ESYS_TR, loading it if needed.  *fresh: loaded just now. */
static tpmkms_rc key_tr(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY *ek,
                        ESYS_TR *tr, int *fresh)
{
    TPMKMS_KEYBLOB blob;
    tpmkms_rc r;
    int i;

    *fresh = 0;
    if (key->persistent != 0) {
        TSS2_RC rc = persistent_open(st, key->persistent, 0, tr);

        if (tpm_base(rc) == TPM2_RC_HANDLE) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "%s: no persistent key at handle 0x%08x: 0x%08x (%s)",
                         key->label, key->persistent, (unsigned)rc,
                         Tss2_RC_Decode(rc));
            return TPMKMS_R_KEY_NOT_FOUND;
        }
        if (rc != TSS2_RC_SUCCESS)
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, key->label,
                             "TPM2_ReadPublic", NULL);
        return TPMKMS_R_OK;
    }
    if (key_is_loaded(st, ek)) {
        *tr = st->slots[ek->slot].tr;
        st->slots[ek->slot].last_use = ++st->clock;
        return TPMKMS_R_OK;
    }
    if ((r = blob_of(&key->key, &blob, key->label)) == TPMKMS_R_OK)
        r = load_blob(st, &blob, key->label, 1, tr);
    tpmkms_keyblob_clear(&blob);
    if (r != TPMKMS_R_OK)
        return r;
    for (i = 0; i < ESYS_MAX_KEYS && st->slots[i].seq != 0; i++)
        ;
    if (i == ESYS_MAX_KEYS) {       /* make_room guarantees a free slot */
        make_room(st, 0, 1);
        for (i = 0; i < ESYS_MAX_KEYS && st->slots[i].seq != 0; i++)
            ;
    }
    st->slots[i].tr = *tr;
    st->slots[i].seq = ++st->clock;
    st->slots[i].last_use = st->slots[i].seq;
    ek->slot = i;
    ek->seq = st->slots[i].seq;
    *fresh = 1;
    return TPMKMS_R_OK;
}

/*
 * Whether the key's auth value must be handed to ESYS for a command.  An
 * ESYS_TR's own copy is empty when it is made (Load, ReadPublic) and
 * emptied again after every command that used one, so a key without an
 * auth value needs neither call.
 */
static int has_auth(const TPMKMS_KEYREF *key)
{
    return key->auth != NULL && key->auth_len > 0;
}

static tpmkms_rc set_auth(ESYS_STATE *st, ESYS_TR tr, const TPMKMS_KEYREF *key)
{
    TPM2B_AUTH auth;
    TSS2_RC rc;

    memset(&auth, 0, sizeof(auth));
    if (key->auth_len > sizeof(auth.buffer)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: the auth value has %zu bytes; at most %zu are "
                     "possible", key->label, key->auth_len,
                     sizeof(auth.buffer));
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (key->auth != NULL && key->auth_len > 0) {
        auth.size = (UINT16)key->auth_len;
        memcpy(auth.buffer, key->auth, key->auth_len);
    }
    rc = Esys_TR_SetAuth(st->ctx, tr, &auth);
    OPENSSL_cleanse(&auth, sizeof(auth));
    if (rc != TSS2_RC_SUCCESS)
        return raise_tss(st, rc, TPMKMS_R_INTERNAL, key->label,
                         "Esys_TR_SetAuth", NULL);
    return TPMKMS_R_OK;
}

/* Overwrites the copy ESYS keeps of the auth value. */
static void clear_auth(ESYS_STATE *st, ESYS_TR tr)
{
    TPM2B_AUTH empty;

    memset(&empty, 0, sizeof(empty));
    (void)Esys_TR_SetAuth(st->ctx, tr, &empty);
}

/* ------------------------------------------------------------ methods */

/*
 * Whether a TCTI config talks to a TPM with no resource manager in
 * between, so that every process shares its object slots: swtpm, mssim,
 * device:/dev/tpm<N> (a pcap: wrapper is looked through).  tabrmd,
 * /dev/tpmrm<N>, the loader's default (which tries tpm2-abrmd and then
 * /dev/tpmrm0 first) and TCTIs we do not know count as managed.
 */
static int tcti_is_direct(const char *conf)
{
    while (conf != NULL && strncmp(conf, "pcap:", 5) == 0)
        conf += 5;
    if (conf == NULL || *conf == '\0')
        return 0;
    if (strncmp(conf, "swtpm", 5) == 0 || strncmp(conf, "mssim", 5) == 0)
        return conf[5] == '\0' || conf[5] == ':';
    if (strcmp(conf, "device") == 0 || strcmp(conf, "device:") == 0)
        return 1;                   /* the device TCTI's default, /dev/tpm0 */
    if (strncmp(conf, "device:/dev/tpm", 15) == 0)
        return conf[15] >= '0' && conf[15] <= '9';
    return 0;
}

/*
 * The TCTI config a connection string names: the string itself, else
 * $TPMKMS_TCTI, else NULL (the TCTI loader's default).
 */
static const char *tcti_of(const char *conn)
{
    if (conn == NULL || *conn == '\0')
        conn = getenv("TPMKMS_TCTI");
    return conn != NULL && *conn != '\0' ? conn : NULL;
}

static int esys_is_direct(const char *conn)
{
    return tcti_is_direct(tcti_of(conn));
}

/*
 * TCTIs that leave nothing in the process once closed: device, swtpm,
 * mssim (by name or library file).  tabrmd keeps a D-Bus connection and
 * its threads; the loader's default may pick tabrmd; others are unknown.
 */
static int esys_survives_fork(const char *conn)
{
    static const char *const safe[] = { "device", "swtpm", "mssim" };
    const char *tcti = tcti_of(conn);
    size_t len;

    if (tcti == NULL)
        return 0;
    len = strcspn(tcti, ":");
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
        char lib[32];

        snprintf(lib, sizeof(lib), "libtss2-tcti-%s.so", safe[i]);
        if ((len == strlen(safe[i]) && strncmp(tcti, safe[i], len) == 0)
                || strncmp(tcti, lib, strlen(lib)) == 0)
            return 1;
    }
    return 0;
}

/*
 * tpm2-tss logs to stderr what tpmkms handles and reports itself (an
 * absent SRK, a wrong PIN), in words users cannot act on.  Unless the
 * user chose a TSS2_LOG, or asked for TPMKMS_DEBUG, keep it quiet: every
 * failure still reaches OpenSSL's error queue with its decoded code.
 * Called while the provider (or the command) starts, before any TPM
 * library runs.
 */
static void esys_process_init(void)
{
    if (!tpmkms_debug_enabled())
        setenv("TSS2_LOG", "all+NONE", 0);
}

static void note_origin_pid(void)
{
    long none = 0;

    atomic_compare_exchange_strong(&esys_origin_pid, &none, (long)getpid());
}

/* A forked child of the process that loaded tpmkms. */
static int in_forked_child(void)
{
    long origin = atomic_load(&esys_origin_pid);

    return origin != 0 && origin != (long)getpid();
}

/*
 * The connection's state; the TCTI itself is opened by esys_open() when
 * the first method needs the TPM, so that a failure to reach it names the
 * key it was for.
 */
static tpmkms_rc esys_connect(const TPMKMS_CONN_CONFIG *cfg, void **state)
{
    ESYS_STATE *st;
    const char *name = tcti_of(cfg->conn);

    *state = NULL;
    TPMKMS_debug("connecting to %s", name != NULL ? name : "the default TCTI");
    if ((st = OPENSSL_zalloc(sizeof(*st))) == NULL
            || (cfg->owner_auth_file != NULL
                && (st->owner_auth_file
                    = OPENSSL_strdup(cfg->owner_auth_file)) == NULL)) {
        OPENSSL_free(st);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    snprintf(st->tcti_name, sizeof(st->tcti_name), "%s",
             name != NULL ? name : "(the TCTI loader's default)");
    st->default_tcti = name == NULL;
    st->srk = ESYS_TR_NONE;
    st->conn_id = atomic_fetch_add(&esys_connections, 1) + 1;
    /* Its parent and siblings share the TPM's few object slots. */
    st->shared = in_forked_child() && tcti_is_direct(name);
    *state = st;
    return TPMKMS_R_OK;
}

/* Opens the TCTI and ESYS on first use; label: what it is for. */
static tpmkms_rc esys_open(ESYS_STATE *st, const char *label)
{
    TSS2_RC rc;

    if (st->ctx != NULL)
        return TPMKMS_R_OK;
    if (label == NULL)
        label = "tpmkms";
    if (st->tcti == NULL) {
        rc = Tss2_TctiLdr_Initialize(st->default_tcti ? NULL : st->tcti_name,
                                     &st->tcti);
        if (rc != TSS2_RC_SUCCESS) {
            st->tcti = NULL;
            TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                         "%s: cannot open the TPM through TCTI \"%s\": "
                         "0x%08x (%s)", label, st->tcti_name, (unsigned)rc,
                         Tss2_RC_Decode(rc));
            return TPMKMS_R_TPM_UNAVAILABLE;
        }
    }
    rc = Esys_Initialize(&st->ctx, st->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        st->ctx = NULL;
        TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                     "%s: cannot set up ESYS on TCTI \"%s\": 0x%08x (%s)",
                     label, st->tcti_name, (unsigned)rc, Tss2_RC_Decode(rc));
        return TPMKMS_R_TPM_UNAVAILABLE;
    }
    TPMKMS_debug("connected through %s (connection %llu%s)", st->tcti_name,
                 (unsigned long long)st->conn_id,
                 st->shared ? "; a forked child on a TPM without a resource "
                 "manager: holding no object between signatures" : "");
    return TPMKMS_R_OK;
}

/*
 * Frees a connection's state.  flush: flush what we loaded first (an
 * orderly disconnect).  close_tcti: finalize the TCTI too.
 */
static void esys_free_state(ESYS_STATE *st, int flush, int close_tcti)
{
    if (st == NULL)
        return;
    if (st->ctx != NULL) {
        if (flush) {
            flush_all_keys(st);
            if (srk_is_transient(st))
                flush_tr(st, &st->srk);
        }
        Esys_Finalize(&st->ctx);    /* frees ESYS memory; sends nothing */
    }
    if (close_tcti && st->tcti != NULL)
        Tss2_TctiLdr_Finalize(&st->tcti);
    OPENSSL_free(st->owner_auth_file);
    OPENSSL_free(st->persist);
    OPENSSL_free(st);
}

static void esys_disconnect(void *state)
{
    esys_free_state(state, 1, 1);
}

/*
 * In a forked child: no command is sent, and the TCTI is leaked on
 * purpose: finalizing it may talk on the socket the parent still uses
 * (mssim sends a session end) or touch threads that did not survive
 * fork() (tabrmd's D-Bus connection).
 */
static void esys_abandon(void *state)
{
    esys_free_state(state, 0, 0);
}

/*
 * The connection broke: nothing to flush to (a resource manager or the
 * TPM's reset cleans up what was loaded); close the TCTI.
 */
static void esys_drop(void *state)
{
    esys_free_state(state, 0, 1);
}

static tpmkms_rc esys_create_key(void *state,
                                 const TPMKMS_CREATE_PARAMS *params,
                                 TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub)
{
    TPMKMS_KEYBLOB blob_, *blob = &blob_;
    ESYS_STATE *st = state;
    const struct esys_alg *a = alg_info(params->alg);
    const char *label = params->label != NULL ? params->label : "new key";
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    TPM2B_PRIVATE *out_priv = NULL;
    TPM2B_PUBLIC *out_pub = NULL;
    TPMT_PUBLIC *p = &tmpl.publicArea;
    uint8_t pubbuf[sizeof(TPM2B_PUBLIC)], privbuf[sizeof(TPM2B_PRIVATE)];
    size_t publen = 0, privlen = 0;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    int tried_srk = 0;
    tpmkms_rc r;
    TSS2_RC rc;

    memset(blob, 0, sizeof(*blob));
    if (a == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: cannot create a key of algorithm %d: tpmkms creates "
                     "ec-p256, ec-p384, rsa-2048 and rsa-3072 keys; "
                     ESYS_PROBE_HINT, label, (int)params->alg);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    memset(&sens, 0, sizeof(sens));
    if (params->auth != NULL) {
        if (params->auth_len > sizeof(sens.sensitive.userAuth.buffer)) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: the auth value has %zu bytes; at most %zu are "
                         "possible", label, params->auth_len,
                         sizeof(sens.sensitive.userAuth.buffer));
            return TPMKMS_R_BAD_PARAMETER;
        }
        if (params->auth_len > 32) {
            /* The TPM takes at most the nameAlg digest size; ESYS hashes
             * longer values with the nameAlg when it uses them. */
            unsigned int mdlen = 0;

            if (!EVP_Digest(params->auth, params->auth_len,
                            sens.sensitive.userAuth.buffer, &mdlen,
                            EVP_sha256(), NULL)) {
                TPMKMS_raise(TPMKMS_R_INTERNAL,
                             "%s: cannot hash the auth value", label);
                return TPMKMS_R_INTERNAL;
            }
            sens.sensitive.userAuth.size = (UINT16)mdlen;
        } else {
            memcpy(sens.sensitive.userAuth.buffer, params->auth,
                   params->auth_len);
            sens.sensitive.userAuth.size = (UINT16)params->auth_len;
        }
    }
    memset(&tmpl, 0, sizeof(tmpl));
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    p->type = a->type;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT
        | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH
        | TPMA_OBJECT_SIGN_ENCRYPT;
    if (params->auth == NULL)
        p->objectAttributes |= TPMA_OBJECT_NODA;
    if (a->type == TPM2_ALG_ECC) {
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = a->curve;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    } else {
        /* decrypt: TPM2_RSA_Decrypt (null scheme) serves RSA_RAW. */
        p->objectAttributes |= TPMA_OBJECT_DECRYPT;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.rsaDetail.keyBits = a->bits;
        p->parameters.rsaDetail.exponent = 0;
    }
    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        goto out;
    for (;;) {
        if ((r = ensure_srk(st, label)) != TPMKMS_R_OK)
            goto out;
        make_room(st, 1 + st->srk_persistent, 0);
        TPMKMS_debug("TPM2_Create %s for %s", a->name, label);
        ESYS_RETRY(rc, Esys_Create(st->ctx, st->srk, ESYS_TR_PASSWORD,
                                   ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                                   &outside, &pcrs, &out_priv, &out_pub,
                                   NULL, NULL, NULL));
        if (rc == TSS2_RC_SUCCESS)
            break;
        if (tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && slot_wait(st, &wait, label))
            continue;
        if (srk_is_transient(st) && rc_is_stale_object(rc) && !tried_srk) {
            tried_srk = 1;
            Esys_TR_Close(st->ctx, &st->srk);
            st->srk = ESYS_TR_NONE;
            continue;
        }
        {
            char what[64];

            snprintf(what, sizeof(what), "creating %s", a->name);
            r = raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, "TPM2_Create",
                          what);
        }
        goto out;
    }
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, pubbuf, sizeof(pubbuf), &publen)
            != TSS2_RC_SUCCESS
        || Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, privbuf, sizeof(privbuf),
                                         &privlen) != TSS2_RC_SUCCESS) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: cannot marshal the new key",
                     label);
        r = TPMKMS_R_INTERNAL;
        goto out;
    }
    if ((r = public_convert(&out_pub->publicArea, pub, label)) != TPMKMS_R_OK)
        goto out;
    blob->pub = OPENSSL_memdup(pubbuf, publen);
    blob->priv = OPENSSL_memdup(privbuf, privlen);
    if (blob->pub == NULL || blob->priv == NULL) {
        OPENSSL_free(blob->pub);
        OPENSSL_free(blob->priv);
        memset(blob, 0, sizeof(*blob));
        TPMKMS_raise(TPMKMS_R_INTERNAL, "%s: out of memory", label);
        r = TPMKMS_R_INTERNAL;
        goto out;
    }
    blob->pub_len = publen;
    blob->priv_len = privlen;
    blob->parent = st->srk_persistent ? TPMKMS_SRK_HANDLE
                                      : TPMKMS_PARENT_OWNER;
    blob->empty_auth = params->auth == NULL;
    memset(key, 0, sizeof(*key));
    r = tpmkms_tss2key_to_der(blob, &key->data, &key->len);
    tpmkms_keyblob_clear(blob);
    if (r == TPMKMS_R_OK)
        key->format = TPMKMS_KEYFMT_TSS2_DER;
 out:
    OPENSSL_cleanse(&sens, sizeof(sens));
    Esys_Free(out_priv);
    Esys_Free(out_pub);
    release_if_shared(st);
    return r;
}

static tpmkms_rc check_sign_request(const TPMKMS_KEYREF *key,
                                    const ESYS_KEYINFO *info,
                                    tpmkms_scheme scheme,
                                    const struct esys_hash *h,
                                    const unsigned char *in, size_t inlen)
{
    int is_ec = info->alg == TPMKMS_ALG_EC_P256
        || info->alg == TPMKMS_ALG_EC_P384;

    if (scheme < TPMKMS_SCHEME_ECDSA || scheme > TPMKMS_SCHEME_RSA_RAW
        || (scheme == TPMKMS_SCHEME_ECDSA) != is_ec) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: %s is not a scheme for this %s key", key->label,
                     scheme_name(scheme), alg_name(info->alg));
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (scheme == TPMKMS_SCHEME_RSA_RAW) {
        if (!info->can_decrypt) {
            TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                         "%s: the key lacks the decrypt attribute, so the TPM "
                         "cannot do the raw RSA operation this padding (e.g. "
                         "RSA-PSS with a salt length other than the digest "
                         "length) needs", key->label);
            return TPMKMS_R_UNSUPPORTED_ALGORITHM;
        }
        if (inlen != info->size) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: a raw RSA input must have the modulus size "
                         "(%zu bytes), not %zu", key->label, info->size,
                         inlen);
            return TPMKMS_R_BAD_PARAMETER;
        }
        if (memcmp(in, info->n, inlen) >= 0) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "%s: the raw RSA input is not below the modulus "
                         "(not an encoded block)", key->label);
            return TPMKMS_R_BAD_PARAMETER;
        }
        return TPMKMS_R_OK;
    }
    if (!info->can_sign) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: the key is not an unrestricted signing key",
                     key->label);
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (h == NULL) {
        TPMKMS_raise(TPMKMS_R_UNSUPPORTED_ALGORITHM,
                     "%s: %s needs SHA-1, SHA-256, SHA-384 or SHA-512",
                     key->label, scheme_name(scheme));
        return TPMKMS_R_UNSUPPORTED_ALGORITHM;
    }
    if (inlen != h->size) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: a %s digest has %zu bytes, not %zu", key->label,
                     h->name, h->size, inlen);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

/* Copies src right-aligned into a field of `size` bytes. */
static int put_padded(unsigned char *out, size_t size,
                      const unsigned char *src, size_t len)
{
    if (len > size)
        return 0;
    memset(out, 0, size - len);
    memcpy(out + size - len, src, len);
    return 1;
}

/* "ECDSA with SHA256 on ec-p256", for messages: built only when needed,
 * since a warm signature must cost as little as the TPM command itself. */
static const char *sign_what(char *buf, size_t len, tpmkms_scheme scheme,
                             const struct esys_hash *h, const ESYS_KEY *ek)
{
    if (scheme == TPMKMS_SCHEME_RSA_RAW)
        snprintf(buf, len, "raw RSA on %s", alg_name(ek->info.alg));
    else
        snprintf(buf, len, "%s with %s on %s", scheme_name(scheme), h->name,
                 alg_name(ek->info.alg));
    return buf;
}

static tpmkms_rc sign_with_key(ESYS_STATE *st, TPMKMS_KEYREF *key,
                               tpmkms_scheme scheme, tpmkms_hash hash,
                               const unsigned char *in, size_t inlen,
                               unsigned char *sig, size_t *siglen)
{
    const struct esys_hash *h = hash_info(hash);
    TPMT_SIGNATURE *tsig = NULL;
    TPM2B_PUBLIC_KEY_RSA *msg = NULL;
    const char *cmd = scheme == TPMKMS_SCHEME_RSA_RAW ? "TPM2_RSA_Decrypt"
                                                      : "TPM2_Sign";
    char what[96];
    ESYS_KEY *ek;
    ESYS_TR tr = ESYS_TR_NONE;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    int tried_stale = 0, fresh = 0, ok;
    tpmkms_rc r;
    TSS2_RC rc;

    if ((ek = key_state(st, key)) == NULL)
        return TPMKMS_R_INTERNAL;
    /* A persistent key's public area comes from the TPM. */
    if (key->persistent != 0
        && (r = esys_open(st, key->label)) != TPMKMS_R_OK)
        return r;
    if ((r = key_info(st, key, ek)) != TPMKMS_R_OK)
        return r;
    if ((r = check_sign_request(key, &ek->info, scheme, h, in, inlen))
        != TPMKMS_R_OK)
        return r;
    if ((r = esys_open(st, key->label)) != TPMKMS_R_OK)
        return r;
    for (;;) {
        if ((r = key_tr(st, key, ek, &tr, &fresh)) != TPMKMS_R_OK)
            return r;
        if (has_auth(key) && (r = set_auth(st, tr, key)) != TPMKMS_R_OK)
            return r;
        if (key->persistent != 0)   /* the TPM pulls it into a slot */
            make_room(st, 1, 0);
        if (scheme == TPMKMS_SCHEME_RSA_RAW) {
            TPM2B_PUBLIC_KEY_RSA c;
            TPMT_RSA_DECRYPT none;
            TPM2B_DATA no_label;

            memset(&none, 0, sizeof(none));
            memset(&no_label, 0, sizeof(no_label));
            none.scheme = TPM2_ALG_NULL;
            c.size = (UINT16)inlen;
            memcpy(c.buffer, in, inlen);
            TPMKMS_debug("TPM2_RSA_Decrypt (raw) for %s", key->label);
            ESYS_RETRY(rc, Esys_RSA_Decrypt(st->ctx, tr, ESYS_TR_PASSWORD,
                                            ESYS_TR_NONE, ESYS_TR_NONE, &c,
                                            &none, &no_label, &msg));
        } else {
            TPM2B_DIGEST digest;
            TPMT_SIG_SCHEME ts;
            TPMT_TK_HASHCHECK ticket;

            memset(&ts, 0, sizeof(ts));
            memset(&ticket, 0, sizeof(ticket));
            digest.size = (UINT16)inlen;
            memcpy(digest.buffer, in, inlen);
            ts.scheme = scheme == TPMKMS_SCHEME_ECDSA ? TPM2_ALG_ECDSA
                : scheme == TPMKMS_SCHEME_RSA_PSS ? TPM2_ALG_RSAPSS
                : TPM2_ALG_RSASSA;
            ts.details.any.hashAlg = h->alg;
            ticket.tag = TPM2_ST_HASHCHECK;
            ticket.hierarchy = TPM2_RH_NULL;
            TPMKMS_debug("TPM2_Sign %s for %s",
                         sign_what(what, sizeof(what), scheme, h, ek), key->label);
            ESYS_RETRY(rc, Esys_Sign(st->ctx, tr, ESYS_TR_PASSWORD,
                                     ESYS_TR_NONE, ESYS_TR_NONE, &digest,
                                     &ts, &ticket, &tsig));
        }
        if (has_auth(key))
            clear_auth(st, tr);
        if (rc == TSS2_RC_SUCCESS)
            break;
        if (!tried_stale && key->persistent == 0 && !fresh
            && rc_is_stale_object(rc)) {
            /* Flushed behind our back (another program, a TPM reset). */
            tried_stale = 1;
            slot_drop(st, ek->slot);
            continue;
        }
        /* A persistent key needs a slot for the command's length. */
        if (tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && slot_wait(st, &wait, key->label))
            continue;
        return raise_tss(st, rc, TPMKMS_R_SIGN_FAILED, key->label, cmd,
                         sign_what(what, sizeof(what), scheme, h, ek));
    }

    if (scheme == TPMKMS_SCHEME_RSA_RAW) {
        ok = put_padded(sig, ek->info.size, msg->buffer, msg->size);
        *siglen = ek->info.size;
    } else if (scheme == TPMKMS_SCHEME_ECDSA) {
        size_t c = ek->info.size;

        ok = tsig->sigAlg == TPM2_ALG_ECDSA
            && put_padded(sig, c, tsig->signature.ecdsa.signatureR.buffer,
                          tsig->signature.ecdsa.signatureR.size)
            && put_padded(sig + c, c, tsig->signature.ecdsa.signatureS.buffer,
                          tsig->signature.ecdsa.signatureS.size);
        *siglen = 2 * c;
    } else {
        const TPM2B_PUBLIC_KEY_RSA *s = scheme == TPMKMS_SCHEME_RSA_PSS
            ? &tsig->signature.rsapss.sig : &tsig->signature.rsassa.sig;

        ok = (tsig->sigAlg == TPM2_ALG_RSAPSS || tsig->sigAlg == TPM2_ALG_RSASSA)
            && put_padded(sig, ek->info.size, s->buffer, s->size);
        *siglen = ek->info.size;
    }
    Esys_Free(tsig);
    if (msg != NULL) {
        OPENSSL_cleanse(msg, sizeof(*msg));
        Esys_Free(msg);
    }
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_SIGN_FAILED,
                     "%s: %s returned a result that does not fit %s (%s)",
                     key->label, cmd, alg_name(ek->info.alg),
                     sign_what(what, sizeof(what), scheme, h, ek));
        return TPMKMS_R_SIGN_FAILED;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_sign(void *state, TPMKMS_KEYREF *key,
                           tpmkms_scheme scheme, tpmkms_hash hash,
                           const unsigned char *in, size_t inlen,
                           unsigned char *sig, size_t *siglen)
{
    ESYS_STATE *st = state;
    tpmkms_rc r = sign_with_key(st, key, scheme, hash, in, inlen, sig,
                                siglen);

    release_if_shared(st);
    return r;
}

static void esys_forget(TPMKMS_KEYREF *key)
{
    OPENSSL_free(key->loaded);
    key->loaded = NULL;
}

static void esys_unload(void *state, TPMKMS_KEYREF *key)
{
    ESYS_STATE *st = state;
    ESYS_KEY *ek = key->loaded;

    if (ek == NULL)
        return;
    /* Persistent keys stay: their TR is shared by handle, never flushed. */
    if (st != NULL && st->ctx != NULL && ek->conn_id == st->conn_id
        && key->persistent == 0 && key_is_loaded(st, ek))
        slot_flush(st, ek->slot);
    esys_forget(key);
}

static tpmkms_rc esys_read_persistent(void *state, uint32_t handle,
                                      TPMKMS_PUBLIC *pub)
{
    ESYS_STATE *st = state;
    TPM2B_PUBLIC tp;
    ESYS_TR tr;
    tpmkms_rc r;
    TSS2_RC rc;
    char label[48];

    snprintf(label, sizeof(label), "persistent handle 0x%08x", handle);
    if (!handle_is_persistent(handle)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "0x%08x is not a persistent handle (0x81xxxxxx)", handle);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    rc = persistent_open(st, handle, 1, &tr);
    if (tpm_base(rc) == TPM2_RC_HANDLE) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: no key there: 0x%08x (%s)", label, (unsigned)rc,
                     Tss2_RC_Decode(rc));
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    if (rc == TSS2_RC_SUCCESS)
        rc = tr_public(st, tr, &tp);
    if (rc != TSS2_RC_SUCCESS)
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, "TPM2_ReadPublic",
                         NULL);
    return public_convert(&tp.publicArea, pub, label);
}

static tpmkms_rc check_persistent_target(uint32_t handle, const char *label)
{
    /* (TPM2_PLATFORM_PERSISTENT shifts a signed int into its sign bit.) */
    if (!handle_is_persistent(handle) || handle >= 0x81800000u) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "%s: 0x%08x is not an owner persistent handle "
                     "(0x81000000-0x817fffff)", label, handle);
        return TPMKMS_R_BAD_PARAMETER;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_persist(void *state, const TPMKMS_KEYDATA *key,
                              uint32_t handle, const char *label)
{
    ESYS_STATE *st = state;
    TPMKMS_KEYBLOB blob;
    ESYS_TR tr = ESYS_TR_NONE, ptr = ESYS_TR_NONE, old;
    char cmd[64];
    tpmkms_rc r;
    TSS2_RC rc;

    if (label == NULL)
        label = "key";
    if ((r = check_persistent_target(handle, label)) != TPMKMS_R_OK
        || (r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    if ((r = blob_of(key, &blob, label)) == TPMKMS_R_OK)
        r = load_blob(st, &blob, label, 0, &tr);
    tpmkms_keyblob_clear(&blob);
    if (r != TPMKMS_R_OK) {
        release_if_shared(st);
        return r;
    }
    snprintf(cmd, sizeof(cmd), "TPM2_EvictControl (persist at 0x%08x)",
             handle);
    TPMKMS_debug("%s", cmd);
    r = owner_evict_control(st, label, tr, handle, &ptr, &rc);
    flush_tr(st, &tr);
    release_if_shared(st);
    if (r != TPMKMS_R_OK)
        return r;
    if (rc != TSS2_RC_SUCCESS) {
        if (tpm_base(rc) == TPM2_RC_NV_DEFINED) {
            TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                         "%s: %s failed: 0x%08x (%s) — the persistent handle "
                         "0x%08x is already in use", label, cmd, (unsigned)rc,
                         Tss2_RC_Decode(rc), handle);
            return TPMKMS_R_KEY_EXISTS;
        }
        return raise_owner(st, rc, label, cmd, NULL);
    }
    /* Replace any stale entry for the handle by the new object. */
    if ((old = persistent_find(st, handle)) != ESYS_TR_NONE) {
        persistent_forget(st, handle);
        Esys_TR_Close(st->ctx, &old);
    }
    if (!persistent_add(st, handle, ptr))
        Esys_TR_Close(st->ctx, &ptr);
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_evict(void *state, uint32_t handle, const char *label)
{
    ESYS_STATE *st = state;
    ESYS_TR tr = ESYS_TR_NONE, none = ESYS_TR_NONE;
    char cmd[64];
    tpmkms_rc r;
    TSS2_RC rc;

    if (label == NULL)
        label = "key";
    if ((r = check_persistent_target(handle, label)) != TPMKMS_R_OK
        || (r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    rc = persistent_open(st, handle, 1, &tr);
    if (tpm_base(rc) == TPM2_RC_HANDLE) {
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                     "%s: no persistent object at 0x%08x: 0x%08x (%s)", label,
                     handle, (unsigned)rc, Tss2_RC_Decode(rc));
        return TPMKMS_R_KEY_NOT_FOUND;
    }
    if (rc != TSS2_RC_SUCCESS)
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, "TPM2_ReadPublic",
                         NULL);
    snprintf(cmd, sizeof(cmd), "TPM2_EvictControl (evict 0x%08x)", handle);
    TPMKMS_debug("%s", cmd);
    if ((r = owner_evict_control(st, label, tr, handle, &none, &rc))
        != TPMKMS_R_OK)
        return r;
    if (rc != TSS2_RC_SUCCESS)
        return raise_owner(st, rc, label, cmd, NULL);
    persistent_forget(st, handle);
    Esys_TR_Close(st->ctx, &tr);
    return TPMKMS_R_OK;
}

/* TPM properties, from TPM2_PT_FIXED on; usually one GetCapability. */
static tpmkms_rc probe_properties(ESYS_STATE *st, TPMKMS_PROBE *pr)
{
    uint32_t next = TPM2_PT_FIXED, vendor[4] = { 0, 0, 0, 0 };
    int calls, seen_var = 0, i;
    size_t n = 0;

    for (calls = 0; calls < 4 && next <= TPM2_PT_LOCKOUT_RECOVERY; calls++) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = 0;
        TPML_TAGGED_TPM_PROPERTY *p;
        TSS2_RC rc;
        UINT32 k;

        TPMKMS_debug("TPM2_GetCapability(TPM_PROPERTIES, 0x%x)", next);
        ESYS_RETRY(rc, Esys_GetCapability(st->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                          next, TPM2_MAX_TPM_PROPERTIES,
                                          &more, &cap));
        if (rc != TSS2_RC_SUCCESS)
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                             "TPM2_GetCapability(TPM_PROPERTIES)", NULL);
        p = &cap->data.tpmProperties;
        for (k = 0; k < p->count; k++) {
            uint32_t prop = p->tpmProperty[k].property;
            uint32_t v = p->tpmProperty[k].value;

            switch (prop) {
            case TPM2_PT_LEVEL: pr->spec_level = v; break;
            case TPM2_PT_REVISION: pr->spec_revision = v; break;
            case TPM2_PT_YEAR: pr->spec_year = v; break;
            case TPM2_PT_MANUFACTURER:
                for (i = 0; i < 4; i++)
                    pr->manufacturer[i] = (char)(v >> (24 - 8 * i));
                pr->manufacturer[4] = '\0';
                break;
            case TPM2_PT_VENDOR_STRING_1:
            case TPM2_PT_VENDOR_STRING_2:
            case TPM2_PT_VENDOR_STRING_3:
            case TPM2_PT_VENDOR_STRING_4:
                vendor[prop - TPM2_PT_VENDOR_STRING_1] = v;
                break;
            case TPM2_PT_FIRMWARE_VERSION_1: pr->fw_version1 = v; break;
            case TPM2_PT_FIRMWARE_VERSION_2: pr->fw_version2 = v; break;
            case TPM2_PT_PERMANENT:
                pr->in_lockout = (v & TPMA_PERMANENT_INLOCKOUT) != 0;
                seen_var = 1;
                break;
            case TPM2_PT_LOCKOUT_COUNTER: pr->lockout_counter = v; break;
            case TPM2_PT_MAX_AUTH_FAIL: pr->max_auth_fail = v; break;
            case TPM2_PT_LOCKOUT_INTERVAL: pr->lockout_interval = v; break;
            case TPM2_PT_LOCKOUT_RECOVERY: pr->lockout_recovery = v; break;
            }
        }
        next = p->count > 0 ? p->tpmProperty[p->count - 1].property + 1
                            : TPM2_PT_LOCKOUT_RECOVERY + 1;
        Esys_Free(cap);
        if (!more) {
            if (seen_var || next > TPM2_PT_VAR)
                break;
            next = TPM2_PT_VAR;     /* a TPM that answers one group a time */
        }
    }
    /* Strip the padding of the 4-character strings. */
    for (i = 3; i >= 0 && (pr->manufacturer[i] == ' '
                           || pr->manufacturer[i] == '\0'); i--)
        pr->manufacturer[i] = '\0';
    for (i = 0; i < 16; i++) {
        char c = (char)(vendor[i / 4] >> (24 - 8 * (i % 4)));

        if (c != '\0' && n + 1 < sizeof(pr->vendor))
            pr->vendor[n++] = c;
    }
    while (n > 0 && pr->vendor[n - 1] == ' ')
        n--;
    pr->vendor[n] = '\0';
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_probe(void *state, TPMKMS_PROBE *pr)
{
    static const TPMI_RSA_KEY_BITS rsa_bits[] = { 1024, 2048, 3072, 4096 };
    static const uint32_t rsa_flags[] = {
        TPMKMS_PROBE_RSA_1024, TPMKMS_PROBE_RSA_2048, TPMKMS_PROBE_RSA_3072,
        TPMKMS_PROBE_RSA_4096
    };
    ESYS_STATE *st = state;
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more = 0;
    TPM2B_PUBLIC pub;
    ESYS_TR tr;
    tpmkms_rc r;
    TSS2_RC rc;
    UINT32 k;
    size_t i;
    int have_rsa = 0;

    memset(pr, 0, sizeof(*pr));
    snprintf(pr->connection, sizeof(pr->connection), "%s",
             st->default_tcti ? "(TCTI loader default)" : st->tcti_name);
    if ((r = esys_open(st, "tpmkms probe")) != TPMKMS_R_OK
        || (r = probe_properties(st, pr)) != TPMKMS_R_OK)
        return r;

    TPMKMS_debug("TPM2_GetCapability(ECC_CURVES)");
    ESYS_RETRY(rc, Esys_GetCapability(st->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
                                      ESYS_TR_NONE, TPM2_CAP_ECC_CURVES, 0,
                                      TPM2_MAX_ECC_CURVES, &more, &cap));
    if (rc != TSS2_RC_SUCCESS)
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                         "TPM2_GetCapability(ECC_CURVES)", NULL);
    for (k = 0; k < cap->data.eccCurves.count; k++) {
        switch (cap->data.eccCurves.eccCurves[k]) {
        case TPM2_ECC_NIST_P256: pr->curves |= TPMKMS_PROBE_CURVE_P256; break;
        case TPM2_ECC_NIST_P384: pr->curves |= TPMKMS_PROBE_CURVE_P384; break;
        case TPM2_ECC_NIST_P521: pr->curves |= TPMKMS_PROBE_CURVE_P521; break;
        }
    }
    Esys_Free(cap);
    cap = NULL;

    TPMKMS_debug("TPM2_GetCapability(ALGS)");
    ESYS_RETRY(rc, Esys_GetCapability(st->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
                                      ESYS_TR_NONE, TPM2_CAP_ALGS,
                                      TPM2_ALG_FIRST, TPM2_MAX_CAP_ALGS,
                                      &more, &cap));
    if (rc != TSS2_RC_SUCCESS)
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                         "TPM2_GetCapability(ALGS)", NULL);
    for (k = 0; k < cap->data.algorithms.count; k++) {
        switch (cap->data.algorithms.algProperties[k].alg) {
        case TPM2_ALG_SHA1: pr->hashes |= TPMKMS_PROBE_HASH_SHA1; break;
        case TPM2_ALG_SHA256: pr->hashes |= TPMKMS_PROBE_HASH_SHA256; break;
        case TPM2_ALG_SHA384: pr->hashes |= TPMKMS_PROBE_HASH_SHA384; break;
        case TPM2_ALG_SHA512: pr->hashes |= TPMKMS_PROBE_HASH_SHA512; break;
        case TPM2_ALG_RSASSA: pr->sig_schemes |= TPMKMS_PROBE_SIG_RSASSA; break;
        case TPM2_ALG_RSAPSS: pr->sig_schemes |= TPMKMS_PROBE_SIG_RSAPSS; break;
        case TPM2_ALG_ECDSA: pr->sig_schemes |= TPMKMS_PROBE_SIG_ECDSA; break;
        case TPM2_ALG_RSA: have_rsa = 1; break;
        }
    }
    Esys_Free(cap);

    /* No capability lists RSA key sizes: ask with TPM2_TestParms. */
    for (i = 0; have_rsa && i < sizeof(rsa_bits) / sizeof(rsa_bits[0]); i++) {
        TPMT_PUBLIC_PARMS parms;

        memset(&parms, 0, sizeof(parms));
        parms.type = TPM2_ALG_RSA;
        parms.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        parms.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        parms.parameters.rsaDetail.keyBits = rsa_bits[i];
        TPMKMS_debug("TPM2_TestParms(RSA %u)", (unsigned)rsa_bits[i]);
        ESYS_RETRY(rc, Esys_TestParms(st->ctx, ESYS_TR_NONE, ESYS_TR_NONE,
                                      ESYS_TR_NONE, &parms));
        if (rc == TSS2_RC_SUCCESS)
            pr->rsa_sizes |= rsa_flags[i];
        else if (tpm_base(rc) == 0)     /* not the TPM saying no */
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                             "TPM2_TestParms", NULL);
    }

    if (st->srk != ESYS_TR_NONE) {
        pr->srk_persistent = st->srk_persistent;
        return TPMKMS_R_OK;
    }
    rc = persistent_open(st, TPMKMS_SRK_HANDLE, 0, &tr);
    if (rc == TSS2_RC_SUCCESS) {
        if ((rc = tr_public(st, tr, &pub)) != TSS2_RC_SUCCESS)
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                             "TPM2_ReadPublic(0x81000001)", NULL);
        pr->srk_persistent = srk_matches(&pub.publicArea);
    } else if (tpm_base(rc) != TPM2_RC_HANDLE) {
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, "tpmkms probe",
                         "TPM2_ReadPublic(0x81000001)", NULL);
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_setup(void *state, tpmkms_setup_result *result)
{
    ESYS_STATE *st = state;
    const char *label = "tpmkms setup";
    TPM2B_PUBLIC pub;
    ESYS_TR tr = ESYS_TR_NONE, ptr = ESYS_TR_NONE;
    int ours = 0;
    tpmkms_rc r;
    TSS2_RC rc;

    if ((r = esys_open(st, label)) != TPMKMS_R_OK)
        return r;
    rc = persistent_open(st, TPMKMS_SRK_HANDLE, 1, &tr);
    if (rc == TSS2_RC_SUCCESS) {
        if ((rc = tr_public(st, tr, &pub)) != TSS2_RC_SUCCESS)
            return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                             "TPM2_ReadPublic(0x81000001)", NULL);
        if (!srk_matches(&pub.publicArea))
            return raise_wrong_srk(&pub.publicArea, label);
        if (srk_is_transient(st))   /* the same key, now persistent */
            flush_tr(st, &st->srk);
        st->srk = tr;
        st->srk_persistent = 1;
        *result = TPMKMS_SETUP_PRESENT;
        return TPMKMS_R_OK;
    }
    if (tpm_base(rc) != TPM2_RC_HANDLE)
        return raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                         "TPM2_ReadPublic(0x81000001)", NULL);
    if (srk_is_transient(st)) {
        tr = st->srk;
    } else {
        if ((r = create_primary(st, label, &tr)) != TPMKMS_R_OK)
            return r;
        ours = 1;
    }
    TPMKMS_debug("TPM2_EvictControl(SRK -> 0x81000001)");
    if ((r = owner_evict_control(st, label, tr, TPMKMS_SRK_HANDLE, &ptr, &rc))
        != TPMKMS_R_OK) {
        if (ours)
            flush_tr(st, &tr);
        return r;
    }
    if (rc != TSS2_RC_SUCCESS) {
        if (ours)
            flush_tr(st, &tr);
        return raise_owner(st, rc, label,
                           "TPM2_EvictControl (persist the SRK at 0x81000001)",
                           NULL);
    }
    flush_tr(st, &tr);
    if (!ours)
        st->srk = ESYS_TR_NONE;
    if (persistent_add(st, TPMKMS_SRK_HANDLE, ptr)) {
        st->srk = ptr;
        st->srk_persistent = 1;
    } else {
        Esys_TR_Close(st->ctx, &ptr);
    }
    *result = TPMKMS_SETUP_CREATED;
    return TPMKMS_R_OK;
}

static tpmkms_rc esys_describe(const TPMKMS_KEYDATA *key,
                               TPMKMS_KEYINFO *info, const char *label)
{
    TPMKMS_KEYBLOB blob;
    TPM2B_PUBLIC tp;
    tpmkms_rc r;

    if (label == NULL)
        label = "key";
    if ((r = blob_of(key, &blob, label)) == TPMKMS_R_OK
            && (r = blob_unmarshal(&blob, &tp, NULL, label)) == TPMKMS_R_OK
            && (r = public_convert(&tp.publicArea, &info->pub, label))
               == TPMKMS_R_OK)
        info->needs_auth = blob.empty_auth == 0;
    tpmkms_keyblob_clear(&blob);
    return r;
}

/*
 * Does this TPM hold the key's parent?  One TPM2_ReadPublic.  Under the
 * owner hierarchy (0x40000001) the parent is the SRK, persistent at
 * 0x81000001 or derived when needed, so only the TPM's answer counts.
 */
static tpmkms_rc esys_check(void *state, const TPMKMS_KEYREF *key)
{
    TPMKMS_KEYBLOB blob;
    TPMKMS_PUBLIC pub;
    int owner;
    tpmkms_rc r;

    if (key->persistent != 0)
        return esys_read_persistent(state, key->persistent, &pub);
    if ((r = blob_of(&key->key, &blob, key->label)) != TPMKMS_R_OK)
        return r;
    owner = blob.parent == TPMKMS_PARENT_OWNER;
    tpmkms_err_set_mark();
    r = esys_read_persistent(state, owner ? TPMKMS_SRK_HANDLE : blob.parent,
                             &pub);
    tpmkms_keyblob_clear(&blob);
    if (r == TPMKMS_R_KEY_NOT_FOUND && owner) {
        tpmkms_err_pop_to_mark();
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    if (r == TPMKMS_R_TPM_UNAVAILABLE || r == TPMKMS_R_KEY_NOT_FOUND)
        TPMKMS_raise(r, "%s: %s", key->label,
                     r == TPMKMS_R_KEY_NOT_FOUND
                     ? "the key's parent is not in this TPM: the key file "
                       "belongs to another TPM or its parent was evicted"
                     : "the TPM that holds this key cannot be reached");
    return r;
}

static const TPMKMS_KEY_METHODS esys_keys = {
    esys_create_key,
    esys_sign,
    esys_unload,
    esys_forget,
    esys_describe,
    esys_check,
    NULL,                       /* decrypt: not yet */
    NULL,                       /* derive: not yet */
};

static const TPMKMS_ADMIN_METHODS esys_admin = {
    esys_read_persistent,
    esys_persist,
    esys_evict,
    esys_probe,
    esys_setup,
};

static const TPMKMS_BACKEND_METHOD esys_method = {
    "tpm2-tss ESYS",
    esys_connect,
    esys_disconnect,
    esys_abandon,
    esys_drop,
    esys_survives_fork,
    esys_is_direct,
    esys_process_init,
    &esys_keys,
    &esys_admin,
    NULL,                       /* attestation: not yet */
};

const TPMKMS_BACKEND_METHOD *tpmkms_backend_esys_method(void)
{
    note_origin_pid();
    return &esys_method;
}

const TPMKMS_BACKEND_METHOD *tpmkms_backend_default_method(void)
{
    note_origin_pid();
    return &esys_method;
}
