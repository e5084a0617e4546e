/*
 * tpmkms: URIs: what parses, what is refused and with which message, the
 * canonical text, and that parse(to_string(x)) gives x back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "uri.h"
#include "test_util.h"

static int setup(void **state)
{
    (void)state;
    ERR_clear_error();
    return 0;
}

/* Parsing text fails with BAD_URI and a message containing each word. */
static void expect_bad_uri(const char *text, const char *word1,
                           const char *word2)
{
    TPMKMS_URI *uri = (TPMKMS_URI *)1;

    ERR_clear_error();
    if (tpmkms_uri_parse(text, &uri) != TPMKMS_R_BAD_URI)
        fail_msg("'%s' was not refused", text);
    assert_null(uri);
    assert_int_equal(ERR_GET_LIB(ERR_peek_last_error()), tpmkms_err_lib());
    assert_int_equal(last_reason(), TPMKMS_R_BAD_URI);
    if (word1 != NULL && strstr(last_message(), word1) == NULL)
        fail_msg("message for '%s' lacks '%s': %s", text, word1,
                 last_message());
    if (word2 != NULL && strstr(last_message(), word2) == NULL)
        fail_msg("message for '%s' lacks '%s': %s", text, word2,
                 last_message());
    ERR_clear_error();
}

static TPMKMS_URI *parse_ok(const char *text)
{
    TPMKMS_URI *uri = NULL;

    if (tpmkms_uri_parse(text, &uri) != TPMKMS_R_OK)
        fail_msg("'%s' did not parse: %s", text, last_message());
    assert_non_null(uri);
    assert_int_equal(ERR_peek_error(), 0);
    return uri;
}

static int str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static void assert_uri_equal(const TPMKMS_URI *a, const TPMKMS_URI *b)
{
    assert_true(str_eq(a->name, b->name));
    assert_int_equal(a->key_scope, b->key_scope);
    assert_int_equal(a->store_location, b->store_location);
    assert_true(str_eq(a->device, b->device));
    assert_true(str_eq(a->tcti, b->tcti));
    assert_true(str_eq(a->storage_directory, b->storage_directory));
    assert_int_equal(a->handle, b->handle);
    assert_true(str_eq(a->pin_source, b->pin_source));
}

/* ---- what parses ---- */

static void uri_parses_every_attribute(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=web;key-scope=machine;"
                               "store-location=user;device=/dev/tpmrm0;"
                               "storage-directory=/srv/keys;pin-source=/run/pin");

    assert_string_equal(uri->name, "web");
    assert_int_equal(uri->key_scope, TPMKMS_SCOPE_MACHINE);
    assert_int_equal(uri->store_location, TPMKMS_SCOPE_USER);
    assert_string_equal(uri->device, "/dev/tpmrm0");
    assert_null(uri->tcti);
    assert_string_equal(uri->storage_directory, "/srv/keys");
    assert_string_equal(uri->pin_source, "/run/pin");
    assert_null(uri->pin_value);
    assert_int_equal(uri->handle, 0);
    tpmkms_uri_free(uri);

    uri = parse_ok("tpmkms:handle=0x81000010;tcti=swtpm:host=127.0.0.1,port=2321;"
                   "pin-value=1234");
    assert_null(uri->name);
    assert_int_equal(uri->handle, 0x81000010u);
    assert_string_equal(uri->tcti, "swtpm:host=127.0.0.1,port=2321");
    assert_int_equal(uri->pin_value_len, 4);
    assert_memory_equal(uri->pin_value, "1234", 4);
    assert_int_equal(uri->key_scope, TPMKMS_SCOPE_UNSET);
    tpmkms_uri_free(uri);
}

static void uri_bare_scheme_names_the_store(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:");

    assert_null(uri->name);
    assert_int_equal(uri->handle, 0);
    assert_int_equal(uri->key_scope, TPMKMS_SCOPE_UNSET);
    tpmkms_uri_free(uri);
}

static void uri_allows_one_trailing_semicolon(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=web;");

    assert_string_equal(uri->name, "web");
    tpmkms_uri_free(uri);
    expect_bad_uri("tpmkms:;", "empty attribute", NULL);
    expect_bad_uri("tpmkms:name=web;;", "empty attribute", NULL);
    expect_bad_uri("tpmkms:;name=web", "empty attribute", NULL);
    expect_bad_uri("tpmkms:name=web;;key-scope=user", "empty attribute", NULL);
}

