/*
 * Key records on disk: the text format, the store directories, the
 * security rules on reading, and URI resolution.  All file-system work
 * goes through the platform layer (platform/platform.h).
 *
 * Reading is strict in the manner of ssh's StrictModes: a store, keys/
 * directory or record writable by others is refused, records are never
 * followed through symbolic links, and a user-scope record must belong
 * to the calling user.  Otherwise someone else who can write there could
 * swap in a key blob of their choosing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "debug.h"
#include "platform/platform.h"
#include "record.h"

#define KEYS_SUBDIR "keys"
#define CERTS_SUBDIR "certs"
#define RECORD_SUFFIX ".tpmkey"
#define PENDING_SUFFIX ".pending"
#define CERT_SUFFIX ".pem"
#define RECORD_MAGIC "# tpmkms key record"
#define KIND_AK "ak"

/* ---- small helpers ---- */

char *tpmkms_path_fmt(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || (s = OPENSSL_malloc((size_t)n + 1)) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory building a path");
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static tpmkms_rc bad_name(const char *name)
{
    TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                 "key name '%.80s' is invalid: use 1..%d characters of "
                 "A-Z a-z 0-9 . _ - not starting with '.'",
                 name != NULL ? name : "", TPMKMS_NAME_MAX);
    return TPMKMS_R_BAD_PARAMETER;
}

/* Creates dir and dir/sub as needed, with protect's protection, and
 * checks both. */
static tpmkms_rc prepare_dir(const char *dir, const char *sub,
                             tpmkms_scope protect)
{
    char *subdir = NULL;
    tpmkms_rc rc;

    if ((rc = tpmkms_platform_dir_ensure(dir, protect)) != TPMKMS_R_OK)
        return rc;
    if ((subdir = tpmkms_path_fmt("%s/%s", dir, sub)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_dir_ensure(subdir, protect);
    OPENSSL_free(subdir);
    return rc;
}

/* ---- store directories ---- */

char *tpmkms_store_dir(tpmkms_scope scope, const char *override)
{
    if (override != NULL)
        return tpmkms_path_fmt("%s", override);
    return tpmkms_platform_store_dir(scope);
}

tpmkms_rc tpmkms_store_dir_check(const char *dir, int *exists)
{
    return tpmkms_platform_dir_check(dir, exists);
}

tpmkms_rc tpmkms_store_check_writable(const char *dir, tpmkms_scope scope,
                                      int certs)
{
    char *sub = tpmkms_path_fmt("%s/%s", dir, certs ? CERTS_SUBDIR : KEYS_SUBDIR);
    tpmkms_rc rc;

    if (sub == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_check_writable(dir, sub, scope);
    OPENSSL_free(sub);
    return rc;
}

/* ---- record text ---- */

const char *tpmkms_kind_name(tpmkms_key_kind kind)
{
    return kind == TPMKMS_KIND_AK ? "attestation key" : "key";
}

void tpmkms_record_free(TPMKMS_RECORD *rec)
{
    if (rec == NULL)
        return;
    OPENSSL_free(rec->name);
    OPENSSL_free(rec->created);
    OPENSSL_free(rec->tpm_id);
    tpmkms_keyblob_clear(&rec->blob);
    OPENSSL_free(rec);
}

static int is_printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

tpmkms_rc tpmkms_record_to_text(const TPMKMS_RECORD *rec, char **text)
{
    char now[32], handle[32] = "", tpm[6 + 2 * TPMKMS_TPM_ID_MAX + 2] = "";
    const char *kind = "";
    const char *created = rec->created;
    char *pem = NULL;
    tpmkms_rc rc;

    *text = NULL;
    if (!tpmkms_name_is_valid(rec->name))
        return bad_name(rec->name);
    if (rec->scope != TPMKMS_SCOPE_USER && rec->scope != TPMKMS_SCOPE_MACHINE) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the record needs key-scope machine or user",
                     rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (tpmkms_alg_name(rec->alg) == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the record has no known algorithm", rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (created == NULL) {
        time_t t = time(NULL);
        struct tm tm;

        if (gmtime_r(&t, &tm) == NULL
                || strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot format the current time");
            return TPMKMS_R_INTERNAL;
        }
        created = now;
    } else if (created[0] == '\0' || !is_printable(created)) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the created time is empty or not printable",
                     rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    if (rec->persistent != 0) {
        if (rec->persistent < 0x81000000u || rec->persistent > 0x81FFFFFFu) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "key '%s': 0x%08x is not a persistent handle",
                         rec->name, (unsigned)rec->persistent);
            return TPMKMS_R_BAD_PARAMETER;
        }
        snprintf(handle, sizeof(handle), "persistent-handle: 0x%08x\n",
                 (unsigned)rec->persistent);
    }
    if (rec->tpm_id != NULL) {
        size_t n;

        if (rec->tpm_id_len == 0 || rec->tpm_id_len > TPMKMS_TPM_ID_MAX) {
            TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                         "key '%s': a TPM identity of %zu bytes (1..%d)",
                         rec->name, rec->tpm_id_len, TPMKMS_TPM_ID_MAX);
            return TPMKMS_R_BAD_PARAMETER;
        }
        n = (size_t)snprintf(tpm, sizeof(tpm), "tpm: ");
        for (size_t i = 0; i < rec->tpm_id_len; i++)
            n += (size_t)snprintf(tpm + n, sizeof(tpm) - n, "%02x",
                                  rec->tpm_id[i]);
        snprintf(tpm + n, sizeof(tpm) - n, "\n");
    }
    if (rec->kind == TPMKMS_KIND_AK) {
        kind = "kind: " KIND_AK "\n";
    } else if (rec->kind != TPMKMS_KIND_KEY) {
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER,
                     "key '%s': the record has no known kind", rec->name);
        return TPMKMS_R_BAD_PARAMETER;
    }
    rc = tpmkms_tss2key_to_pem(&rec->blob, &pem);
    if (rc != TPMKMS_R_OK)
        return rc;
    *text = tpmkms_path_fmt(RECORD_MAGIC "\n"
                     "version: %d\n"
                     "name: %s\n"
                     "key-scope: %s\n"
                     "algorithm: %s\n"
                     "created: %s\n"
                     "%s%s%s%s",
                     TPMKMS_RECORD_VERSION, rec->name,
                     tpmkms_scope_name(rec->scope), tpmkms_alg_name(rec->alg),
                     created, handle, tpm, kind, pem);
    OPENSSL_free(pem);
    return *text != NULL ? TPMKMS_R_OK : TPMKMS_R_INTERNAL;
}

