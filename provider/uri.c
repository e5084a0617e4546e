/*
 * tpmkms: URIs: parsing, the canonical text, and the auth value they name.
 *
 * Pure code: no TPM, no file system apart from reading pin-source (through
 * the platform layer's tpmkms_platform_read_secret).
 * Every refusal is TPMKMS_R_BAD_URI with a message naming the attribute.
 * Messages never quote the whole URI, since it may carry pin-value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include "uri.h"
#include "platform/platform.h"

/* The longest first line of a pin-source file we accept (\r\n aside). */
#define PIN_SOURCE_MAX 4096

enum uri_attr {
    ATTR_NAME,
    ATTR_KEY_SCOPE,
    ATTR_STORE_LOCATION,
    ATTR_HANDLE,
    ATTR_DEVICE,
    ATTR_TCTI,
    ATTR_TPM_TIMEOUT,
    ATTR_STORAGE_DIRECTORY,
    ATTR_PIN_SOURCE,
    ATTR_PIN_VALUE,
    ATTR_COUNT
};

/* Also the canonical print order (pin-value is never printed). */
static const char *const attr_names[ATTR_COUNT] = {
    "name", "key-scope", "store-location", "handle", "device", "tcti",
    "tpm-timeout", "storage-directory", "pin-source", "pin-value"
};

static int attr_lookup(const char *key, size_t keylen)
{
    for (int i = 0; i < ATTR_COUNT; i++)
        if (strlen(attr_names[i]) == keylen
                && memcmp(attr_names[i], key, keylen) == 0)
            return i;
    return -1;
}

const char *tpmkms_scope_name(tpmkms_scope scope)
{
    switch (scope) {
    case TPMKMS_SCOPE_MACHINE:
        return "machine";
    case TPMKMS_SCOPE_USER:
        return "user";
    default:
        return "unset";
    }
}

int tpmkms_scope_from_string(const char *s, tpmkms_scope *out)
{
    if (s == NULL)
        return 0;
    if (strcmp(s, "machine") == 0) {
        *out = TPMKMS_SCOPE_MACHINE;
        return 1;
    }
    if (strcmp(s, "user") == 0) {
        *out = TPMKMS_SCOPE_USER;
        return 1;
    }
    return 0;
}

int tpmkms_name_is_valid(const char *name)
{
    size_t n;

    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return 0;
    for (n = 0; name[n] != '\0'; n++) {
        char c = name[n];

        if (n >= TPMKMS_NAME_MAX)
            return 0;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '.' || c == '_'
                || c == '-'))
            return 0;
    }
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decodes src[0..len) into a new NUL-terminated buffer; *outlen
 * is the decoded length (the value may hold NUL bytes).
 */
static tpmkms_rc percent_decode(const char *attr, const char *src, size_t len,
                                char **out, size_t *outlen)
{
    char *buf = OPENSSL_malloc(len + 1);
    size_t o = 0;

    if (buf == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory decoding %s", attr);
        return TPMKMS_R_INTERNAL;
    }
    for (size_t i = 0; i < len; i++) {
        if (src[i] != '%') {
            buf[o++] = src[i];
            continue;
        }
        if (len - i < 3 || hexval(src[i + 1]) < 0 || hexval(src[i + 2]) < 0) {
            OPENSSL_clear_free(buf, len + 1);
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "%s: bad percent escape (expected %%XX with two hex digits)",
                         attr);
            return TPMKMS_R_BAD_URI;
        }
        buf[o++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
        i += 2;
    }
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return TPMKMS_R_OK;
}

int tpmkms_path_is_absolute(const char *p)
{
#ifdef _WIN32
    if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z'))
            && p[1] == ':' && (p[2] == '\\' || p[2] == '/'))
        return 1;
    if (p[0] == '\\' && p[1] == '\\')
        return 1;
#endif
    return p[0] == '/';
}

/*
 * The file a pin-source names: "file:/p", "file:///p",
 * "file://localhost/p" or "/p".  NULL if it is none of those.
 */
static const char *pin_source_path(const char *src)
{
    const char *p = src;

    if (strncasecmp(p, "file:", 5) == 0) {
        p += 5;
        if (strncmp(p, "//", 2) == 0) {
            p += 2;
            if (strncasecmp(p, "localhost", 9) == 0)
                p += 9;
        }
    }
    return tpmkms_path_is_absolute(p) ? p : NULL;
}

