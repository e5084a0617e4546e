/*
 * AK enrollment, the verifier's side: the request, the EK's grade and the
 * AK certificate (enroll.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "attest/enroll.h"
#include "platform/platform.h"
#include "pubkey_evp.h"

#define LINE_MAX_BYTES 16384
#define CHAIN_MAX 8

/* The request's keys: the parser and the writer both use these. */
#define K_MANUF "tpm-manufacturer"
#define K_VENDOR "tpm-vendor-strings"
#define K_FW "tpm-firmware"
#define K_EK "ek-public"
#define K_EK_CERT "ek-certificate"
#define K_EK_CHAIN "ek-chain-certificate"
#define K_AK "ak-public"
#define K_AK_NAME "ak-name"

/* ---- the request ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Exactly 2*max or fewer hex digits into out; 0 if anything else. */
static int parse_hex(const char *s, unsigned char *out, size_t max,
                     size_t *len)
{
    size_t n = strlen(s), i;

    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return 0;
    for (i = 0; i < n / 2; i++) {
        int hi = hexval((unsigned char)s[2 * i]);
        int lo = hexval((unsigned char)s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return 1;
}

/* count 32-bit hex words separated by single spaces */
static int parse_words(const char *s, uint32_t *w, size_t count)
{
    size_t i;
    unsigned char b[4];
    size_t n;
    char word[9];

    for (i = 0; i < count; i++) {
        if (strlen(s) < 8 || (s[8] != '\0' && s[8] != ' '))
            return 0;
        memcpy(word, s, 8);
        word[8] = '\0';
        if (!parse_hex(word, b, 4, &n) || n != 4)
            return 0;
        w[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16
               | (uint32_t)b[2] << 8 | b[3];
        s += 8;
        if (i + 1 < count) {
            if (*s != ' ')
                return 0;
            s++;
        }
    }
    return *s == '\0';
}

/* Base64 (RFC 4648, with padding) into an OPENSSL_malloc'd buffer. */
static unsigned char *parse_base64(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out = OPENSSL_malloc(n / 4 * 3 + 3);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int a = 0, b = 0, ok;

    ok = out != NULL && ctx != NULL && n > 0 && n <= INT32_MAX;
    if (ok) {
        EVP_DecodeInit(ctx);
        ok = EVP_DecodeUpdate(ctx, out, &a, (const unsigned char *)s,
                              (int)n) >= 0
             && EVP_DecodeFinal(ctx, out + a, &b) == 1;
    }
    EVP_ENCODE_CTX_free(ctx);
    if (!ok || a + b <= 0) {
        OPENSSL_free(out);
        return NULL;
    }
    *len = (size_t)a + (size_t)b;
    return out;
}

static tpmkms_rc bad_line(size_t line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static tpmkms_rc bad_line(size_t line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "enrollment request line %zu: %s",
                 line, msg);
    return TPMKMS_R_BAD_REQUEST;
}

static tpmkms_rc parse_cert(const char *b64, size_t line, const char *what,
                            X509 **out)
{
    size_t len = 0;
    unsigned char *der = parse_base64(b64, &len);
    const unsigned char *p = der;

    *out = der != NULL ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (*out != NULL && p != der + len) {
        X509_free(*out);
        *out = NULL;
    }
    OPENSSL_free(der);
    if (*out == NULL) {
        TPMKMS_raise(TPMKMS_R_BAD_EK_CERT, "enrollment request line %zu: "
                     "the %s is no base64 DER X.509 certificate", line, what);
        return TPMKMS_R_BAD_EK_CERT;
    }
    return TPMKMS_R_OK;
}

static tpmkms_rc parse_public(const char *b64, size_t line, const char *what,
                              TPMKMS_TPMT_PUBLIC *out)
{
    size_t len = 0;
    unsigned char *bin = parse_base64(b64, &len);
    tpmkms_rc rc;

    if (bin == NULL)
        return bad_line(line, "the %s is not base64", what);
    rc = tpmkms_tpm2b_public_parse(bin, len, what, out);
    OPENSSL_free(bin);
    return rc;
}

enum {
    SEEN_TAG = 1, SEEN_MANUF = 2, SEEN_VENDOR = 4, SEEN_FW = 8,
    SEEN_EK = 16, SEEN_AK = 32, SEEN_NAME = 64, SEEN_ALL = 127
};

static tpmkms_rc parse_line(char *key, char *value, size_t line,
                            TPMKMS_ENROLL_REQUEST *req, unsigned *seen)
{
    static const struct {
        const char *key;
        unsigned bit;
    } once[] = {
        { TPMKMS_ENROLL_REQUEST_TAG, SEEN_TAG },
        { K_MANUF, SEEN_MANUF },
        { K_VENDOR, SEEN_VENDOR },
        { K_FW, SEEN_FW },
        { K_EK, SEEN_EK },
        { K_AK, SEEN_AK },
        { K_AK_NAME, SEEN_NAME },
    };
    unsigned bit = 0;
    size_t i;

    for (i = 0; i < sizeof(once) / sizeof(once[0]); i++)
        if (strcmp(key, once[i].key) == 0)
            bit = once[i].bit;
    if (bit != 0) {
        if (*seen & bit)
            return bad_line(line, "'%s' given twice", key);
        *seen |= bit;
    }
    switch (bit) {
    case SEEN_TAG:
        if (strcmp(value, "1") != 0)
            return bad_line(line, "format version '%s' is not 1", value);
        return TPMKMS_R_OK;
    case SEEN_MANUF:
        return parse_words(value, &req->manufacturer, 1) ? TPMKMS_R_OK
               : bad_line(line, "tpm-manufacturer '%s' is not 8 hex digits",
                          value);
    case SEEN_VENDOR:
        return parse_words(value, req->vendor, 4) ? TPMKMS_R_OK
               : bad_line(line, "tpm-vendor-strings '%s' is not four words "
                          "of 8 hex digits", value);
    case SEEN_FW:
        return parse_words(value, req->firmware, 2) ? TPMKMS_R_OK
               : bad_line(line, "tpm-firmware '%s' is not two words of 8 "
                          "hex digits", value);
    case SEEN_EK:
        return parse_public(value, line, "EK public area", &req->ek);
    case SEEN_AK:
        return parse_public(value, line, "AK public area", &req->ak);
    case SEEN_NAME:
        return parse_hex(value, req->ak_name, sizeof(req->ak_name),
                         &req->ak_name_len)
               ? TPMKMS_R_OK
               : bad_line(line, "ak-name is not hex of at most 66 "
                          "bytes");
    default:
        break;
    }
    if (strcmp(key, K_EK_CERT) == 0) {
        if (req->ek_cert != NULL)
            return bad_line(line, "'%s' given twice (further certificates "
                            "go in ek-chain-certificate)", key);
        return parse_cert(value, line, "EK certificate", &req->ek_cert);
    }
    if (strcmp(key, K_EK_CHAIN) == 0) {
        X509 *c = NULL;
        tpmkms_rc rc;

        if (sk_X509_num(req->chain) >= CHAIN_MAX)
            return bad_line(line, "more than 8 ek-chain-certificate lines");
        if ((rc = parse_cert(value, line, "EK chain certificate", &c))
            != TPMKMS_R_OK)
            return rc;
        if (!sk_X509_push(req->chain, c)) {
            X509_free(c);
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            return TPMKMS_R_INTERNAL;
        }
        return TPMKMS_R_OK;
    }
    return bad_line(line, "unknown key '%s'", key);
}

static tpmkms_rc parse_text(const char *text, size_t len,
                            TPMKMS_ENROLL_REQUEST *req)
{
    static const char *const names[] = {
        TPMKMS_ENROLL_REQUEST_TAG, K_MANUF, K_VENDOR, K_FW, K_EK, K_AK,
        K_AK_NAME
    };
    char *buf = OPENSSL_malloc(LINE_MAX_BYTES + 1);
    size_t off = 0, line = 0, i;
    unsigned seen = 0;
    tpmkms_rc rc = TPMKMS_R_OK;

    if (buf == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    while (off < len && rc == TPMKMS_R_OK) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - (text + off)) : len - off;
        char *colon;

        line++;
        if (n > LINE_MAX_BYTES) {
            rc = bad_line(line, "longer than 16384 bytes");
            break;
        }
        memcpy(buf, text + off, n);
        buf[n] = '\0';
        off += n + (nl != NULL ? 1 : 0);
        while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' '
                         || buf[n - 1] == '\t'))
            buf[--n] = '\0';
        if (memchr(buf, '\0', n) != NULL) {
            rc = bad_line(line, "holds a NUL byte");
            break;
        }
        if (n == 0 || buf[0] == '#')
            continue;
        if ((colon = strstr(buf, ": ")) == NULL) {
            rc = bad_line(line, "is not 'key: value'");
            break;
        }
        *colon = '\0';
        rc = parse_line(buf, colon + 2, line, req, &seen);
    }
    OPENSSL_free(buf);
    if (rc != TPMKMS_R_OK)
        return rc;
    if ((seen & SEEN_TAG) == 0) {
        TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "not an enrollment request: no "
                     "'%s: 1' line", TPMKMS_ENROLL_REQUEST_TAG);
        return TPMKMS_R_BAD_REQUEST;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((seen & (1u << i)) == 0) {
            TPMKMS_raise(TPMKMS_R_BAD_REQUEST, "the enrollment request has "
                         "no '%s' line", names[i]);
            return TPMKMS_R_BAD_REQUEST;
        }
    return TPMKMS_R_OK;
}