enum {
    F_VERSION, F_NAME, F_KEY_SCOPE, F_ALGORITHM, F_CREATED, F_PERSISTENT,
    F_TPM, F_KIND, F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "version", "name", "key-scope", "algorithm", "created",
    "persistent-handle", "tpm", "kind"
};

static tpmkms_rc bad_field(const char *origin, const char *field,
                           const char *why, const char *value)
{
    TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: field %s: %s%s%.80s%s", origin,
                 field, why, value != NULL ? " ('" : "",
                 value != NULL ? value : "", value != NULL ? "')" : "");
    return TPMKMS_R_BAD_RECORD;
}

static int parse_handle_value(const char *v, uint32_t *out)
{
    char *end;
    unsigned long h;

    if (v[0] != '0' || (v[1] != 'x' && v[1] != 'X') || v[2] == '\0')
        return 0;
    for (const char *p = v + 2; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')
                || (*p >= 'A' && *p <= 'F')))
            return 0;
    if (strlen(v + 2) > 8)
        return 0;
    errno = 0;
    h = strtoul(v + 2, &end, 16);
    if (errno != 0 || *end != '\0' || h < 0x81000000ul || h > 0x81FFFFFFul)
        return 0;
    *out = (uint32_t)h;
    return 1;
}

/* Hex (either case, even length, 1..TPMKMS_TPM_ID_MAX bytes) to bytes. */
static int parse_tpm_id(const char *v, unsigned char **out, size_t *outlen)
{
    size_t n = strlen(v), i;
    unsigned char *b;

    if (n == 0 || n % 2 != 0 || n / 2 > TPMKMS_TPM_ID_MAX
            || strspn(v, "0123456789abcdefABCDEF") != n)
        return 0;
    if ((b = OPENSSL_malloc(n / 2)) == NULL)
        return -1;
    for (i = 0; i < n / 2; i++) {
        char hex[3] = { v[2 * i], v[2 * i + 1], '\0' };

        b[i] = (unsigned char)strtoul(hex, NULL, 16);
    }
    *out = b;
    *outlen = n / 2;
    return 1;
}

