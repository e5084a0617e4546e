/*
 * Preloaded after the ASan runtime into the programs an integration test
 * runs that are not built with ASan but load the sanitized tpmkms.so
 * (openssl, nginx, openvpn, curl: helpers.sh _wrap_for_sanitizer).  It
 * only initializes the runtime, before any other library's constructor.
 *
 * A preloaded ASan runtime is initialized by its own constructor, which
 * the dynamic linker runs after those of the program's libraries, or
 * earlier by the first call it intercepts.  In curl that call is a
 * malloc in glibc's newlocale, called by libp11-kit's constructor with
 * glibc's locale lock held for writing.  The runtime's initialization
 * calls dlerror(), whose message translation read-locks that same lock:
 * glibc refuses (EDEADLK, unchecked), and the unlock that follows drops
 * newlocale's write lock instead; newlocale's own unlock then takes the
 * reader count below zero, and curl's first setlocale() waits forever.
 * Built with -z initfirst, this object's constructor runs before every
 * other one, so the runtime is initialized before p11-kit gets the lock.
 */

/* The runtime's entry point, as instrumented modules call it. */
void __asan_init(void);

__attribute__((constructor)) static void asan_init_first(void)
{
    __asan_init();
}
