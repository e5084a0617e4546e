/*
 * Key records: the text format, atomic writes, the modes and security
 * checks of the stores, listing, certificates, and how a URI resolves to
 * a record across the user and machine stores.  Every test gets its own
 * temp HOME and machine store.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "platform/platform.h"
#include "record.h"
#include "test_util.h"
#include "temp_store.h"


static int setup(void **state)
{
    (void)state;
    if (temp_store_make("record") != 0)
        return -1;
    ERR_clear_error();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return temp_store_remove();
}

#define assert_message_has(word) do {                                   \
        if (strstr(last_message(), (word)) == NULL)                     \
            fail_msg("message lacks '%s': %s", (word), last_message()); \
    } while (0)

static unsigned char pub_bytes[] = { 0x00, 0x04, 0x00, 0x23, 0x00, 0x0b };
static unsigned char priv_bytes[] = { 0x00, 0x03, 0xde, 0xad, 0x01 };

/* A record with a static blob; free with free_fixture_record. */
static TPMKMS_RECORD make_record(const char *name, tpmkms_scope scope)
{
    TPMKMS_RECORD r;

    memset(&r, 0, sizeof(r));
    r.version = TPMKMS_RECORD_VERSION;
    r.name = (char *)name;
    r.scope = scope;
    r.alg = TPMKMS_ALG_EC_P256;
    r.created = (char *)"2026-11-25T12:00:00Z";
    r.blob.parent = TPMKMS_SRK_HANDLE;
    r.blob.empty_auth = 1;
    r.blob.pub = pub_bytes;
    r.blob.pub_len = sizeof(pub_bytes);
    r.blob.priv = priv_bytes;
    r.blob.priv_len = sizeof(priv_bytes);
    return r;
}

static void save(const char *dir, const char *name, tpmkms_scope scope)
{
    TPMKMS_RECORD r = make_record(name, scope);

    if (tpmkms_record_save(dir, &r, 0) != TPMKMS_R_OK)
        fail_msg("save %s in %s: %s", name, dir, last_message());
}

static void assert_record_matches(const TPMKMS_RECORD *got,
                                  const TPMKMS_RECORD *want)
{
    assert_int_equal(got->version, TPMKMS_RECORD_VERSION);
    assert_string_equal(got->name, want->name);
    assert_int_equal(got->scope, want->scope);
    assert_int_equal(got->alg, want->alg);
    assert_string_equal(got->created, want->created);
    assert_int_equal(got->persistent, want->persistent);
    assert_int_equal(got->tpm_id_len, want->tpm_id_len);
    assert_int_equal(got->kind, want->kind);
    if (want->tpm_id == NULL)
        assert_null(got->tpm_id);
    else
        assert_memory_equal(got->tpm_id, want->tpm_id, want->tpm_id_len);
    assert_int_equal(got->blob.parent, want->blob.parent);
    assert_int_equal(got->blob.empty_auth, want->blob.empty_auth);
    assert_int_equal(got->blob.pub_len, want->blob.pub_len);
    assert_memory_equal(got->blob.pub, want->blob.pub, want->blob.pub_len);
    assert_int_equal(got->blob.priv_len, want->blob.priv_len);
    assert_memory_equal(got->blob.priv, want->blob.priv, want->blob.priv_len);
}

static void record_path(char *buf, size_t len, const char *dir, const char *name)
{
    snprintf(buf, len, "%s/keys/%s.tpmkey", dir, name);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static char *text_of(const TPMKMS_RECORD *r)
{
    char *text = NULL;
    tpmkms_rc rc = tpmkms_record_to_text(r, &text);

    if (rc != TPMKMS_R_OK || text == NULL)
        fail_msg("record_to_text: %s", last_message());
    return text;
}

/* Replaces the first occurrence of from in text by to (in a new buffer). */
static char *edit(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out;

    assert_non_null(at);
    out = malloc(strlen(text) + strlen(to) + 1);
    memcpy(out, text, (size_t)(at - text));
    strcpy(out + (at - text), to);
    strcat(out, at + strlen(from));
    return out;
}

static void expect_bad_text(const char *text, const char *word1,
                            const char *word2)
{
    TPMKMS_RECORD *rec = (TPMKMS_RECORD *)1;

    ERR_clear_error();
    assert_int_equal(tpmkms_record_from_text(text, strlen(text), "web.tpmkey",
                                             &rec), TPMKMS_R_BAD_RECORD);
    assert_null(rec);
    assert_int_equal(last_reason(), TPMKMS_R_BAD_RECORD);
    assert_message_has("web.tpmkey");
    if (word1 != NULL)
        assert_message_has(word1);
    if (word2 != NULL)
        assert_message_has(word2);
    ERR_clear_error();
}

/* ---- the text format ---- */

static void record_text_round_trips(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_MACHINE), *back = NULL;
    char *text;

    r.alg = TPMKMS_ALG_RSA_3072;
    r.persistent = 0x81000010u;
    text = text_of(&r);
    assert_int_equal(tpmkms_record_from_text(text, strlen(text), "t", &back),
                     TPMKMS_R_OK);
    assert_record_matches(back, &r);
    tpmkms_record_free(back);
    OPENSSL_free(text);
}

static unsigned char srk_name[] = {
    0x00, 0x0b, 0x8c, 0x1f, 0x00, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60,
    0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d
};

/* tpm: (the SRK's name, which TPM made the key) is written after
 * persistent-handle:, in lower-case hex, and read back byte for byte. */
static void record_text_round_trips_the_tpm_identity(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_MACHINE), *back = NULL;
    char *text;

    r.persistent = 0x81000010u;
    r.tpm_id = srk_name;
    r.tpm_id_len = sizeof(srk_name);
    text = text_of(&r);
    assert_non_null(strstr(text, "persistent-handle: 0x81000010\n"
                                 "tpm: 000b8c1f00ff102030405060708090a0b0c0"
                                 "d0e0f00102030405060708090a0b0c0d\n"
                                 "-----BEGIN TSS2 PRIVATE KEY-----"));
    assert_int_equal(tpmkms_record_from_text(text, strlen(text), "t", &back),
                     TPMKMS_R_OK);
    assert_record_matches(back, &r);
    tpmkms_record_free(back);
    OPENSSL_free(text);
}

