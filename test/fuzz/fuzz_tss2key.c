/*
 * TSS2 PRIVATE KEY files (DER and PEM), as tpmkms, tpm2-openssl or
 * openssl_tpm2_engine wrote them, or as someone damaged them.
 *
 * Input that decodes as DER must encode (tpmkms_tss2key_to_der) to bytes
 * that decode to the same blob; the input as text goes through
 * tpmkms_tss2key_from_pem, and a PEM block that decodes must survive
 * tpmkms_tss2key_to_pem the same way.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tpmkms_err_init_standalone();
    return 0;
}

static void der_round_trip(const TPMKMS_KEYBLOB *blob)
{
    TPMKMS_KEYBLOB again;
    unsigned char *der = NULL;
    size_t der_len = 0;

    if (tpmkms_tss2key_to_der(blob, &der, &der_len) != TPMKMS_R_OK) {
        ERR_print_errors_fp(stderr);
        FUZZ_MISMATCH("a blob that decoded into one that does not encode");
    }
    if (tpmkms_tss2key_from_der(der, der_len, &again) != TPMKMS_R_OK) {
        ERR_print_errors_fp(stderr);
        FUZZ_MISMATCH("a blob into DER that does not decode");
    }
    fuzz_check_blob(blob, &again);
    tpmkms_keyblob_clear(&again);
    OPENSSL_free(der);
}

static void pem_round_trip(const TPMKMS_KEYBLOB *blob)
{
    TPMKMS_KEYBLOB again;
    char *pem = NULL;

    if (tpmkms_tss2key_to_pem(blob, &pem) != TPMKMS_R_OK) {
        ERR_print_errors_fp(stderr);
        FUZZ_MISMATCH("a blob that decoded into one that does not encode as PEM");
    }
    if (tpmkms_tss2key_from_pem(pem, strlen(pem), &again) != TPMKMS_R_OK) {
        ERR_print_errors_fp(stderr);
        FUZZ_MISMATCH("a blob into PEM that does not decode");
    }
    fuzz_check_blob(blob, &again);
    tpmkms_keyblob_clear(&again);
    OPENSSL_free(pem);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    TPMKMS_KEYBLOB blob;

    if (tpmkms_tss2key_from_der(data, size, &blob) == TPMKMS_R_OK) {
        der_round_trip(&blob);
        tpmkms_keyblob_clear(&blob);
    }
    if (tpmkms_tss2key_from_pem((const char *)data, size, &blob)
            == TPMKMS_R_OK) {
        der_round_trip(&blob);
        pem_round_trip(&blob);
        tpmkms_keyblob_clear(&blob);
    }
    ERR_clear_error();
    return 0;
}
