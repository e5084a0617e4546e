/*
 * Response codes and their decoding, for messages that name the key, the
 * command, the code and what to do; and the names of algorithms, curves
 * and schemes those messages use.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "errors.h"
#include "esys.h"

/* ---------------------------------------------------------------- names */

static const struct esys_alg esys_algs[] = {
    { TPMKMS_ALG_EC_P256, "ec-p256", TPM2_ALG_ECC, TPM2_ECC_NIST_P256, 0, 32 },
    { TPMKMS_ALG_EC_P384, "ec-p384", TPM2_ALG_ECC, TPM2_ECC_NIST_P384, 0, 48 },
    { TPMKMS_ALG_RSA_2048, "rsa-2048", TPM2_ALG_RSA, 0, 2048, 256 },
    { TPMKMS_ALG_RSA_3072, "rsa-3072", TPM2_ALG_RSA, 0, 3072, 384 },
};

const struct esys_alg *esys_alg_info(tpmkms_alg alg)
{
    size_t i;

    for (i = 0; i < sizeof(esys_algs) / sizeof(esys_algs[0]); i++)
        if (esys_algs[i].alg == alg)
            return &esys_algs[i];
    return NULL;
}

const struct esys_alg *esys_alg_of_public(const TPMT_PUBLIC *p)
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

const char *esys_alg_name(tpmkms_alg alg)
{
    const struct esys_alg *a = esys_alg_info(alg);

    return a != NULL ? a->name : "(none)";
}

static const struct esys_hash esys_hashes[] = {
    { TPMKMS_HASH_SHA1, TPM2_ALG_SHA1, 20, "SHA-1" },
    { TPMKMS_HASH_SHA256, TPM2_ALG_SHA256, 32, "SHA-256" },
    { TPMKMS_HASH_SHA384, TPM2_ALG_SHA384, 48, "SHA-384" },
    { TPMKMS_HASH_SHA512, TPM2_ALG_SHA512, 64, "SHA-512" },
};

const struct esys_hash *esys_hash_info(tpmkms_hash hash)
{
    size_t i;

    for (i = 0; i < sizeof(esys_hashes) / sizeof(esys_hashes[0]); i++)
        if (esys_hashes[i].hash == hash)
            return &esys_hashes[i];
    return NULL;
}

const char *esys_scheme_name(tpmkms_scheme scheme)
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
void esys_describe_public(const TPMT_PUBLIC *p, char *buf, size_t n)
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
uint32_t esys_tpm_base(TSS2_RC rc)
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
    return esys_tpm_base(rc) == TPM2_RC_HANDLE
        && (rc & (TPM2_RC_N_MASK | TPM2_RC_P)) == TPM2_RC_1;
}

/* The object behind the first handle is gone (flushed by someone else). */
int esys_rc_is_stale_object(TSS2_RC rc)
{
    return esys_tpm_base(rc) == TPM2_RC_REFERENCE_H0 || rc_is_handle1(rc);
}

int esys_rc_is_retry(TSS2_RC rc)
{
    uint32_t b = esys_tpm_base(rc);

    return b == TPM2_RC_RETRY || b == TPM2_RC_YIELDED || b == TPM2_RC_TESTING;
}

static int rc_is_auth(TSS2_RC rc)
{
    uint32_t b = esys_tpm_base(rc);

    return b == TPM2_RC_AUTH_FAIL || b == TPM2_RC_BAD_AUTH;
}

/* The TCTI, or the transport under ESYS, failed: no TPM to talk to. */
int esys_rc_is_io(TSS2_RC rc)
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

void esys_backoff(int attempt)
{
    struct timespec ts = { 0, 20L * 1000 * 1000 * attempt };

    nanosleep(&ts, NULL);
}

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
      NULL /* esys_raise_tss() says how long it waited */ },
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
    /* What ESYS_CALL gave up resending: esys_raise_tss() counts the sends. */
    { TPM2_RC_RETRY, TPMKMS_R_OK, 0, NULL },
    { TPM2_RC_YIELDED, TPMKMS_R_OK, 0, NULL },
    { TPM2_RC_TESTING, TPMKMS_R_OK, 0, NULL },
};

