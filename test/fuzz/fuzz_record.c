/*
 * Key records (keys/<name>.tpmkey), as a store on disk holds them, or as
 * a damaged or hostile file in a store does.
 *
 * A record that parses (tpmkms_record_from_text) must print
 * (tpmkms_record_to_text) to text that parses to the same version, name,
 * key-scope, algorithm, created time, persistent handle, kind and blob.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "fuzz.h"
#include "record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    tpmkms_err_init_standalone();
    return 0;
}

static void check_same(const TPMKMS_RECORD *a, const TPMKMS_RECORD *b)
{
    if (a->version != b->version)
        FUZZ_MISMATCH("version");
    if (!fuzz_str_equal(a->name, b->name))
        FUZZ_MISMATCH("name");
    if (a->scope != b->scope)
        FUZZ_MISMATCH("key-scope");
    if (a->alg != b->alg)
        FUZZ_MISMATCH("algorithm");
    if (a->created != NULL && !fuzz_str_equal(a->created, b->created))
        FUZZ_MISMATCH("created");
    if (a->persistent != b->persistent)
        FUZZ_MISMATCH("persistent-handle");
    if (a->kind != b->kind)
        FUZZ_MISMATCH("kind");
    fuzz_check_blob(&a->blob, &b->blob);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    TPMKMS_RECORD *rec = NULL, *again = NULL;
    char *text = NULL;

    if (tpmkms_record_from_text((const char *)data, size, "fuzz input", &rec)
            == TPMKMS_R_OK) {
        if (tpmkms_record_to_text(rec, &text) != TPMKMS_R_OK) {
            ERR_print_errors_fp(stderr);
            FUZZ_MISMATCH("a record that loaded into one that cannot be written");
        }
        if (tpmkms_record_from_text(text, strlen(text), "printed record",
                                    &again) != TPMKMS_R_OK) {
            ERR_print_errors_fp(stderr);
            FUZZ_MISMATCH("a record into text that does not load");
        }
        check_same(rec, again);
        tpmkms_record_free(again);
        OPENSSL_free(text);
        tpmkms_record_free(rec);
    }
    ERR_clear_error();
    return 0;
}