static tpmkms_rc parse_handle(const char *v, uint32_t *out)
{
    const char *p = v;
    uint32_t h = 0;
    size_t digits = 0;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    for (; *p != '\0'; p++, digits++) {
        int d = hexval(*p);

        if (d < 0 || digits >= 8) {
            digits = 0;
            break;
        }
        h = (h << 4) | (uint32_t)d;
    }
    if (digits == 0 || *p != '\0') {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "handle '%.32s' is not a hex number (e.g. 0x81000010)", v);
        return TPMKMS_R_BAD_URI;
    }
    if (h < 0x81000000u || h > 0x81FFFFFFu) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "handle 0x%08x is not a persistent handle "
                     "(0x81000000..0x81FFFFFF)", (unsigned)h);
        return TPMKMS_R_BAD_URI;
    }
    *out = h;
    return TPMKMS_R_OK;
}

/* Stores one decoded value; takes ownership of val. */
static tpmkms_rc set_attr(TPMKMS_URI *uri, int attr, char *val, size_t vlen)
{
    const char *aname = attr_names[attr];

    if (vlen == 0) {
        OPENSSL_free(val);
        TPMKMS_raise(TPMKMS_R_BAD_URI, "%s has an empty value", aname);
        return TPMKMS_R_BAD_URI;
    }
    if (attr == ATTR_PIN_VALUE) {
        uri->pin_value = val;
        uri->pin_value_len = vlen;
        return TPMKMS_R_OK;
    }
    if (strlen(val) != vlen) {
        OPENSSL_free(val);
        if (attr == ATTR_NAME)
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "name is invalid: it contains a NUL byte (use 1..%d "
                         "characters of A-Z a-z 0-9 . _ -)", TPMKMS_NAME_MAX);
        else
            TPMKMS_raise(TPMKMS_R_BAD_URI, "%s contains a NUL byte", aname);
        return TPMKMS_R_BAD_URI;
    }

    switch (attr) {
    case ATTR_NAME:
        if (!tpmkms_name_is_valid(val)) {
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "name '%.80s' is invalid: use 1..%d characters of "
                         "A-Z a-z 0-9 . _ - not starting with '.'",
                         val, TPMKMS_NAME_MAX);
            OPENSSL_free(val);
            return TPMKMS_R_BAD_URI;
        }
        uri->name = val;
        return TPMKMS_R_OK;
    case ATTR_KEY_SCOPE:
    case ATTR_STORE_LOCATION: {
        tpmkms_scope s;

        if (!tpmkms_scope_from_string(val, &s)) {
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "%s '%.32s' is invalid: use machine or user",
                         aname, val);
            OPENSSL_free(val);
            return TPMKMS_R_BAD_URI;
        }
        OPENSSL_free(val);
        if (attr == ATTR_KEY_SCOPE)
            uri->key_scope = s;
        else
            uri->store_location = s;
        return TPMKMS_R_OK;
    }
    case ATTR_HANDLE: {
        tpmkms_rc rc = parse_handle(val, &uri->handle);

        OPENSSL_free(val);
        return rc;
    }
    case ATTR_DEVICE:
        uri->device = val;
        return TPMKMS_R_OK;
    case ATTR_TCTI:
        uri->tcti = val;
        return TPMKMS_R_OK;
    case ATTR_TPM_TIMEOUT: {
        tpmkms_rc rc = tpmkms_timeout_parse(val, "tpm-timeout",
                                            TPMKMS_R_BAD_URI,
                                            &uri->tpm_timeout_s);

        OPENSSL_free(val);
        return rc;
    }
    case ATTR_STORAGE_DIRECTORY:
        if (!tpmkms_path_is_absolute(val)) {
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "storage-directory '%.200s' is not an absolute path",
                         val);
            OPENSSL_free(val);
            return TPMKMS_R_BAD_URI;
        }
        uri->storage_directory = val;
        return TPMKMS_R_OK;
    case ATTR_PIN_SOURCE:
        if (pin_source_path(val) == NULL) {
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "pin-source '%.200s' is invalid: use file:/path or "
                         "an absolute /path", val);
            OPENSSL_free(val);
            return TPMKMS_R_BAD_URI;
        }
        uri->pin_source = val;
        return TPMKMS_R_OK;
    default:
        OPENSSL_free(val);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "unhandled URI attribute %s", aname);
        return TPMKMS_R_INTERNAL;
    }
}

