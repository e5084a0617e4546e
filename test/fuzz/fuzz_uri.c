/*
 * tpmkms: URIs, as an application or a config file hands them over.
 *
 * Any text that parses must print (tpmkms_uri_to_string) to a URI that
 * parses again to the same fields, pin-value apart (never printed).  The
 * same text also goes through tpmkms_timeout_parse, the parser of
 * tpm-timeout, openssl.cnf's tpm-timeout and $TPMKMS_TPM_TIMEOUT.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "fuzz.h"
#include "uri.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tpmkms_err_init_standalone();
    return 0;
}

static void check_same(const TPMKMS_URI *a, const TPMKMS_URI *b)
{
    if (!fuzz_str_equal(a->name, b->name))
        FUZZ_MISMATCH("name");
    if (a->key_scope != b->key_scope)
        FUZZ_MISMATCH("key-scope");
    if (a->store_location != b->store_location)
        FUZZ_MISMATCH("store-location");
    if (!fuzz_str_equal(a->device, b->device))
        FUZZ_MISMATCH("device");
    if (!fuzz_str_equal(a->tcti, b->tcti))
        FUZZ_MISMATCH("tcti");
    if (a->tpm_timeout_s != b->tpm_timeout_s)
        FUZZ_MISMATCH("tpm-timeout");
    if (!fuzz_str_equal(a->storage_directory, b->storage_directory))
        FUZZ_MISMATCH("storage-directory");
    if (a->handle != b->handle)
        FUZZ_MISMATCH("handle");
    if (!fuzz_str_equal(a->pin_source, b->pin_source))
        FUZZ_MISMATCH("pin-source");
    if (b->pin_value != NULL)
        FUZZ_MISMATCH("pin-value (printed, and it never may be)");
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *text = OPENSSL_malloc(size + 1);
    TPMKMS_URI *uri = NULL, *again = NULL;
    unsigned seconds = 0;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    if (tpmkms_uri_parse(text, &uri) == TPMKMS_R_OK) {
        char *printed = tpmkms_uri_to_string(uri);

        if (printed == NULL)
            abort();
        if (tpmkms_uri_parse(printed, &again) != TPMKMS_R_OK) {
            fprintf(stderr, "printed URI does not parse: %s\n", printed);
            ERR_print_errors_fp(stderr);
            FUZZ_MISMATCH("a URI into one that does not parse");
        }
        check_same(uri, again);
        tpmkms_uri_free(again);
        OPENSSL_free(printed);
        tpmkms_uri_free(uri);
    }

    if (tpmkms_timeout_parse(text, "tpm-timeout", TPMKMS_R_BAD_URI, &seconds)
            == TPMKMS_R_OK && (seconds < 1 || seconds > TPMKMS_TIMEOUT_MAX_S))
        abort();

    OPENSSL_free(text);
    ERR_clear_error();
    return 0;
}