/* A record from before tpm: existed reads as it did: no identity. */
static void record_without_tpm_identity_still_reads(void **state)
{
    static const char old[] = "# tpmkms key record\n"
                              "version: 1\n"
                              "name: web\n"
                              "key-scope: machine\n"
                              "algorithm: ec-p256\n"
                              "created: 2026-11-25T12:00:00Z\n"
                              "persistent-handle: 0x81000010\n";
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_MACHINE), *back = NULL;
    char *text, *pem, *joined;

    r.persistent = 0x81000010u;
    text = text_of(&r);
    assert_null(strstr(text, "tpm:"));
    pem = strstr(text, "-----BEGIN");
    assert_non_null(pem);
    joined = malloc(strlen(old) + strlen(pem) + 1);
    strcpy(joined, old);
    strcat(joined, pem);
    assert_int_equal(tpmkms_record_from_text(joined, strlen(joined), "t",
                                             &back), TPMKMS_R_OK);
    assert_null(back->tpm_id);
    assert_int_equal(back->tpm_id_len, 0);
    assert_record_matches(back, &r);
    tpmkms_record_free(back);
    free(joined);
    OPENSSL_free(text);
}

/* tpm: that is not hex bytes, or longer than a TPM name, is refused. */
static void record_from_text_rejects_bad_tpm_identity(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r), *edited, big[2 * 69 + 32];

    edited = edit(text, "name: web\n", "name: web\ntpm: 000b8c1\n");
    expect_bad_text(edited, "field tpm", "000b8c1");
    free(edited);
    edited = edit(text, "name: web\n", "name: web\ntpm: 000bxyz0\n");
    expect_bad_text(edited, "field tpm", "not the hex of a TPM name");
    free(edited);
    edited = edit(text, "name: web\n", "name: web\ntpm: 000b\ntpm: 000b\n");
    expect_bad_text(edited, "tpm", "twice");
    free(edited);
    snprintf(big, sizeof(big), "name: web\ntpm: ");
    for (int i = 0; i < 69; i++)
        strcat(big, "ab");
    strcat(big, "\n");
    edited = edit(text, "name: web\n", big);
    expect_bad_text(edited, "field tpm", NULL);
    free(edited);
    /* Upper case reads too. */
    edited = edit(text, "name: web\n", "name: web\ntpm: 000B8C1F\n");
    {
        TPMKMS_RECORD *back = NULL;

        assert_int_equal(tpmkms_record_from_text(edited, strlen(edited), "t",
                                                 &back), TPMKMS_R_OK);
        assert_int_equal(back->tpm_id_len, 4);
        assert_memory_equal(back->tpm_id, srk_name, 4);
        tpmkms_record_free(back);
    }
    free(edited);
    OPENSSL_free(text);
}

/* An attestation key's record says kind: ak, after tpm:, and reads back
 * as one; an ordinary key's record has no kind: at all, so records stay
 * as older tpmkms wrote and reads them. */
static void record_text_round_trips_the_ak_kind(void **state)
{
    TPMKMS_RECORD r = make_record("ak1", TPMKMS_SCOPE_MACHINE), *back = NULL;
    char *text;

    r.kind = TPMKMS_KIND_AK;
    r.tpm_id = srk_name;
    r.tpm_id_len = 2;
    text = text_of(&r);
    assert_non_null(strstr(text, "created: 2026-11-25T12:00:00Z\n"
                                 "tpm: 000b\n"
                                 "kind: ak\n"
                                 "-----BEGIN TSS2 PRIVATE KEY-----"));
    assert_int_equal(tpmkms_record_from_text(text, strlen(text), "t", &back),
                     TPMKMS_R_OK);
    assert_int_equal(back->kind, TPMKMS_KIND_AK);
    assert_record_matches(back, &r);
    tpmkms_record_free(back);
    OPENSSL_free(text);

    r = make_record("web", TPMKMS_SCOPE_USER);
    text = text_of(&r);
    assert_null(strstr(text, "kind"));
    assert_int_equal(tpmkms_record_from_text(text, strlen(text), "t", &back),
                     TPMKMS_R_OK);
    assert_int_equal(back->kind, TPMKMS_KIND_KEY);
    tpmkms_record_free(back);
    OPENSSL_free(text);
    assert_string_equal(tpmkms_kind_name(TPMKMS_KIND_AK), "attestation key");
    assert_string_equal(tpmkms_kind_name(TPMKMS_KIND_KEY), "key");
}

/* kind: other than ak (key included: it is never written), empty or
 * twice is a bad record naming the field; a kind the record cannot hold
 * is not written. */
static void record_from_text_rejects_unknown_kind(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r), *edited, *out = NULL;

    edited = edit(text, "name: web\n", "name: web\nkind: quote-key\n");
    expect_bad_text(edited, "field kind", "quote-key");
    free(edited);
    edited = edit(text, "name: web\n", "name: web\nkind: AK\n");
    expect_bad_text(edited, "field kind", "unknown kind");
    free(edited);
    edited = edit(text, "name: web\n", "name: web\nkind: key\n");
    expect_bad_text(edited, "field kind", "'key'");
    free(edited);
    edited = edit(text, "name: web\n", "name: web\nkind:\n");
    expect_bad_text(edited, "field kind", "empty value");
    free(edited);
    edited = edit(text, "name: web\n", "name: web\nkind: ak\nkind: ak\n");
    expect_bad_text(edited, "kind", "twice");
    free(edited);
    OPENSSL_free(text);

    r.kind = (tpmkms_key_kind)7;
    assert_int_equal(tpmkms_record_to_text(&r, &out), TPMKMS_R_BAD_PARAMETER);
    assert_null(out);
    ERR_clear_error();
}

static void record_text_reads_like_the_documented_format(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    static const char head[] = "# tpmkms key record\n"
                               "version: 1\n"
                               "name: web\n"
                               "key-scope: user\n"
                               "algorithm: ec-p256\n"
                               "created: 2026-11-25T12:00:00Z\n"
                               "-----BEGIN TSS2 PRIVATE KEY-----\n";
    char *text = text_of(&r);

    assert_int_equal(strncmp(text, head, strlen(head)), 0);
    assert_null(strstr(text, "persistent-handle"));
    OPENSSL_free(text);
}

