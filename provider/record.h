/*
 * Key records on disk (pure code apart from the file system).
 *
 * A store directory holds keys/<name>.tpmkey (the record) and
 * certs/<name>.pem (the certificate chain, leaf first).  The record is
 * text a person can read; the key material is the TSS2 PRIVATE KEY PEM
 * block at its end, so `openssl` and tpm2-openssl read the file as a key
 * file too:
 *
 *   # tpmkms key record
 *   version: 1
 *   name: web
 *   key-scope: user
 *   algorithm: ec-p256
 *   created: 2026-11-25T12:00:00Z
 *   persistent-handle: 0x81000010      (only for persistent keys)
 *   tpm: 000b8c1f...                   (optional: the TPM that made it)
 *   kind: ak                           (only for attestation keys)
 *   -----BEGIN TSS2 PRIVATE KEY-----
 *   ...
 *   -----END TSS2 PRIVATE KEY-----
 *
 * tpm: is the TPM name (hex) of the storage primary (SRK) the key is
 * wrapped under, as the backend's tpm_identity method reads it: the same
 * only on the same TPM with the same owner seed.  Delete compares it with
 * the connected TPM's before evicting a persistent handle.  Records
 * written before it existed have none and stay valid.
 *
 * kind: says what the key is for.  Absent: an ordinary signing key (every
 * record written before AKs existed).  "ak": an attestation key (AK), a
 * restricted signing key that signs only what the TPM itself makes
 * (TPM2_Certify, TPM2_Quote); the key commands and the provider's
 * signatures refuse it, the tpmkms ak commands handle it.  Only "ak" is
 * written and accepted: any other value is refused, as a record an older
 * tpmkms refuses (unknown field) rather than mistakes for a key.
 *
 * Unknown header fields are refused (a newer format); a missing field,
 * a bad value or a missing PEM block: TPMKMS_R_BAD_RECORD naming the file
 * and the field.  Writes are atomic and files and directories get the
 * protection of their scope: see platform/platform.h, which does all the
 * file-system work (POSIX: files 0600 user, 0640 machine; directories
 * 0700 user, 0750 machine).
 */
#ifndef TPMKMS_RECORD_H
#define TPMKMS_RECORD_H

#include "errors.h"
#include "pubkey.h"
#include "tss2key.h"
#include "uri.h"

#define TPMKMS_RECORD_VERSION 1
#define TPMKMS_TPM_ID_MAX 68     /* a TPM2B_NAME's bytes (TPMU_NAME) */

/* What a key is for (a record's kind:). */
typedef enum {
    TPMKMS_KIND_KEY = 0,         /* an ordinary signing key (no kind:) */
    TPMKMS_KIND_AK = 1           /* an attestation key (kind: ak) */
} tpmkms_key_kind;

/* "key" or "attestation key", for messages. */
const char *tpmkms_kind_name(tpmkms_key_kind kind);

typedef struct tpmkms_record_st {
    int version;
    char *name;
    tpmkms_scope scope;          /* the key scope, persisted */
    tpmkms_alg alg;
    char *created;               /* ISO 8601 UTC; may be NULL on write */
    uint32_t persistent;         /* 0 or the persistent handle */
    unsigned char *tpm_id;       /* the SRK's TPM name (tpm:), or NULL */
    size_t tpm_id_len;           /* 1..TPMKMS_TPM_ID_MAX when set */
    tpmkms_key_kind kind;        /* kind:; TPMKMS_KIND_KEY when absent */
    TPMKMS_KEYBLOB blob;
} TPMKMS_RECORD;

void tpmkms_record_free(TPMKMS_RECORD *rec);

/*
 * The store directory for a scope: override if non-NULL, else the
 * platform's (tpmkms_platform_store_dir; POSIX user: $XDG_DATA_HOME/
 * tpmkms, else $HOME/.local/share/tpmkms; machine: $TPMKMS_MACHINE_STORE,
 * else /var/lib/tpmkms).  OPENSSL_malloc'd.
 */
char *tpmkms_store_dir(tpmkms_scope scope, const char *override);

/*
 * Whether dir is there as a store directory: *exists 0 and TPMKMS_R_OK
 * when absent; not a directory, unreadable or writable by others: that
 * failure, raised.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_store_dir_check(const char *dir, int *exists);

TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_to_text(const TPMKMS_RECORD *rec, char **text);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_from_text(const char *text, size_t len,
                                  const char *origin, TPMKMS_RECORD **out);

/* Creates dir/keys as needed.  overwrite 0: TPMKMS_R_KEY_EXISTS if present. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_save(const char *dir, const TPMKMS_RECORD *rec,
                             int overwrite);
/* TPMKMS_R_KEY_NOT_FOUND (raised) when there is no such record. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_load(const char *dir, const char *name,
                             TPMKMS_RECORD **out);
/* TPMKMS_R_KEY_NOT_FOUND when nothing was there. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_remove(const char *dir, const char *name);
/* 1 if dir holds a record of that name (no error raised). */
int tpmkms_record_exists(const char *dir, const char *name);

/*
 * What tpmkms_record_walk calls for each entry of dir/keys, in name order.
 *   record:  a record that loaded, with its file's path.
 *   skipped: a record file that did not load (unreadable, insecure mode or
 *            owner, bad format, name not matching the file): its path,
 *            the reason code and why (the error text, taken off the
 *            queue, so the walk goes on with a clean queue).  NULL: such
 *            records are passed over with a debug line only; for internal
 *            lookups, never for what a person or an application lists.
 * A non-zero return from either stops the walk (TPMKMS_R_OK returned).
 * Names that are not key names (temp files, strays) are neither.
 */