static void hex_lower(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

tpmkms_rc tpmkms_enroll_request_parse(OSSL_LIB_CTX *libctx, const char *text,
                                      size_t len, TPMKMS_ENROLL_REQUEST *req)
{
    unsigned char name[TPMKMS_TPM_NAME_MAX];
    char want[2 * TPMKMS_TPM_NAME_MAX + 1], got[2 * TPMKMS_TPM_NAME_MAX + 1];
    size_t name_len = 0;
    tpmkms_rc rc;

    memset(req, 0, sizeof(*req));
    if ((req->chain = sk_X509_new_null()) == NULL) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
        return TPMKMS_R_INTERNAL;
    }
    if ((rc = parse_text(text, len, req)) != TPMKMS_R_OK
        || (rc = tpmkms_tpm_check_ak(&req->ak)) != TPMKMS_R_OK
        || (rc = tpmkms_tpm_name(libctx, &req->ak, "AK public area", name,
                                 &name_len)) != TPMKMS_R_OK)
        return rc;
    if (name_len != req->ak_name_len
        || memcmp(name, req->ak_name, name_len) != 0) {
        hex_lower(name, name_len, want);
        hex_lower(req->ak_name, req->ak_name_len, got);
        TPMKMS_raise(TPMKMS_R_AK_NAME_MISMATCH, "the request's ak-name %s is "
                     "not the Name of its AK public area, %s", got, want);
        return TPMKMS_R_AK_NAME_MISMATCH;
    }
    if ((req->ek.attributes & (TPMKMS_TPMA_RESTRICTED | TPMKMS_TPMA_DECRYPT
                               | TPMKMS_TPMA_SIGN))
        != (TPMKMS_TPMA_RESTRICTED | TPMKMS_TPMA_DECRYPT)) {
        TPMKMS_raise(TPMKMS_R_BAD_TPM_PUBLIC, "the EK public area "
                     "(objectAttributes 0x%08x) is not a restricted "
                     "decryption key, as every EK is", req->ek.attributes);
        return TPMKMS_R_BAD_TPM_PUBLIC;
    }
    if ((rc = tpmkms_tpm_public_to_evp(libctx, &req->ek, "EK public area",
                                       &req->ek_key)) != TPMKMS_R_OK
        || (rc = tpmkms_tpm_public_to_evp(libctx, &req->ak, "AK public area",
                                          &req->ak_key)) != TPMKMS_R_OK
        || (rc = tpmkms_ekpub_hash(libctx, req->ek_key, req->ekpub_hash))
           != TPMKMS_R_OK)
        return rc;
    if (req->ek_cert != NULL) {
        EVP_PKEY *ck = X509_get0_pubkey(req->ek_cert);
        unsigned char ch[TPMKMS_EKPUB_HASH_LEN];

        if (ck == NULL || EVP_PKEY_eq(ck, req->ek_key) != 1) {
            char a[2 * TPMKMS_EKPUB_HASH_LEN + 1] = "(no key)";

            if (ck != NULL && tpmkms_ekpub_hash(libctx, ck, ch)
                              == TPMKMS_R_OK)
                hex_lower(ch, sizeof(ch), a);
            hex_lower(req->ekpub_hash, sizeof(req->ekpub_hash), want);
            TPMKMS_raise(TPMKMS_R_EK_MISMATCH, "the request's EK certificate "
                         "is for the key with EKPub hash %s, but its EK "
                         "public area is the key with EKPub hash %s", a,
                         want);
            return TPMKMS_R_EK_MISMATCH;
        }
    }
    return TPMKMS_R_OK;
}

