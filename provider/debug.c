#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "debug.h"

/* openssl.cnf's debug (-1: not set): wins over TPMKMS_DEBUG. */
static atomic_int forced = -1;

void tpmkms_debug_force(int on)
{
    atomic_store(&forced, on < 0 ? -1 : on != 0);
}

int tpmkms_debug_enabled(void)
{
    static int enabled = -1;
    int f = atomic_load(&forced);

    if (f >= 0)
        return f;
    if (enabled < 0) {
        const char *v = getenv("TPMKMS_DEBUG");

        enabled = v != NULL && *v != '\0' && *v != '0';
    }
    return enabled;
}

void tpmkms_debug_at(const char *func, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tpmkms[%ld] %s: ", (long)getpid(), func);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