static void uri_percent_decodes_values(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:tcti=swtpm:host%3Dx%3By%25z;"
                               "storage-directory=/a%20b/c%2fd");

    assert_string_equal(uri->tcti, "swtpm:host=x;y%z");
    assert_string_equal(uri->storage_directory, "/a b/c/d");
    tpmkms_uri_free(uri);
}

static void uri_pin_value_may_hold_nul_bytes(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=k;pin-value=a%00b");

    assert_int_equal(uri->pin_value_len, 3);
    assert_memory_equal(uri->pin_value, "a\0b", 3);
    tpmkms_uri_free(uri);
}

static void uri_accepts_handle_bounds_and_forms(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:handle=0x81000000");

    assert_int_equal(uri->handle, 0x81000000u);
    tpmkms_uri_free(uri);
    uri = parse_ok("tpmkms:handle=0X81FFFFFF");
    assert_int_equal(uri->handle, 0x81FFFFFFu);
    tpmkms_uri_free(uri);
    uri = parse_ok("tpmkms:handle=81000001");
    assert_int_equal(uri->handle, 0x81000001u);
    tpmkms_uri_free(uri);
}

static void uri_accepts_64_character_name(void **state)
{
    char text[128];
    TPMKMS_URI *uri;

    snprintf(text, sizeof(text), "tpmkms:name=%s",
             "a234567890123456789012345678901234567890123456789012345678901234");
    uri = parse_ok(text);
    assert_int_equal(strlen(uri->name), 64);
    tpmkms_uri_free(uri);
}

