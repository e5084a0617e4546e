/*
 * A scripted backend for unit tests: keys are software keys (the "blob"
 * carries the DER private key), every method call is counted, and the
 * next failure can be scripted.  Only tests include this.
 */
#ifndef TPMKMS_FAKE_BACKEND_H
#define TPMKMS_FAKE_BACKEND_H

#include <openssl/evp.h>
#include "backend.h"
#include "ctx.h"
#include "key.h"
#include "tss2key.h"

typedef struct {
    int connects, disconnects, abandons;
    int creates, loads, signs, unloads, forgets;
    int admin_calls;            /* read_persistent persist evict probe setup */
    int checks;                 /* keys->check (the decoder's TPM check) */
    int identities;             /* admin->tpm_identity */
    int last_connect_generation;
    char last_tcti[256];
} FAKE_COUNTS;

extern FAKE_COUNTS fake_counts;
/* The next sign (or connect) fails with this reason, raised; 0: none. */
extern tpmkms_rc fake_fail_next_sign;
extern tpmkms_rc fake_fail_next_connect;
extern tpmkms_rc fake_fail_next_evict;
/* Each sign takes this long (microseconds): a command in flight. */
extern unsigned fake_sign_delay_us;
/*
 * What tpm_identity answers: a TPM name (0x000b, then 32 bytes), the
 * bytes all `tpm`.  fake_backend_reset sets 0xA1; another value is
 * another TPM.
 */
#define FAKE_TPM_ID_LEN 34
extern unsigned char fake_tpm_id[FAKE_TPM_ID_LEN];
void fake_set_tpm(unsigned char tpm);

/*
 * Key material is a TSS2 PRIVATE KEY whose private part is the software
 * key's DER.  Connection strings starting "forksafe" survive fork.
 * Persistent objects live in a table of 8 (persist, evict, read).
 */
const TPMKMS_BACKEND_METHOD *fake_backend_method(void);
/* The same keys, but no administration and no attestation group. */
const TPMKMS_BACKEND_METHOD *fake_backend_keys_only_method(void);
void fake_backend_reset(void);

/*
 * A new fake key's blob, as a key record or key file holds it, made
 * through ctx's default backend; and the software key pair inside such a
 * blob (the "TPM's" private key), for tests to check results against.
 */
tpmkms_rc fake_make_key_blob(TPMKMS_CTX *ctx, tpmkms_alg alg, const char *label,
                             TPMKMS_KEYBLOB *blob);
EVP_PKEY *fake_blob_software_key(const TPMKMS_KEYBLOB *blob);

#endif
