/*
 * The tpm2-tss ESYS backend (Linux), internal header.  The files in
 * provider/esys/ are the only ones that include tss2 headers, and the
 * only ones that include this header.  backend.c calls these methods with
 * the backend lock held, one thread at a time, so nothing here locks.
 *
 * The files, by concern:
 *
 *   - rc.c: response codes and their decoding (esys_raise_tss and its
 *     table, lockout text, retry backoff) and the names of algorithms, curves
 *     and schemes that messages use;
 *   - objects.c: the connection (TCTI, ESYS, fork), the owner's auth,
 *     public areas, the SRK, the persistent-handle cache, object slots,
 *     loading blobs; and the method table, tpmkms_backend_esys_method();
 *   - keys.c: the key group (create, sign, unload, forget, describe,
 *     check) with the helpers every command on a key uses;
 *   - decrypt.c: the key group's RSA decryption (TPM2_RSA_Decrypt with
 *     RSAES or OAEP) and ECDH (TPM2_ECDH_ZGen);
 *   - admin.c: the admin group (read a persistent handle, persist, evict,
 *     probe, setup);
 *   - ak.c: attestation keys (esys_ak_create, the attestation group's
 *     ak_create);
 *   - tcti_socket.c: tpmkms's own TCTI for the swtpm and mssim simulator
 *     protocols, whose receive honours the deadline (tpm2-tss 3.2's
 *     block in read()); every other TCTI comes from tpm2-tss's loader;
 *   - attest.c: the attestation group; the EK method (the endorsement
 *     keys and their certificates) and, from ak.c, ak_create.
 *   - quote.c: the attestation group's quote (TPM2_PCR_Read, TPM2_Quote).
 * Functions shared between the files are declared below with an esys_
 * prefix; helpers used by one file stay static there.
 *
 * TPM objects and commands, per connection:
 *
 *   - the storage parent (SRK): looked up lazily at 0x81000001 with one
 *     TPM2_ReadPublic; if absent, the TCG ECC P-256 SRK is derived with
 *     TPM2_CreatePrimary when a key must be loaded or created.  On a TPM
 *     without a resource manager that primary is flushed right after the
 *     TPM2_Load or TPM2_Create it was derived for (esys_srk_release), and
 *     derived again for the next one: held between entry points it would
 *     take one of the few slots every process shares, and two processes
 *     that each hold a key and a primary starve each other.  Through a
 *     resource manager it costs no other process a slot and stays loaded
 *     until disconnect, so a key reloaded later skips the CreatePrimary;
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
 *     transient SRK also TPM2_CreatePrimary and its flush, right after the
 *     Load), so a process needs slots only for the length of a signature.
 *
 * Either way, without a persistent SRK a process holds no more objects
 * between entry points than with one: its loaded keys.
 *
 * A connection that broke (a short or garbled answer, no answer in time)
 * is dropped without a command; the objects it had loaded are noted, and
 * the process's next connection to the same TCTI flushes those still
 * there (objects.c, orphans_flush) before its first command, so a broken
 * transport does not leave them in a TPM's shared slots.
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
#ifndef TPMKMS_ESYS_H
#define TPMKMS_ESYS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include "backend.h"
#include "tss2key.h"

#define ESYS_MAX_KEYS 2          /* loaded transient keys per connection */
#define ESYS_TPM_OBJECT_SLOTS 3  /* what a TPM without resource manager has */
#define ESYS_RETRIES 5           /* for TPM_RC_RETRY / YIELDED / TESTING */
#define ESYS_SUBMISSIONS 5       /* ESYS's own sends of such a command
                                    (tpm2-tss 3.2 _ESYS_MAX_SUBMISSIONS) */