static void record_to_text_fills_in_created(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER), *back = NULL;
    char *text;
    int y, mo, d, h, mi, s;
    char z = 0;

    r.created = NULL;
    text = text_of(&r);
    assert_int_equal(tpmkms_record_from_text(text, strlen(text), "t", &back),
                     TPMKMS_R_OK);
    assert_non_null(back->created);
    assert_int_equal(sscanf(back->created, "%4d-%2d-%2dT%2d:%2d:%2d%c",
                            &y, &mo, &d, &h, &mi, &s, &z), 7);
    assert_int_equal(z, 'Z');
    assert_true(y >= 2024);
    tpmkms_record_free(back);
    OPENSSL_free(text);
}

static void record_to_text_refuses_what_cannot_be_read_back(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_UNSET);
    char *text = NULL;

    assert_int_equal(tpmkms_record_to_text(&r, &text), TPMKMS_R_BAD_PARAMETER);
    r = make_record("../web", TPMKMS_SCOPE_USER);
    assert_int_equal(tpmkms_record_to_text(&r, &text), TPMKMS_R_BAD_PARAMETER);
    r = make_record("web", TPMKMS_SCOPE_USER);
    r.created = (char *)"x\nkey-scope: machine";
    assert_int_equal(tpmkms_record_to_text(&r, &text), TPMKMS_R_BAD_PARAMETER);
    r = make_record("web", TPMKMS_SCOPE_USER);
    r.alg = TPMKMS_ALG_NONE;
    assert_int_equal(tpmkms_record_to_text(&r, &text), TPMKMS_R_BAD_PARAMETER);
    assert_null(text);
}

static void record_from_text_skips_comments_and_blank_lines(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER), *back = NULL;
    char *text = text_of(&r);
    char *edited = edit(text, "name: web\n",
                        "# a note\n\nname: web   \r\n#another: comment\n");

    assert_int_equal(tpmkms_record_from_text(edited, strlen(edited), "t", &back),
                     TPMKMS_R_OK);
    assert_record_matches(back, &r);
    tpmkms_record_free(back);
    free(edited);
    OPENSSL_free(text);
}

static void record_from_text_rejects_unknown_field(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r);
    char *edited = edit(text, "name: web\n", "name: web\npolicy: pcr7\n");

    expect_bad_text(edited, "unknown field", "policy");
    free(edited);
    OPENSSL_free(text);
}

static void record_from_text_rejects_other_versions(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r);
    char *edited = edit(text, "version: 1", "version: 2");

    expect_bad_text(edited, "version", "2");
    free(edited);
    edited = edit(text, "version: 1", "version: one");
    expect_bad_text(edited, "version", NULL);
    free(edited);
    OPENSSL_free(text);
}

static void record_from_text_rejects_missing_fields(void **state)
{
    static const char *lines[] = {
        "version: 1\n", "name: web\n", "key-scope: user\n",
        "algorithm: ec-p256\n"
    };
    static const char *fields[] = { "version", "name", "key-scope", "algorithm" };
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r);

    for (size_t i = 0; i < 4; i++) {
        char *edited = edit(text, lines[i], "");

        expect_bad_text(edited, fields[i], "missing");
        free(edited);
    }
    OPENSSL_free(text);
}

static void record_from_text_rejects_bad_values(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r);
    char *edited;

    edited = edit(text, "key-scope: user", "key-scope: global");
    expect_bad_text(edited, "key-scope", "global");
    free(edited);
    edited = edit(text, "algorithm: ec-p256", "algorithm: ed25519");
    expect_bad_text(edited, "algorithm", "ed25519");
    free(edited);
    edited = edit(text, "name: web", "name: ../web");
    expect_bad_text(edited, "name", NULL);
    free(edited);
    edited = edit(text, "name: web\n", "name: web\nname: web\n");
    expect_bad_text(edited, "name", "twice");
    free(edited);
    edited = edit(text, "name: web\n", "name web\n");
    expect_bad_text(edited, "line 3", NULL);
    free(edited);
    edited = edit(text, "name: web\n", "persistent-handle: 0x40000001\nname: web\n");
    expect_bad_text(edited, "persistent-handle", "0x40000001");
    free(edited);
    edited = edit(text, "key-scope: user", "key-scope:");
    expect_bad_text(edited, "key-scope", "empty");
    free(edited);
    OPENSSL_free(text);
}

/* Found by fuzz_record: a created time with a control character loaded,
 * was printed as it was by tpmkms list and show (a terminal escape from a
 * file), and the record could not be written back. */
static void record_from_text_rejects_control_characters_in_created(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r);
    static const char *const bad[] = {
        "created: 2026-11-25T12:00:00Z\x1b[2J",
        "created: 2026-11-25\x14T12:00:00Z",
        "created: 2026-11-25T12:00:00Z\x7f",
        "created: 2026\r11-25T12:00:00Z",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *edited = edit(text, "created: 2026-11-25T12:00:00Z", bad[i]);

        expect_bad_text(edited, "created", "control character");
        free(edited);
    }
    OPENSSL_free(text);
}

static void record_from_text_rejects_missing_or_broken_key(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char *text = text_of(&r);
    const char *begin = strstr(text, "-----BEGIN");
    size_t head_len = begin != NULL ? (size_t)(begin - text) : 0;
    char *cut = OPENSSL_strndup(text, head_len);
    char *edited;

    expect_bad_text(cut, "TSS2 PRIVATE KEY", "missing");
    edited = edit(text, "-----END TSS2", "-----END TSS3");
    expect_bad_text(edited, "TSS2 PRIVATE KEY", "does not parse");
    free(edited);
    OPENSSL_free(cut);
    OPENSSL_free(text);
}

/* ---- saving and loading ---- */

static void record_save_then_load_round_trips(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER), *back = NULL;

    assert_int_equal(tpmkms_record_save(ts_user_store, &r, 0), TPMKMS_R_OK);
    assert_int_equal(tpmkms_record_load(ts_user_store, "web", &back), TPMKMS_R_OK);
    assert_record_matches(back, &r);
    tpmkms_record_free(back);
    assert_true(tpmkms_record_exists(ts_user_store, "web"));
    assert_false(tpmkms_record_exists(ts_user_store, "other"));
    assert_false(tpmkms_record_exists(ts_user_store, "../web"));
}