static void uri_accepts_pin_source_forms(void **state)
{
    const char *ok[] = {
        "tpmkms:name=k;pin-source=file:/run/pin",
        "tpmkms:name=k;pin-source=file:///run/pin",
        "tpmkms:name=k;pin-source=file://localhost/run/pin",
        "tpmkms:name=k;pin-source=/run/pin",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        tpmkms_uri_free(parse_ok(ok[i]));
}

/* ---- what is refused, and how the message reads ---- */

static void uri_rejects_other_schemes(void **state)
{
    expect_bad_uri("pkcs11:token=x", "tpmkms:", NULL);
    expect_bad_uri("tpmkms", "tpmkms:", NULL);
    expect_bad_uri("", "tpmkms:", NULL);
    expect_bad_uri("name=web", "tpmkms:", NULL);
}

static void uri_rejects_unknown_attribute(void **state)
{
    expect_bad_uri("tpmkms:name=web;colour=blue", "unknown attribute", "colour");
    expect_bad_uri("tpmkms:Name=web", "unknown attribute", "Name");
    expect_bad_uri("tpmkms:=web", "unknown attribute", NULL);
}

static void uri_rejects_duplicate_attribute(void **state)
{
    expect_bad_uri("tpmkms:name=a;name=b", "duplicate", "name");
    expect_bad_uri("tpmkms:name=a;key-scope=user;key-scope=user", "duplicate",
                   "key-scope");
}

static void uri_rejects_empty_value(void **state)
{
    expect_bad_uri("tpmkms:name=", "empty value", "name");
    expect_bad_uri("tpmkms:name=web;tcti=", "empty value", "tcti");
    expect_bad_uri("tpmkms:name=web;pin-value=", "empty value", "pin-value");
}

static void uri_rejects_pair_without_equals(void **state)
{
    expect_bad_uri("tpmkms:web", "no '='", "web");
    expect_bad_uri("tpmkms:name=web;machine", "no '='", "machine");
}

static void uri_rejects_unknown_scope(void **state)
{
    expect_bad_uri("tpmkms:name=web;key-scope=global", "key-scope", "machine or user");
    expect_bad_uri("tpmkms:name=web;key-scope=Machine", "key-scope", NULL);
    expect_bad_uri("tpmkms:name=web;store-location=system", "store-location",
                   "machine or user");
}

static void uri_rejects_bad_handle(void **state)
{
    expect_bad_uri("tpmkms:handle=0x80000000", "handle", "0x81000000..0x81FFFFFF");
    expect_bad_uri("tpmkms:handle=0x82000000", "handle", "0x81000000..0x81FFFFFF");
    expect_bad_uri("tpmkms:handle=0x40000001", "handle", "persistent");
    expect_bad_uri("tpmkms:handle=0x81zz0000", "handle", "hex");
    expect_bad_uri("tpmkms:handle=0x", "handle", "hex");
    expect_bad_uri("tpmkms:handle=0x0081000001", "handle", "hex");
    expect_bad_uri("tpmkms:handle=-1", "handle", "hex");
}

static void uri_rejects_names_that_could_escape_the_store(void **state)
{
    expect_bad_uri("tpmkms:name=..", "name", "invalid");
    expect_bad_uri("tpmkms:name=.hidden", "name", "invalid");
    expect_bad_uri("tpmkms:name=a/b", "name", "invalid");
    expect_bad_uri("tpmkms:name=a%2Fb", "name", "invalid");
    expect_bad_uri("tpmkms:name=a%2fb", "name", "invalid");
    expect_bad_uri("tpmkms:name=..%2F..%2Fetc", "name", "invalid");
    expect_bad_uri("tpmkms:name=web%00.tpmkey", "name", "NUL");
    expect_bad_uri("tpmkms:name=a%20b", "name", "invalid");
    expect_bad_uri("tpmkms:name=caf%C3%A9", "name", "invalid");
    expect_bad_uri("tpmkms:name=a234567890123456789012345678901234567890"
                   "1234567890123456789012345", "name", "invalid");
}

static void uri_rejects_bad_percent_escape(void **state)
{
    expect_bad_uri("tpmkms:name=a%G1", "name", "percent");
    expect_bad_uri("tpmkms:tcti=abc%", "tcti", "percent");
    expect_bad_uri("tpmkms:tcti=abc%4", "tcti", "percent");
    expect_bad_uri("tpmkms:pin-value=%zz", "pin-value", "percent");
}

static void uri_rejects_nul_in_other_values(void **state)
{
    expect_bad_uri("tpmkms:device=/dev/tpm%00x", "device", "NUL");
    expect_bad_uri("tpmkms:name=k;pin-source=/p%00x", "pin-source", "NUL");
}

static void uri_rejects_device_with_tcti(void **state)
{
    expect_bad_uri("tpmkms:name=web;device=/dev/tpmrm0;tcti=swtpm:", "device",
                   "tcti");
}

static void uri_rejects_name_with_handle(void **state)
{
    expect_bad_uri("tpmkms:name=web;handle=0x81000001", "name", "handle");
}

static void uri_rejects_relative_storage_directory(void **state)
{
    expect_bad_uri("tpmkms:name=web;storage-directory=keys", "storage-directory",
                   "absolute");
    expect_bad_uri("tpmkms:name=web;storage-directory=./keys",
                   "storage-directory", "absolute");
}

static void uri_rejects_pin_value_with_pin_source(void **state)
{
    expect_bad_uri("tpmkms:name=web;pin-value=1;pin-source=/run/pin",
                   "pin-value", "pin-source");
}

static void uri_rejects_relative_pin_source(void **state)
{
    expect_bad_uri("tpmkms:name=web;pin-source=pin.txt", "pin-source", "file:");
    expect_bad_uri("tpmkms:name=web;pin-source=file:pin.txt", "pin-source",
                   "file:");
    expect_bad_uri("tpmkms:name=web;pin-source=https://x/pin", "pin-source",
                   NULL);
}

static void uri_errors_never_show_the_pin_value(void **state)
{
    expect_bad_uri("tpmkms:pin-value=s3cr3t;colour=x", "colour", NULL);
    expect_bad_uri("tpmkms:pin-value=s3cr3t;pin-value=s3cr3t", "pin-value", NULL);
    expect_bad_uri("tpmkms:name=web;pin-value=s3cr3t;pin-source=/p", NULL, NULL);
    /* Each call above checked and cleared; check one more by hand. */
    {
        TPMKMS_URI *uri = NULL;

        assert_int_equal(tpmkms_uri_parse("tpmkms:pin-value=s3cr3t;x=1", &uri),
                         TPMKMS_R_BAD_URI);
        assert_null(strstr(last_message(), "s3cr3t"));
    }
}

/* ---- the canonical text ---- */

static void uri_to_string_uses_the_fixed_order(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:pin-source=/p;storage-directory=/s;"
                               "tcti=mssim:;store-location=user;"
                               "key-scope=machine;name=web");
    char *s = tpmkms_uri_to_string(uri);

    assert_string_equal(s, "tpmkms:name=web;key-scope=machine;"
                           "store-location=user;tcti=mssim:;"
                           "storage-directory=/s;pin-source=/p");
    OPENSSL_free(s);
    tpmkms_uri_free(uri);

    uri = parse_ok("tpmkms:device=/dev/tpm0;handle=0X81ABCDEF");
    s = tpmkms_uri_to_string(uri);
    assert_string_equal(s, "tpmkms:handle=0x81abcdef;device=/dev/tpm0");
    OPENSSL_free(s);
    tpmkms_uri_free(uri);
}

