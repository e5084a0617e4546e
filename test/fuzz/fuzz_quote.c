/*
 * A quote's TPMS_ATTEST, its TPMT_SIGNATURE and the PCR file beside it,
 * as a device hands them to verify-quote (provider/attest/quote.c).
 *
 * Any bytes that parse as a quote must marshal back to exactly those
 * bytes.  The same input is also tried as a signature and as a PCR file
 * (neither may crash, whatever the counts and sizes in it say).
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "attest/quote.h"
#include "fuzz.h"

static TPMKMS_PCR_VALUES values;    /* large: not on the stack */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tpmkms_err_init_standalone();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    TPMKMS_QUOTE_INFO q;
    TPMKMS_TPMT_SIGNATURE sig;
    unsigned char *out;
    size_t n;

    if (tpmkms_quote_parse(data, size, &q) == TPMKMS_R_OK) {
        n = tpmkms_quote_marshal(&q, NULL, 0);
        if (n != size)
            FUZZ_MISMATCH("the length of a quote");
        if ((out = OPENSSL_malloc(n)) != NULL) {
            if (tpmkms_quote_marshal(&q, out, n) != n
                || !fuzz_bytes_equal(out, n, data, size))
                FUZZ_MISMATCH("a quote into other bytes");
            OPENSSL_free(out);
        }
    }
    (void)tpmkms_tpmt_signature_parse(data, size, &sig);
    (void)tpmkms_pcr_file_parse(data, size, &values);
    ERR_clear_error();
    return 0;
}
