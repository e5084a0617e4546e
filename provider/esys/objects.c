/*
 * The connection and the TPM objects it holds: opening ESYS on first use,
 * the owner's auth, public areas, the SRK, the persistent-handle cache,
 * the object slots a TPM without a resource manager shares between
 * processes, and loading key blobs.  At the bottom, the method table that
 * backend.c gets.
 */
#include <stdatomic.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "debug.h"
#include "errors.h"
#include "esys.h"
#include "platform/platform.h"

static atomic_uint_fast64_t esys_connections;
/* The process that fetched this method table (loaded tpmkms); a connection
 * made under another pid is a forked child's. */
static atomic_long esys_origin_pid;

/* ---------------------------------------------------------- owner auth */

/*
 * The owner hierarchy's auth value, for the few owner commands (the SRK's
 * CreatePrimary, EvictControl): the first line of the file that
 * TPMKMS_OWNER_AUTH_FILE names, if set.  Set just before the command and
 * cleared (in ESYS and in memory) right after it.  The file is read as
 * the platform layer reads every secret (tpmkms_platform_read_secret): a
 * regular file only its owner may use, as secret as a PIN, so a FIFO or a
 * device is refused without waiting on it and a group- or world-readable
 * file is refused naming chmod 600.
 */
tpmkms_rc esys_owner_auth_begin(ESYS_STATE *st)
{
    const char *path = st->owner_auth_file;
    unsigned char *line = NULL;
    TPM2B_AUTH auth;
    size_t len = 0;
    tpmkms_rc r;

    if (path == NULL || *path == '\0')
        return TPMKMS_R_OK;
    r = tpmkms_platform_read_secret(path,
                                    "owner auth file (TPMKMS_OWNER_AUTH_FILE)",
                                    sizeof(auth.buffer),
                                    TPMKMS_R_BAD_PARAMETER, &line, &len);
    if (r != TPMKMS_R_OK)
        return r;
    memset(&auth, 0, sizeof(auth));
    auth.size = (UINT16)len;
    memcpy(auth.buffer, line, len);
    OPENSSL_clear_free(line, len + 1);
    Esys_TR_SetAuth(st->ctx, ESYS_TR_RH_OWNER, &auth);
    OPENSSL_cleanse(&auth, sizeof(auth));
    return TPMKMS_R_OK;
}

