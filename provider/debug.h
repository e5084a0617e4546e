/*
 * TPMKMS_debug: messages to stderr (never secrets) when openssl.cnf's
 * debug says yes, or, where it is not set, when TPMKMS_DEBUG is set and
 * not 0.
 */
#ifndef TPMKMS_DEBUG_H
#define TPMKMS_DEBUG_H

int tpmkms_debug_enabled(void);
/* openssl.cnf's debug: 1 on, 0 off, -1 back to TPMKMS_DEBUG. */
void tpmkms_debug_force(int on);
void tpmkms_debug_at(const char *func, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#define TPMKMS_debug(...)                                   \
    do {                                                    \
        if (tpmkms_debug_enabled())                         \
            tpmkms_debug_at(__func__, __VA_ARGS__);         \
    } while (0)

#endif