static const struct esys_rc_map *rc_lookup(TSS2_RC rc)
{
    uint32_t b = esys_tpm_base(rc);
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

    ESYS_CALL(st, rc, Esys_GetCapability, 0,
              (st->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
               TPM2_CAP_TPM_PROPERTIES, TPM2_PT_LOCKOUT_COUNTER, 4),
              (st->ctx, &more, &cap));
    st->no_answer = NULL;       /* the error being raised is the lockout */
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

/* "Esys_Sign" (the ESYS function ESYS_CALL was given) as "TPM2_Sign". */
static const char *command_name(const char *fn, char *buf, size_t n)
{
    if (strcmp(fn, "Esys_TR_FromTPMPublic") == 0)
        return "TPM2_ReadPublic";
    if (strncmp(fn, "Esys_", 5) != 0)
        return fn;
    snprintf(buf, n, "TPM2_%s", fn + 5);
    return buf;
}

/*
 * Raise the tpmkms reason for a failed ESYS call, once, naming the key
 * (label), the command, the code in hex with its decoding and, where the
 * decoding is opaque, what it means here.  `what` names the algorithm,
 * scheme and hash involved (may be NULL).
 */
tpmkms_rc esys_raise_tss(ESYS_STATE *st, TSS2_RC rc, tpmkms_rc dflt,
                         const char *label, const char *cmd,
                         const char *what)
{
    const struct esys_rc_map *m;
    const char *decoded = Tss2_RC_Decode(rc);
    char text[512];
    tpmkms_rc reason = dflt;

    if (label == NULL)
        label = "tpmkms";
    if (st != NULL && st->no_answer != NULL) {
        char name[64];

        /* esys_wait_more gave up: the command itself has no code. */
        TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                     "%s: %s got no answer from the TPM within %u s (TCTI "
                     "\"%s\"): the TPM stopped answering; the connection was "
                     "dropped and the next operation connects again (the "
                     "deadline is tpm-timeout= in the URI, tpm-timeout in "
                     "openssl.cnf or TPMKMS_TPM_TIMEOUT, in seconds; key "
                     "generation gets %d times it)", label,
                     command_name(st->no_answer, name, sizeof(name)),
                     st->no_answer_s,
                     st->tcti_name, ESYS_KEYGEN_FACTOR);
        st->no_answer = NULL;
        return TPMKMS_R_TPM_UNAVAILABLE;
    }
    if (esys_rc_is_io(rc)) {
        const char *why = st != NULL && st->own_tcti
            ? esys_tcti_socket_error(st->tcti) : NULL;

        TPMKMS_raise(TPMKMS_R_TPM_UNAVAILABLE,
                     "%s: %s failed: 0x%08x (%s) — cannot talk to the TPM "
                     "through TCTI \"%s\"%s%s", label, cmd, (unsigned)rc,
                     decoded, st != NULL ? st->tcti_name : "?",
                     why != NULL ? ": " : "", why != NULL ? why : "");
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
                 ? " no SRK is persisted at 0x81000001, so loading a key "
                   "also derives a primary key, one more slot: run tpmkms "
                   "setup once;" : "");
    else if (esys_rc_is_retry(rc))
        snprintf(text, sizeof(text), "the TPM kept answering that it cannot "
                 "run the command now (busy, yielded or testing itself): it "
                 "was sent %d times (ESYS sends it %d times for each of "
                 "tpmkms's %d paced attempts); try again later",
                 ESYS_SUBMISSIONS * (ESYS_RETRIES + 1), ESYS_SUBMISSIONS,
                 ESYS_RETRIES + 1);
    else
        snprintf(text, sizeof(text), "%s", m->text != NULL ? m->text : "");
    TPMKMS_raise(reason, "%s: %s failed: 0x%08x (%s) — %s%s%s%s%s", label,
                 cmd, (unsigned)rc, decoded, text,
                 what != NULL ? " (" : "", what != NULL ? what : "",
                 what != NULL ? ")" : "",
                 m->probe ? "; " ESYS_PROBE_HINT : "");
    return reason;
}

/* Owner-hierarchy commands: an auth failure means the owner has an auth. */
tpmkms_rc esys_raise_owner(ESYS_STATE *st, TSS2_RC rc, const char *label,
                           const char *cmd, const char *what)
{
    if (rc_is_auth(rc)) {
        TPMKMS_raise(TPMKMS_R_AUTH_FAILED,
                     "%s: %s failed: 0x%08x (%s) — the TPM's owner hierarchy "
                     "has an auth value that was not given or is wrong: put "
                     "it in a file (mode 0600) named by "
                     "TPMKMS_OWNER_AUTH_FILE; not retried: each failure may "
                     "count toward the dictionary-attack lockout",
                     label != NULL ? label : "tpmkms", cmd, (unsigned)rc,
                     Tss2_RC_Decode(rc));
        return TPMKMS_R_AUTH_FAILED;
    }
    return esys_raise_tss(st, rc, TPMKMS_R_TPM_ERROR, label, cmd, what);
}