static void record_save_sets_modes_of_the_scope(void **state)
{
    char path[256];

    umask(077);   /* the modes must not depend on the umask */
    save(ts_user_store, "u", TPMKMS_SCOPE_USER);
    save(ts_machine_store, "m", TPMKMS_SCOPE_MACHINE);
    assert_int_equal(mode_of(ts_user_store), 0700);
    snprintf(path, sizeof(path), "%s/keys", ts_user_store);
    assert_int_equal(mode_of(path), 0700);
    record_path(path, sizeof(path), ts_user_store, "u");
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(mode_of(ts_machine_store), 0750);
    snprintf(path, sizeof(path), "%s/keys", ts_machine_store);
    assert_int_equal(mode_of(path), 0750);
    record_path(path, sizeof(path), ts_machine_store, "m");
    assert_int_equal(mode_of(path), 0640);
}

static void record_save_refuses_existing_name_unless_overwrite(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER), *back = NULL;

    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    r.alg = TPMKMS_ALG_RSA_2048;
    assert_int_equal(tpmkms_record_save(ts_user_store, &r, 0), TPMKMS_R_KEY_EXISTS);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_EXISTS);
    assert_message_has("'web'");
    assert_message_has(ts_user_store);
    ERR_clear_error();
    assert_int_equal(tpmkms_record_load(ts_user_store, "web", &back), TPMKMS_R_OK);
    assert_int_equal(back->alg, TPMKMS_ALG_EC_P256);
    tpmkms_record_free(back);

    assert_int_equal(tpmkms_record_save(ts_user_store, &r, 1), TPMKMS_R_OK);
    assert_int_equal(tpmkms_record_load(ts_user_store, "web", &back), TPMKMS_R_OK);
    assert_int_equal(back->alg, TPMKMS_ALG_RSA_2048);
    tpmkms_record_free(back);
}

static int count_entries(const char *dir, int *temps)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    *temps = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (strstr(e->d_name, ".tmp") != NULL)
            (*temps)++;
    }
    closedir(d);
    return n;
}

static void atomic_write_leaves_no_temp_file(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);
    char keys[256];
    int temps;

    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    assert_int_equal(tpmkms_record_save(ts_user_store, &r, 1), TPMKMS_R_OK);
    assert_int_equal(tpmkms_record_save(ts_user_store, &r, 0), TPMKMS_R_KEY_EXISTS);
    ERR_clear_error();
    snprintf(keys, sizeof(keys), "%s/keys", ts_user_store);
    assert_int_equal(count_entries(keys, &temps), 1);
    assert_int_equal(temps, 0);
}

static void atomic_write_failure_unlinks_temp_and_names_path(void **state)
{
    char dir[128], target[160], inner[192];
    int temps;

    snprintf(dir, sizeof(dir), "%s/w", ts_root);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* rename() cannot replace a non-empty directory. */
    snprintf(target, sizeof(target), "%s/busy", dir);
    assert_int_equal(mkdir(target, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/x", target);
    assert_int_equal(mkdir(inner, 0700), 0);
    assert_int_equal(tpmkms_write_file_atomic(target, "data", 4, 0600),
                     TPMKMS_R_STORE_IO);
    assert_int_equal(last_reason(), TPMKMS_R_STORE_IO);
    assert_message_has(target);
    assert_message_has("directory");  /* strerror: "Is a directory" */
    assert_int_equal(count_entries(dir, &temps), 1);
    assert_int_equal(temps, 0);

    ERR_clear_error();
    snprintf(target, sizeof(target), "%s/missing/file", dir);
    assert_int_equal(tpmkms_write_file_atomic(target, "data", 4, 0600),
                     TPMKMS_R_STORE_IO);
    assert_message_has("No such file or directory");
}

static void atomic_write_replaces_content_with_the_mode(void **state)
{
    char path[128];
    char *data = NULL;
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/f", ts_root);
    assert_int_equal(tpmkms_write_file_atomic(path, "first", 5, 0600), TPMKMS_R_OK);
    assert_int_equal(tpmkms_write_file_atomic(path, "second", 6, 0640), TPMKMS_R_OK);
    assert_int_equal(tpmkms_read_file(path, &data, &len), TPMKMS_R_OK);
    assert_int_equal(len, 6);
    assert_string_equal(data, "second");
    assert_int_equal(mode_of(path), 0640);
    OPENSSL_free(data);
}

static void read_file_reports_missing_and_too_large(void **state)
{
    char path[128];
    char *data = (char *)1;
    size_t len = 1;
    int fd;

    snprintf(path, sizeof(path), "%s/nothing", ts_root);
    assert_int_equal(tpmkms_read_file(path, &data, &len), TPMKMS_R_KEY_NOT_FOUND);
    assert_null(data);
    assert_message_has(path);
    ERR_clear_error();
    snprintf(path, sizeof(path), "%s/big", ts_root);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1024 * 1024 + 1), 0);
    close(fd);
    assert_int_equal(tpmkms_read_file(path, &data, &len), TPMKMS_R_STORE_IO);
    assert_message_has("larger");
    ERR_clear_error();
    assert_int_equal(truncate(path, 1024 * 1024), 0);
    assert_int_equal(tpmkms_read_file(path, &data, &len), TPMKMS_R_OK);
    assert_int_equal(len, 1024 * 1024);
    OPENSSL_free(data);
}

static void record_load_missing_is_not_found(void **state)
{
    TPMKMS_RECORD *rec = NULL;

    assert_int_equal(tpmkms_record_load(ts_user_store, "web", &rec),
                     TPMKMS_R_KEY_NOT_FOUND);
    assert_message_has("'web'");
    assert_message_has(ts_user_store);
    ERR_clear_error();
    save(ts_user_store, "other", TPMKMS_SCOPE_USER);
    assert_int_equal(tpmkms_record_load(ts_user_store, "web", &rec),
                     TPMKMS_R_KEY_NOT_FOUND);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_NOT_FOUND);
    assert_null(rec);
}

static void record_load_rejects_name_that_differs_from_file(void **state)
{
    char from[256], to[256];
    TPMKMS_RECORD *rec = NULL;

    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    record_path(from, sizeof(from), ts_user_store, "web");
    record_path(to, sizeof(to), ts_user_store, "mail");
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(tpmkms_record_load(ts_user_store, "mail", &rec),
                     TPMKMS_R_BAD_RECORD);
    assert_message_has("mail.tpmkey");
    assert_message_has("'web'");
}