/* "key: BASE64\n" of bytes. */
static int write_b64(BIO *out, const char *key, const unsigned char *b,
                     size_t n)
{
    unsigned char *text;
    int ok;

    if (n > (size_t)(LINE_MAX_BYTES / 4 * 3 - 64)
        || (text = OPENSSL_malloc(4 * ((n + 2) / 3) + 1)) == NULL)
        return 0;
    EVP_EncodeBlock(text, b, (int)n);
    ok = BIO_printf(out, "%s: %s\n", key, (char *)text) > 0;
    OPENSSL_free(text);
    return ok;
}

static int write_public(BIO *out, const char *key,
                        const TPMKMS_TPMT_PUBLIC *pub)
{
    unsigned char buf[2 + TPMKMS_TPMT_PUBLIC_MAX];
    size_t n = tpmkms_tpmt_public_marshal(pub, buf + 2, sizeof(buf) - 2);

    if (n == 0 || n > 0xffff)
        return 0;
    buf[0] = (unsigned char)(n >> 8);
    buf[1] = (unsigned char)n;
    return write_b64(out, key, buf, n + 2);
}

static int write_cert(BIO *out, const char *key, X509 *cert)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der), ok;

    if (n <= 0)
        return 0;
    ok = write_b64(out, key, der, (size_t)n);
    OPENSSL_free(der);
    return ok;
}