/* Applies one "field: value" line; value is NUL terminated. */
static tpmkms_rc set_field(TPMKMS_RECORD *rec, int f, const char *value,
                           const char *origin)
{
    const char *fname = field_names[f];

    if (value[0] == '\0')
        return bad_field(origin, fname, "empty value", NULL);
    switch (f) {
    case F_VERSION: {
        long v = 0;

        if (strspn(value, "0123456789") != strlen(value) || strlen(value) > 6)
            return bad_field(origin, fname, "not a number", value);
        v = strtol(value, NULL, 10);
        if (v != TPMKMS_RECORD_VERSION) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                         "%s: field version: version %ld is not supported "
                         "(this tpmkms reads version %d)", origin, v,
                         TPMKMS_RECORD_VERSION);
            return TPMKMS_R_BAD_RECORD;
        }
        rec->version = (int)v;
        return TPMKMS_R_OK;
    }
    case F_NAME:
        if (!tpmkms_name_is_valid(value))
            return bad_field(origin, fname, "not a valid key name", value);
        if ((rec->name = OPENSSL_strdup(value)) == NULL)
            break;
        return TPMKMS_R_OK;
    case F_KEY_SCOPE:
        if (!tpmkms_scope_from_string(value, &rec->scope))
            return bad_field(origin, fname, "must be machine or user", value);
        return TPMKMS_R_OK;
    case F_ALGORITHM:
        rec->alg = tpmkms_alg_from_name(value);
        if (rec->alg == TPMKMS_ALG_NONE)
            return bad_field(origin, fname,
                             "unknown algorithm (ec-p256, ec-p384, rsa-2048, "
                             "rsa-3072)", value);
        return TPMKMS_R_OK;
    case F_CREATED:
        if (strlen(value) > 64)
            return bad_field(origin, fname, "too long", NULL);
        /* What tpmkms_record_to_text writes, so list and show never
         * print a control character (a terminal escape) from a file. */
        if (!is_printable(value))
            return bad_field(origin, fname, "control character", NULL);
        if ((rec->created = OPENSSL_strdup(value)) == NULL)
            break;
        return TPMKMS_R_OK;
    case F_PERSISTENT:
        if (!parse_handle_value(value, &rec->persistent))
            return bad_field(origin, fname,
                             "not a persistent handle 0x81000000..0x81FFFFFF",
                             value);
        return TPMKMS_R_OK;
    case F_TPM: {
        int ok = parse_tpm_id(value, &rec->tpm_id, &rec->tpm_id_len);

        if (ok == 0)
            return bad_field(origin, fname, "not the hex of a TPM name",
                             value);
        if (ok < 0)
            break;
        return TPMKMS_R_OK;
    }
    case F_KIND:
        /* Only what this tpmkms writes: another kind is not a key to use. */
        if (strcmp(value, KIND_AK) != 0)
            return bad_field(origin, fname,
                             "unknown kind (this tpmkms knows '" KIND_AK
                             "', an attestation key; no kind: is a key)",
                             value);
        rec->kind = TPMKMS_KIND_AK;
        return TPMKMS_R_OK;
    default:
        break;
    }
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading %s", origin);
    return TPMKMS_R_INTERNAL;
}

tpmkms_rc tpmkms_record_from_text(const char *text, size_t len,
                                  const char *origin, TPMKMS_RECORD **out)
{
    TPMKMS_RECORD *rec;
    int seen[F_COUNT] = { 0 };
    size_t pos = 0, pem_at = (size_t)-1;
    char value[256];
    tpmkms_rc rc = TPMKMS_R_BAD_RECORD;
    int lineno = 0;

    *out = NULL;
    if (origin == NULL)
        origin = "key record";
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: not a text file", origin);
        return TPMKMS_R_BAD_RECORD;
    }
    if ((rec = OPENSSL_zalloc(sizeof(*rec))) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory reading %s", origin);
        return TPMKMS_R_INTERNAL;
    }

    while (pos < len) {
        const char *line = text + pos;
        const char *eol = memchr(line, '\n', len - pos);
        size_t ll = eol != NULL ? (size_t)(eol - line) : len - pos;
        const char *colon, *v;
        size_t klen, vlen;
        int f;

        lineno++;
        if (ll >= 10 && memcmp(line, "-----BEGIN", 10) == 0) {
            pem_at = pos;
            break;
        }
        pos += ll + (eol != NULL ? 1 : 0);
        while (ll > 0 && (line[ll - 1] == '\r' || line[ll - 1] == ' '
                          || line[ll - 1] == '\t'))
            ll--;
        if (ll == 0 || line[0] == '#')
            continue;
        colon = memchr(line, ':', ll);
        if (colon == NULL) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                         "%s: line %d is not 'field: value'", origin, lineno);
            goto err;
        }
        klen = (size_t)(colon - line);
        for (f = 0; f < F_COUNT; f++)
            if (strlen(field_names[f]) == klen
                    && memcmp(field_names[f], line, klen) == 0)
                break;
        if (f == F_COUNT) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                         "%s: unknown field '%.*s' (written by a newer "
                         "tpmkms?)", origin, (int)(klen > 40 ? 40 : klen),
                         line);
            goto err;
        }
        if (seen[f]) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: field %s appears twice",
                         origin, field_names[f]);
            goto err;
        }
        seen[f] = 1;
        v = colon + 1;
        while (v < line + ll && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)(line + ll - v);
        if (vlen >= sizeof(value)) {
            bad_field(origin, field_names[f], "value too long", NULL);
            goto err;
        }
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        if ((rc = set_field(rec, f, value, origin)) != TPMKMS_R_OK)
            goto err;
        rc = TPMKMS_R_BAD_RECORD;
    }

    for (int f = 0; f <= F_ALGORITHM; f++)
        if (!seen[f]) {
            TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: field %s is missing",
                         origin, field_names[f]);
            goto err;
        }
    if (pem_at == (size_t)-1) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: the %s block is missing",
                     origin, TPMKMS_TSS2_PEM_LABEL);
        goto err;
    }
    if (tpmkms_tss2key_from_pem(text + pem_at, len - pem_at, &rec->blob)
            != TPMKMS_R_OK) {
        /* The reason is raised below this one; add which file it was. */
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s: the %s block does not parse",
                     origin, TPMKMS_TSS2_PEM_LABEL);
        goto err;
    }
    *out = rec;
    return TPMKMS_R_OK;