static void uri_to_string_never_prints_pin_value(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=web;pin-value=s3cr3t");
    char *s = tpmkms_uri_to_string(uri);

    assert_string_equal(s, "tpmkms:name=web");
    OPENSSL_free(s);
    tpmkms_uri_free(uri);
}

static void uri_to_string_of_empty_uri_is_the_scheme(void **state)
{
    TPMKMS_URI uri = { 0 };
    char *s = tpmkms_uri_to_string(&uri);

    assert_string_equal(s, "tpmkms:");
    OPENSSL_free(s);
}

static void uri_to_string_encodes_separators(void **state)
{
    TPMKMS_URI uri = { 0 };
    char *s;

    uri.tcti = "swtpm:path=/a;b%c d=e,f~g";
    s = tpmkms_uri_to_string(&uri);
    assert_string_equal(s, "tpmkms:tcti=swtpm:path=/a%3Bb%25c%20d=e,f~g");
    OPENSSL_free(s);
}

static void uri_round_trip(const TPMKMS_URI *x)
{
    char *s = tpmkms_uri_to_string(x);
    TPMKMS_URI *y = NULL;

    assert_non_null(s);
    if (tpmkms_uri_parse(s, &y) != TPMKMS_R_OK)
        fail_msg("to_string gave '%s' which does not parse: %s", s,
                 last_message());
    assert_uri_equal(x, y);
    /* And the canonical text is a fixed point. */
    {
        char *s2 = tpmkms_uri_to_string(y);

        assert_string_equal(s, s2);
        OPENSSL_free(s2);
    }
    OPENSSL_free(s);
    tpmkms_uri_free(y);
}

static void uri_round_trips_parsed_inputs(void **state)
{
    const char *inputs[] = {
        "tpmkms:",
        "tpmkms:name=web",
        "tpmkms:name=web;key-scope=user",
        "tpmkms:name=a.b_c-D9;key-scope=machine;store-location=machine",
        "tpmkms:handle=0x81000001;device=/dev/tpmrm0",
        "tpmkms:name=x;tcti=swtpm:host=::1,port=2321",
        "tpmkms:name=x;tcti=cmd:tpm2-abrmd%3B--x%20%22q%22",
        "tpmkms:name=x;storage-directory=/tmp/a%20b%3Bc%25d/%C3%A9",
        "tpmkms:name=x;pin-source=file:///run/secrets/pin%231",
        "tpmkms:name=x;device=/dev/tpm%3F0;store-location=user",
        "tpmkms:store-location=machine",
    };

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        TPMKMS_URI *x = parse_ok(inputs[i]);

        uri_round_trip(x);
        tpmkms_uri_free(x);
    }
}

