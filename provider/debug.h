/* TPMKMS_debug: messages to stderr when TPMKMS_DEBUG is set (never secrets). */
#ifndef TPMKMS_DEBUG_H
#define TPMKMS_DEBUG_H

int tpmkms_debug_enabled(void);
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