err:
    tpmkms_record_free(rec);
    return rc;
}


/* ---- records in a store ---- */

static tpmkms_rc not_found(const char *name, const char *dir)
{
    TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "key '%s' not found in %s", name,
                 dir);
    return TPMKMS_R_KEY_NOT_FOUND;
}

tpmkms_rc tpmkms_record_save(const char *dir, const TPMKMS_RECORD *rec,
                             int overwrite)
{
    char *text = NULL, *path = NULL;
    tpmkms_rc rc;

    if ((rc = tpmkms_record_to_text(rec, &text)) != TPMKMS_R_OK)
        return rc;
    if ((rc = prepare_dir(dir, KEYS_SUBDIR, rec->scope)) != TPMKMS_R_OK)
        goto out;
    path = tpmkms_path_fmt("%s/" KEYS_SUBDIR "/%s" RECORD_SUFFIX, dir, rec->name);
    if (path == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    rc = tpmkms_platform_write_store_file(path, text, strlen(text),
                                          rec->scope, overwrite);
    if (rc == TPMKMS_R_KEY_EXISTS)
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS, "key '%s' already exists in %s",
                     rec->name, dir);
    else if (rc == TPMKMS_R_OK)
        TPMKMS_debug("saved %s", path);

out:
    OPENSSL_free(path);
    OPENSSL_free(text);
    return rc;
}

/* Loads dir/keys/<name><suffix>: a record, or a pending one. */
static tpmkms_rc load_file(const char *dir, const char *name,
                           const char *suffix, TPMKMS_RECORD **out)
{
    char *keys = NULL, *path = NULL, *text = NULL;
    size_t len = 0;
    TPMKMS_FILE_INFO info;
    int exists;
    TPMKMS_RECORD *rec = NULL;
    tpmkms_rc rc;

    *out = NULL;
    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((rc = tpmkms_platform_dir_check(dir, &exists)) != TPMKMS_R_OK)
        return rc;
    if (!exists)
        return not_found(name, dir);
    if ((keys = tpmkms_path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = tpmkms_platform_dir_check(keys, &exists)) != TPMKMS_R_OK)
        goto out;
    if (!exists) {
        rc = not_found(name, dir);
        goto out;
    }
    if ((path = tpmkms_path_fmt("%s/%s%s", keys, name, suffix)) == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    rc = tpmkms_platform_read_store_file(path, &text, &len, &info);
    if (rc == TPMKMS_R_KEY_NOT_FOUND) {
        rc = not_found(name, dir);
        goto out;
    }
    if (rc == TPMKMS_R_INSECURE_STORE && info.link) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                     "%s is a symbolic link; records must be regular "
                     "files", path);
        goto out;
    }
    if (rc != TPMKMS_R_OK
            || (rc = tpmkms_record_from_text(text, len, path, &rec))
               != TPMKMS_R_OK)
        goto out;
    if (strcmp(rec->name, name) != 0) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD,
                     "%s: field name: '%s' does not match the file name",
                     path, rec->name);
        rc = TPMKMS_R_BAD_RECORD;
        goto out;
    }
    if (rec->scope == TPMKMS_SCOPE_USER && !info.mine) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                     "%s is owned by %s, not by the calling user (%s); "
                     "refusing a user key record of someone else",
                     path, info.owner, info.caller);
        rc = TPMKMS_R_INSECURE_STORE;
        goto out;
    }
    *out = rec;
    rec = NULL;

out:
    tpmkms_record_free(rec);
    OPENSSL_free(text);
    OPENSSL_free(path);
    OPENSSL_free(keys);
    return rc;
}

tpmkms_rc tpmkms_record_load(const char *dir, const char *name,
                             TPMKMS_RECORD **out)
{
    return load_file(dir, name, RECORD_SUFFIX, out);
}

/* ---- pending records: a persistent key's create in progress ---- */

char *tpmkms_record_pending_path(const char *dir, const char *name)
{
    return tpmkms_path_fmt("%s/" KEYS_SUBDIR "/%s" PENDING_SUFFIX, dir, name);
}

tpmkms_rc tpmkms_record_save_pending(const char *dir, const TPMKMS_RECORD *rec)
{
    char *text = NULL, *path = NULL;
    tpmkms_rc rc;

    if (rec->persistent == 0) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "key '%s': a pending record is for "
                     "a persistent key", rec->name);
        return TPMKMS_R_INTERNAL;
    }
    if ((rc = tpmkms_record_to_text(rec, &text)) != TPMKMS_R_OK)
        return rc;
    if ((rc = prepare_dir(dir, KEYS_SUBDIR, rec->scope)) != TPMKMS_R_OK)
        goto out;
    if ((path = tpmkms_record_pending_path(dir, rec->name)) == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto out;
    }
    rc = tpmkms_platform_write_store_file(path, text, strlen(text),
                                          rec->scope, 1);
    if (rc == TPMKMS_R_OK)
        TPMKMS_debug("saved %s", path);