/* Every byte value 1..255 in every free-text attribute survives. */
static void uri_round_trips_every_byte(void **state)
{
    char tcti[256], dir[257], dev[256], src[257];
    TPMKMS_URI x = { 0 };
    unsigned int seed = 12345;

    for (int i = 0; i < 255; i++)
        tcti[i] = (char)(i + 1);
    tcti[255] = '\0';
    x.tcti = tcti;
    x.name = "all-bytes";
    x.key_scope = TPMKMS_SCOPE_USER;
    uri_round_trip(&x);

    /* Pseudo-random strings over the whole byte range. */
    for (int round = 0; round < 500; round++) {
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 60;

        dir[0] = '/';
        src[0] = '/';
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            dir[1 + i] = (char)(1 + (seed >> 16) % 255);
            seed = seed * 1103515245u + 12345u;
            dev[i] = (char)(1 + (seed >> 16) % 255);
            seed = seed * 1103515245u + 12345u;
            src[1 + i] = (char)(1 + (seed >> 16) % 255);
        }
        dir[1 + n] = dev[n] = src[1 + n] = '\0';
        memset(&x, 0, sizeof(x));
        x.storage_directory = dir;
        x.device = dev;
        x.pin_source = src;
        x.handle = 0x81000000u + (unsigned)round;
        x.store_location = round % 2 ? TPMKMS_SCOPE_MACHINE : TPMKMS_SCOPE_USER;
        uri_round_trip(&x);
    }
}

static void uri_to_string_omits_unset_key_scope(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=web");
    char *s;

    s = tpmkms_uri_to_string(uri);
    assert_string_equal(s, "tpmkms:name=web");
    OPENSSL_free(s);
    uri->key_scope = tpmkms_uri_key_scope(uri);
    s = tpmkms_uri_to_string(uri);
    assert_string_equal(s, "tpmkms:name=web;key-scope=user");
    OPENSSL_free(s);
    tpmkms_uri_free(uri);
}

/* ---- helpers ---- */

static void uri_scope_defaults(void **state)
{
    TPMKMS_URI u = { 0 };

    assert_int_equal(tpmkms_uri_key_scope(&u), TPMKMS_SCOPE_USER);
    u.store_location = TPMKMS_SCOPE_MACHINE;
    assert_int_equal(tpmkms_uri_key_scope(&u), TPMKMS_SCOPE_MACHINE);
    u.store_location = TPMKMS_SCOPE_UNSET;
    u.key_scope = TPMKMS_SCOPE_MACHINE;
    assert_int_equal(tpmkms_uri_key_scope(&u), TPMKMS_SCOPE_MACHINE);
    u.store_location = TPMKMS_SCOPE_USER;
    assert_int_equal(tpmkms_uri_key_scope(&u), TPMKMS_SCOPE_MACHINE);
}

static void scope_names_and_parsing(void **state)
{
    tpmkms_scope s = TPMKMS_SCOPE_UNSET;

    assert_string_equal(tpmkms_scope_name(TPMKMS_SCOPE_MACHINE), "machine");
    assert_string_equal(tpmkms_scope_name(TPMKMS_SCOPE_USER), "user");
    assert_string_equal(tpmkms_scope_name(TPMKMS_SCOPE_UNSET), "unset");
    assert_true(tpmkms_scope_from_string("machine", &s));
    assert_int_equal(s, TPMKMS_SCOPE_MACHINE);
    assert_true(tpmkms_scope_from_string("user", &s));
    assert_int_equal(s, TPMKMS_SCOPE_USER);
    assert_false(tpmkms_scope_from_string("unset", &s));
    assert_false(tpmkms_scope_from_string("", &s));
    assert_false(tpmkms_scope_from_string(NULL, &s));
}

static void name_validity_rules(void **state)
{
    assert_true(tpmkms_name_is_valid("web"));
    assert_true(tpmkms_name_is_valid("a.b_c-D9"));
    assert_true(tpmkms_name_is_valid("x"));
    assert_true(tpmkms_name_is_valid("web."));
    assert_false(tpmkms_name_is_valid(NULL));
    assert_false(tpmkms_name_is_valid(""));
    assert_false(tpmkms_name_is_valid("."));
    assert_false(tpmkms_name_is_valid(".."));
    assert_false(tpmkms_name_is_valid(".web"));
    assert_false(tpmkms_name_is_valid("a/b"));
    assert_false(tpmkms_name_is_valid("a\\b"));
    assert_false(tpmkms_name_is_valid("a b"));
    assert_false(tpmkms_name_is_valid("a:b"));
    assert_true(tpmkms_name_is_valid(
        "a234567890123456789012345678901234567890123456789012345678901234"));
    assert_false(tpmkms_name_is_valid(
        "a2345678901234567890123456789012345678901234567890123456789012345"));
}