static void expect_insecure(const char *dir, const char *name, const char *word)
{
    TPMKMS_RECORD *rec = NULL;

    ERR_clear_error();
    assert_int_equal(tpmkms_record_load(dir, name, &rec),
                     TPMKMS_R_INSECURE_STORE);
    assert_null(rec);
    assert_int_equal(last_reason(), TPMKMS_R_INSECURE_STORE);
    if (word != NULL)
        assert_message_has(word);
    ERR_clear_error();
}

static void record_load_refuses_group_writable_store(void **state)
{
    char path[256];

    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    assert_int_equal(chmod(ts_user_store, 0770), 0);
    expect_insecure(ts_user_store, "web", "0770");
    expect_insecure(ts_user_store, "web", ts_user_store);
    assert_int_equal(chmod(ts_user_store, 0702), 0);
    expect_insecure(ts_user_store, "web", "0702");
    assert_int_equal(chmod(ts_user_store, 0700), 0);

    snprintf(path, sizeof(path), "%s/keys", ts_user_store);
    assert_int_equal(chmod(path, 0720), 0);
    expect_insecure(ts_user_store, "web", "keys");
    assert_int_equal(chmod(path, 0700), 0);

    record_path(path, sizeof(path), ts_user_store, "web");
    assert_int_equal(chmod(path, 0620), 0);
    expect_insecure(ts_user_store, "web", "web.tpmkey");
    assert_int_equal(chmod(path, 0606), 0);
    expect_insecure(ts_user_store, "web", "0606");
    assert_int_equal(chmod(path, 0644), 0);   /* readable is fine */
    {
        TPMKMS_RECORD *rec = NULL;

        assert_int_equal(tpmkms_record_load(ts_user_store, "web", &rec), TPMKMS_R_OK);
        tpmkms_record_free(rec);
    }
}

static void record_save_refuses_group_writable_store(void **state)
{
    TPMKMS_RECORD r = make_record("web", TPMKMS_SCOPE_USER);

    assert_int_equal(mkdir(ts_machine_store, 0777), 0);
    assert_int_equal(chmod(ts_machine_store, 0777), 0);
    r.scope = TPMKMS_SCOPE_MACHINE;
    assert_int_equal(tpmkms_record_save(ts_machine_store, &r, 0),
                     TPMKMS_R_INSECURE_STORE);
    assert_message_has(ts_machine_store);
}

static void record_load_refuses_symlinked_record(void **state)
{
    char target[256], link_path[256];

    save(ts_user_store, "real", TPMKMS_SCOPE_USER);
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    record_path(target, sizeof(target), ts_user_store, "real");
    record_path(link_path, sizeof(link_path), ts_user_store, "web");
    assert_int_equal(unlink(link_path), 0);
    assert_int_equal(symlink(target, link_path), 0);
    expect_insecure(ts_user_store, "web", "symbolic link");
}

static void record_load_refuses_non_regular_record(void **state)
{
    char path[256];

    save(ts_user_store, "real", TPMKMS_SCOPE_USER);
    record_path(path, sizeof(path), ts_user_store, "web");
    assert_int_equal(mkfifo(path, 0600), 0);
    expect_insecure(ts_user_store, "web", "regular file");
}

static void record_load_refuses_user_record_of_another_uid(void **state)
{
    char path[256];
    TPMKMS_RECORD *rec = NULL;

    /* The suite runs as root (scripts/test.sh); a run that cannot chown
     * fails here rather than passing without proving anything. */
    if (geteuid() != 0)
        fail_msg("this test needs root to chown a record to another uid");
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    save(ts_machine_store, "srv", TPMKMS_SCOPE_MACHINE);
    record_path(path, sizeof(path), ts_user_store, "web");
    assert_int_equal(chown(path, 4242, 4242), 0);
    expect_insecure(ts_user_store, "web", "uid 4242");
    /* Machine records may belong to anyone allowed to write the store. */
    record_path(path, sizeof(path), ts_machine_store, "srv");
    assert_int_equal(chown(path, 4242, 4242), 0);
    assert_int_equal(tpmkms_record_load(ts_machine_store, "srv", &rec), TPMKMS_R_OK);
    tpmkms_record_free(rec);
}

static void record_load_refuses_invalid_names(void **state)
{
    TPMKMS_RECORD *rec = NULL;

    assert_int_equal(tpmkms_record_load(ts_user_store, "../../etc/passwd", &rec),
                     TPMKMS_R_BAD_PARAMETER);
    assert_int_equal(tpmkms_record_remove(ts_user_store, ".."),
                     TPMKMS_R_BAD_PARAMETER);
}

static void record_remove_deletes_and_reports_missing(void **state)
{
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    assert_int_equal(tpmkms_record_remove(ts_user_store, "web"), TPMKMS_R_OK);
    assert_false(tpmkms_record_exists(ts_user_store, "web"));
    assert_int_equal(tpmkms_record_remove(ts_user_store, "web"),
                     TPMKMS_R_KEY_NOT_FOUND);
    assert_int_equal(last_reason(), TPMKMS_R_KEY_NOT_FOUND);
    assert_message_has("'web'");
}

/* ---- listing ---- */

struct seen {
    char names[8][TPMKMS_NAME_MAX + 1];
    int n;
    int stop_after;
};

static int collect(const TPMKMS_RECORD *rec, void *arg)
{
    struct seen *s = arg;

    assert_true(s->n < 8);
    strcpy(s->names[s->n++], rec->name);
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static void record_list_is_sorted_and_skips_strays(void **state)
{
    struct seen s = { .n = 0 };
    char path[256];
    FILE *f;

    save(ts_user_store, "charlie", TPMKMS_SCOPE_USER);
    save(ts_user_store, "alpha", TPMKMS_SCOPE_USER);
    save(ts_user_store, "bravo", TPMKMS_SCOPE_USER);
    snprintf(path, sizeof(path), "%s/keys/.alpha.tpmkey.123.tmp", ts_user_store);
    f = fopen(path, "w");
    fclose(f);
    snprintf(path, sizeof(path), "%s/keys/.hidden.tpmkey", ts_user_store);
    f = fopen(path, "w");
    fclose(f);
    snprintf(path, sizeof(path), "%s/keys/README", ts_user_store);
    f = fopen(path, "w");
    fclose(f);
    /* A broken record is skipped without leaving an error behind. */
    snprintf(path, sizeof(path), "%s/keys/broken.tpmkey", ts_user_store);
    f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);

    assert_int_equal(tpmkms_record_list(ts_user_store, collect, &s), TPMKMS_R_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[0], "alpha");
    assert_string_equal(s.names[1], "bravo");
    assert_string_equal(s.names[2], "charlie");
    assert_int_equal(ERR_peek_error(), 0);

    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(tpmkms_record_list(ts_user_store, collect, &s), TPMKMS_R_OK);
    assert_int_equal(s.n, 2);
}