out:
    OPENSSL_free(path);
    OPENSSL_free(text);
    return rc;
}

tpmkms_rc tpmkms_record_load_pending(const char *dir, const char *name,
                                     TPMKMS_RECORD **out)
{
    tpmkms_rc rc = load_file(dir, name, PENDING_SUFFIX, out);

    if (rc == TPMKMS_R_OK && (*out)->persistent == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_RECORD, "%s/" KEYS_SUBDIR "/%s" PENDING_SUFFIX
                     ": a pending record names no persistent handle", dir,
                     name);
        tpmkms_record_free(*out);
        *out = NULL;
        return TPMKMS_R_BAD_RECORD;
    }
    return rc;
}

int tpmkms_record_pending_exists(const char *dir, const char *name)
{
    char *path;
    int found;

    if (dir == NULL || !tpmkms_name_is_valid(name))
        return 0;
    tpmkms_err_set_mark();
    path = tpmkms_record_pending_path(dir, name);
    tpmkms_err_pop_to_mark();
    found = path != NULL && tpmkms_platform_exists(path);
    OPENSSL_free(path);
    return found;
}

tpmkms_rc tpmkms_record_commit_pending(const char *dir, const char *name,
                                       int overwrite)
{
    char *from = NULL, *to = NULL;
    tpmkms_rc rc = TPMKMS_R_INTERNAL;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((from = tpmkms_record_pending_path(dir, name)) == NULL
            || (to = tpmkms_record_path(dir, name)) == NULL)
        goto out;
    rc = tpmkms_platform_rename(from, to, overwrite);
    if (rc == TPMKMS_R_KEY_EXISTS)
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS, "key '%s' already exists in %s",
                     name, dir);
    else if (rc == TPMKMS_R_KEY_NOT_FOUND)
        TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "%s is gone", from);
    else if (rc == TPMKMS_R_OK)
        TPMKMS_debug("%s is now %s", from, to);
out:
    OPENSSL_free(from);
    OPENSSL_free(to);
    return rc;
}

