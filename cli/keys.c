/*
 * tpmkms create | list | show | delete: the key store as a person sees it.
 * The same code serves tpmkms ak create | list | show | delete (ak.c) for
 * attestation keys: each takes the kind it works on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "cli.h"
#include "json.h"
#include "key.h"
#include "lifecycle.h"
#include "platform/platform.h"
#include "pubkey_evp.h"
#include "record.h"
#include "tss2key.h"

#define ALG_CHOICES "ec-p256, ec-p384, rsa-2048 or rsa-3072"
#define AK_ALG_CHOICES "ec-p256 or rsa-2048"

/* The URI argument every key command but list takes, parsed. */
static int key_uri_arg(const CLI *cli, int npos, const char **pos,
                       TPMKMS_URI **uri)
{
    int r;

    /*
     * The exit code is spelled out, not cli_usage_error's return: callers
     * use *uri after CLI_CONTINUE, and clang-tidy's analyser cannot see
     * into main.c to know that cli_usage_error never returns it.
     */
    if (npos < 1) {
        cli_usage_error(cli, "missing the key URI (e.g. tpmkms:name=web)");
        return CLI_EXIT_USAGE;
    }
    if ((r = cli_parse_uri(cli, pos[0], uri)) != CLI_CONTINUE)
        return r;
    if ((*uri)->name == NULL) {
        tpmkms_uri_free(*uri);
        *uri = NULL;
        cli_usage_error(cli, "the URI '%s' names no key: it needs name=",
                        pos[0]);
        return CLI_EXIT_USAGE;
    }
    return CLI_CONTINUE;
}

/* ---- create ---------------------------------------------------------- */

/* "0x81000010" -> handle; 0 when the text is not a hex handle. */
static uint32_t parse_handle(const char *text)
{
    unsigned long v;
    char *end;

    if (text[0] != '0' || (text[1] != 'x' && text[1] != 'X')
            || strlen(text) > 10 || text[2] == '\0')
        return 0;
    v = strtoul(text + 2, &end, 16);
    return *end == '\0' && v <= 0xFFFFFFFFul ? (uint32_t)v : 0;
}

/*
 * Before --force replaces a key: its public half (from the blob, no TPM
 * command), to find and remove its certificates after the new key is in.
 */
static EVP_PKEY *old_key_public(CLI *cli, const TPMKMS_URI *uri,
                                const char *dir)
{
    TPMKMS_RECORD *old = NULL;
    TPMKMS_CTX *ctx;
    EVP_PKEY *pub = NULL;

    tpmkms_err_set_mark();
    if (cli_ctx(cli, &ctx) == TPMKMS_R_OK
            && tpmkms_record_load(dir, uri->name, &old) == TPMKMS_R_OK)
        pub = tpmkms_record_public(ctx, uri, old, uri->name);
    tpmkms_err_pop_to_mark();
    tpmkms_record_free(old);
    return pub;
}