tpmkms_rc tpmkms_enroll_request_write(const TPMKMS_ENROLL_REQUEST *req,
                                      const char *comment, BIO *out)
{
    char name[2 * TPMKMS_TPM_NAME_MAX + 1];
    int ok, i;

    hex_lower(req->ak_name, req->ak_name_len, name);
    ok = (comment == NULL || BIO_printf(out, "# %s\n", comment) > 0)
        && BIO_printf(out, "%s: 1\n", TPMKMS_ENROLL_REQUEST_TAG) > 0
        && BIO_printf(out, "%s: %08X\n", K_MANUF, req->manufacturer) > 0
        && BIO_printf(out, "%s: %08X %08X %08X %08X\n", K_VENDOR,
                      req->vendor[0], req->vendor[1], req->vendor[2],
                      req->vendor[3]) > 0
        && BIO_printf(out, "%s: %08X %08X\n", K_FW, req->firmware[0],
                      req->firmware[1]) > 0
        && write_public(out, K_EK, &req->ek)
        && (req->ek_cert == NULL || write_cert(out, K_EK_CERT, req->ek_cert));
    for (i = 0; ok && req->chain != NULL && i < sk_X509_num(req->chain)
         && i < CHAIN_MAX; i++)
        ok = write_cert(out, K_EK_CHAIN, sk_X509_value(req->chain, i));
    ok = ok && write_public(out, K_AK, &req->ak)
        && BIO_printf(out, "%s: %s\n", K_AK_NAME, name) > 0;
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot write the enrollment "
                     "request");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