tpmkms_rc tpmkms_record_remove_pending(const char *dir, const char *name)
{
    char *path;
    tpmkms_rc rc;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((path = tpmkms_record_pending_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_remove(path);
    if (rc == TPMKMS_R_KEY_NOT_FOUND)
        rc = TPMKMS_R_OK;
    OPENSSL_free(path);
    return rc;
}

tpmkms_rc tpmkms_record_pending_names(const char *dir, char ***names,
                                      size_t *count)
{
    char *keys;
    size_t n = 0;
    tpmkms_rc rc;

    *names = NULL;
    *count = 0;
    if ((keys = tpmkms_path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_list(keys, PENDING_SUFFIX, names, count);
    OPENSSL_free(keys);
    if (rc != TPMKMS_R_OK)
        return rc;
    /* Only key names: strays are nobody's. */
    for (size_t i = 0; i < *count; i++) {
        if (tpmkms_name_is_valid((*names)[i]))
            (*names)[n++] = (*names)[i];
        else
            OPENSSL_free((*names)[i]);
    }
    *count = n;
    return TPMKMS_R_OK;
}

void tpmkms_record_names_free(char **names, size_t count)
{
    tpmkms_platform_names_free(names, count);
}

struct tpmkms_store_lock_st {
    TPMKMS_DIR_LOCK *lock;
};

tpmkms_rc tpmkms_store_lock(const char *dir, tpmkms_scope create,
                            TPMKMS_STORE_LOCK **out)
{
    TPMKMS_STORE_LOCK *sl;
    char *keys;
    int exists;
    tpmkms_rc rc;

    *out = NULL;
    if (create != TPMKMS_SCOPE_UNSET
            && (rc = prepare_dir(dir, KEYS_SUBDIR, create)) != TPMKMS_R_OK)
        return rc;
    if ((keys = tpmkms_path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = tpmkms_platform_dir_check(keys, &exists)) != TPMKMS_R_OK
            || !exists) {
        OPENSSL_free(keys);
        return rc;      /* nothing there to keep anyone out of */
    }
    if ((sl = OPENSSL_zalloc(sizeof(*sl))) == NULL) {
        OPENSSL_free(keys);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    rc = tpmkms_platform_dir_lock(keys, &sl->lock);
    OPENSSL_free(keys);
    if (rc != TPMKMS_R_OK) {
        OPENSSL_free(sl);
        return rc;
    }
    *out = sl;
    return TPMKMS_R_OK;
}

void tpmkms_store_unlock(TPMKMS_STORE_LOCK *lock)
{
    if (lock == NULL)
        return;
    tpmkms_platform_dir_unlock(lock->lock);
    OPENSSL_free(lock);
}

tpmkms_rc tpmkms_record_remove(const char *dir, const char *name)
{
    char *path;
    tpmkms_rc rc;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((path = tpmkms_path_fmt("%s/" KEYS_SUBDIR "/%s" RECORD_SUFFIX, dir, name))
            == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_remove(path);
    if (rc == TPMKMS_R_KEY_NOT_FOUND)
        rc = not_found(name, dir);
    OPENSSL_free(path);
    return rc;
}

int tpmkms_record_exists(const char *dir, const char *name)
{
    char path[4096];
    int n;

    if (dir == NULL || !tpmkms_name_is_valid(name))
        return 0;
    n = snprintf(path, sizeof(path), "%s/" KEYS_SUBDIR "/%s" RECORD_SUFFIX,
                 dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return 0;
    return tpmkms_platform_exists(path);
}

/*
 * The text of the error a failed load raised (the newest: it raises
 * once), then the queue back to the mark set before it, so that what a
 * walk passed over is said once, by whoever was told it was skipped.
 */
static const char *take_to_mark(char *buf, size_t len)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_last_error_all(NULL, NULL, NULL, &data, &flags);

    if (e != 0)
        tpmkms_err_format(buf, len, e, data, flags);
    else
        snprintf(buf, len, "no detail");
    tpmkms_err_pop_to_mark();
    return buf;
}

char *tpmkms_record_path(const char *dir, const char *name)
{
    return tpmkms_path_fmt("%s/" KEYS_SUBDIR "/%s" RECORD_SUFFIX, dir, name);
}

tpmkms_rc tpmkms_record_walk(const char *dir, const TPMKMS_RECORD_VISIT *v)
{
    char *keys = NULL, **names = NULL;
    size_t count = 0;
    int exists;
    tpmkms_rc rc;

    if ((rc = tpmkms_platform_dir_check(dir, &exists)) != TPMKMS_R_OK
            || !exists)
        return rc;
    if ((keys = tpmkms_path_fmt("%s/" KEYS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    if ((rc = tpmkms_platform_dir_check(keys, &exists)) != TPMKMS_R_OK
            || !exists
            || (rc = tpmkms_platform_list(keys, RECORD_SUFFIX, &names, &count))
               != TPMKMS_R_OK)
        goto out;
    for (size_t i = 0; i < count; i++) {
        TPMKMS_RECORD *rec = NULL;
        char *path, why[1024];
        tpmkms_rc lrc;
        int stop;

        if (!tpmkms_name_is_valid(names[i]))
            continue;   /* temp files and strays */
        if ((path = tpmkms_record_path(dir, names[i])) == NULL) {
            rc = TPMKMS_R_INTERNAL;
            goto out;
        }
        /* A record that does not load is not fatal to the walk. */
        tpmkms_err_set_mark();
        lrc = tpmkms_record_load(dir, names[i], &rec);
        if (lrc == TPMKMS_R_KEY_NOT_FOUND) {
            /* Deleted since the directory was read: gone, not broken. */
            tpmkms_err_pop_to_mark();
            TPMKMS_debug("%s was removed while the store was listed", path);
            stop = 0;
        } else if (lrc != TPMKMS_R_OK && v->skipped == NULL) {
            tpmkms_err_pop_to_mark();
            TPMKMS_debug("skipping unreadable record %s", path);
            stop = 0;
        } else if (lrc != TPMKMS_R_OK) {
            /* The mark is under this record's errors: take only those. */
            stop = v->skipped(path, lrc, take_to_mark(why, sizeof(why)),
                              v->arg);
        } else {
            tpmkms_err_clear_last_mark();
            stop = v->record(rec, path, v->arg);
        }
        tpmkms_record_free(rec);
        OPENSSL_free(path);
        if (stop)
            break;
    }

out:
    tpmkms_platform_names_free(names, count);
    OPENSSL_free(keys);
    return rc;
}

typedef struct {
    int (*cb)(const TPMKMS_RECORD *rec, void *arg);
    void *arg;
} LIST_ADAPTER;

static int list_adapter(const TPMKMS_RECORD *rec, const char *path, void *arg)
{
    LIST_ADAPTER *a = arg;

    (void)path;
    return a->cb(rec, a->arg);
}

tpmkms_rc tpmkms_record_list(const char *dir,
                             int (*cb)(const TPMKMS_RECORD *rec, void *arg),
                             void *arg)
{
    LIST_ADAPTER a = { cb, arg };
    TPMKMS_RECORD_VISIT v = { list_adapter, NULL, &a };

    return tpmkms_record_walk(dir, &v);
}

/* ---- resolution ---- */

static const char *store_word(tpmkms_scope s)
{
    return s == TPMKMS_SCOPE_MACHINE ? "machine store" : "user store";
}

/* A record must carry the scope of the store it sits in. */
static tpmkms_rc check_store_scope(const TPMKMS_RECORD *rec,
                                   tpmkms_scope store, const char *dir)
{
    if (rec->scope == store)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_SCOPE_MISMATCH,
                 "key '%s' sits in the %s (%s) but its record says "
                 "key-scope %s", rec->name, store_word(store), dir,
                 tpmkms_scope_name(rec->scope));
    return TPMKMS_R_SCOPE_MISMATCH;
}

static tpmkms_rc check_uri_scope(const TPMKMS_RECORD *rec, tpmkms_scope want,
                                 const char *dir)
{
    if (want == TPMKMS_SCOPE_UNSET || rec->scope == want)
        return TPMKMS_R_OK;
    TPMKMS_raise(TPMKMS_R_SCOPE_MISMATCH,
                 "the URI asks for key-scope=%s but key '%s' in %s has "
                 "key-scope %s", tpmkms_scope_name(want), rec->name, dir,
                 tpmkms_scope_name(rec->scope));
    return TPMKMS_R_SCOPE_MISMATCH;
}

/* 1 if the store of the scope other than scope has a record of name. */
static int other_scope_has(const char *name, tpmkms_scope scope)
{
    tpmkms_scope other = scope == TPMKMS_SCOPE_USER ? TPMKMS_SCOPE_MACHINE
                                                    : TPMKMS_SCOPE_USER;
    char *odir;
    int found;

    tpmkms_err_set_mark();
    odir = tpmkms_store_dir(other, NULL);
    found = odir != NULL && tpmkms_record_exists(odir, name);
    tpmkms_err_pop_to_mark();
    OPENSSL_free(odir);
    return found;
}

/* Loads name from dir; a missing record gives *rec NULL and no error. */
static tpmkms_rc try_load(const char *dir, const char *name,
                          TPMKMS_RECORD **rec)
{
    tpmkms_rc rc;

    tpmkms_err_set_mark();
    rc = tpmkms_record_load(dir, name, rec);
    if (rc == TPMKMS_R_KEY_NOT_FOUND) {
        tpmkms_err_pop_to_mark();
        *rec = NULL;
        return TPMKMS_R_OK;
    }
    tpmkms_err_clear_last_mark();
    return rc;
}

tpmkms_rc tpmkms_record_resolve(const TPMKMS_URI *uri, TPMKMS_RECORD **out,
                                char **dir_out)
{
    TPMKMS_RECORD *rec = NULL;
    char *dir = NULL, *udir = NULL, *mdir = NULL;
    tpmkms_rc rc;

    *out = NULL;
    if (dir_out != NULL)
        *dir_out = NULL;
    if (uri->name == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_URI,
                     "the URI names no key: add name=<key>");
        return TPMKMS_R_BAD_URI;
    }

    if (uri->storage_directory != NULL) {
        /* store-location says where certificates live, never the key. */
        tpmkms_scope want = uri->key_scope;

        if ((dir = tpmkms_store_dir(TPMKMS_SCOPE_UNSET,
                                    uri->storage_directory)) == NULL)
            return TPMKMS_R_INTERNAL;
        if ((rc = tpmkms_record_load(dir, uri->name, &rec)) != TPMKMS_R_OK
                || (rc = check_uri_scope(rec, want, dir)) != TPMKMS_R_OK)
            goto err;
    } else if (uri->key_scope != TPMKMS_SCOPE_UNSET) {
        tpmkms_scope store = uri->key_scope;

        if ((dir = tpmkms_store_dir(store, NULL)) == NULL)
            return TPMKMS_R_STORE_IO;
        tpmkms_err_set_mark();
        rc = tpmkms_record_load(dir, uri->name, &rec);
        if (rc == TPMKMS_R_KEY_NOT_FOUND && other_scope_has(uri->name, store)) {
            tpmkms_scope other = store == TPMKMS_SCOPE_USER
                                 ? TPMKMS_SCOPE_MACHINE : TPMKMS_SCOPE_USER;

            /* Say where the key is rather than only where it is not. */
            tpmkms_err_pop_to_mark();
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                         "key '%s' not found in the %s (%s), which "
                         "key-scope=%s names; the %s has a key of that name: "
                         "use key-scope=%s, or leave key-scope out",
                         uri->name, store_word(store), dir,
                         tpmkms_scope_name(store), store_word(other),
                         tpmkms_scope_name(other));
            goto err;
        }
        tpmkms_err_clear_last_mark();
        if (rc != TPMKMS_R_OK
                || (rc = check_store_scope(rec, store, dir)) != TPMKMS_R_OK
                || (rc = check_uri_scope(rec, uri->key_scope, dir))
                   != TPMKMS_R_OK)
            goto err;
    } else {
        if ((mdir = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL)) == NULL) {
            rc = TPMKMS_R_INTERNAL;
            goto err;
        }
        /* A process without a home (a service) has no user store. */
        tpmkms_err_set_mark();
        udir = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
        if (udir == NULL)
            tpmkms_err_pop_to_mark();
        else
            tpmkms_err_clear_last_mark();
        if (udir != NULL
                && (rc = try_load(udir, uri->name, &rec)) != TPMKMS_R_OK)
            goto err;
        if (rec != NULL) {
            if ((rc = check_store_scope(rec, TPMKMS_SCOPE_USER, udir))
                    != TPMKMS_R_OK)
                goto err;
            if (tpmkms_record_exists(mdir, uri->name)) {
                TPMKMS_raise(TPMKMS_R_AMBIGUOUS_KEY,
                             "key '%s' exists in both the user store (%s) and "
                             "the machine store (%s); add key-scope=user or "
                             "key-scope=machine to the URI",
                             uri->name, udir, mdir);
                rc = TPMKMS_R_AMBIGUOUS_KEY;
                goto err;
            }
            dir = udir;
            udir = NULL;
        } else {
            if ((rc = try_load(mdir, uri->name, &rec)) != TPMKMS_R_OK)
                goto err;
            if (rec == NULL) {
                TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND,
                             "key '%s' not found in the user store (%s) or "
                             "the machine store (%s)", uri->name,
                             udir != NULL ? udir : "none: HOME is not set",
                             mdir);
                rc = TPMKMS_R_KEY_NOT_FOUND;
                goto err;
            }
            if ((rc = check_store_scope(rec, TPMKMS_SCOPE_MACHINE, mdir))
                    != TPMKMS_R_OK)
                goto err;
            dir = mdir;
            mdir = NULL;
        }
    }

    OPENSSL_free(udir);
    OPENSSL_free(mdir);
    *out = rec;
    if (dir_out != NULL)
        *dir_out = dir;
    else
        OPENSSL_free(dir);
    return TPMKMS_R_OK;

err:
    tpmkms_record_free(rec);
    OPENSSL_free(dir);
    OPENSSL_free(udir);
    OPENSSL_free(mdir);
    return rc;
}


/* ---- certificates ---- */

static char *cert_path(const char *dir, const char *name)
{
    return tpmkms_path_fmt("%s/" CERTS_SUBDIR "/%s" CERT_SUFFIX, dir, name);
}

tpmkms_rc tpmkms_cert_save(const char *dir, const char *name,
                           const char *pem, size_t len, int overwrite)
{
    tpmkms_scope like = TPMKMS_SCOPE_USER;
    char *path, *mdir;
    tpmkms_rc rc;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    /* The machine store, or a shared one: the machine's protection. */
    if ((mdir = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL)) == NULL)
        return TPMKMS_R_INTERNAL;
    if (strcmp(mdir, dir) == 0 || tpmkms_platform_dir_is_shared(dir))
        like = TPMKMS_SCOPE_MACHINE;
    OPENSSL_free(mdir);
    if ((rc = prepare_dir(dir, CERTS_SUBDIR, like)) != TPMKMS_R_OK)
        return rc;
    if ((path = cert_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_write_store_file(path, pem, len, like, overwrite);
    if (rc == TPMKMS_R_KEY_EXISTS)
        TPMKMS_raise(TPMKMS_R_KEY_EXISTS,
                     "a certificate for key '%s' already exists in %s",
                     name, dir);
    OPENSSL_free(path);
    return rc;
}

tpmkms_rc tpmkms_cert_load(const char *dir, const char *name,
                           char **pem, size_t *len)
{
    char *path = NULL, *certs = NULL;
    TPMKMS_FILE_INFO info;
    int exists;
    tpmkms_rc rc;

    *pem = NULL;
    *len = 0;
    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((rc = tpmkms_platform_dir_check(dir, &exists)) != TPMKMS_R_OK
            || !exists)
        return rc;
    if ((certs = tpmkms_path_fmt("%s/" CERTS_SUBDIR, dir)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_dir_check(certs, &exists);
    OPENSSL_free(certs);
    if (rc != TPMKMS_R_OK || !exists)
        return rc;
    if ((path = cert_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_read_store_file(path, pem, len, &info);
    if (rc == TPMKMS_R_KEY_NOT_FOUND) {
        rc = TPMKMS_R_OK;
    } else if (rc == TPMKMS_R_INSECURE_STORE && info.link) {
        TPMKMS_raise(TPMKMS_R_INSECURE_STORE,
                     "%s is a symbolic link; refusing it", path);
    }
    OPENSSL_free(path);
    return rc;
}

tpmkms_rc tpmkms_cert_remove(const char *dir, const char *name)
{
    char *path;
    tpmkms_rc rc;

    if (!tpmkms_name_is_valid(name))
        return bad_name(name);
    if ((path = cert_path(dir, name)) == NULL)
        return TPMKMS_R_INTERNAL;
    rc = tpmkms_platform_remove(path);
    if (rc == TPMKMS_R_KEY_NOT_FOUND)
        rc = TPMKMS_R_OK;
    OPENSSL_free(path);
    return rc;
}