#define ESYS_SLOT_WAIT_MS 10000  /* wait for another process's object slot */
#define ESYS_SLOT_BACKOFF_MS 50  /* longest pause between those retries */
#define ESYS_TIMEOUT_S 30        /* default TPM response deadline */
#define ESYS_KEYGEN_FACTOR 10    /* key generation gets ten times it */
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
    int own_tcti;               /* tcti is tcti_socket.c's, not the loader's */
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
    TPM2B_NAME srk_name;        /* the SRK's name once known (size 0 until
                                   then): the TPM's identity in records */
    int direct;                 /* no resource manager: slots are shared */
    unsigned int waited_ms;     /* last wait for an object slot, for errors */
    unsigned timeout_s;         /* response deadline of one command */
    const char *no_answer;      /* the command that got no answer in time
                                   (for its error message), or NULL */
    unsigned no_answer_s;       /* the deadline it had */
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

struct esys_alg {
    tpmkms_alg alg;
    const char *name;
    TPM2_ALG_ID type;
    TPM2_ECC_CURVE curve;
    TPMI_RSA_KEY_BITS bits;
    size_t size;
};

struct esys_hash {
    tpmkms_hash hash;
    TPM2_ALG_ID alg;
    size_t size;
    const char *name;
};

/* One command's response deadline (objects.c). */
typedef struct {
    struct timespec end;
    unsigned seconds;
} ESYS_DEADLINE;

void esys_deadline_start(ESYS_STATE *st, ESYS_DEADLINE *dl, int keygen);
int esys_wait_more(ESYS_STATE *st, const ESYS_DEADLINE *dl, TSS2_RC *rc,
                   const char *cmd);

/*
 * One TPM command that never waits for ever: fn_Async sends it, fn_Finish
 * collects the answer, each wait bounded by what is left of the command's
 * deadline (st->timeout_s; keygen: ESYS_KEYGEN_FACTOR times it).  When it
 * passes, rc is a TCTI failure (the connection is then dropped and the
 * next call reconnects) and st->no_answer names the command for the
 * message.  TPM_RC_RETRY/YIELDED/TESTING answers: ESYS resubmits them
 * itself without pausing; this adds up to ESYS_RETRIES paced attempts.
 * Auth failures are never retried.  in and out are the parenthesised
 * argument lists of fn_Async and fn_Finish.
 */