static void uri_tcti_prefers_tcti_then_device(void **state)
{
    TPMKMS_URI u = { 0 };
    char buf[64], tiny[8];

    assert_null(tpmkms_uri_tcti(&u, buf, sizeof(buf)));
    u.device = "/dev/tpmrm0";
    assert_string_equal(tpmkms_uri_tcti(&u, buf, sizeof(buf)),
                        "device:/dev/tpmrm0");
    ERR_clear_error();
    assert_null(tpmkms_uri_tcti(&u, tiny, sizeof(tiny)));
    assert_int_equal(last_reason(), TPMKMS_R_BAD_URI);
    u.device = NULL;
    u.tcti = "swtpm:port=2321";
    assert_string_equal(tpmkms_uri_tcti(&u, buf, sizeof(buf)),
                        "swtpm:port=2321");
}

/* ---- the auth value ---- */

/* libcrypto's allocator, watched: was a given block zero when freed? */
static const void *watched_block;
static size_t watched_len;
static int watched_clean = -1;

static void *watch_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return malloc(n);
}

static void *watch_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return realloc(p, n);
}

static void watch_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (p != NULL && p == watched_block) {
        watched_clean = 1;
        for (size_t i = 0; i < watched_len; i++)
            if (((const unsigned char *)p)[i] != 0)
                watched_clean = 0;
        watched_block = NULL;
    }
    free(p);
}

static void uri_free_cleanses_the_pin_value(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=k;pin-value=s3cr3t");

    watched_block = uri->pin_value;
    watched_len = uri->pin_value_len;
    watched_clean = -1;
    tpmkms_uri_free(uri);
    assert_int_equal(watched_clean, 1);
}

static char *write_temp(const char *content, size_t len)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/tpmkms-pin-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void get_pin(const char *uritext, const char *want, size_t wantlen)
{
    TPMKMS_URI *uri = parse_ok(uritext);
    char *pin = (char *)1;
    size_t len = 99;

    assert_int_equal(tpmkms_uri_get_pin(uri, &pin, &len), TPMKMS_R_OK);
    if (want == NULL) {
        assert_null(pin);
        assert_int_equal(len, 0);
    } else {
        assert_non_null(pin);
        assert_int_equal(len, wantlen);
        assert_memory_equal(pin, want, wantlen);
        assert_int_equal(pin[len], '\0');
        OPENSSL_clear_free(pin, len);
    }
    tpmkms_uri_free(uri);
}

static void uri_get_pin_from_value(void **state)
{
    get_pin("tpmkms:name=k;pin-value=12%3B34", "12;34", 5);
    get_pin("tpmkms:name=k", NULL, 0);
}

static void uri_get_pin_reads_the_first_line_of_pin_source(void **state)
{
    char text[256];
    char *path;

    path = write_temp("hunter2\r\nsecond line\n", 21);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=file:%s", path);
    get_pin(text, "hunter2", 7);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=file://%s", path);
    get_pin(text, "hunter2", 7);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=%s", path);
    get_pin(text, "hunter2", 7);
    unlink(path);

    path = write_temp("no-newline", 10);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=%s", path);
    get_pin(text, "no-newline", 10);
    unlink(path);

    path = write_temp("", 0);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=%s", path);
    get_pin(text, "", 0);
    unlink(path);
}

static void uri_get_pin_names_pin_source_and_os_error(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=k;pin-source=/nonexistent/tpmkms/pin");
    char *pin = NULL;
    size_t len = 0;

    ERR_clear_error();
    assert_int_equal(tpmkms_uri_get_pin(uri, &pin, &len), TPMKMS_R_BAD_URI);
    assert_null(pin);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_URI);
    assert_non_null(strstr(last_message(), "pin-source"));
    assert_non_null(strstr(last_message(), "/nonexistent/tpmkms/pin"));
    assert_non_null(strstr(last_message(), "No such file or directory"));
    tpmkms_uri_free(uri);
}

/* tpmkms_uri_get_pin must refuse uritext's pin-source with BAD_URI,
 * its message holding "pin-source" and word. */
static void get_pin_refused(const char *uritext, const char *word)
{
    TPMKMS_URI *uri = parse_ok(uritext);
    char *pin = NULL;
    size_t len = 0;

    ERR_clear_error();
    assert_int_equal(tpmkms_uri_get_pin(uri, &pin, &len), TPMKMS_R_BAD_URI);
    assert_null(pin);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_URI);
    assert_non_null(strstr(last_message(), "pin-source"));
    if (strstr(last_message(), word) == NULL)
        fail_msg("'%s' not in '%s'", word, last_message());
    ERR_clear_error();
    tpmkms_uri_free(uri);
}