tpmkms_rc tpmkms_uri_parse(const char *text, TPMKMS_URI **out)
{
    static const char scheme[] = TPMKMS_URI_SCHEME ":";
    const size_t scheme_len = sizeof(scheme) - 1;
    TPMKMS_URI *uri;
    int seen[ATTR_COUNT] = { 0 };
    const char *p;
    tpmkms_rc rc;

    *out = NULL;
    if (text == NULL || strncasecmp(text, scheme, scheme_len) != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_URI, "URI does not start with \"%s\"",
                     scheme);
        return TPMKMS_R_BAD_URI;
    }
    uri = OPENSSL_zalloc(sizeof(*uri));
    if (uri == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory parsing a URI");
        return TPMKMS_R_INTERNAL;
    }

    p = text + scheme_len;
    while (*p != '\0') {
        const char *end = strchr(p, ';');
        size_t seglen = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', seglen);
        int attr;
        char *val;
        size_t vlen;

        if (seglen == 0) {
            /* A single trailing ';' ends the loop above; this is ";;". */
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "URI has an empty attribute (\";;\" or a leading ';')");
            rc = TPMKMS_R_BAD_URI;
            goto err;
        }
        if (eq == NULL) {
            TPMKMS_raise(TPMKMS_R_BAD_URI,
                         "attribute '%.*s' has no '=' (use attribute=value)",
                         (int)(seglen > 40 ? 40 : seglen), p);
            rc = TPMKMS_R_BAD_URI;
            goto err;
        }
        attr = attr_lookup(p, (size_t)(eq - p));
        if (attr < 0) {
            size_t klen = (size_t)(eq - p);

            TPMKMS_raise(TPMKMS_R_BAD_URI, "unknown attribute '%.*s'",
                         (int)(klen > 40 ? 40 : klen), p);
            rc = TPMKMS_R_BAD_URI;
            goto err;
        }
        if (seen[attr]) {
            TPMKMS_raise(TPMKMS_R_BAD_URI, "duplicate attribute %s",
                         attr_names[attr]);
            rc = TPMKMS_R_BAD_URI;
            goto err;
        }
        seen[attr] = 1;
        rc = percent_decode(attr_names[attr], eq + 1,
                            seglen - (size_t)(eq + 1 - p), &val, &vlen);
        if (rc != TPMKMS_R_OK)
            goto err;
        rc = set_attr(uri, attr, val, vlen);
        if (rc != TPMKMS_R_OK)
            goto err;
        if (end == NULL)
            break;
        p = end + 1;
    }

    if (uri->device != NULL && uri->tcti != NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "device and tcti cannot be used together (use one)");
        rc = TPMKMS_R_BAD_URI;
        goto err;
    }
    if (uri->name != NULL && uri->handle != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "name and handle cannot be used together (use one)");
        rc = TPMKMS_R_BAD_URI;
        goto err;
    }
    if (uri->pin_value != NULL && uri->pin_source != NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "pin-value and pin-source cannot be used together "
                     "(use one)");
        rc = TPMKMS_R_BAD_URI;
        goto err;
    }
    *out = uri;
    return TPMKMS_R_OK;

err:
    tpmkms_uri_free(uri);
    return rc;
}

void tpmkms_uri_free(TPMKMS_URI *uri)
{
    if (uri == NULL)
        return;
    OPENSSL_free(uri->name);
    OPENSSL_free(uri->device);
    OPENSSL_free(uri->tcti);
    OPENSSL_free(uri->storage_directory);
    if (uri->pin_value != NULL)
        OPENSSL_clear_free(uri->pin_value, uri->pin_value_len + 1);
    OPENSSL_free(uri->pin_source);
    OPENSSL_free(uri);
}

static int needs_escape(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9'))
        return 0;
    return strchr("._~/:,=-", c) == NULL || c == '\0';
}

/* Appends "attr=value" (value percent-encoded) to the buffer at *pos. */
static void append_pair(char *buf, size_t *pos, int *first,
                        const char *attr, const char *val)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = *pos;

    if (!*first)
        buf[o++] = ';';
    *first = 0;
    memcpy(buf + o, attr, strlen(attr));
    o += strlen(attr);
    buf[o++] = '=';
    for (const unsigned char *v = (const unsigned char *)val; *v != '\0'; v++) {
        if (needs_escape(*v)) {
            buf[o++] = '%';
            buf[o++] = hex[*v >> 4];
            buf[o++] = hex[*v & 0x0f];
        } else {
            buf[o++] = (char)*v;
        }
    }
    *pos = o;
}