static void record_list_of_missing_store_is_empty(void **state)
{
    struct seen s = { .n = 0 };

    assert_int_equal(tpmkms_record_list(ts_user_store, collect, &s), TPMKMS_R_OK);
    assert_int_equal(s.n, 0);
    assert_int_equal(ERR_peek_error(), 0);
}

static void record_list_refuses_insecure_store(void **state)
{
    struct seen s = { .n = 0 };

    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    assert_int_equal(chmod(ts_user_store, 0777), 0);
    assert_int_equal(tpmkms_record_list(ts_user_store, collect, &s),
                     TPMKMS_R_INSECURE_STORE);
    assert_int_equal(s.n, 0);
}

/* What a walk told: records and skipped records, in order. */
struct walked {
    int n;
    char order[8][300];          /* "rec NAME PATH" or "skip PATH RC" */
    char why[8][512];
};

static int walk_record(const TPMKMS_RECORD *rec, const char *path, void *arg)
{
    struct walked *w = arg;

    assert_true(w->n < 8);
    snprintf(w->order[w->n++], sizeof(w->order[0]), "rec %s %s", rec->name,
             path);
    return 0;
}

static int walk_skipped(const char *path, tpmkms_rc reason, const char *why,
                        void *arg)
{
    struct walked *w = arg;

    assert_true(w->n < 8);
    /* Told with the error taken: the queue is clean for the rest. */
    assert_int_equal(ERR_peek_error(), 0);
    snprintf(w->why[w->n], sizeof(w->why[0]), "%s", why);
    snprintf(w->order[w->n++], sizeof(w->order[0]), "skip %s %d", path,
             (int)reason);
    return 0;
}

static void write_garbage(const char *name)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/keys/%s", ts_user_store, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("garbage\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
}

static void record_walk_reports_each_skipped_record_in_order(void **state)
{
    struct walked w = { .n = 0 };
    TPMKMS_RECORD_VISIT v = { walk_record, walk_skipped, &w };
    char path[256], want[300];
    FILE *f;

    save(ts_user_store, "alpha", TPMKMS_SCOPE_USER);
    save(ts_user_store, "delta", TPMKMS_SCOPE_USER);
    write_garbage("bravo.tpmkey");
    save(ts_user_store, "charlie", TPMKMS_SCOPE_USER);
    snprintf(path, sizeof(path), "%s/keys/charlie.tpmkey", ts_user_store);
    assert_int_equal(chmod(path, 0666), 0);
    /* Strays are neither records nor skipped records. */
    snprintf(path, sizeof(path), "%s/keys/.alpha.tpmkey.1.tmp", ts_user_store);
    f = fopen(path, "w");
    fclose(f);

    assert_int_equal(tpmkms_record_walk(ts_user_store, &v), TPMKMS_R_OK);
    assert_int_equal(w.n, 4);
    snprintf(want, sizeof(want), "rec alpha %s/keys/alpha.tpmkey", ts_user_store);
    assert_string_equal(w.order[0], want);
    snprintf(want, sizeof(want), "skip %s/keys/bravo.tpmkey %d", ts_user_store,
             (int)TPMKMS_R_BAD_RECORD);
    assert_string_equal(w.order[1], want);
    assert_non_null(strstr(w.why[1], "bravo.tpmkey"));
    snprintf(want, sizeof(want), "skip %s/keys/charlie.tpmkey %d",
             ts_user_store, (int)TPMKMS_R_INSECURE_STORE);
    assert_string_equal(w.order[2], want);
    assert_non_null(strstr(w.why[2], "writable by group or others"));
    snprintf(want, sizeof(want), "rec delta %s/keys/delta.tpmkey", ts_user_store);
    assert_string_equal(w.order[3], want);
    assert_int_equal(ERR_peek_error(), 0);
}

static int stop_at_skip(const char *path, tpmkms_rc reason, const char *why,
                        void *arg)
{
    int *n = arg;

    (void)path;
    (void)reason;
    (void)why;
    (*n)++;
    return 1;
}

static int no_record_expected(const TPMKMS_RECORD *rec, const char *path,
                              void *arg)
{
    (void)rec;
    (void)path;
    (void)arg;
    fail_msg("the walk went on after skipped returned non-zero");
    return 1;
}

static void record_walk_stops_when_skipped_says_so(void **state)
{
    int n = 0;
    TPMKMS_RECORD_VISIT v = { no_record_expected, stop_at_skip, &n };

    save(ts_user_store, "zulu", TPMKMS_SCOPE_USER);
    write_garbage("alpha.tpmkey");
    assert_int_equal(tpmkms_record_walk(ts_user_store, &v), TPMKMS_R_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ERR_peek_error(), 0);
}

/* ---- certificates ---- */

static void cert_save_load_remove(void **state)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n"
                              "-----END CERTIFICATE-----\n";
    char *got = (char *)1, path[256];
    size_t len = 1;

    assert_int_equal(tpmkms_cert_load(ts_user_store, "web", &got, &len), TPMKMS_R_OK);
    assert_null(got);
    assert_int_equal(len, 0);
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    save(ts_machine_store, "srv", TPMKMS_SCOPE_MACHINE);
    assert_int_equal(tpmkms_cert_save(ts_user_store, "web", pem, strlen(pem), 0),
                     TPMKMS_R_OK);
    assert_int_equal(tpmkms_cert_save(ts_user_store, "web", pem, strlen(pem), 0),
                     TPMKMS_R_KEY_EXISTS);
    ERR_clear_error();
    assert_int_equal(tpmkms_cert_save(ts_user_store, "web", pem, strlen(pem), 1),
                     TPMKMS_R_OK);
    snprintf(path, sizeof(path), "%s/certs/web.pem", ts_user_store);
    assert_int_equal(mode_of(path), 0600);
    assert_int_equal(tpmkms_cert_load(ts_user_store, "web", &got, &len), TPMKMS_R_OK);
    assert_int_equal(len, strlen(pem));
    assert_string_equal(got, pem);
    OPENSSL_free(got);

    assert_int_equal(tpmkms_cert_save(ts_machine_store, "srv", pem, strlen(pem), 0),
                     TPMKMS_R_OK);
    snprintf(path, sizeof(path), "%s/certs", ts_machine_store);
    assert_int_equal(mode_of(path), 0750);
    snprintf(path, sizeof(path), "%s/certs/srv.pem", ts_machine_store);
    assert_int_equal(mode_of(path), 0640);

    assert_int_equal(tpmkms_cert_remove(ts_user_store, "web"), TPMKMS_R_OK);
    assert_int_equal(tpmkms_cert_load(ts_user_store, "web", &got, &len), TPMKMS_R_OK);
    assert_null(got);
    assert_int_equal(tpmkms_cert_remove(ts_user_store, "web"), TPMKMS_R_OK);
    assert_int_equal(ERR_peek_error(), 0);
}