int cli_create_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind)
{
    const char *alg_name = NULL, *handle_text = NULL, *usage = NULL, *pos[1];
    int force = 0, npos, r;
    const CLI_OPTION opts[] = {
        { "alg", "ALG", &alg_name, NULL },
        { "usage", "USAGE", &usage, NULL },
        { "force", NULL, NULL, &force },
        { "persistent", "HANDLE", &handle_text, NULL },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_CREATE_OPTS co = { 0 };
    tpmkms_scope scope;
    TPMKMS_URI *uri = NULL;
    TPMKMS_CTX *ctx;
    EVP_PKEY *old_pub = NULL;
    char *canonical = NULL, *dir = NULL, *other = NULL;
    TPMKMS_DELETE_RESULT gone;
    tpmkms_rc rc;

    memset(&gone, 0, sizeof(gone));
    co.alg = TPMKMS_ALG_EC_P256;
    co.kind = kind;
    if ((r = cli_parse(cli, argc, argv, opts, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if (alg_name != NULL) {
        co.alg = tpmkms_alg_from_name(alg_name);
        if (kind == TPMKMS_KIND_AK && co.alg != TPMKMS_ALG_EC_P256
                && co.alg != TPMKMS_ALG_RSA_2048)
            return cli_usage_error(cli, "--alg '%s' is not one for an "
                                   "attestation key: expected "
                                   AK_ALG_CHOICES, alg_name);
        if (co.alg == TPMKMS_ALG_NONE)
            return cli_usage_error(cli, "unknown --alg '%s': expected "
                                   ALG_CHOICES, alg_name);
    }
    if (usage != NULL) {
        if (strcmp(usage, "both") == 0)
            co.usage = TPMKMS_USAGE_BOTH;
        else if (strcmp(usage, "sign") == 0)
            co.usage = TPMKMS_USAGE_SIGN;
        else if (strcmp(usage, "decrypt") == 0)
            co.usage = TPMKMS_USAGE_DECRYPT;
        else
            return cli_usage_error(cli, "unknown --usage '%s': expected "
                                   "both, sign or decrypt", usage);
    }
    if (handle_text != NULL) {
        co.persistent = parse_handle(handle_text);
        if (co.persistent < 0x81000002u || co.persistent > 0x817FFFFFu)
            return cli_usage_error(cli, "--persistent '%s' is not an owner "
                                   "persistent handle 0x81000002..0x817FFFFF "
                                   "(0x81000001 is the SRK)", handle_text);
    }
    if ((r = key_uri_arg(cli, npos, pos, &uri)) != CLI_CONTINUE)
        return r;
    scope = tpmkms_uri_key_scope(uri);
    if (co.persistent != 0 && scope != TPMKMS_SCOPE_MACHINE) {
        r = cli_usage_error(cli, "--persistent needs a machine key "
                            "(key-scope=machine): a persistent handle is "
                            "TPM-wide, so it cannot belong to one user");
        goto out;
    }
    co.overwrite = force;

    tpmkms_err_set_mark();
    dir = tpmkms_store_dir(scope, uri->storage_directory);
    tpmkms_err_pop_to_mark();
    if (force && dir != NULL && tpmkms_record_exists(dir, uri->name))
        old_pub = old_key_public(cli, uri, dir);
    if ((rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
        || (rc = tpmkms_key_create_ex(ctx, uri, &co, NULL)) != TPMKMS_R_OK
        || (canonical = tpmkms_locate_canonical_uri(uri, scope)) == NULL) {
        r = cli_fail(rc != TPMKMS_R_OK ? rc : TPMKMS_R_INTERNAL);
        goto out;
    }
    if (co.settled == TPMKMS_PENDING_REMOVED)
        fprintf(stderr, "tpmkms: note: removed the pending record of an "
                "interrupted create of %s first: persistent handle 0x%08x "
                "did not hold its key\n", canonical,
                (unsigned)co.settled_handle);
    else if (co.settled == TPMKMS_PENDING_COMPLETED)
        fprintf(stderr, "tpmkms: note: completed an interrupted create of %s "
                "first (persistent handle 0x%08x held its key), then "
                "replaced it\n", canonical, (unsigned)co.settled_handle);
    if (co.replaced) {
        /* The old key's certificates certify a key that is gone. */
        if (old_pub != NULL) {
            /*
             * The new key is made either way: what could not be removed
             * is in gone.left and printed below, not a failure.
             */
            tpmkms_rc_ignored(tpmkms_key_remove_certs(uri, uri->name, dir,
                                                      old_pub, &gone));
            cli_print_notes(gone.notes);
        }
        fprintf(stderr, "tpmkms: replaced the existing %s %s",
                tpmkms_kind_name(kind), canonical);
        if (co.evicted != 0)
            fprintf(stderr, "; evicted its persistent handle 0x%08x",
                    (unsigned)co.evicted);
        if (gone.removed[0] != '\0')
            fprintf(stderr, "; removed its certificate %s", gone.removed);
        if (gone.left[0] != '\0')
            fprintf(stderr, "; could not remove %s", gone.left);
        fprintf(stderr, "\n");
    }
    if (co.persistent != 0)
        fprintf(stderr, "tpmkms: persistent at handle 0x%08x\n",
                (unsigned)co.persistent);
    /* Allowed, but every URI without key-scope= will now be refused. */
    if (uri->storage_directory == NULL) {
        tpmkms_err_set_mark();
        other = tpmkms_store_dir(scope == TPMKMS_SCOPE_USER
                                 ? TPMKMS_SCOPE_MACHINE : TPMKMS_SCOPE_USER,
                                 NULL);
        tpmkms_err_pop_to_mark();
        if (other != NULL && tpmkms_record_exists(other, uri->name))
            fprintf(stderr, "tpmkms: note: the %s store (%s) also has a key "
                    "named '%s'; URIs for either need key-scope=\n",
                    scope == TPMKMS_SCOPE_USER ? "machine" : "user", other,
                    uri->name);
    }
    printf("%s\n", canonical);
    r = CLI_EXIT_OK;
 out:
    tpmkms_delete_result_clear(&gone);
    EVP_PKEY_free(old_pub);
    OPENSSL_free(canonical);
    OPENSSL_free(other);
    OPENSSL_free(dir);
    tpmkms_uri_free(uri);
    return r;
}

int cli_cmd_create(CLI *cli, int argc, char **argv)
{
    return cli_create_kind(cli, argc, argv, TPMKMS_KIND_KEY);
}

/* ---- list ------------------------------------------------------------ */

typedef struct list_row_st {
    char *uri;
    char *name;
    tpmkms_scope scope;
    uint32_t persistent;
    const char *alg;
    char *created;
} LIST_ROW;

typedef struct list_skip_st {   /* a record not listed (--json) */
    char *path;
    char *why;
} LIST_SKIP;

typedef struct list_state_st {
    LIST_ROW *rows;
    size_t n, cap;
    tpmkms_scope only;        /* UNSET: every record */
    tpmkms_key_kind kind;     /* the kind listed */
    size_t other_kind;        /* records of the other kind, not listed */
    char *storage_directory;  /* printed in the URIs when given */
    TPMKMS_BACKEND *backend;  /* describes key material; the TPM is asked
                                 only to settle an interrupted create and
                                 for --orphans */
    size_t skipped;           /* records reported as skipped */
    int json;                 /* --json: skips kept for the output */
    LIST_SKIP *skips;
    size_t nskips, capskips;
    uint32_t *named;          /* persistent handles records name */
    size_t nnamed, capnamed;
    int unknown;              /* a record whose handle is unknown */
    int failed;
} LIST_STATE;

static void list_name_handle(LIST_STATE *st, uint32_t handle)
{
    if (handle == 0)
        return;
    if (st->nnamed == st->capnamed) {
        size_t cap = st->capnamed == 0 ? 16 : st->capnamed * 2;
        uint32_t *named = OPENSSL_realloc(st->named, cap * sizeof(*named));

        if (named == NULL) {
            /* Not knowing it is as good as a record we could not read. */
            st->unknown = 1;
            return;
        }
        st->named = named;
        st->capnamed = cap;
    }
    st->named[st->nnamed++] = handle;
}

static int list_names_handle(const LIST_STATE *st, uint32_t handle)
{
    for (size_t i = 0; i < st->nnamed; i++)
        if (st->named[i] == handle)
            return 1;
    return 0;
}

/* A record that is listed as damaged, not as a key: one stderr line. */
static int list_skip(const char *path, tpmkms_rc reason, const char *why,
                     void *arg)
{
    LIST_STATE *st = arg;

    (void)reason;
    fprintf(stderr, "tpmkms: skipped %s: %s\n", path, why);
    st->skipped++;
    st->unknown = 1;            /* it may name a persistent handle */
    if (st->json) {
        if (st->nskips == st->capskips) {
            size_t cap = st->capskips == 0 ? 4 : 2 * st->capskips;
            LIST_SKIP *k = OPENSSL_realloc(st->skips, cap * sizeof(*k));

            if (k == NULL)
                goto nomem;
            st->skips = k;
            st->capskips = cap;
        }
        st->skips[st->nskips].path = OPENSSL_strdup(path);
        st->skips[st->nskips].why = OPENSSL_strdup(why);
        if (st->skips[st->nskips].path == NULL
                || st->skips[st->nskips].why == NULL) {
            OPENSSL_free(st->skips[st->nskips].path);
            OPENSSL_free(st->skips[st->nskips].why);
            goto nomem;
        }
        st->nskips++;
    }
    return 0;
 nomem:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing %s", path);
    st->failed = 1;
    return 1;
}

/*
 * The pending records in dir (record.h): creates of persistent keys that
 * were killed before their record was in place, settled now (completed
 * or removed: tpmkms_key_settle_pending), each said on stderr.  One that
 * cannot be settled (no write access, another TPM, the TPM not
 * answering) is skipped, named on stderr, its handle counted as named.
 */
static void list_settle(LIST_STATE *st, const char *dir)
{
    char **names = NULL, why[1024];
    size_t count = 0;

    tpmkms_err_set_mark();
    if (tpmkms_record_pending_names(dir, &names, &count) != TPMKMS_R_OK) {
        /* The walk that follows says why the store cannot be read. */
        tpmkms_err_pop_to_mark();
        return;
    }
    tpmkms_err_clear_last_mark();
    for (size_t i = 0; i < count; i++) {
        char *path = tpmkms_record_pending_path(dir, names[i]);
        tpmkms_pending what = TPMKMS_PENDING_NONE;
        uint32_t handle = 0;

        tpmkms_err_set_mark();
        if (path != NULL
                && tpmkms_key_settle_pending(st->backend, dir, names[i], &what,
                                             &handle) == TPMKMS_R_OK) {
            tpmkms_err_pop_to_mark();
            if (what == TPMKMS_PENDING_COMPLETED)
                fprintf(stderr, "tpmkms: note: completed an interrupted "
                        "create: persistent handle 0x%08x held the key of "
                        "%s, which is now its record\n", (unsigned)handle,
                        path);
            else if (what == TPMKMS_PENDING_REMOVED)
                fprintf(stderr, "tpmkms: note: removed %s, left by an "
                        "interrupted create: persistent handle 0x%08x did "
                        "not hold its key (nothing of it was in the TPM)\n",
                        path, (unsigned)handle);
        } else {
            tpmkms_err_clear_last_mark();
            fprintf(stderr, "tpmkms: skipped %s: an interrupted create "
                    "not settled: %s\n", path != NULL ? path : names[i],
                    cli_take_errors(why, sizeof(why)));
            st->skipped++;
            if (handle != 0)
                list_name_handle(st, handle);
            else
                st->unknown = 1;
        }
        OPENSSL_free(path);
    }
    tpmkms_record_names_free(names, count);
}

static int list_add(const TPMKMS_RECORD *rec, const char *path, void *arg)
{
    LIST_STATE *st = arg;
    TPMKMS_URI u = { 0 };
    LIST_ROW *row;
    char why[1024];

    /* Named, even by a record that is not listed as a key. */
    list_name_handle(st, rec->persistent);
    if (st->only != TPMKMS_SCOPE_UNSET && rec->scope != st->only)
        return 0;
    if (rec->kind != st->kind) {
        st->other_kind++;
        return 0;
    }
    /* What opening it would refuse is damage, not a key to offer. */
    tpmkms_err_set_mark();
    if (tpmkms_record_check_key(st->backend, rec, path, NULL) != TPMKMS_R_OK) {
        int unknown = st->unknown;  /* its handle is known all the same */

        tpmkms_err_clear_last_mark();
        list_skip(path, TPMKMS_R_BAD_RECORD,
                  tpmkms_err_take_text(why, sizeof(why)), st);
        st->unknown = unknown;
        return 0;
    }
    tpmkms_err_clear_last_mark();
    if (st->n == st->cap) {
        size_t cap = st->cap == 0 ? 16 : st->cap * 2;
        LIST_ROW *rows = OPENSSL_realloc(st->rows, cap * sizeof(*rows));

        if (rows == NULL)
            goto out_nomem;
        st->rows = rows;
        st->cap = cap;
    }
    u.name = rec->name;
    u.key_scope = rec->scope;
    u.storage_directory = st->storage_directory;
    row = &st->rows[st->n];
    row->uri = tpmkms_uri_to_string(&u);
    row->name = OPENSSL_strdup(rec->name);
    row->scope = rec->scope;
    row->persistent = rec->persistent;
    row->alg = tpmkms_alg_name(rec->alg);
    row->created = OPENSSL_strdup(rec->created != NULL ? rec->created : "-");
    if (row->uri == NULL || row->name == NULL || row->created == NULL) {
        OPENSSL_free(row->uri);
        OPENSSL_free(row->name);
        OPENSSL_free(row->created);
        goto out_nomem;
    }
    st->n++;
    return 0;
 out_nomem:
    TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory listing %s", rec->name);
    st->failed = 1;
    return 1;
}

/* The handles tpmkms lets a key have: create --persistent's range. */
#define OWNER_FIRST 0x81000002u
#define OWNER_LAST  0x817FFFFFu
/* The TCG's endorsement range (EKs: 0x81010001, 0x81010002, ...). */
#define EK_FIRST    0x81010000u
#define EK_LAST     0x8101FFFFu

/*
 * list --orphans, after the stores were walked: the TPM's persistent
 * handles in OWNER_FIRST..OWNER_LAST, outside the EK range, that no
 * record names, each with the command that evicts it.
 */
static int list_orphans(const CLI *cli, LIST_STATE *st)
{
    uint32_t *handles = NULL;
    size_t count = 0, found = 0, ours = 0;
    tpmkms_rc rc;

    if (st->unknown) {
        fprintf(stderr, "tpmkms: cannot tell which persistent handles are "
                "orphaned: a key store or record above could not be read, "
                "and it may name one; none is listed\n");
        return CLI_EXIT_ERROR;
    }
    if ((rc = tpmkms_backend_list_persistent(st->backend, &handles, &count))
            != TPMKMS_R_OK)
        return cli_fail(rc);
    for (size_t i = 0; i < count; i++) {
        uint32_t h = handles[i];

        if (h < OWNER_FIRST || h > OWNER_LAST
                || (h >= EK_FIRST && h <= EK_LAST))
            continue;
        ours++;
        if (list_names_handle(st, h))
            continue;
        if (found++ == 0)
            fprintf(stderr, "tpmkms: persistent handles no key record "
                    "names: left by an interrupted create or delete, or "
                    "made by other tools (used as tpmkms:handle=); check "
                    "before evicting:\n");
        printf("0x%08x  tpmkms delete 'tpmkms:handle=0x%08x'%s%s%s\n",
               (unsigned)h, (unsigned)h, cli->tcti != NULL ? " --tcti '" : "",
               cli->tcti != NULL ? cli->tcti : "",
               cli->tcti != NULL ? "'" : "");
    }
    OPENSSL_free(handles);
    if (found > 0)
        return CLI_EXIT_ORPHANS;
    fprintf(stderr, "tpmkms: no orphaned persistent handles (%zu in "
            "0x%08x..0x%08x, all named by key records)\n", ours,
            OWNER_FIRST, OWNER_LAST);
    return st->skipped > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* list --json: the schema tpmkms.list.v1 (docs/json.md). */
static void list_print_json(const LIST_STATE *st)
{
    JSON j = { 0 };

    json_begin_object(&j, NULL);
    json_string(&j, "schema", "tpmkms.list.v1");
    json_string(&j, "kind", st->kind == TPMKMS_KIND_AK ? "ak" : "key");
    json_begin_array(&j, "keys");
    for (size_t k = 0; k < st->n; k++) {
        const LIST_ROW *row = &st->rows[k];

        json_begin_object(&j, NULL);
        json_string(&j, "uri", row->uri);
        json_string(&j, "name", row->name);
        json_string(&j, "key_scope", tpmkms_scope_name(row->scope));
        json_string(&j, "algorithm", row->alg);
        json_string(&j, "created", strcmp(row->created, "-") == 0
                                   ? NULL : row->created);
        json_handle(&j, "persistent_handle", row->persistent);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_begin_array(&j, "skipped");
    for (size_t k = 0; k < st->nskips; k++) {
        json_begin_object(&j, NULL);
        json_string(&j, "path", st->skips[k].path);
        json_string(&j, "reason", st->skips[k].why);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    json_finish(&j);
}

int cli_list_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind)
{
    const char *scope_name = NULL, *storage_dir = NULL;
    int orphans = 0, json = 0;
    CLI_OPTION opts[] = {
        { "scope", "SCOPE", &scope_name, NULL },
        { "storage-directory", "DIR", &storage_dir, NULL },
        { "json", NULL, NULL, &json },
        { "orphans", NULL, NULL, &orphans },
        { NULL, NULL, NULL, NULL }
    };
    LIST_STATE st = { 0 };
    TPMKMS_RECORD_VISIT visit = { list_add, list_skip, &st };
    tpmkms_scope scopes[3];
    const char *overrides[3] = { NULL, NULL, NULL };
    size_t nscopes = 0, width = 0;
    int npos, exists, r = CLI_EXIT_OK;
    tpmkms_rc rc;

    /* Orphaned handles are the TPM's, not one kind's: list --orphans. */
    if (kind != TPMKMS_KIND_KEY)
        opts[3].name = NULL;
    st.kind = kind;
    if ((r = cli_parse(cli, argc, argv, opts, NULL, 0, &npos)) != CLI_CONTINUE)
        return r;
    if (orphans && json)
        return cli_usage_error(cli, "--orphans prints commands to run: it "
                               "takes no --json");
    st.json = json;
    if (scope_name != NULL && !tpmkms_scope_from_string(scope_name, &st.only))
        return cli_usage_error(cli, "unknown --scope '%s': expected user or "
                               "machine", scope_name);
    if (orphans && scope_name != NULL)
        return cli_usage_error(cli, "--orphans looks at the records of both "
                               "stores: it takes no --scope");
    if (storage_dir != NULL && storage_dir[0] != '/')
        return cli_usage_error(cli, "--storage-directory '%s' is not an "
                               "absolute path", storage_dir);

    if (storage_dir != NULL) {
        /* One directory: the records say their own scope. */
        overrides[nscopes] = storage_dir;
        scopes[nscopes++] = st.only != TPMKMS_SCOPE_UNSET
                            ? st.only : TPMKMS_SCOPE_USER;
        st.storage_directory = OPENSSL_strdup(storage_dir);
        if (st.storage_directory == NULL) {
            TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
            return cli_fail(TPMKMS_R_INTERNAL);
        }
    }
    if (storage_dir == NULL && st.only != TPMKMS_SCOPE_UNSET) {
        scopes[nscopes++] = st.only;
    } else if (storage_dir == NULL || orphans) {
        /* --orphans: a handle any record names is not orphaned. */
        scopes[nscopes++] = TPMKMS_SCOPE_USER;
        scopes[nscopes++] = TPMKMS_SCOPE_MACHINE;
    }

    if (storage_dir != NULL) {
        /*
         * A directory the user named that is not there is a mistake to
         * say, not an empty store (the default stores may well not
         * exist yet: nothing to list).
         */
        if ((rc = tpmkms_store_dir_check(storage_dir, &exists))
                != TPMKMS_R_OK) {
            r = cli_fail(rc);
            goto out;
        }
        if (!exists) {
            TPMKMS_raise(TPMKMS_R_KEY_NOT_FOUND, "--storage-directory %s "
                         "does not exist", storage_dir);
            r = cli_fail(TPMKMS_R_KEY_NOT_FOUND);
            goto out;
        }
    }
    if ((rc = cli_backend(cli, NULL, &st.backend)) != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }

    for (size_t k = 0; k < nscopes; k++) {
        char *dir;
        char why[512];

        tpmkms_err_set_mark();
        dir = tpmkms_store_dir(scopes[k], overrides[k]);
        if (dir == NULL && orphans && scopes[k] == TPMKMS_SCOPE_USER
                && overrides[k] == NULL) {
            /* No home: no user store, so no record there either. */
            tpmkms_err_pop_to_mark();
            continue;
        }
        tpmkms_err_clear_last_mark();
        if (dir == NULL) {
            if (ERR_peek_error() == 0)
                TPMKMS_raise(TPMKMS_R_STORE_IO, "cannot tell where the %s "
                             "key store is", tpmkms_scope_name(scopes[k]));
            r = cli_fail(TPMKMS_R_STORE_IO);
            goto out;
        }
        list_settle(&st, dir);
        rc = tpmkms_record_walk(dir, &visit);
        if (st.failed) {
            OPENSSL_free(dir);
            r = cli_fail(TPMKMS_R_INTERNAL);
            goto out;
        }
        if (rc != TPMKMS_R_OK) {
            /*
             * Unasked-for machine store: a note, the user's keys still
             * list; for --orphans, any store: the answer is incomplete.
             */
            if (orphans || (scopes[k] == TPMKMS_SCOPE_MACHINE
                            && scope_name == NULL && storage_dir == NULL)) {
                fprintf(stderr, "tpmkms: note: %s key store %s not "
                        "listed: %s\n", overrides[k] != NULL ? "the"
                        : tpmkms_scope_name(scopes[k]), dir,
                        cli_take_errors(why, sizeof(why)));
                st.unknown = 1;
            } else {
                OPENSSL_free(dir);
                r = cli_fail(rc);
                goto out;
            }
        }
        OPENSSL_free(dir);
    }

    if (orphans) {
        r = list_orphans(cli, &st);
        goto out;
    }
    if (json) {
        list_print_json(&st);
    } else {
        for (size_t k = 0; k < st.n; k++)
            if (strlen(st.rows[k].uri) > width)
                width = strlen(st.rows[k].uri);
        for (size_t k = 0; k < st.n; k++)
            printf("%-*s  %-8s  %s\n", (int)width, st.rows[k].uri,
                   st.rows[k].alg, st.rows[k].created);
    }
    if (kind == TPMKMS_KIND_KEY && st.other_kind > 0)
        fprintf(stderr, "tpmkms: note: %zu attestation key%s not listed: "
                "tpmkms ak list\n", st.other_kind,
                st.other_kind == 1 ? "" : "s");
    /* The good keys are listed; the damaged ones make it a failure. */
    r = st.skipped > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
 out:
    tpmkms_backend_free(st.backend);
    for (size_t k = 0; k < st.n; k++) {
        OPENSSL_free(st.rows[k].uri);
        OPENSSL_free(st.rows[k].name);
        OPENSSL_free(st.rows[k].created);
    }
    OPENSSL_free(st.rows);
    for (size_t k = 0; k < st.nskips; k++) {
        OPENSSL_free(st.skips[k].path);
        OPENSSL_free(st.skips[k].why);
    }
    OPENSSL_free(st.skips);
    OPENSSL_free(st.named);
    OPENSSL_free(st.storage_directory);
    return r;
}

int cli_cmd_list(CLI *cli, int argc, char **argv)
{
    return cli_list_kind(cli, argc, argv, TPMKMS_KIND_KEY);
}

/* ---- show ------------------------------------------------------------ */

/* "subject ..., expires ..." of the first certificate in pem. */
static void describe_cert(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);

    if (x != NULL && out != NULL) {
        BIO_printf(out, "  subject:           ");
        X509_NAME_print_ex(out, X509_get_subject_name(x), 0,
                           XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
        BIO_printf(out, "\n  not after:         ");
        ASN1_TIME_print(out, X509_get0_notAfter(x));
        BIO_printf(out, "\n");
    } else {
        /* Shown as stored; what it holds is for the certificate commands. */
        ERR_clear_error();
        printf("  (not a PEM certificate)\n");
    }
    BIO_free(out);
    X509_free(x);
    BIO_free(bio);
}

static tpmkms_rc print_public_pem(OSSL_LIB_CTX *libctx,
                                  const TPMKMS_PUBLIC *pub)
{
    EVP_PKEY *pkey = tpmkms_public_to_evp(libctx, pub);
    BIO *out;
    int ok;

    if (pkey == NULL)
        return TPMKMS_R_INTERNAL;
    out = BIO_new_fp(stdout, BIO_NOCLOSE);
    ok = out != NULL && PEM_write_bio_PUBKEY(out, pkey);
    BIO_free(out);
    EVP_PKEY_free(pkey);
    if (!ok) {
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode the public key");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

/*
 * The certificate of a key without store-location= sits in the key's own
 * store; if it is not there, say where one for this key is.
 */
static void hint_other_cert(TPMKMS_CTX *ctx, const TPMKMS_URI *uri,
                            const TPMKMS_RECORD *rec)
{
    tpmkms_scope other = rec->scope == TPMKMS_SCOPE_USER
                         ? TPMKMS_SCOPE_MACHINE : TPMKMS_SCOPE_USER;
    EVP_PKEY *pub;
    char *dir, *pem = NULL;
    size_t len = 0;

    if (uri->store_location != TPMKMS_SCOPE_UNSET
            || uri->storage_directory != NULL)
        return;
    tpmkms_err_set_mark();
    dir = tpmkms_store_dir(other, NULL);
    if (dir != NULL && tpmkms_cert_load(dir, rec->name, &pem, &len)
                       == TPMKMS_R_OK && pem != NULL
            && (pub = tpmkms_record_public(ctx, uri, rec, rec->name)) != NULL) {
        if (tpmkms_cert_matches(pem, len, pub) == 1)
            printf("  the %s store has one for this key: %s/certs/%s.pem "
                   "(add store-location=%s)\n",
                   tpmkms_scope_name(other), dir, rec->name,
                   tpmkms_scope_name(other));
        EVP_PKEY_free(pub);
    }
    tpmkms_err_pop_to_mark();
    OPENSSL_free(pem);
    OPENSSL_free(dir);
}

/* An attestation key's lines: what it is and how it signs. */
static void show_ak(const TPMKMS_RECORD *rec, const TPMKMS_KEYINFO *info)
{
    printf("kind:                attestation key (restricted signing key: "
           "signs only TPM-made statements)\n");
    printf("restricted:          %s\n", info->pub.restricted
           ? "yes (the TPM object's restricted and sign attributes)"
           : "NO: the key in this record is not restricted");
    printf("signature scheme:    %s\n", tpmkms_alg_is_ec(rec->alg)
           ? "ECDSA with SHA-256" : "RSASSA-PKCS1-v1_5 with SHA-256");
}

/* A PEM string of a public key (OPENSSL_malloc'd), or NULL, raised. */
static char *public_pem(OSSL_LIB_CTX *libctx, const TPMKMS_PUBLIC *pub)
{
    EVP_PKEY *pkey = tpmkms_public_to_evp(libctx, pub);
    BIO *mem = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long len;

    if (pkey != NULL && mem != NULL && PEM_write_bio_PUBKEY(mem, pkey)
            && (len = BIO_get_mem_data(mem, &data)) > 0
            && (out = OPENSSL_strndup(data, (size_t)len)) != NULL) {
        BIO_free(mem);
        EVP_PKEY_free(pkey);
        return out;
    }
    BIO_free(mem);
    EVP_PKEY_free(pkey);
    TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot encode the public key");
    return NULL;
}

/* The certificate's fields for show --json: subject, notAfter, issuer. */
static void json_cert(JSON *j, const char *path, const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    char *subject = NULL, *issuer = NULL;
    char not_after[32] = "";
    struct tm tm;

    json_begin_object(j, "certificate");
    json_string(j, "path", path);
    if (x != NULL) {
        subject = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
        issuer = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
            strftime(not_after, sizeof(not_after), "%Y-%m-%dT%H:%M:%SZ", &tm);
    } else {
        ERR_clear_error();
    }
    json_string(j, "subject", subject);
    json_string(j, "issuer", issuer);
    json_string(j, "not_after", not_after[0] != '\0' ? not_after : NULL);
    json_end_object(j);
    OPENSSL_free(subject);
    OPENSSL_free(issuer);
    X509_free(x);
    BIO_free(bio);
}

/* show --json: the schema tpmkms.show.v1 (docs/json.md). */
static tpmkms_rc show_json(OSSL_LIB_CTX *libctx, const TPMKMS_LOCATION *loc,
                           const TPMKMS_KEYINFO *info, const char *pem,
                           size_t pem_len)
{
    const TPMKMS_RECORD *rec = loc->rec;
    char *pub, *path;
    JSON j = { 0 };

    if ((pub = public_pem(libctx, &info->pub)) == NULL)
        return TPMKMS_R_INTERNAL;
    json_begin_object(&j, NULL);
    json_string(&j, "schema", "tpmkms.show.v1");
    json_string(&j, "uri", loc->uri);
    json_string(&j, "name", rec->name);
    json_string(&j, "kind", rec->kind == TPMKMS_KIND_AK ? "ak" : "key");
    json_string(&j, "key_scope", tpmkms_scope_name(rec->scope));
    json_string(&j, "algorithm", tpmkms_alg_name(rec->alg));
    json_bool(&j, "restricted", info->pub.restricted);
    json_string(&j, "created", rec->created);
    json_handle(&j, "persistent_handle", rec->persistent);
    json_hex(&j, "tpm", rec->tpm_id, rec->tpm_id_len);
    json_string(&j, "store_directory", loc->key_dir);
    path = tpmkms_path_fmt("%s/keys/%s.tpmkey", loc->key_dir, rec->name);
    json_string(&j, "record", path);
    OPENSSL_free(path);
    path = tpmkms_path_fmt("%s/certs/%s.pem", loc->cert_dir, rec->name);
    if (pem != NULL)
        json_cert(&j, path, pem, pem_len);
    else
        json_null(&j, "certificate");
    json_string(&j, "certificate_looked_for", path);
    OPENSSL_free(path);
    json_string(&j, "public_key", pub);
    json_end_object(&j);
    json_finish(&j);
    OPENSSL_free(pub);
    return TPMKMS_R_OK;
}

int cli_show_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind)
{
    const char *pos[1];
    int npos, r, json = 0;
    CLI_OPTION opts[] = {
        { "json", NULL, NULL, &json },
        { NULL, NULL, NULL, NULL }
    };
    TPMKMS_URI *uri = NULL;
    TPMKMS_LOCATION loc;
    TPMKMS_RECORD *rec;
    TPMKMS_BACKEND *backend = NULL;
    TPMKMS_CTX *ctx;
    TPMKMS_KEYINFO info;
    char *dir, *certdir, *canonical, *pem = NULL, *recpath = NULL;
    size_t pem_len = 0;
    tpmkms_rc rc;

    memset(&loc, 0, sizeof(loc));
    if ((r = cli_parse(cli, argc, argv, opts, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if ((r = key_uri_arg(cli, npos, pos, &uri)) != CLI_CONTINUE)
        return r;

    memset(&info, 0, sizeof(info));
    if ((rc = tpmkms_locate_key(uri, &loc)) != TPMKMS_R_OK
        || (rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK
        || (rc = cli_backend(cli, uri, &backend)) != TPMKMS_R_OK
        || (recpath = tpmkms_record_path(loc.key_dir, loc.rec->name)) == NULL
        || (rc = tpmkms_record_check_kind(loc.rec, loc.uri, kind, "show"))
           != TPMKMS_R_OK
        || (rc = tpmkms_record_check_key(backend, loc.rec, recpath, &info))
           != TPMKMS_R_OK) {
        r = cli_fail(rc != TPMKMS_R_OK ? rc : TPMKMS_R_INTERNAL);
        goto out;
    }
    rec = loc.rec;
    dir = loc.key_dir;
    certdir = loc.cert_dir;
    canonical = loc.uri;
    if ((rc = tpmkms_cert_load(certdir, rec->name, &pem, &pem_len))
            != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }

    if (json) {
        rc = show_json(tpmkms_ctx_libctx(ctx), &loc, &info, pem, pem_len);
        r = rc == TPMKMS_R_OK ? CLI_EXIT_OK : cli_fail(rc);
        goto out;
    }
    printf("uri:                 %s\n", canonical);
    printf("name:                %s\n", rec->name);
    printf("key-scope:           %s\n", tpmkms_scope_name(rec->scope));
    printf("algorithm:           %s\n", tpmkms_alg_name(rec->alg));
    if (rec->kind == TPMKMS_KIND_AK)
        show_ak(rec, &info);
    printf("created:             %s\n", rec->created != NULL ? rec->created
                                                             : "unknown");
    if (rec->persistent != 0)
        printf("persistent handle:   0x%08x\n", (unsigned)rec->persistent);
    else
        printf("persistent handle:   none (loaded from its blob under "
               "the SRK)\n");
    if (rec->tpm_id != NULL) {
        printf("tpm (its SRK name):  ");
        for (size_t i = 0; i < rec->tpm_id_len; i++)
            printf("%02x", rec->tpm_id[i]);
        printf("\n");
    } else {
        printf("tpm (its SRK name):  not recorded (a record from before "
               "tpmkms kept it)\n");
    }
    printf("store directory:     %s\n", dir);
    printf("record:              %s/keys/%s.tpmkey\n", dir, rec->name);
    if (pem != NULL) {
        printf("certificate:         %s/certs/%s.pem\n", certdir, rec->name);
        describe_cert(pem, pem_len);
    } else {
        printf("certificate:         none\n");
        printf("  looked for:        %s/certs/%s.pem\n", certdir, rec->name);
        hint_other_cert(ctx, uri, rec);
    }
    printf("public key:\n");
    fflush(stdout);
    if ((rc = print_public_pem(tpmkms_ctx_libctx(ctx), &info.pub))
        != TPMKMS_R_OK) {
        r = cli_fail(rc);
        goto out;
    }
    r = CLI_EXIT_OK;
 out:
    OPENSSL_free(recpath);
    OPENSSL_free(pem);
    tpmkms_location_clear(&loc);
    tpmkms_backend_free(backend);
    tpmkms_uri_free(uri);
    return r;
}

int cli_cmd_show(CLI *cli, int argc, char **argv)
{
    return cli_show_kind(cli, argc, argv, TPMKMS_KIND_KEY);
}

/* ---- delete ---------------------------------------------------------- */

/*
 * tpmkms delete, over the library's tpmkms_key_delete
 * (provider/lifecycle.c): the record first (a failure there changed
 * nothing: exit 1, 2 or 4), then the certificates and the persistent
 * handle; what of those is left is a partial delete (exit 3) naming it.
 * tpmkms:handle= evicts a handle a partial delete left.
 */
static int delete_uri(CLI *cli, const TPMKMS_URI *uri, tpmkms_key_kind kind)
{
    TPMKMS_DELETE_RESULT res;
    TPMKMS_CTX *ctx;
    tpmkms_rc rc;

    memset(&res, 0, sizeof(res));
    if ((rc = cli_ctx(cli, &ctx)) == TPMKMS_R_OK)
        rc = tpmkms_key_delete_kind(ctx, uri, kind, &res);
    cli_print_notes(res.notes);
    if (res.evicted != 0)
        printf("evicted persistent handle 0x%08x\n", (unsigned)res.evicted);
    if (res.removed[0] != '\0')
        printf("removed certificate %s\n", res.removed);
    if (rc == TPMKMS_R_OK && uri->handle == 0)
        printf("deleted %s\n", res.uri);
    tpmkms_delete_result_clear(&res);
    return rc == TPMKMS_R_OK ? CLI_EXIT_OK : cli_fail(rc);
}

int cli_delete_kind(CLI *cli, int argc, char **argv, tpmkms_key_kind kind)
{
    const char *pos[1];
    int npos, r;
    TPMKMS_URI *uri = NULL;

    if ((r = cli_parse(cli, argc, argv, NULL, pos, 1, &npos)) != CLI_CONTINUE)
        return r;
    if (kind != TPMKMS_KIND_KEY) {
        /* name= only: what a partial delete leaves goes by tpmkms delete
         * tpmkms:handle=, whatever kind of key it was. */
        if ((r = key_uri_arg(cli, npos, pos, &uri)) != CLI_CONTINUE)
            return r;
        r = delete_uri(cli, uri, kind);
        tpmkms_uri_free(uri);
        return r;
    }
    if (npos < 1)
        return cli_usage_error(cli, "missing the key URI "
                               "(e.g. tpmkms:name=web)");
    if ((r = cli_parse_uri(cli, pos[0], &uri)) != CLI_CONTINUE)
        return r;
    if (uri->handle != 0 || uri->name != NULL)
        r = delete_uri(cli, uri, kind);
    else
        r = cli_usage_error(cli, "the URI '%s' names no key: it needs name= "
                            "(or handle= for a persistent handle a partial "
                            "delete left)", pos[0]);
    tpmkms_uri_free(uri);
    return r;
}

int cli_cmd_delete(CLI *cli, int argc, char **argv)
{
    return cli_delete_kind(cli, argc, argv, TPMKMS_KIND_KEY);
}