typedef struct tpmkms_record_visit_st {
    int (*record)(const TPMKMS_RECORD *rec, const char *path, void *arg);
    int (*skipped)(const char *path, tpmkms_rc reason, const char *why,
                   void *arg);
    void *arg;
} TPMKMS_RECORD_VISIT;

/*
 * Walks dir/keys as TPMKMS_RECORD_VISIT says.  A missing dir or keys/
 * is empty (TPMKMS_R_OK); dir itself not a directory, unreadable or
 * insecure: that failure, raised, before any call.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_walk(const char *dir, const TPMKMS_RECORD_VISIT *v);

/* tpmkms_record_walk with records only: broken ones are passed over
 * (debug line only).  For internal lookups. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_list(const char *dir,
                             int (*cb)(const TPMKMS_RECORD *rec, void *arg),
                             void *arg);

/*
 * Pending records: a persistent key's create in progress.
 *
 * Making a key persistent (TPM2_EvictControl) and writing its record
 * cannot be one step, and a persistent handle no record names is lost to
 * everyone (an orphan).  So create writes the whole record first as
 * dir/keys/<name>.pending (never listed or opened as a key), makes the
 * key persistent at the handle it names, then renames it to
 * <name>.tpmkey, all with the store locked (tpmkms_store_lock).  A create
 * killed in between leaves the pending record, which the next create,
 * delete or list of that store settles with the store locked
 * (tpmkms_key_settle_pending, key.h): the handle holds its key, so it is
 * renamed into place; the handle is empty or holds another key, so it is
 * removed.  Either way no handle is left that no record names.
 */
char *tpmkms_record_pending_path(const char *dir, const char *name);
/* Writes (or replaces) rec as dir/keys/<name>.pending; rec->persistent set. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_save_pending(const char *dir, const TPMKMS_RECORD *rec);
/* As tpmkms_record_load, of the pending record; one without a handle is
 * TPMKMS_R_BAD_RECORD. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_load_pending(const char *dir, const char *name,
                                     TPMKMS_RECORD **out);
int tpmkms_record_pending_exists(const char *dir, const char *name);
/* Renames the pending record to the record: replacing one (overwrite 1),
 * or TPMKMS_R_KEY_EXISTS (raised) if there is one. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_commit_pending(const char *dir, const char *name,
                                       int overwrite);
/* Removes the pending record; none there is TPMKMS_R_OK. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_remove_pending(const char *dir, const char *name);
/* The names with a pending record in dir (sorted); free with
 * tpmkms_record_names_free.  A missing dir: none. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_pending_names(const char *dir, char ***names,
                                      size_t *count);
void tpmkms_record_names_free(char **names, size_t count);

/*
 * Holds dir/keys locked against other creates, deletes and lists that
 * settle pending records, until tpmkms_store_unlock; waits for the
 * holder.  create: the scope to make dir/keys with when missing;
 * TPMKMS_SCOPE_UNSET: a missing dir/keys is *out NULL and TPMKMS_R_OK
 * (nothing to settle there).  A killed holder leaves no lock.
 */
typedef struct tpmkms_store_lock_st TPMKMS_STORE_LOCK;
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_store_lock(const char *dir, tpmkms_scope create,
                            TPMKMS_STORE_LOCK **out);
void tpmkms_store_unlock(TPMKMS_STORE_LOCK *lock);   /* NULL: no-op */

/* The path of the record of name in dir (dir/keys/<name>.tpmkey);
 * OPENSSL_malloc'd, NULL (raised) on allocation failure. */
char *tpmkms_record_path(const char *dir, const char *name);

/*
 * Finds the record a URI names.  storage-directory set: only there.
 * key-scope set: that scope's store, and the record's scope must agree
 * (TPMKMS_R_SCOPE_MISMATCH).  key-scope unset: the user store, then the
 * machine store; a name in both is TPMKMS_R_AMBIGUOUS_KEY asking for
 * key-scope=.  A record whose scope disagrees with the store it sits in
 * is TPMKMS_R_SCOPE_MISMATCH.  *dir_out (may be NULL) gets the store dir.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_record_resolve(const TPMKMS_URI *uri, TPMKMS_RECORD **out,
                                char **dir_out);

/* Certificates: dir/certs/<name>.pem, PEM text, written atomically. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_cert_save(const char *dir, const char *name,
                           const char *pem, size_t len, int overwrite);
/* *pem NULL and TPMKMS_R_OK when there is none. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_cert_load(const char *dir, const char *name,
                           char **pem, size_t *len);
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_cert_remove(const char *dir, const char *name);

/*
 * Whether this process may write the store dir's keys/ (certs 0) or
 * certs/ (certs 1) directory; the nearest of that directory, dir and its
 * ancestors that exists decides.  No: TPMKMS_R_REQUIRES_ELEVATION for the
 * machine scope (naming the store and its owner), TPMKMS_R_STORE_IO for
 * the user scope.  Sends nothing anywhere; raises on failure.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_store_check_writable(const char *dir, tpmkms_scope scope,
                                      int certs);

#endif
