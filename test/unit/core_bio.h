/*
 * A library context whose core BIO upcalls treat an OSSL_CORE_BIO as a
 * plain BIO, so encoders and decoders (BIO_new_from_core_bio) can be
 * called directly with a memory BIO, as libcrypto would call them from
 * inside a provider.  Header-only; include after cmocka.h.
 */
#ifndef TPMKMS_CORE_BIO_H
#define TPMKMS_CORE_BIO_H

#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>

static int cb_read_ex(OSSL_CORE_BIO *bio, void *data, size_t len,
                      size_t *bytes_read)
{
    return BIO_read_ex((BIO *)bio, data, len, bytes_read);
}

static int cb_write_ex(OSSL_CORE_BIO *bio, const void *data, size_t len,
                       size_t *written)
{
    return BIO_write_ex((BIO *)bio, data, len, written);
}

static int cb_gets(OSSL_CORE_BIO *bio, char *buf, int size)
{
    return BIO_gets((BIO *)bio, buf, size);
}

static int cb_puts(OSSL_CORE_BIO *bio, const char *str)
{
    return BIO_puts((BIO *)bio, str);
}

static int cb_ctrl(OSSL_CORE_BIO *bio, int cmd, long num, void *ptr)
{
    return (int)BIO_ctrl((BIO *)bio, cmd, num, ptr);
}

static int cb_up_ref(OSSL_CORE_BIO *bio)
{
    return BIO_up_ref((BIO *)bio);
}

static int cb_free(OSSL_CORE_BIO *bio)
{
    return BIO_free((BIO *)bio);
}

static const OSSL_DISPATCH core_bio_dispatch[] = {
    { OSSL_FUNC_BIO_READ_EX, (void (*)(void))cb_read_ex },
    { OSSL_FUNC_BIO_WRITE_EX, (void (*)(void))cb_write_ex },
    { OSSL_FUNC_BIO_GETS, (void (*)(void))cb_gets },
    { OSSL_FUNC_BIO_PUTS, (void (*)(void))cb_puts },
    { OSSL_FUNC_BIO_CTRL, (void (*)(void))cb_ctrl },
    { OSSL_FUNC_BIO_UP_REF, (void (*)(void))cb_up_ref },
    { OSSL_FUNC_BIO_FREE, (void (*)(void))cb_free },
    { 0, NULL }
};

/* Free with OSSL_LIB_CTX_free. */
static OSSL_LIB_CTX *core_bio_libctx(void)
{
    return OSSL_LIB_CTX_new_from_dispatch(NULL, core_bio_dispatch);
}

#define CORE_BIO(b) ((OSSL_CORE_BIO *)(b))

#endif
