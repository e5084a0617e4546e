/*
 * tpmkms: URIs (pure code, no TPM).
 *
 *   tpmkms:name=web;key-scope=machine;store-location=user
 *
 * After "tpmkms:" come ';'-separated key=value pairs, each value
 * percent-decoded (RFC 3986 %XX).  A bare "tpmkms:" (no pairs) names the
 * whole store: the store loader lists it.
 *
 * Attributes:
 *   name              key name: 1..64 chars of [A-Za-z0-9._-], not starting
 *                     with '.' (so no "..", '/', NUL can escape the store)
 *   key-scope         machine | user
 *   store-location    machine | user
 *   device            TPM device path, e.g. /dev/tpmrm0  (-> "device:PATH")
 *   tcti              a TCTI config string, e.g. swtpm:host=127.0.0.1,port=2321
 *   tpm-timeout       seconds the TPM has to answer one command (key
 *                     generation: ten times that); see tpmkms_timeout_parse
 *   storage-directory absolute path overriding the key store directory
 *   handle            a persistent handle 0x81000000..0x81FFFFFF (hex)
 *   pin-value         the key's auth value (RFC 7512)
 *   pin-source        file:/path or /path: the auth value is the file's
 *                     first line (RFC 7512)
 * Unknown attributes, duplicates, empty values, device together with tcti,
 * name together with handle are refused with TPMKMS_R_BAD_URI and a message
 * naming the attribute.
 */
#ifndef TPMKMS_URI_H
#define TPMKMS_URI_H

#include <stddef.h>
#include <stdint.h>
#include "errors.h"

#define TPMKMS_URI_SCHEME "tpmkms"
#define TPMKMS_NAME_MAX 64

typedef enum {
    TPMKMS_SCOPE_UNSET = 0,
    TPMKMS_SCOPE_USER = 1,
    TPMKMS_SCOPE_MACHINE = 2
} tpmkms_scope;

typedef struct tpmkms_uri_st {
    char *name;                  /* NULL when absent */
    tpmkms_scope key_scope;      /* as written; UNSET when absent */
    tpmkms_scope store_location; /* as written; UNSET when absent */
    char *device;
    char *tcti;
    unsigned tpm_timeout_s;      /* 0 when absent */
    char *storage_directory;
    uint32_t handle;             /* 0 when absent */
    char *pin_value;             /* cleansed on free; never printed */
    size_t pin_value_len;
    char *pin_source;
} TPMKMS_URI;

/* Parses text (which must start with "tpmkms:"); raises TPMKMS_R_BAD_URI. */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_uri_parse(const char *text, TPMKMS_URI **out);
void tpmkms_uri_free(TPMKMS_URI *uri);

/*
 * The canonical text: attributes in a fixed order (name, key-scope,
 * store-location, handle, device, tcti, storage-directory, pin-source),
 * values percent-encoded where needed.  pin-value is never printed.
 * Returns an OPENSSL_malloc'd string, NULL on allocation failure.
 */
char *tpmkms_uri_to_string(const TPMKMS_URI *uri);

/*
 * A TPM response deadline in whole seconds, 1..TPMKMS_TIMEOUT_MAX_S, as
 * the URI's tpm-timeout=, openssl.cnf's tpm-timeout and $TPMKMS_TPM_TIMEOUT
 * take it.  what names the setting in the error, raised as reason.
 */
#define TPMKMS_TIMEOUT_MAX_S 3600u
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_timeout_parse(const char *text, const char *what,
                               tpmkms_rc reason, unsigned *seconds);
/* The same check without raising: 1 and *seconds set, or 0. */
int tpmkms_timeout_value(const char *text, unsigned *seconds);

/* 1 if p is an absolute path (POSIX /...; Windows C:\... or \\server). */
int tpmkms_path_is_absolute(const char *p);

/* key-scope if set, else derived from store-location, else user. */
tpmkms_scope tpmkms_uri_key_scope(const TPMKMS_URI *uri);

const char *tpmkms_scope_name(tpmkms_scope scope); /* "machine"/"user"/"unset" */
int tpmkms_scope_from_string(const char *s, tpmkms_scope *out); /* 1/0 */

/* Checks a key name as above; 1 if valid. */
int tpmkms_name_is_valid(const char *name);

/*
 * The TCTI config for this URI: tcti, else "device:<device>", else NULL
 * (the caller then tries TPMKMS_TCTI and the TCTI loader's default).
 */
const char *tpmkms_uri_tcti(const TPMKMS_URI *uri, char *buf, size_t buflen);

/*
 * The auth value: pin-value, or the first line of pin-source's file
 * (trailing \r\n stripped, at most 4096 bytes).  *pin is OPENSSL_malloc'd
 * (NUL terminated, *len excludes the NUL); the caller cleanses and frees
 * it.  No pin: *pin = NULL, *len = 0, TPMKMS_R_OK.  A pin-source file
 * that cannot be read, is not a regular file (a FIFO, a device, ...), is
 * open to group or others, or whose first line is too long:
 * TPMKMS_R_BAD_URI naming pin-source and why
 * (tpmkms_platform_read_secret).
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_uri_get_pin(const TPMKMS_URI *uri, char **pin, size_t *len);

#endif