void tpmkms_enroll_request_clear(TPMKMS_ENROLL_REQUEST *req)
{
    if (req == NULL)
        return;
    X509_free(req->ek_cert);
    sk_X509_pop_free(req->chain, X509_free);
    EVP_PKEY_free(req->ek_key);
    EVP_PKEY_free(req->ak_key);
    memset(req, 0, sizeof(*req));
}

void tpmkms_enroll_manufacturer(const TPMKMS_ENROLL_REQUEST *req, char *buf,
                                size_t len)
{
    snprintf(buf, len, "id:%08X", (unsigned)req->manufacturer);
}

void tpmkms_enroll_model(const TPMKMS_ENROLL_REQUEST *req, char *buf,
                         size_t len)
{
    size_t n = 0, i, start = 0;

    for (i = 0; i < 16 && n + 1 < len; i++) {
        unsigned char c = (unsigned char)(req->vendor[i / 4]
                                          >> (24 - 8 * (i % 4)));

        if (c == 0)
            continue;
        /* printable ASCII only: the rest would not be a valid string */
        buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    while (start < n && buf[start] == ' ')
        start++;
    memmove(buf, buf + start, n - start);
    buf[n - start] = '\0';
}

void tpmkms_enroll_version(const TPMKMS_ENROLL_REQUEST *req, char *buf,
                           size_t len)
{
    snprintf(buf, len, "id:%08X", (unsigned)req->firmware[0]);
}

/* ---- grading ---- */

const char *tpmkms_ek_level_name(tpmkms_ek_level level)
{
    switch (level) {
    case TPMKMS_EK_LEVEL_LOW:
        return "low";
    case TPMKMS_EK_LEVEL_MEDIUM:
        return "medium";
    case TPMKMS_EK_LEVEL_HIGH:
        return "high";
    default:
        return "none";
    }
}

const char *tpmkms_ek_level_oid(tpmkms_ek_level level)
{
    switch (level) {
    case TPMKMS_EK_LEVEL_LOW:
        return "1.3.6.1.4.1.311.21.32";
    case TPMKMS_EK_LEVEL_MEDIUM:
        return "1.3.6.1.4.1.311.21.31";
    case TPMKMS_EK_LEVEL_HIGH:
        return "1.3.6.1.4.1.311.21.30";
    default:
        return NULL;
    }
}

tpmkms_ek_level tpmkms_ek_level_from_name(const char *name)
{
    if (strcmp(name, "low") == 0)
        return TPMKMS_EK_LEVEL_LOW;
    if (strcmp(name, "medium") == 0)
        return TPMKMS_EK_LEVEL_MEDIUM;
    if (strcmp(name, "high") == 0)
        return TPMKMS_EK_LEVEL_HIGH;
    return TPMKMS_EK_LEVEL_NONE;
}

static int is_regular(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static tpmkms_rc check_dir(const char *dir, const char *option)
{
    struct stat sb;

    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        TPMKMS_raise(TPMKMS_R_STORE_IO, "%s %s is not a directory", option,
                     dir);
        return TPMKMS_R_STORE_IO;
    }
    return TPMKMS_R_OK;
}

/* Every certificate in every regular file of dir (PEM, or one DER). */
static tpmkms_rc load_dir_certs(const char *dir, STACK_OF(X509) *out)
{
    char **names = NULL;
    size_t count = 0, i;
    tpmkms_rc rc;

    if ((rc = tpmkms_platform_list(dir, "", &names, &count)) != TPMKMS_R_OK)
        return rc;
    for (i = 0; i < count; i++) {
        char *path;
        BIO *b;
        X509 *c;
        int found = 0;

        if (names[i][0] == '.'
            || (path = tpmkms_path_fmt("%s/%s", dir, names[i])) == NULL)
            continue;
        if (is_regular(path) && (b = BIO_new_file(path, "rb")) != NULL) {
            while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
                if (!sk_X509_push(out, c))
                    X509_free(c);
                found = 1;
            }
            if (!found && BIO_reset(b) == 0
                && (c = d2i_X509_bio(b, NULL)) != NULL
                && !sk_X509_push(out, c))
                X509_free(c);
            BIO_free(b);
        }
        OPENSSL_free(path);
    }
    ERR_clear_error();          /* files that hold no certificate */
    tpmkms_platform_names_free(names, count);
    return TPMKMS_R_OK;
}