static void uri_get_pin_refuses_a_fifo_and_a_shared_file(void **state)
{
    char dir[] = "/tmp/tpmkms-pin-dir-XXXXXX", path[128], text[256];

    assert_non_null(mkdtemp(dir));
    /* A FIFO nobody writes: refused at once, not waited on. */
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=file:%s", path);
    get_pin_refused(text, "FIFO");
    unlink(path);
    /* A device. */
    get_pin_refused("tpmkms:name=k;pin-source=/dev/zero", "character device");
    /* A PIN file its group and others may read. */
    snprintf(path, sizeof(path), "%s/pin", dir);
    {
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs("1234\n", f);
        fclose(f);
    }
    assert_int_equal(chmod(path, 0644), 0);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=%s", path);
    get_pin_refused(text, "chmod 600");
    assert_int_equal(chmod(path, 0600), 0);
    get_pin(text, "1234", 4);
    unlink(path);
    rmdir(dir);
}

static void uri_get_pin_limits_the_first_line_to_4096_bytes(void **state)
{
    static char content[4100];
    char text[256], *path;

    memset(content, 'p', sizeof(content));
    content[4096] = '\n';
    path = write_temp(content, 4097);
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=%s", path);
    get_pin(text, content, 4096);
    unlink(path);
    content[4096] = 'p';
    path = write_temp(content, sizeof(content));
    snprintf(text, sizeof(text), "tpmkms:name=k;pin-source=%s", path);
    get_pin_refused(text, "longer than 4096 bytes");
    unlink(path);
}

/* ---- tpm-timeout ---- */

static void uri_tpm_timeout_is_whole_seconds_and_printed_back(void **state)
{
    TPMKMS_URI *uri = parse_ok("tpmkms:name=web;tpm-timeout=45");
    char *text;

    assert_int_equal(uri->tpm_timeout_s, 45);
    text = tpmkms_uri_to_string(uri);
    assert_string_equal(text, "tpmkms:name=web;tpm-timeout=45");
    OPENSSL_free(text);
    tpmkms_uri_free(uri);
    uri = parse_ok("tpmkms:name=web;tpm-timeout=3600");
    assert_int_equal(uri->tpm_timeout_s, 3600);
    tpmkms_uri_free(uri);
    uri = parse_ok("tpmkms:name=web");
    assert_int_equal(uri->tpm_timeout_s, 0);        /* absent: not printed */
    text = tpmkms_uri_to_string(uri);
    assert_string_equal(text, "tpmkms:name=web");
    OPENSSL_free(text);
    tpmkms_uri_free(uri);
}

static void uri_tpm_timeout_refuses_what_is_not_1_to_3600_seconds(void **state)
{
    expect_bad_uri("tpmkms:name=web;tpm-timeout=0", "tpm-timeout '0'", "1 to 3600");
    expect_bad_uri("tpmkms:name=web;tpm-timeout=3601", "tpm-timeout '3601'", NULL);
    expect_bad_uri("tpmkms:name=web;tpm-timeout=2s", "tpm-timeout '2s'", NULL);
    expect_bad_uri("tpmkms:name=web;tpm-timeout=-1", "tpm-timeout '-1'", NULL);
    expect_bad_uri("tpmkms:name=web;tpm-timeout=99999999999999999999",
                   "tpm-timeout", "whole seconds");
    expect_bad_uri("tpmkms:name=web;tpm-timeout=", "tpm-timeout", NULL);
}

