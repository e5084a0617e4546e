/*
 * What the libFuzzer targets share: the one-time error setup and the
 * comparison of two key blobs.  A round trip that does not give back what
 * went in is a bug the sanitizers cannot see, so the targets abort() on it
 * and libFuzzer keeps the input as a crash.
 */
#ifndef TPMKMS_FUZZ_H
#define TPMKMS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tss2key.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Prints what differed and aborts. */
#define FUZZ_MISMATCH(what)                                              \
    do {                                                                 \
        fprintf(stderr, "%s:%d: round trip changed %s\n", __FILE__,      \
                __LINE__, (what));                                       \
        abort();                                                         \
    } while (0)

static inline int fuzz_bytes_equal(const unsigned char *a, size_t alen,
                                   const unsigned char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static inline int fuzz_str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static inline void fuzz_check_blob(const TPMKMS_KEYBLOB *a,
                                   const TPMKMS_KEYBLOB *b)
{
    if (a->parent != b->parent)
        FUZZ_MISMATCH("the blob's parent");
    if (a->empty_auth != b->empty_auth)
        FUZZ_MISMATCH("the blob's emptyAuth");
    if (!fuzz_bytes_equal(a->pub, a->pub_len, b->pub, b->pub_len))
        FUZZ_MISMATCH("the blob's public part");
    if (!fuzz_bytes_equal(a->priv, a->priv_len, b->priv, b->priv_len))
        FUZZ_MISMATCH("the blob's private part");
}

#endif
