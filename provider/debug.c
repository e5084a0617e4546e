#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "debug.h"

int tpmkms_debug_enabled(void)
{
    static int enabled = -1;

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
