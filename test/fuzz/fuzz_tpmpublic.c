/*
 * TPMT_PUBLIC, as a device's enrollment request hands it to attest-ca
 * (provider/attest/tpmpublic.c).
 *
 * Any bytes that parse as a TPMT_PUBLIC must marshal back to exactly the
 * bytes the parser took; the same bytes behind a TPM2B size parse to the
 * same area.  The Name is computed and the key converted for what parses
 * (neither may crash on a strange area), and the AK check runs.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "attest/tpmpublic.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tpmkms_err_init_standalone();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    TPMKMS_TPMT_PUBLIC pub, again;
    unsigned char out[TPMKMS_TPMT_PUBLIC_MAX], name[TPMKMS_TPM_NAME_MAX];
    unsigned char *twob;
    size_t used = 0, n, name_len = 0;
    EVP_PKEY *key = NULL;

    if (tpmkms_tpmt_public_parse(data, size, "fuzz", &used, &pub)
        == TPMKMS_R_OK) {
        if (used > size || used > sizeof(out))
            FUZZ_MISMATCH("the length the parser took");
        n = tpmkms_tpmt_public_marshal(&pub, out, sizeof(out));
        if (!fuzz_bytes_equal(out, n, data, used))
            FUZZ_MISMATCH("a TPMT_PUBLIC into other bytes");
        /* The same bytes as a TPM2B_PUBLIC. */
        twob = OPENSSL_malloc(used + 2);
        if (twob != NULL) {
            twob[0] = (unsigned char)(used >> 8);
            twob[1] = (unsigned char)used;
            memcpy(twob + 2, data, used);
            if (tpmkms_tpm2b_public_parse(twob, used + 2, "fuzz", &again)
                != TPMKMS_R_OK
                || memcmp(&again, &pub, sizeof(pub)) != 0)
                FUZZ_MISMATCH("the area behind a TPM2B size");
            OPENSSL_free(twob);
        }
        tpmkms_rc_ignored(tpmkms_tpm_name(NULL, &pub, "fuzz", name,
                                          &name_len));
        if (tpmkms_tpm_public_to_evp(NULL, &pub, "fuzz", &key)
            == TPMKMS_R_OK)
            EVP_PKEY_free(key);
        tpmkms_rc_ignored(tpmkms_tpm_check_ak(&pub));
    }
    ERR_clear_error();
    return 0;
}