static int chains(OSSL_LIB_CTX *libctx, const TPMKMS_ENROLL_REQUEST *req,
                  const char *roots_dir, char *why, size_t len)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new_ex(libctx, NULL);
    int ok = 0, i, roots = 0;

    if (certs == NULL || store == NULL || ctx == NULL
        || load_dir_certs(roots_dir, certs) != TPMKMS_R_OK) {
        snprintf(why, len, "the certificates in --ek-roots %s could not be "
                 "read", roots_dir);
        goto out;
    }
    /* Every certificate of the directory may be on the path; only a
     * self-signed one ends it (no partial chains). */
    for (i = 0; i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);

        if (X509_self_signed(c, 0) == 1)
            roots++;
        if (!X509_STORE_add_cert(store, c))
            ERR_clear_error();  /* a duplicate */
    }
    if (roots == 0) {
        snprintf(why, len, "--ek-roots %s holds no self-signed root "
                 "certificate", roots_dir);
        goto out;
    }
    if (!X509_STORE_CTX_init(ctx, store, req->ek_cert, req->chain)) {
        snprintf(why, len, "the EK certificate's chain cannot be built");
        goto out;
    }
    if (X509_verify_cert(ctx) == 1) {
        snprintf(why, len, "the EK certificate chains to a root in "
                 "--ek-roots %s", roots_dir);
        ok = 1;
    } else {
        snprintf(why, len, "the EK certificate does not chain to a root in "
                 "--ek-roots %s: %s", roots_dir,
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
 out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(certs, X509_free);
    return ok;
}

tpmkms_rc tpmkms_enroll_grade(OSSL_LIB_CTX *libctx,
                              const TPMKMS_ENROLL_REQUEST *req,
                              const char *allow_dir, const char *roots_dir,
                              tpmkms_ek_level *level, char *why, size_t len)
{
    char hash[2 * TPMKMS_EKPUB_HASH_LEN + 1], chain_why[384] = "";
    tpmkms_rc rc;
    size_t i;

    *level = TPMKMS_EK_LEVEL_LOW;
    hex_lower(req->ekpub_hash, sizeof(req->ekpub_hash), hash);
    if (allow_dir != NULL) {
        char *lower, *upper;
        int listed;

        if ((rc = check_dir(allow_dir, "--ek-allow-list")) != TPMKMS_R_OK)
            return rc;
        lower = tpmkms_path_fmt("%s/%s", allow_dir, hash);
        for (i = 0; i < sizeof(hash) - 1; i++)
            hash[i] = (char)toupper((unsigned char)hash[i]);
        upper = tpmkms_path_fmt("%s/%s", allow_dir, hash);
        for (i = 0; i < sizeof(hash) - 1; i++)
            hash[i] = (char)tolower((unsigned char)hash[i]);
        listed = (lower != NULL && is_regular(lower))
                 || (upper != NULL && is_regular(upper));
        OPENSSL_free(lower);
        OPENSSL_free(upper);
        if (lower == NULL || upper == NULL)
            return TPMKMS_R_INTERNAL;
        if (listed) {
            *level = TPMKMS_EK_LEVEL_HIGH;
            snprintf(why, len, "the EKPub hash %s is in --ek-allow-list %s",
                     hash, allow_dir);
            return TPMKMS_R_OK;
        }
    }
    if (roots_dir != NULL) {
        if ((rc = check_dir(roots_dir, "--ek-roots")) != TPMKMS_R_OK)
            return rc;
        if (req->ek_cert == NULL) {
            snprintf(chain_why, sizeof(chain_why), "the request carries no "
                     "EK certificate");
        } else if (chains(libctx, req, roots_dir, chain_why,
                          sizeof(chain_why))) {
            *level = TPMKMS_EK_LEVEL_MEDIUM;
            snprintf(why, len, "%s", chain_why);
            return TPMKMS_R_OK;
        }
    }
    snprintf(why, len, "neither an allow-listed EKPub hash (%s%s) nor an EK "
             "certificate chain (%s)", hash,
             allow_dir == NULL ? ", no --ek-allow-list" : " not listed",
             roots_dir == NULL ? "no --ek-roots" : chain_why);
    return TPMKMS_R_OK;
}

/* ---- the AK certificate ---- */

static int add_ext(X509 *x, int nid, int crit, void *value)
{
    return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_REPLACE) == 1;
}