char *tpmkms_uri_to_string(const TPMKMS_URI *uri)
{
    const char *vals[ATTR_COUNT] = { NULL };
    char handle[16], timeout[16];
    size_t need = sizeof(TPMKMS_URI_SCHEME ":");
    size_t pos = 0;
    int first = 1;
    char *buf;

    vals[ATTR_NAME] = uri->name;
    if (uri->key_scope != TPMKMS_SCOPE_UNSET)
        vals[ATTR_KEY_SCOPE] = tpmkms_scope_name(uri->key_scope);
    if (uri->store_location != TPMKMS_SCOPE_UNSET)
        vals[ATTR_STORE_LOCATION] = tpmkms_scope_name(uri->store_location);
    if (uri->handle != 0) {
        snprintf(handle, sizeof(handle), "0x%08x", (unsigned)uri->handle);
        vals[ATTR_HANDLE] = handle;
    }
    vals[ATTR_DEVICE] = uri->device;
    vals[ATTR_TCTI] = uri->tcti;
    if (uri->tpm_timeout_s != 0) {
        snprintf(timeout, sizeof(timeout), "%u", uri->tpm_timeout_s);
        vals[ATTR_TPM_TIMEOUT] = timeout;
    }
    vals[ATTR_STORAGE_DIRECTORY] = uri->storage_directory;
    vals[ATTR_PIN_SOURCE] = uri->pin_source;
    /* vals[ATTR_PIN_VALUE] stays NULL: never printed. */

    for (int i = 0; i < ATTR_COUNT; i++)
        if (vals[i] != NULL)
            need += strlen(attr_names[i]) + 2 + 3 * strlen(vals[i]);
    buf = OPENSSL_malloc(need);
    if (buf == NULL)
        return NULL;
    memcpy(buf, TPMKMS_URI_SCHEME ":", sizeof(TPMKMS_URI_SCHEME ":") - 1);
    pos = sizeof(TPMKMS_URI_SCHEME ":") - 1;
    for (int i = 0; i < ATTR_COUNT; i++)
        if (vals[i] != NULL)
            append_pair(buf, &pos, &first, attr_names[i], vals[i]);
    buf[pos] = '\0';
    return buf;
}

int tpmkms_timeout_value(const char *text, unsigned *seconds)
{
    unsigned long v = 0;
    const char *p = text;

    if (text == NULL || *text == '\0')
        return 0;
    for (; *p >= '0' && *p <= '9' && v <= TPMKMS_TIMEOUT_MAX_S; p++)
        v = v * 10 + (unsigned long)(*p - '0');
    if (*p != '\0' || v == 0 || v > TPMKMS_TIMEOUT_MAX_S)
        return 0;
    *seconds = (unsigned)v;
    return 1;
}

tpmkms_rc tpmkms_timeout_parse(const char *text, const char *what,
                               tpmkms_rc reason, unsigned *seconds)
{
    if (!tpmkms_timeout_value(text, seconds)) {
        TPMKMS_raise(reason,
                     "%s '%.32s' is invalid: give whole seconds, 1 to %u",
                     what, text != NULL ? text : "", TPMKMS_TIMEOUT_MAX_S);
        return reason;
    }
    return TPMKMS_R_OK;
}

tpmkms_scope tpmkms_uri_key_scope(const TPMKMS_URI *uri)
{
    if (uri->key_scope != TPMKMS_SCOPE_UNSET)
        return uri->key_scope;
    if (uri->store_location != TPMKMS_SCOPE_UNSET)
        return uri->store_location;
    return TPMKMS_SCOPE_USER;
}

const char *tpmkms_uri_tcti(const TPMKMS_URI *uri, char *buf, size_t buflen)
{
    int n;

    if (uri->tcti != NULL)
        return uri->tcti;
    if (uri->device == NULL)
        return NULL;
    n = snprintf(buf, buflen, "device:%s", uri->device);
    if (n < 0 || (size_t)n >= buflen) {
        TPMKMS_raise(TPMKMS_R_BAD_URI, "device path '%.200s' is too long",
                     uri->device);
        return NULL;
    }
    return buf;
}

static tpmkms_rc read_pin_file(const char *src, char **pin, size_t *len)
{
    const char *path = pin_source_path(src);
    unsigned char *line = NULL;
    tpmkms_rc rc;

    if (path == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "pin-source '%.200s' is invalid: use file:/path or an "
                     "absolute /path", src);
        return TPMKMS_R_BAD_URI;
    }
    /* The platform layer refuses what is not a private regular file; a
     * bad pin-source file stays TPMKMS_R_BAD_URI, as it always was. */
    rc = tpmkms_platform_read_secret(path, "pin-source file", PIN_SOURCE_MAX,
                                     TPMKMS_R_BAD_URI, &line, len);
    if (rc != TPMKMS_R_OK)
        return rc;
    *pin = (char *)line;
    return TPMKMS_R_OK;
}

tpmkms_rc tpmkms_uri_get_pin(const TPMKMS_URI *uri, char **pin, size_t *len)
{
    *pin = NULL;
    *len = 0;
    if (uri->pin_value != NULL) {
        char *p = OPENSSL_malloc(uri->pin_value_len + 1);

        if (p == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory copying pin-value");
            return TPMKMS_R_INTERNAL;
        }
        memcpy(p, uri->pin_value, uri->pin_value_len);
        p[uri->pin_value_len] = '\0';
        *pin = p;
        *len = uri->pin_value_len;
        return TPMKMS_R_OK;
    }
    if (uri->pin_source != NULL)
        return read_pin_file(uri->pin_source, pin, len);
    return TPMKMS_R_OK;
}