#define ESYS_CALL(st, rc, fn, keygen, in, out)                          \
    do {                                                                \
        int esys_try_ = 0;                                              \
        for (;;) {                                                      \
            ESYS_DEADLINE esys_dl_;                                     \
            (rc) = fn##_Async in;                                       \
            if ((rc) == TSS2_RC_SUCCESS) {                              \
                esys_deadline_start((st), &esys_dl_, (keygen));         \
                do {                                                    \
                    (rc) = fn##_Finish out;                             \
                } while (esys_wait_more((st), &esys_dl_, &(rc), #fn));  \
            }                                                           \
            if (!esys_rc_is_retry(rc) || ++esys_try_ > ESYS_RETRIES)    \
                break;                                                  \
            esys_backoff(esys_try_);                                    \
        }                                                               \
    } while (0)

/* rc.c: names */
const struct esys_alg *esys_alg_info(tpmkms_alg alg);
const struct esys_alg *esys_alg_of_public(const TPMT_PUBLIC *p);
const char *esys_alg_name(tpmkms_alg alg);
const struct esys_hash *esys_hash_info(tpmkms_hash hash);
const char *esys_scheme_name(tpmkms_scheme scheme);
void esys_describe_public(const TPMT_PUBLIC *p, char *buf, size_t n);

/* rc.c: response codes */
uint32_t esys_tpm_base(TSS2_RC rc);
int esys_rc_is_stale_object(TSS2_RC rc);
int esys_rc_is_retry(TSS2_RC rc);
int esys_rc_is_io(TSS2_RC rc);
void esys_backoff(int attempt);
tpmkms_rc esys_raise_tss(ESYS_STATE *st, TSS2_RC rc, tpmkms_rc dflt,
                         const char *label, const char *cmd,
                         const char *what);
tpmkms_rc esys_raise_owner(ESYS_STATE *st, TSS2_RC rc, const char *label,
                           const char *cmd, const char *what);

/* objects.c: owner auth (the value of TPMKMS_OWNER_AUTH_FILE set on
 * ESYS_TR_RH_OWNER for one command, then cleared), public areas */
tpmkms_rc esys_owner_auth_begin(ESYS_STATE *st);
void esys_owner_auth_end(ESYS_STATE *st);
tpmkms_rc esys_owner_evict_control(ESYS_STATE *st, const char *label,
                                   ESYS_TR obj, TPM2_HANDLE handle,
                                   ESYS_TR *out, TSS2_RC *rc);
tpmkms_rc esys_keyinfo_of(const TPMT_PUBLIC *p, ESYS_KEYINFO *info,
                          const char *label);
tpmkms_rc esys_public_convert(const TPMT_PUBLIC *p, TPMKMS_PUBLIC *out,
                              const char *label);
int esys_srk_matches(const TPMT_PUBLIC *p);
tpmkms_rc esys_raise_wrong_srk(const TPMT_PUBLIC *p, const char *label);

/* objects.c: persistent objects */
ESYS_TR esys_persistent_find(ESYS_STATE *st, TPM2_HANDLE h);
void esys_persistent_forget(ESYS_STATE *st, TPM2_HANDLE h);
int esys_persistent_add(ESYS_STATE *st, TPM2_HANDLE h, ESYS_TR tr);
TSS2_RC esys_persistent_open(ESYS_STATE *st, TPM2_HANDLE h, int refresh,
                             ESYS_TR *tr);
TSS2_RC esys_tr_public(ESYS_STATE *st, ESYS_TR tr, TPM2B_PUBLIC *pub);

/* objects.c: object budget */
int esys_srk_is_transient(const ESYS_STATE *st);
void esys_flush_tr(ESYS_STATE *st, ESYS_TR *tr);
void esys_slot_flush(ESYS_STATE *st, int i);
void esys_slot_drop(ESYS_STATE *st, int i);
void esys_make_room(ESYS_STATE *st, int extra, int adding_key);
int esys_slot_wait(ESYS_STATE *st, ESYS_SLOT_WAIT *w, const char *label);
void esys_release_if_shared(ESYS_STATE *st);
void esys_srk_release(ESYS_STATE *st);
/* Keeps the loaded SRK's name in st->srk_name (no TPM command). */
void esys_srk_remember_name(ESYS_STATE *st);

/* objects.c: the SRK, loading */
tpmkms_rc esys_create_primary(ESYS_STATE *st, const char *label,
                              ESYS_TR *out);
tpmkms_rc esys_ensure_srk(ESYS_STATE *st, const char *label);
tpmkms_rc esys_blob_of(const TPMKMS_KEYDATA *kd, TPMKMS_KEYBLOB *blob,
                       const char *label);
tpmkms_rc esys_blob_unmarshal(const TPMKMS_KEYBLOB *blob, TPM2B_PUBLIC *pub,
                              TPM2B_PRIVATE *priv, const char *label);
int esys_handle_is_persistent(uint32_t h);
tpmkms_rc esys_load_blob(ESYS_STATE *st, const TPMKMS_KEYBLOB *blob,
                         const char *label, int as_key, ESYS_TR *tr);

/* objects.c: the connection */
tpmkms_rc esys_open(ESYS_STATE *st, const char *label);

/*
 * tcti_socket.c: the swtpm and mssim TCTI.  claims: whether a TCTI config
 * is one it serves ("swtpm", "mssim", with or without ":host=H,port=P").
 * new: connects (every wait bounded by io_ms) and returns a TCTI for
 * Esys_Initialize, or a TCTI code with err saying why (TRY_AGAIN: a wait
 * ran out; IO_ERROR: refused, unreachable; BAD_VALUE: the config).  free: finalize
 * (mssim: session end, sent without waiting) and release.  forget: in a
 * forked child, close our descriptors without sending and release.
 * error: the last failure in words, or NULL.
 */
int esys_tcti_socket_claims(const char *conf);
TSS2_RC esys_tcti_socket_new(const char *conf, unsigned io_ms,
                             TSS2_TCTI_CONTEXT **out, char *err,
                             size_t errlen);
void esys_tcti_socket_free(TSS2_TCTI_CONTEXT *tcti);
void esys_tcti_socket_forget(TSS2_TCTI_CONTEXT *tcti);
const char *esys_tcti_socket_error(TSS2_TCTI_CONTEXT *tcti);

/*
 * keys.c: TPM2_Create of tmpl under the SRK with params's auth value, the
 * result as TSS2 PRIVATE KEY material and its public half; desc names
 * what is made in messages ("ec-p256").  Shared by the key and
 * attestation groups.
 */
tpmkms_rc esys_create_under_srk(ESYS_STATE *st,
                                const TPMKMS_CREATE_PARAMS *params,
                                const TPM2B_PUBLIC *tmpl, const char *desc,
                                TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub);

/* ak.c: the attestation group's ak_create (a restricted signing key). */
tpmkms_rc esys_ak_create(void *state, const TPMKMS_CREATE_PARAMS *params,
                         TPMKMS_KEYDATA *key, TPMKMS_PUBLIC *pub);

/*
 * keys.c: what every command on a key shares (decrypt.c uses it too).
 *   esys_key_prepare: the key's per-connection state with what its public
 *     area says (ESYS_KEYINFO: from the blob, no command; a persistent key:
 *     one TPM2_ReadPublic per connection), so a request the key cannot
 *     serve is refused before anything is sent;
 *   esys_key_run: connects, loads the key if it is not (TPM2_Load, with the
 *     SRK as objects.c says), hands ESYS its auth value and runs cmd on its
 *     ESYS_TR, retrying once a key flushed behind our back and waiting for
 *     a slot another process holds.  Load and auth failures are raised and
 *     returned; the command's own answer is left in *rc (TPMKMS_R_OK
 *     returned) for the caller to explain.
 *   esys_put_padded: src right-aligned in a field of size bytes; 0 if it
 *     does not fit.
 */
typedef TSS2_RC esys_key_cmd_fn(ESYS_STATE *st, ESYS_TR tr, void *arg);
tpmkms_rc esys_key_prepare(ESYS_STATE *st, TPMKMS_KEYREF *key,
                           ESYS_KEY **ek);
tpmkms_rc esys_key_run(ESYS_STATE *st, TPMKMS_KEYREF *key, ESYS_KEY *ek,
                       esys_key_cmd_fn *cmd, void *arg, TSS2_RC *rc);
int esys_put_padded(unsigned char *out, size_t size,
                    const unsigned char *src, size_t len);

/* decrypt.c: the key group's decrypt (RSA) and derive (ECDH) */
tpmkms_rc esys_decrypt(void *state, TPMKMS_KEYREF *key,
                       const TPMKMS_DECRYPT_PARAMS *params,
                       const unsigned char *in, size_t inlen,
                       unsigned char *out, size_t *outlen);
tpmkms_rc esys_derive(void *state, TPMKMS_KEYREF *key,
                      const unsigned char *peer_point, size_t peer_len,
                      unsigned char *secret, size_t *secret_len);

/* quote.c: the attestation group's quote (TPM2_PCR_Read, TPM2_Quote). */
tpmkms_rc esys_quote(void *state, TPMKMS_KEYREF *ak, tpmkms_hash bank,
                     uint32_t pcr_mask, const unsigned char *nonce,
                     size_t nonce_len, TPMKMS_BUF *attest, TPMKMS_BUF *sig,
                     TPMKMS_BUF *pcrs);

/* admin.c (esys_check reads the parent's handle) */
tpmkms_rc esys_read_persistent(void *state, uint32_t handle,
                               TPMKMS_PUBLIC *pub);

/* The method groups, for the method table in objects.c. */
extern const TPMKMS_KEY_METHODS esys_keys;      /* keys.c */
extern const TPMKMS_ADMIN_METHODS esys_admin;   /* admin.c */
extern const TPMKMS_ATTEST_METHODS esys_attest; /* attest.c */

#endif