void esys_owner_auth_end(ESYS_STATE *st)
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
tpmkms_rc esys_owner_evict_control(ESYS_STATE *st, const char *label,
                                   ESYS_TR obj, TPM2_HANDLE handle,
                                   ESYS_TR *out, TSS2_RC *rc)
{
    tpmkms_rc r = esys_owner_auth_begin(st);

    if (r != TPMKMS_R_OK)
        return r;
    ESYS_CALL(st, *rc, Esys_EvictControl, 0,
              (st->ctx, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
               ESYS_TR_NONE, handle),
              (st->ctx, out));
    esys_owner_auth_end(st);
    return TPMKMS_R_OK;
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

tpmkms_rc esys_keyinfo_of(const TPMT_PUBLIC *p, ESYS_KEYINFO *info,
                          const char *label)
{
    const struct esys_alg *a = esys_alg_of_public(p);
    TPMA_OBJECT at = p->objectAttributes;

    if (a == NULL) {
        char desc[256];

        esys_describe_public(p, desc, sizeof(desc));
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

tpmkms_rc esys_public_convert(const TPMT_PUBLIC *p, TPMKMS_PUBLIC *out,
                              const char *label)
{
    ESYS_KEYINFO info;
    tpmkms_rc r;

    if ((r = esys_keyinfo_of(p, &info, label)) != TPMKMS_R_OK)
        return r;
    memset(out, 0, sizeof(*out));
    out->alg = info.alg;
    out->can_sign = info.can_sign;
    out->can_decrypt = info.can_decrypt;
    out->restricted = (p->objectAttributes & TPMA_OBJECT_RESTRICTED) != 0;
    if (p->type == TPM2_ALG_ECC) {
        const TPM2B_ECC_PARAMETER *x = &p->unique.ecc.x, *y = &p->unique.ecc.y;

        if (x->size > info.size || y->size > info.size) {
            TPMKMS_raise(TPMKMS_R_BAD_KEY_FILE,
                         "%s: the key's EC point has coordinates of %u and %u "
                         "bytes, more than %s allows", label,
                         (unsigned)x->size, (unsigned)y->size,
                         esys_alg_name(info.alg));
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

int esys_srk_matches(const TPMT_PUBLIC *p)
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

tpmkms_rc esys_raise_wrong_srk(const TPMT_PUBLIC *p, const char *label)
{
    char desc[256];

    esys_describe_public(p, desc, sizeof(desc));
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

ESYS_TR esys_persistent_find(ESYS_STATE *st, TPM2_HANDLE h)
{
    size_t i;

    for (i = 0; i < st->npersist; i++)
        if (st->persist[i].handle == h)
            return st->persist[i].tr;
    return ESYS_TR_NONE;
}

/* Drops the cache entry; ESYS has closed the TR or the caller does. */
void esys_persistent_forget(ESYS_STATE *st, TPM2_HANDLE h)
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

int esys_persistent_add(ESYS_STATE *st, TPM2_HANDLE h, ESYS_TR tr)
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
 * refresh: ask the TPM again even when cached (another object may have
 * been put at the handle since).  The cached node is closed first, so
 * ESYS always makes a new one: given a handle it has a node for, ESYS
 * 3.2.1 (Debian 12's) reuses that node and compares names, and on a
 * mismatch leaks what TPM2_ReadPublic returned (Esys_TR_FromTPMPublic_Finish;
 * fixed in tpm2-tss 3.2.2), and from 3.2.2 on a second open of the handle
 * is a second reference that our one Esys_TR_Close would not drop.  ESYS
 * closes the new node on failure.  Returns the raw TSS2_RC: callers decide
 * what an absent handle means.
 */
static TSS2_RC persistent_open_once(ESYS_STATE *st, TPM2_HANDLE h,
                                    int refresh, ESYS_TR *tr)
{
    ESYS_TR cached = esys_persistent_find(st, h), t = ESYS_TR_NONE;
    TSS2_RC rc;

    if (cached != ESYS_TR_NONE && !refresh) {
        *tr = cached;
        return TSS2_RC_SUCCESS;
    }
    if (cached != ESYS_TR_NONE) {
        esys_persistent_forget(st, h);
        Esys_TR_Close(st->ctx, &cached);
    }
    TPMKMS_debug("TPM2_ReadPublic(0x%08x)", h);
    ESYS_CALL(st, rc, Esys_TR_FromTPMPublic, 0,
              (st->ctx, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE),
              (st->ctx, &t));
    if (rc != TSS2_RC_SUCCESS)
        return rc;
    if (!esys_persistent_add(st, h, t)) {
        Esys_TR_Close(st->ctx, &t);
        return TSS2_ESYS_RC_MEMORY;
    }
    *tr = t;
    return TSS2_RC_SUCCESS;
}

/* The TPM reads a persistent object into a free slot to answer. */
TSS2_RC esys_persistent_open(ESYS_STATE *st, TPM2_HANDLE h, int refresh,
                             ESYS_TR *tr)
{
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    TSS2_RC rc;

    while ((rc = persistent_open_once(st, h, refresh, tr)) != TSS2_RC_SUCCESS
           && esys_tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
           && esys_slot_wait(st, &wait, "TPM2_ReadPublic"))
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

TSS2_RC esys_tr_public(ESYS_STATE *st, ESYS_TR tr, TPM2B_PUBLIC *pub)
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
    ESYS_CALL(st, rc, Esys_ReadPublic, 0,
              (st->ctx, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE),
              (st->ctx, &rp, NULL, NULL));
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

int esys_srk_is_transient(const ESYS_STATE *st)
{
    return st->srk != ESYS_TR_NONE && !st->srk_persistent;
}

void esys_flush_tr(ESYS_STATE *st, ESYS_TR *tr)
{
    TSS2_RC rc;

    TPMKMS_debug("TPM2_FlushContext");
    ESYS_CALL(st, rc, Esys_FlushContext, 0,
              (st->ctx, *tr),
              (st->ctx));
    st->no_answer = NULL;       /* a flush that failed is only logged */
    if (rc != TSS2_RC_SUCCESS) {
        TPMKMS_debug("TPM2_FlushContext failed: 0x%08x (%s)", (unsigned)rc,
                     Tss2_RC_Decode(rc));
        Esys_TR_Close(st->ctx, tr);
    }
    *tr = ESYS_TR_NONE;
}

void esys_slot_flush(ESYS_STATE *st, int i)
{
    if (st->slots[i].seq == 0)
        return;
    esys_flush_tr(st, &st->slots[i].tr);
    st->slots[i].seq = 0;
}

/* The object is already gone from the TPM: forget it without a command. */
void esys_slot_drop(ESYS_STATE *st, int i)
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
        esys_slot_flush(st, i);
}

/*
 * Before a command that needs `extra` free object slots (a Load's new
 * object, a persistent object the TPM pulls in for the command), flush
 * least-recently-used keys until our transient objects plus `extra` fit
 * in a TPM with ESYS_TPM_OBJECT_SLOTS, and, when adding a key, until at
 * most ESYS_MAX_KEYS stay loaded afterwards.
 */
void esys_make_room(ESYS_STATE *st, int extra, int adding_key)
{
    for (;;) {
        int keys = keys_loaded(st), lru = -1, i;
        int transient = keys + esys_srk_is_transient(st);

        if ((!adding_key || keys + 1 <= ESYS_MAX_KEYS)
            && transient + extra <= ESYS_TPM_OBJECT_SLOTS)
            return;
        for (i = 0; i < ESYS_MAX_KEYS; i++)
            if (st->slots[i].seq != 0
                && (lru < 0 || st->slots[i].last_use < st->slots[lru].last_use))
                lru = i;
        if (lru < 0)
            return;
        esys_slot_flush(st, lru);
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
int esys_slot_wait(ESYS_STATE *st, ESYS_SLOT_WAIT *w, const char *label)
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
    if (esys_srk_is_transient(st))
        esys_flush_tr(st, &st->srk);
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
void esys_release_if_shared(ESYS_STATE *st)
{
    if (!st->shared)
        return;
    flush_all_keys(st);
    if (esys_srk_is_transient(st))
        esys_flush_tr(st, &st->srk);
}

/*
 * After the TPM2_Load or TPM2_Create a transient primary was derived for:
 * on a TPM without a resource manager, flush it now rather than hold one
 * of the slots every process shares until disconnect.  The next load
 * derives it again (srk_absent skips the TPM2_ReadPublic); a warm
 * signature never needs it.  Through a resource manager holding it costs
 * no other process a slot, and it stays.
 */
void esys_srk_remember_name(ESYS_STATE *st)
{
    TPM2B_NAME *name = NULL;

    if (st->srk_name.size != 0 || st->srk == ESYS_TR_NONE)
        return;
    if (Esys_TR_GetName(st->ctx, st->srk, &name) == TSS2_RC_SUCCESS
        && name != NULL)
        st->srk_name = *name;
    Esys_Free(name);
}

void esys_srk_release(ESYS_STATE *st)
{
    /* tpm_identity may ask right after a create: no CreatePrimary for it. */
    esys_srk_remember_name(st);
    if (st->direct && esys_srk_is_transient(st)) {
        TPMKMS_debug("flushing our primary key: it is needed again only "
                     "to load another key");
        esys_flush_tr(st, &st->srk);
    }
}

/* ----------------------------------------------------------- the SRK */

tpmkms_rc esys_create_primary(ESYS_STATE *st, const char *label,
                              ESYS_TR *out)
{
    TPM2B_SENSITIVE_CREATE sens;
    TPM2B_PUBLIC tmpl;
    TPM2B_DATA outside;
    TPML_PCR_SELECTION pcrs;
    ESYS_SLOT_WAIT wait = ESYS_SLOT_WAIT_INIT;
    TSS2_RC rc;
    tpmkms_rc r;

    memset(&sens, 0, sizeof(sens));
    memset(&outside, 0, sizeof(outside));
    memset(&pcrs, 0, sizeof(pcrs));
    srk_template(&tmpl);
    for (;;) {
        esys_make_room(st, 1, 0);
        TPMKMS_debug("TPM2_CreatePrimary(owner, TCG ECC P-256 SRK)");
        if ((r = esys_owner_auth_begin(st)) != TPMKMS_R_OK)
            return r;
        ESYS_CALL(st, rc, Esys_CreatePrimary, 1,
                  (st->ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs),
                  (st->ctx, out, NULL, NULL, NULL, NULL));
        esys_owner_auth_end(st);
        if (rc == TSS2_RC_SUCCESS)
            return TPMKMS_R_OK;
        if (esys_tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && esys_slot_wait(st, &wait, label))
            continue;
        return esys_raise_owner(st, rc, label, "TPM2_CreatePrimary (the TCG "
                                "ECC P-256 SRK)", NULL);
    }
}

/* The storage parent for blobs under 0x81000001 or 0x40000001. */
tpmkms_rc esys_ensure_srk(ESYS_STATE *st, const char *label)
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
                        : esys_persistent_open(st, TPMKMS_SRK_HANDLE, 1, &tr);
    if (rc == TSS2_RC_SUCCESS) {
        rc = esys_tr_public(st, tr, &pub);
        if (rc != TSS2_RC_SUCCESS)
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                                  "TPM2_ReadPublic(0x81000001)", NULL);
        if (!esys_srk_matches(&pub.publicArea))
            return esys_raise_wrong_srk(&pub.publicArea, label);
        st->srk = tr;
        st->srk_persistent = 1;
        return TPMKMS_R_OK;
    }
    if (esys_tpm_base(rc) != TPM2_RC_HANDLE)
        return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                              "TPM2_ReadPublic(0x81000001)", NULL);
    /* No persistent SRK: derive the same key from the owner seed. */
    st->srk_absent = 1;
    if ((r = esys_create_primary(st, label, &tr)) != TPMKMS_R_OK)
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
tpmkms_rc esys_blob_of(const TPMKMS_KEYDATA *kd, TPMKMS_KEYBLOB *blob,
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

tpmkms_rc esys_blob_unmarshal(const TPMKMS_KEYBLOB *blob, TPM2B_PUBLIC *pub,
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

int esys_handle_is_persistent(uint32_t h)
{
    return (h >> TPM2_HR_SHIFT) == TPM2_HT_PERSISTENT;
}

/* TPM2_Load of a blob under its parent; *tr is a new transient object. */
tpmkms_rc esys_load_blob(ESYS_STATE *st, const TPMKMS_KEYBLOB *blob,
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

    if ((r = esys_blob_unmarshal(blob, &pub, &priv, label)) != TPMKMS_R_OK)
        return r;
    if (!under_srk && !esys_handle_is_persistent(blob->parent)) {
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
            if ((r = esys_ensure_srk(st, label)) != TPMKMS_R_OK)
                return r;
            parent = st->srk;
            parent_persistent = st->srk_persistent;
        } else {
            rc = esys_persistent_open(st, blob->parent, 0, &parent);
            if (esys_tpm_base(rc) == TPM2_RC_HANDLE) {
                TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                             "%s: the key's parent 0x%08x is not in the TPM: "
                             "0x%08x (%s)", label, blob->parent,
                             (unsigned)rc, Tss2_RC_Decode(rc));
                return TPMKMS_R_KEY_NOT_FOUND;
            }
            if (rc != TSS2_RC_SUCCESS)
                return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label,
                                      "TPM2_ReadPublic (the key's parent)",
                                      NULL);
            parent_persistent = 1;
        }
        esys_make_room(st, 1 + parent_persistent, as_key);
        TPMKMS_debug("TPM2_Load under 0x%08x for %s", blob->parent, label);
        ESYS_CALL(st, rc, Esys_Load, 0,
                  (st->ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                   ESYS_TR_NONE, &priv, &pub),
                  (st->ctx, tr));
        if (rc == TSS2_RC_SUCCESS) {
            r = TPMKMS_R_OK;
            break;
        }
        if (esys_tpm_base(rc) == TPM2_RC_OBJECT_MEMORY
            && esys_slot_wait(st, &wait, label))
            continue;
        if (under_srk && esys_srk_is_transient(st)
            && esys_rc_is_stale_object(rc) && !tried_srk) {
            /* Our primary was flushed behind our back: derive it again. */
            tried_srk = 1;
            Esys_TR_Close(st->ctx, &st->srk);
            st->srk = ESYS_TR_NONE;
            continue;
        }
        r = esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, cmd, NULL);
        break;
    }
    /* Loaded (or failed for good): our primary's job is done. */
    if (under_srk)
        esys_srk_release(st);
    return r;
}

/* --------------------------------------------------------- connection */

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
    st->timeout_s = cfg->timeout_s != 0 ? cfg->timeout_s : ESYS_TIMEOUT_S;
    st->conn_id = atomic_fetch_add(&esys_connections, 1) + 1;
    st->direct = tcti_is_direct(name);
    /* Its parent and siblings share the TPM's few object slots. */
    st->shared = in_forked_child() && st->direct;
    *state = st;
    return TPMKMS_R_OK;
}

/* ------------------------------------------------------ response deadlines */

static int64_t ms_until(const struct timespec *end)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(end->tv_sec - now.tv_sec) * 1000
        + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Lets ESYS's next wait for an answer last at most what is left. */
static void wait_at_most(ESYS_STATE *st, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    if (ms > INT32_MAX)
        ms = INT32_MAX;
    (void)Esys_SetTimeout(st->ctx, (int32_t)ms);
}

void esys_deadline_start(ESYS_STATE *st, ESYS_DEADLINE *dl, int keygen)
{
    dl->seconds = st->timeout_s * (keygen ? ESYS_KEYGEN_FACTOR : 1);
    clock_gettime(CLOCK_MONOTONIC, &dl->end);
    dl->end.tv_sec += dl->seconds;
    wait_at_most(st, (int64_t)dl->seconds * 1000);
}

/*
 * After fn_Finish: 1 to call it again (the TPM has not answered yet and
 * there is time left), else 0.  When the deadline has passed, *rc becomes
 * a TCTI failure, which drops the connection, and st->no_answer names the
 * command for esys_raise_tss.
 */
int esys_wait_more(ESYS_STATE *st, const ESYS_DEADLINE *dl, TSS2_RC *rc,
                   const char *cmd)
{
    int64_t left;

    if ((*rc & 0xffff) != TSS2_BASE_RC_TRY_AGAIN)
        return 0;
    if ((left = ms_until(&dl->end)) > 0) {
        wait_at_most(st, left);
        return 1;
    }
    st->no_answer = cmd;
    st->no_answer_s = dl->seconds;
    *rc = TSS2_TCTI_RC_TRY_AGAIN;
    return 0;
}

/* ------------------------------------------- objects a broken connection left */

/*
 * A connection that broke (a short or garbled answer, no answer in time)
 * is dropped without a command (esys_drop), but on a TPM without a
 * resource manager the objects it had loaded stay in the few slots every
 * process shares until the TPM is reset: two such leaks, and TPM2_Load
 * finds no room for anyone.  So esys_drop notes their handles and names
 * here, and the next connection this process makes to the same TCTI
 * flushes each that still holds the same object (TPM2_ReadPublic, names
 * compared, TPM2_FlushContext) before its first command.  Through a
 * resource manager they went with the connection, and the ReadPublic
 * finds nothing.  A forked child leaves its parent's alone.
 */
#define ESYS_ORPHANS_MAX 8

static struct {
    char tcti[256];
    long pid;
    TPM2_HANDLE handle;
    TPM2B_NAME name;
} esys_orphans[ESYS_ORPHANS_MAX];
static size_t esys_norphans;
static pthread_mutex_t esys_orphans_lock = PTHREAD_MUTEX_INITIALIZER;

/* Notes an orphan (or puts one back for the next connection to try). */
static void orphan_keep(const ESYS_STATE *st, TPM2_HANDLE h,
                        const TPM2B_NAME *name)
{
    pthread_mutex_lock(&esys_orphans_lock);
    if (esys_norphans < ESYS_ORPHANS_MAX) {
        snprintf(esys_orphans[esys_norphans].tcti,
                 sizeof(esys_orphans[0].tcti), "%s", st->tcti_name);
        esys_orphans[esys_norphans].pid = (long)getpid();
        esys_orphans[esys_norphans].handle = h;
        esys_orphans[esys_norphans].name = *name;
        esys_norphans++;
    }
    pthread_mutex_unlock(&esys_orphans_lock);
}

static void orphan_note(ESYS_STATE *st, ESYS_TR tr)
{
    TPM2_HANDLE h = 0;
    TPM2B_NAME *name = NULL;

    if (tr != ESYS_TR_NONE
        && Esys_TR_GetTpmHandle(st->ctx, tr, &h) == TSS2_RC_SUCCESS
        && Esys_TR_GetName(st->ctx, tr, &name) == TSS2_RC_SUCCESS
        && name != NULL)
        orphan_keep(st, h, name);
    Esys_Free(name);
}

/* Takes out (at most one) orphan of this process on st's TCTI. */
static int orphan_take(const ESYS_STATE *st, TPM2_HANDLE *h, TPM2B_NAME *name)
{
    int found = 0;
    size_t i;

    pthread_mutex_lock(&esys_orphans_lock);
    for (i = 0; i < esys_norphans; i++) {
        if (esys_orphans[i].pid != (long)getpid()
            || strcmp(esys_orphans[i].tcti, st->tcti_name) != 0)
            continue;
        *h = esys_orphans[i].handle;
        *name = esys_orphans[i].name;
        esys_orphans[i] = esys_orphans[--esys_norphans];
        found = 1;
        break;
    }
    pthread_mutex_unlock(&esys_orphans_lock);
    return found;
}

/*
 * On a new connection: flush what an earlier, broken one left loaded.
 * Fails (raised) only if the TPM does not answer; the orphan is then kept
 * for the next connection.
 */
static tpmkms_rc orphans_flush(ESYS_STATE *st, const char *label)
{
    TPM2_HANDLE h;
    TPM2B_NAME want;

    while (orphan_take(st, &h, &want)) {
        ESYS_TR tr = ESYS_TR_NONE;
        TPM2B_NAME *name = NULL;
        TSS2_RC rc;

        TPMKMS_debug("TPM2_ReadPublic(0x%08x): an object a broken connection "
                     "left loaded?", h);
        ESYS_CALL(st, rc, Esys_TR_FromTPMPublic, 0,
                  (st->ctx, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE),
                  (st->ctx, &tr));
        if (rc != TSS2_RC_SUCCESS) {
            if (st->no_answer == NULL && !esys_rc_is_io(rc))
                continue;       /* gone (a reset, a resource manager) */
            orphan_keep(st, h, &want);
            return esys_raise_tss(st, rc, TPMKMS_R_TPM_UNAVAILABLE, label,
                                  "TPM2_ReadPublic (an object a broken "
                                  "connection left loaded)", NULL);
        }
        if (Esys_TR_GetName(st->ctx, tr, &name) == TSS2_RC_SUCCESS
            && name != NULL && name->size == want.size
            && memcmp(name->name, want.name, want.size) == 0) {
            TPMKMS_debug("flushing 0x%08x, left loaded by a broken "
                         "connection", h);
            esys_flush_tr(st, &tr);
        } else {
            Esys_TR_Close(st->ctx, &tr);    /* another object now */
        }
        Esys_Free(name);
    }
    return TPMKMS_R_OK;
}

/* Opens the TCTI and ESYS on first use; label: what it is for. */
tpmkms_rc esys_open(ESYS_STATE *st, const char *label)
{
    TSS2_RC rc;

    if (st->ctx != NULL)
        return TPMKMS_R_OK;
    if (label == NULL)
        label = "tpmkms";
    if (st->tcti == NULL && !st->default_tcti
            && esys_tcti_socket_claims(st->tcti_name)) {
        char why[512];

        /* Connecting and the simulator's handshake get the deadline of
           one command. */
        rc = esys_tcti_socket_new(st->tcti_name, st->timeout_s * 1000u,
                                  &st->tcti, why, sizeof(why));
        if (rc != TSS2_RC_SUCCESS) {
            st->tcti = NULL;
            int late = (rc & 0xffff) == TSS2_BASE_RC_TRY_AGAIN;

            TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                         "%s: cannot open the TPM through TCTI \"%s\": %s "
                         "— 0x%08x (%s)%s", label, st->tcti_name, why,
                         (unsigned)rc, Tss2_RC_Decode(rc),
                         late ? "; the deadline is tpm-timeout= in the URI, "
                         "tpm-timeout in openssl.cnf or TPMKMS_TPM_TIMEOUT, "
                         "in seconds" : "");
            return TPMKMS_R_TPM_UNAVAILABLE;
        }
        st->own_tcti = 1;
    } else if (st->tcti == NULL) {
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
    return orphans_flush(st, label);
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
            if (esys_srk_is_transient(st))
                esys_flush_tr(st, &st->srk);
        }
        Esys_Finalize(&st->ctx);    /* frees ESYS memory; sends nothing */
    }
    if (st->tcti != NULL && st->own_tcti) {
        if (close_tcti)
            esys_tcti_socket_free(st->tcti);
        else
            esys_tcti_socket_forget(st->tcti);  /* sends nothing */
        st->tcti = NULL;
    } else if (close_tcti && st->tcti != NULL) {
        Tss2_TctiLdr_Finalize(&st->tcti);
    }
    OPENSSL_free(st->owner_auth_file);
    OPENSSL_free(st->persist);
    OPENSSL_free(st);
}

static void esys_disconnect(void *state)
{
    esys_free_state(state, 1, 1);
}

/*
 * In a forked child: no command is sent, and a loader's TCTI is leaked on
 * purpose: finalizing it may talk on the socket the parent still uses
 * (mssim sends a session end) or touch threads that did not survive
 * fork() (tabrmd's D-Bus connection).  Our own swtpm/mssim TCTI only
 * closes its descriptors, which sends nothing while the parent holds
 * them too.
 */
static void esys_abandon(void *state)
{
    esys_free_state(state, 0, 0);
}

/*
 * The connection broke: no command is sent on it; what it had loaded is
 * noted for the next connection to flush (orphans_flush: without a
 * resource manager it stays in the TPM until a reset); close the TCTI.
 */
static void esys_drop(void *state)
{
    ESYS_STATE *st = state;
    int i;

    if (st != NULL && st->ctx != NULL) {
        /* Left in the TPM: the next connection flushes them. */
        for (i = 0; i < ESYS_MAX_KEYS; i++)
            if (st->slots[i].seq != 0)
                orphan_note(st, st->slots[i].tr);
        if (esys_srk_is_transient(st))
            orphan_note(st, st->srk);
    }
    esys_free_state(state, 0, 1);
}

/* ------------------------------------------------------- method table */

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
    &esys_attest,
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
