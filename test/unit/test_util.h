/*
 * What the unit tests read off OpenSSL's error queue: the reason and the
 * message of the last error raised.  Header-only; include after cmocka.h.
 */
#ifndef TPMKMS_TEST_UTIL_H
#define TPMKMS_TEST_UTIL_H

#include <openssl/err.h>

static inline int last_reason(void)
{
    unsigned long e = ERR_peek_last_error();

    return e == 0 ? 0 : ERR_GET_REASON(e);
}

static inline const char *last_message(void)
{
    const char *data = NULL;
    int flags = 0;

    if (ERR_peek_last_error_data(&data, &flags) == 0 || data == NULL)
        return "";
    return data;
}

#endif