static int add_conf_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, v3, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);

    X509_EXTENSION_free(e);
    return ok;
}

/* The SAN: one directoryName, each TCG attribute in an RDN of its own,
 * as UTF8String (TCG EK Credential Profile 3.2.9, WebAuthn 8.3.1). */
static int add_san(X509 *x, const TPMKMS_ENROLL_REQUEST *req)
{
    static const char *const oids[] = {
        "2.23.133.2.1", "2.23.133.2.2", "2.23.133.2.3"
    };
    char values[3][80];
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *gen = GENERAL_NAME_new();
    X509_NAME *dn = X509_NAME_new();
    int ok = gens != NULL && gen != NULL && dn != NULL, i;

    tpmkms_enroll_manufacturer(req, values[0], sizeof(values[0]));
    tpmkms_enroll_model(req, values[1], sizeof(values[1]));
    tpmkms_enroll_version(req, values[2], sizeof(values[2]));
    for (i = 0; ok && i < 3; i++) {
        ASN1_OBJECT *obj = OBJ_txt2obj(oids[i], 1);

        ok = obj != NULL
             && X509_NAME_add_entry_by_OBJ(dn, obj, V_ASN1_UTF8STRING,
                                           (const unsigned char *)values[i],
                                           (int)strlen(values[i]), -1, 0);
        ASN1_OBJECT_free(obj);
    }
    if (ok) {
        GENERAL_NAME_set0_value(gen, GEN_DIRNAME, dn);
        dn = NULL;
        ok = sk_GENERAL_NAME_push(gens, gen) > 0;
        if (ok)
            gen = NULL;
    }
    ok = ok && add_ext(x, NID_subject_alt_name, 1, gens);
    X509_NAME_free(dn);
    GENERAL_NAME_free(gen);
    GENERAL_NAMES_free(gens);
    return ok;
}

static int add_eku(X509 *x)
{
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    ASN1_OBJECT *obj = OBJ_txt2obj("2.23.133.8.3", 1);
    int ok = eku != NULL && obj != NULL && sk_ASN1_OBJECT_push(eku, obj) > 0;

    if (ok)
        obj = NULL;
    ok = ok && add_ext(x, NID_ext_key_usage, 0, eku);
    ASN1_OBJECT_free(obj);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return ok;
}

static int add_policy(X509 *x, tpmkms_ek_level level)
{
    CERTIFICATEPOLICIES *pols = sk_POLICYINFO_new_null();
    POLICYINFO *pol = POLICYINFO_new();
    int ok = pols != NULL && pol != NULL;

    if (ok) {
        ASN1_OBJECT_free(pol->policyid);
        pol->policyid = OBJ_txt2obj(tpmkms_ek_level_oid(level), 1);
        ok = pol->policyid != NULL && sk_POLICYINFO_push(pols, pol) > 0;
        if (ok)
            pol = NULL;
    }
    ok = ok && add_ext(x, NID_certificate_policies, 0, pols);
    POLICYINFO_free(pol);
    sk_POLICYINFO_pop_free(pols, POLICYINFO_free);
    return ok;
}

/* The CA's key identifier: its subjectKeyIdentifier, else (a CA made
 * without one) SHA-1 of its public key's BIT STRING, RFC 5280 4.2.1.2
 * method 1, which is what an SKI of "hash" holds. */