/* ---- store directories ---- */

static void store_dir_follows_the_environment(void **state)
{
    char *d;

    d = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
    assert_string_equal(d, ts_user_store);
    OPENSSL_free(d);
    setenv("XDG_DATA_HOME", "/xdg/data", 1);
    d = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
    assert_string_equal(d, "/xdg/data/tpmkms");
    OPENSSL_free(d);
    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    d = tpmkms_store_dir(TPMKMS_SCOPE_USER, NULL);
    assert_string_equal(d, ts_user_store);
    OPENSSL_free(d);
    unsetenv("XDG_DATA_HOME");

    d = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL);
    assert_string_equal(d, ts_machine_store);
    OPENSSL_free(d);
    unsetenv("TPMKMS_MACHINE_STORE");
    d = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, NULL);
    assert_string_equal(d, TPMKMS_MACHINE_STORE_DEFAULT);
    OPENSSL_free(d);
    setenv("TPMKMS_MACHINE_STORE", ts_machine_store, 1);

    d = tpmkms_store_dir(TPMKMS_SCOPE_MACHINE, "/override");
    assert_string_equal(d, "/override");
    OPENSSL_free(d);
}

/* ---- resolution ---- */

static TPMKMS_URI *uri_of(const char *text)
{
    TPMKMS_URI *uri = NULL;

    if (tpmkms_uri_parse(text, &uri) != TPMKMS_R_OK)
        fail_msg("'%s': %s", text, last_message());
    return uri;
}

static tpmkms_rc resolve(const char *text, TPMKMS_RECORD **rec, char **dir)
{
    TPMKMS_URI *uri = uri_of(text);
    tpmkms_rc rc;

    ERR_clear_error();
    rc = tpmkms_record_resolve(uri, rec, dir);
    tpmkms_uri_free(uri);
    return rc;
}

static void expect_resolved(const char *text, const char *want_dir,
                            tpmkms_scope want_scope)
{
    TPMKMS_RECORD *rec = NULL;
    char *dir = NULL;

    if (resolve(text, &rec, &dir) != TPMKMS_R_OK)
        fail_msg("'%s' did not resolve: %s", text, last_message());
    assert_non_null(rec);
    assert_string_equal(dir, want_dir);
    assert_int_equal(rec->scope, want_scope);
    /* A miss in the user store on the way leaves nothing queued. */
    assert_int_equal(ERR_peek_error(), 0);
    tpmkms_record_free(rec);
    OPENSSL_free(dir);
}

static void expect_unresolved(const char *text, int reason)
{
    TPMKMS_RECORD *rec = (TPMKMS_RECORD *)1;
    char *dir = (char *)1;

    assert_int_equal(resolve(text, &rec, &dir), reason);
    assert_null(rec);
    assert_null(dir);
    assert_int_equal(last_reason(), reason);
}

static void resolve_finds_user_only_key(void **state)
{
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    expect_resolved("tpmkms:name=web", ts_user_store, TPMKMS_SCOPE_USER);
    expect_resolved("tpmkms:name=web;key-scope=user", ts_user_store,
                    TPMKMS_SCOPE_USER);
    expect_unresolved("tpmkms:name=web;key-scope=machine", TPMKMS_R_KEY_NOT_FOUND);
    assert_message_has(ts_machine_store);
}

static void resolve_finds_machine_only_key(void **state)
{
    save(ts_machine_store, "web", TPMKMS_SCOPE_MACHINE);
    expect_resolved("tpmkms:name=web", ts_machine_store, TPMKMS_SCOPE_MACHINE);
    expect_resolved("tpmkms:name=web;key-scope=machine", ts_machine_store,
                    TPMKMS_SCOPE_MACHINE);
    expect_resolved("tpmkms:name=web;store-location=machine", ts_machine_store,
                    TPMKMS_SCOPE_MACHINE);
    expect_unresolved("tpmkms:name=web;key-scope=user", TPMKMS_R_KEY_NOT_FOUND);
}

static void resolve_in_both_stores_is_ambiguous(void **state)
{
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    save(ts_machine_store, "web", TPMKMS_SCOPE_MACHINE);
    expect_unresolved("tpmkms:name=web", TPMKMS_R_AMBIGUOUS_KEY);
    assert_message_has("key-scope=machine");
    assert_message_has("key-scope=user");
    assert_message_has(ts_user_store);
    assert_message_has(ts_machine_store);
    expect_resolved("tpmkms:name=web;key-scope=machine", ts_machine_store,
                    TPMKMS_SCOPE_MACHINE);
    expect_resolved("tpmkms:name=web;key-scope=user", ts_user_store,
                    TPMKMS_SCOPE_USER);
}

static void resolve_not_found_names_key_and_both_stores(void **state)
{
    expect_unresolved("tpmkms:name=nope", TPMKMS_R_KEY_NOT_FOUND);
    assert_message_has("'nope'");
    assert_message_has(ts_user_store);
    assert_message_has(ts_machine_store);
    /* Exactly one error: the misses on the way were popped. */
    ERR_get_error();
    assert_int_equal(ERR_peek_error(), 0);
}

