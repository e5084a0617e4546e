/*
 * The raw floor of a TPM signature: Esys_Sign of a fixed digest with one
 * loaded key, nothing else.  Used by esys_floor (the floor on its own)
 * and by signrate --paired-floor (the floor measured in the same process,
 * in blocks alternating with the provider's signatures).  Bench code: it
 * talks to tss2 directly, the provider never does this.
 */
#ifndef TPMKMS_BENCH_FLOOR_H
#define TPMKMS_BENCH_FLOOR_H

typedef struct bench_floor_st BENCH_FLOOR;

/*
 * Connects through tcti (NULL: the TCTI loader's default) and loads a key
 * of alg (ec-p256, ec-p384, rsa-2048, rsa-3072; pss: RSA-PSS signatures)
 * under the SRK at 0x81000001 (or a TCG ECC P-256 primary made here when
 * none is persistent).  The key is read from cache, or made with
 * TPM2_Create and kept there for the next run.  NULL with a message on
 * stderr if it cannot.
 */
BENCH_FLOOR *bench_floor_open(const char *tcti, const char *alg, int pss,
                              const char *cache);
/* One TPM2_Sign; 0 on success, else the TSS2 return code. */
unsigned int bench_floor_sign(BENCH_FLOOR *f);
/* Flushes the key, closes the connection and frees f. */
void bench_floor_close(BENCH_FLOOR *f);
/* Whether alg (with pss) is one bench_floor_open takes. */
int bench_floor_alg_ok(const char *alg, int pss);

#endif