static int add_akid(X509 *x, X509 *ca_cert)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca_cert);
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = akid != NULL;

    if (ok && ski != NULL) {
        ok = (akid->keyid = ASN1_OCTET_STRING_dup(ski)) != NULL;
    } else if (ok) {
        ok = X509_pubkey_digest(ca_cert, EVP_sha1(), md, &mdlen)
             && (akid->keyid = ASN1_OCTET_STRING_new()) != NULL
             && ASN1_OCTET_STRING_set(akid->keyid, md, (int)mdlen);
    }
    ok = ok && add_ext(x, NID_authority_key_identifier, 0, akid);
    AUTHORITY_KEYID_free(akid);
    return ok;
}

static int add_basic_constraints(X509 *x)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int ok = bc != NULL;

    if (ok)
        bc->ca = 0;
    ok = ok && add_ext(x, NID_basic_constraints, 1, bc);
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

static int random_serial(OSSL_LIB_CTX *libctx, X509 *x)
{
    unsigned char b[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes_ex(libctx, b, sizeof(b), 0) <= 0)
        return 0;
    b[0] &= 0x7f;               /* positive */
    b[0] |= 0x40;               /* and 16 bytes long */
    bn = BN_bin2bn(b, sizeof(b), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))
                       != NULL;
    BN_free(bn);
    return ok;
}

/* The digest to sign with: the CA key's own size for EC, none for EdDSA. */
static const char *sign_digest(EVP_PKEY *key)
{
    int bits = EVP_PKEY_get_bits(key);

    if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
        return NULL;
    if (EVP_PKEY_is_a(key, "EC"))
        return bits > 384 ? "SHA512" : bits > 256 ? "SHA384" : "SHA256";
    return "SHA256";
}

tpmkms_rc tpmkms_ak_cert_issue(OSSL_LIB_CTX *libctx, const char *propq,
                               const TPMKMS_ENROLL_REQUEST *req,
                               tpmkms_ek_level level, X509 *ca_cert,
                               EVP_PKEY *ca_key, int days, X509 **out)
{
    X509 *x = X509_new_ex(libctx, propq);
    X509_NAME *empty = X509_NAME_new();
    EVP_MD_CTX *mctx = NULL;
    X509V3_CTX v3;
    int ok;

    *out = NULL;
    if (EVP_PKEY_eq(X509_get0_pubkey(ca_cert), ca_key) != 1) {
        X509_free(x);
        X509_NAME_free(empty);
        ERR_clear_error();
        TPMKMS_raise(TPMKMS_R_BAD_PARAMETER, "the CA key is not the key of "
                     "the CA certificate");
        return TPMKMS_R_BAD_PARAMETER;
    }
    ok = x != NULL && empty != NULL && tpmkms_ek_level_oid(level) != NULL
         && X509_set_version(x, X509_VERSION_3)
         && random_serial(libctx, x)
         && X509_set_subject_name(x, empty)
         && X509_set_issuer_name(x, X509_get_subject_name(ca_cert))
         && X509_gmtime_adj(X509_getm_notBefore(x), -300) != NULL
         && X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) != NULL
         && X509_set_pubkey(x, req->ak_key)
         && add_san(x, req)
         && add_eku(x)
         && add_basic_constraints(x)
         && add_policy(x, level);
    if (ok) {
        X509V3_set_ctx(&v3, ca_cert, x, NULL, NULL, 0);
        ok = add_conf_ext(x, &v3, NID_subject_key_identifier, "hash")
             && add_akid(x, ca_cert);
    }
    ok = ok && (mctx = EVP_MD_CTX_new()) != NULL
         && EVP_DigestSignInit_ex(mctx, NULL, sign_digest(ca_key), libctx,
                                  propq, ca_key, NULL) > 0
         && X509_sign_ctx(x, mctx) > 0
         && X509_verify(x, X509_get0_pubkey(ca_cert)) == 1;
    EVP_MD_CTX_free(mctx);
    X509_NAME_free(empty);
    if (!ok) {
        X509_free(x);
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot make or sign the AK "
                     "certificate (a CA key that cannot sign?)");
        return TPMKMS_R_INTERNAL;
    }
    *out = x;
    return TPMKMS_R_OK;
}