static void resolve_refuses_record_in_the_wrong_store(void **state)
{
    /* A machine-scope record sitting in the user store. */
    save(ts_user_store, "web", TPMKMS_SCOPE_MACHINE);
    expect_unresolved("tpmkms:name=web", TPMKMS_R_SCOPE_MISMATCH);
    assert_message_has("user store");
    assert_message_has("key-scope machine");
    expect_unresolved("tpmkms:name=web;key-scope=user", TPMKMS_R_SCOPE_MISMATCH);

    save(ts_machine_store, "srv", TPMKMS_SCOPE_USER);
    expect_unresolved("tpmkms:name=srv", TPMKMS_R_SCOPE_MISMATCH);
    assert_message_has("machine store");
    expect_unresolved("tpmkms:name=srv;key-scope=machine", TPMKMS_R_SCOPE_MISMATCH);
}

static void resolve_explicit_scope_must_match_the_record(void **state)
{
    char dir[128], text[256];

    snprintf(dir, sizeof(dir), "%s/elsewhere", ts_root);
    save(dir, "web", TPMKMS_SCOPE_USER);
    snprintf(text, sizeof(text), "tpmkms:name=web;storage-directory=%s", dir);
    expect_resolved(text, dir, TPMKMS_SCOPE_USER);
    snprintf(text, sizeof(text),
             "tpmkms:name=web;key-scope=user;storage-directory=%s", dir);
    expect_resolved(text, dir, TPMKMS_SCOPE_USER);
    snprintf(text, sizeof(text),
             "tpmkms:name=web;key-scope=machine;storage-directory=%s", dir);
    expect_unresolved(text, TPMKMS_R_SCOPE_MISMATCH);
    assert_message_has("key-scope=machine");
}

static void resolve_ignores_store_location_for_the_key(void **state)
{
    /* store-location says where the certificate lives; the key's own
     * scope is independent of it, and persisted in the record. */
    save(ts_machine_store, "svc", TPMKMS_SCOPE_MACHINE);
    expect_resolved("tpmkms:name=svc;key-scope=machine;store-location=user",
                    ts_machine_store, TPMKMS_SCOPE_MACHINE);
    expect_resolved("tpmkms:name=svc;store-location=user", ts_machine_store,
                    TPMKMS_SCOPE_MACHINE);
    save(ts_user_store, "me", TPMKMS_SCOPE_USER);
    expect_resolved("tpmkms:name=me;store-location=machine", ts_user_store,
                    TPMKMS_SCOPE_USER);
    expect_unresolved("tpmkms:name=me;key-scope=machine;store-location=user",
                      TPMKMS_R_KEY_NOT_FOUND);
}

static void resolve_storage_directory_is_the_only_place_looked(void **state)
{
    char dir[128], text[256];

    snprintf(dir, sizeof(dir), "%s/empty", ts_root);
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    snprintf(text, sizeof(text), "tpmkms:name=web;storage-directory=%s", dir);
    expect_unresolved(text, TPMKMS_R_KEY_NOT_FOUND);
    assert_message_has(dir);
}

static void resolve_user_store_error_is_not_hidden(void **state)
{
    save(ts_user_store, "web", TPMKMS_SCOPE_USER);
    save(ts_machine_store, "web", TPMKMS_SCOPE_MACHINE);
    assert_int_equal(chmod(ts_user_store, 0777), 0);
    expect_unresolved("tpmkms:name=web", TPMKMS_R_INSECURE_STORE);
}

static void resolve_without_home_searches_the_machine_store(void **state)
{
    save(ts_machine_store, "web", TPMKMS_SCOPE_MACHINE);
    unsetenv("HOME");
    /* getpwuid's home for this uid has no tpmkms store in the test. */
    expect_resolved("tpmkms:name=web", ts_machine_store, TPMKMS_SCOPE_MACHINE);
}

static void resolve_needs_a_name(void **state)
{
    expect_unresolved("tpmkms:handle=0x81000001", TPMKMS_R_BAD_URI);
    assert_message_has("name=");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(record_text_round_trips),
        T(record_text_round_trips_the_tpm_identity),
        T(record_without_tpm_identity_still_reads),
        T(record_from_text_rejects_bad_tpm_identity),
        T(record_text_round_trips_the_ak_kind),
        T(record_from_text_rejects_unknown_kind),
        T(record_text_reads_like_the_documented_format),
        T(record_to_text_fills_in_created),
        T(record_to_text_refuses_what_cannot_be_read_back),
        T(record_from_text_skips_comments_and_blank_lines),
        T(record_from_text_rejects_unknown_field),
        T(record_from_text_rejects_other_versions),
        T(record_from_text_rejects_missing_fields),
        T(record_from_text_rejects_bad_values),
        T(record_from_text_rejects_control_characters_in_created),
        T(record_from_text_rejects_missing_or_broken_key),
        T(record_save_then_load_round_trips),
        T(record_save_sets_modes_of_the_scope),
        T(record_save_refuses_existing_name_unless_overwrite),
        T(atomic_write_leaves_no_temp_file),
        T(atomic_write_failure_unlinks_temp_and_names_path),
        T(atomic_write_replaces_content_with_the_mode),
        T(read_file_reports_missing_and_too_large),
        T(record_load_missing_is_not_found),
        T(record_load_rejects_name_that_differs_from_file),
        T(record_load_refuses_group_writable_store),
        T(record_save_refuses_group_writable_store),
        T(record_load_refuses_symlinked_record),
        T(record_load_refuses_non_regular_record),
        T(record_load_refuses_user_record_of_another_uid),
        T(record_load_refuses_invalid_names),
        T(record_remove_deletes_and_reports_missing),
        T(record_list_is_sorted_and_skips_strays),
        T(record_list_of_missing_store_is_empty),
        T(record_list_refuses_insecure_store),
        T(record_walk_reports_each_skipped_record_in_order),
        T(record_walk_stops_when_skipped_says_so),
        T(cert_save_load_remove),
        T(store_dir_follows_the_environment),
        T(resolve_finds_user_only_key),
        T(resolve_finds_machine_only_key),
        T(resolve_in_both_stores_is_ambiguous),
        T(resolve_not_found_names_key_and_both_stores),
        T(resolve_refuses_record_in_the_wrong_store),
        T(resolve_explicit_scope_must_match_the_record),
        T(resolve_ignores_store_location_for_the_key),
        T(resolve_storage_directory_is_the_only_place_looked),
        T(resolve_user_store_error_is_not_hidden),
        T(resolve_without_home_searches_the_machine_store),
        T(resolve_needs_a_name),
    };

    tpmkms_err_init_standalone();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