static void timeout_parse_raises_the_reason_it_is_given(void **state)
{
    unsigned s = 7;

    assert_int_equal(tpmkms_timeout_parse("12", "X", TPMKMS_R_BAD_PARAMETER,
                                          &s), TPMKMS_R_OK);
    assert_int_equal(s, 12);
    assert_int_equal(tpmkms_timeout_parse("soon", "TPMKMS_TPM_TIMEOUT",
                                          TPMKMS_R_BAD_PARAMETER, &s),
                     TPMKMS_R_BAD_PARAMETER);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_PARAMETER);
    assert_non_null(strstr(last_message(), "TPMKMS_TPM_TIMEOUT 'soon' is invalid"));
    assert_int_equal(s, 12);                        /* untouched on failure */
    ERR_clear_error();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(uri_parses_every_attribute, setup),
        cmocka_unit_test_setup(uri_bare_scheme_names_the_store, setup),
        cmocka_unit_test_setup(uri_allows_one_trailing_semicolon, setup),
        cmocka_unit_test_setup(uri_percent_decodes_values, setup),
        cmocka_unit_test_setup(uri_pin_value_may_hold_nul_bytes, setup),
        cmocka_unit_test_setup(uri_accepts_handle_bounds_and_forms, setup),
        cmocka_unit_test_setup(uri_accepts_64_character_name, setup),
        cmocka_unit_test_setup(uri_accepts_pin_source_forms, setup),
        cmocka_unit_test_setup(uri_rejects_other_schemes, setup),
        cmocka_unit_test_setup(uri_rejects_unknown_attribute, setup),
        cmocka_unit_test_setup(uri_rejects_duplicate_attribute, setup),
        cmocka_unit_test_setup(uri_rejects_empty_value, setup),
        cmocka_unit_test_setup(uri_rejects_pair_without_equals, setup),
        cmocka_unit_test_setup(uri_rejects_unknown_scope, setup),
        cmocka_unit_test_setup(uri_rejects_bad_handle, setup),
        cmocka_unit_test_setup(uri_rejects_names_that_could_escape_the_store, setup),
        cmocka_unit_test_setup(uri_rejects_bad_percent_escape, setup),
        cmocka_unit_test_setup(uri_rejects_nul_in_other_values, setup),
        cmocka_unit_test_setup(uri_rejects_device_with_tcti, setup),
        cmocka_unit_test_setup(uri_rejects_name_with_handle, setup),
        cmocka_unit_test_setup(uri_rejects_relative_storage_directory, setup),
        cmocka_unit_test_setup(uri_rejects_pin_value_with_pin_source, setup),
        cmocka_unit_test_setup(uri_rejects_relative_pin_source, setup),
        cmocka_unit_test_setup(uri_errors_never_show_the_pin_value, setup),
        cmocka_unit_test_setup(uri_to_string_uses_the_fixed_order, setup),
        cmocka_unit_test_setup(uri_to_string_never_prints_pin_value, setup),
        cmocka_unit_test_setup(uri_to_string_of_empty_uri_is_the_scheme, setup),
        cmocka_unit_test_setup(uri_to_string_encodes_separators, setup),
        cmocka_unit_test_setup(uri_round_trips_parsed_inputs, setup),
        cmocka_unit_test_setup(uri_round_trips_every_byte, setup),
        cmocka_unit_test_setup(uri_to_string_omits_unset_key_scope, setup),
        cmocka_unit_test_setup(uri_scope_defaults, setup),
        cmocka_unit_test_setup(scope_names_and_parsing, setup),
        cmocka_unit_test_setup(name_validity_rules, setup),
        cmocka_unit_test_setup(uri_tcti_prefers_tcti_then_device, setup),
        cmocka_unit_test_setup(uri_free_cleanses_the_pin_value, setup),
        cmocka_unit_test_setup(uri_get_pin_from_value, setup),
        cmocka_unit_test_setup(uri_get_pin_reads_the_first_line_of_pin_source, setup),
        cmocka_unit_test_setup(uri_get_pin_names_pin_source_and_os_error, setup),
        cmocka_unit_test_setup(uri_get_pin_refuses_a_fifo_and_a_shared_file, setup),
        cmocka_unit_test_setup(uri_get_pin_limits_the_first_line_to_4096_bytes, setup),
        cmocka_unit_test_setup(uri_tpm_timeout_is_whole_seconds_and_printed_back, setup),
        cmocka_unit_test_setup(uri_tpm_timeout_refuses_what_is_not_1_to_3600_seconds, setup),
        cmocka_unit_test_setup(timeout_parse_raises_the_reason_it_is_given, setup),
    };

    /* Before libcrypto allocates anything. */
    if (!CRYPTO_set_mem_functions(watch_malloc, watch_realloc, watch_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions failed\n");
        return 1;
    }
    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
