/*
 * libtss2-tcti-faults.so: a test-only TCTI that stands between ESYS and a
 * real TCTI (swtpm) and answers chosen commands with scripted faults, so
 * that the ESYS backend's handling of what a TPM rarely does can be run
 * on demand (test/integration/scripted_tpm_faults.sh).
 *
 * tpm2-tss's TCTI loader opens it by path: Tss2_TctiLdr_Initialize splits
 * its argument at the first ':' into a library name, which it dlopen()s as
 * given before trying libtss2-tcti-<name>.so, and a config handed to the
 * library's init function.  So for tpmkms:
 *
 *   tcti=/build/test/libtss2-tcti-faults.so:/work/faults.script
 *   TPMKMS_TCTI=/build/test/libtss2-tcti-faults.so:/work/faults.script
 *
 * The config is the path of a script file, one directive a line ('#'
 * starts a comment):
 *
 *   tcti CONF           the real TCTI, opened with Tss2_TctiLdr_Initialize
 *                       (required), e.g. tcti swtpm:host=127.0.0.1,port=2321
 *   log PATH            where every command is logged (default: the script's
 *                       path with ".log" appended)
 *   CMD ACTION [times=N] [skip=N]
 *                       a fault: CMD is a command name as in TPM2_CC_<name>
 *                       (Sign, Load, CreatePrimary; a "TPM2_" prefix is
 *                       allowed), a command code in hex (0x15d) or '*' for
 *                       any; ACTION is one of
 *                         rc=CODE   answer with a 10-byte response whose
 *                                   code is CODE: hex, or RETRY, YIELDED,
 *                                   TESTING, LOCKOUT, AUTH_FAIL, BAD_AUTH
 *                                   (as a TPM answers for session 1),
 *                                   OBJECT_MEMORY, SESSION_MEMORY, MEMORY,
 *                                   FAILURE, INITIALIZE, REFERENCE_H0
 *                         short     a truncated response: 6 of the 10 bytes
 *                                   of a response header
 *                         garbled   a 10-byte response whose tag is no TPM
 *                                   2.0 tag and whose size field says 1024
 *                         silent    no answer at all: receive waits out the
 *                                   timeout it is given and returns
 *                                   TSS2_TCTI_RC_TRY_AGAIN, for ever
 *                       times=N: only the first N times this rule matches
 *                       (default: every time); skip=N: only once N
 *                       commands with this code are in the log (default 0).
 *
 * A faulted command never reaches the real TPM, so a faulted Load or
 * CreatePrimary leaks no object slot.  The script is read again before
 * every command, so a test may change the faults between two commands of
 * one connection.  The log is the only state: times= and skip= count its
 * lines, so they hold across reconnections and processes until the test
 * empties the log.  One line a command:
 *
 *   Sign pass rc=0x00000000                   passed through, the TPM's code
 *   Sign fault rc=0x00000922 [Sign rc=RETRY times=2]
 *   Sign fault short [Sign short]             the rule, as written, in [ ]
 *   Sign pass tcti-error 0x000a000a           the real TCTI failed
 *
 * A script that does not parse fails the TCTI's init (or the command, if
 * it changed since) naming the line on stderr and in the log.
 *
 * Test code: it includes tss2 headers, which test/static/seam.sh allows
 * outside provider/ and cli/.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>

#define FAULTS_EXPORT __attribute__((visibility("default")))

#define FAULTS_MAGIC 0x746370666c747321ULL      /* "tcpflts!" */
#define FAULTS_MSG_MAX 4096                     /* TPM2_MAX_COMMAND_SIZE */
#define FAULTS_RULES_MAX 64
#define FAULTS_LINE_MAX 1024

typedef enum {
    FAULT_RC,
    FAULT_SHORT,
    FAULT_GARBLED,
    FAULT_SILENT
} fault_action;

typedef struct {
    char text[256];             /* the line as written: names it in the log */
    int any;                    /* '*': every command */
    uint32_t cc;
    fault_action action;
    uint32_t rc;                /* FAULT_RC */
    long times;                 /* -1: every time */
    long skip;
} FAULT_RULE;

typedef enum {
    PENDING_NONE,               /* idle: the next call is transmit */
    PENDING_CHILD,              /* passed through: the real TPM answers */
    PENDING_FAULT,              /* resp holds the scripted answer */
    PENDING_SILENT              /* nothing will ever answer */
} fault_pending;

typedef struct {
    TSS2_TCTI_CONTEXT_COMMON_V2 common;
    TSS2_TCTI_CONTEXT *child;
    char script[PATH_MAX];
    char log[PATH_MAX];
    fault_pending pending;
    uint32_t cc;                /* the command in flight */
    int have_resp;              /* PENDING_CHILD: resp holds its answer */
    size_t resp_len;
    unsigned char resp[FAULTS_MSG_MAX];
} FAULTS_CTX;

/* ----------------------------------------------------------------- names */

static const struct {
    const char *name;
    uint32_t cc;
} cc_names[] = {
    { "Startup", TPM2_CC_Startup },
    { "Shutdown", TPM2_CC_Shutdown },
    { "SelfTest", TPM2_CC_SelfTest },
    { "GetTestResult", TPM2_CC_GetTestResult },
    { "GetCapability", TPM2_CC_GetCapability },
    { "GetRandom", TPM2_CC_GetRandom },
    { "TestParms", TPM2_CC_TestParms },
    { "ReadPublic", TPM2_CC_ReadPublic },
    { "CreatePrimary", TPM2_CC_CreatePrimary },
    { "Create", TPM2_CC_Create },
    { "CreateLoaded", TPM2_CC_CreateLoaded },
    { "Load", TPM2_CC_Load },
    { "LoadExternal", TPM2_CC_LoadExternal },
    { "Sign", TPM2_CC_Sign },
    { "VerifySignature", TPM2_CC_VerifySignature },
    { "RSA_Decrypt", TPM2_CC_RSA_Decrypt },
    { "RSA_Encrypt", TPM2_CC_RSA_Encrypt },
    { "ECDH_ZGen", TPM2_CC_ECDH_ZGen },
    { "FlushContext", TPM2_CC_FlushContext },
    { "EvictControl", TPM2_CC_EvictControl },
    { "ContextSave", TPM2_CC_ContextSave },
    { "ContextLoad", TPM2_CC_ContextLoad },
    { "StartAuthSession", TPM2_CC_StartAuthSession },
    { "Certify", TPM2_CC_Certify },
    { "Quote", TPM2_CC_Quote },
    { "ActivateCredential", TPM2_CC_ActivateCredential },
    { "MakeCredential", TPM2_CC_MakeCredential },
    { "PCR_Read", TPM2_CC_PCR_Read },
    { "Hash", TPM2_CC_Hash },
    { "ReadClock", TPM2_CC_ReadClock },
    { "ObjectChangeAuth", TPM2_CC_ObjectChangeAuth },
    { "HierarchyChangeAuth", TPM2_CC_HierarchyChangeAuth },
    { "DictionaryAttackLockReset", TPM2_CC_DictionaryAttackLockReset },
    { "DictionaryAttackParameters", TPM2_CC_DictionaryAttackParameters },
    { "Clear", TPM2_CC_Clear },
    { "NV_ReadPublic", TPM2_CC_NV_ReadPublic },
    { "NV_Read", TPM2_CC_NV_Read },
};

static const struct {
    const char *name;
    uint32_t rc;
} rc_names[] = {
    { "RETRY", TPM2_RC_RETRY },
    { "YIELDED", TPM2_RC_YIELDED },
    { "TESTING", TPM2_RC_TESTING },
    { "LOCKOUT", TPM2_RC_LOCKOUT },
    /* An authorization failure names the session it is about. */
    { "AUTH_FAIL", TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1 },
    { "BAD_AUTH", TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1 },
    { "OBJECT_MEMORY", TPM2_RC_OBJECT_MEMORY },
    { "SESSION_MEMORY", TPM2_RC_SESSION_MEMORY },
    { "MEMORY", TPM2_RC_MEMORY },
    { "FAILURE", TPM2_RC_FAILURE },
    { "INITIALIZE", TPM2_RC_INITIALIZE },
    { "REFERENCE_H0", TPM2_RC_REFERENCE_H0 },
};

static const char *cc_name(uint32_t cc, char *buf, size_t n)
{
    size_t i;

    for (i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
        if (cc_names[i].cc == cc)
            return cc_names[i].name;
    snprintf(buf, n, "CC_0x%03x", (unsigned)cc);
    return buf;
}

static int parse_number(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (*s == '\0' || *s == '-')
        return 0;
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno != 0 || *end != '\0' || v > max)
        return 0;
    *out = v;
    return 1;
}

static int parse_cc(const char *s, uint32_t *cc)
{
    unsigned long v;
    size_t i;

    if (strncmp(s, "TPM2_", 5) == 0)
        s += 5;
    for (i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
        if (strcasecmp(cc_names[i].name, s) == 0) {
            *cc = cc_names[i].cc;
            return 1;
        }
    if (strncmp(s, "0x", 2) == 0 && parse_number(s, UINT32_MAX, &v)) {
        *cc = (uint32_t)v;
        return 1;
    }
    return 0;
}

static int parse_rc(const char *s, uint32_t *rc)
{
    unsigned long v;
    size_t i;

    if (strncmp(s, "TPM2_RC_", 8) == 0)
        s += 8;
    for (i = 0; i < sizeof(rc_names) / sizeof(rc_names[0]); i++)
        if (strcasecmp(rc_names[i].name, s) == 0) {
            *rc = rc_names[i].rc;
            return 1;
        }
    if (parse_number(s, UINT32_MAX, &v) && v != 0) {
        *rc = (uint32_t)v;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- script */

typedef struct {
    char tcti[FAULTS_LINE_MAX];     /* "" if the script names none */
    char log[PATH_MAX];             /* "" if the script names none */
    FAULT_RULE rules[FAULTS_RULES_MAX];
    size_t nrules;
} FAULT_SCRIPT;

static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'
                     || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* One fault line; 0 with *why set if it does not parse. */
static int parse_rule(char *line, FAULT_RULE *r, const char **why)
{
    char *save = NULL, *tok;
    int have_action = 0;

    memset(r, 0, sizeof(*r));
    r->times = -1;
    snprintf(r->text, sizeof(r->text), "%s", line);
    tok = strtok_r(line, " \t", &save);
    if (strcmp(tok, "*") == 0) {
        r->any = 1;
    } else if (!parse_cc(tok, &r->cc)) {
        *why = "unknown command (a TPM2_CC_ name such as Sign, a hex code "
               "or *)";
        return 0;
    }
    while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
        unsigned long v;

        if (strncmp(tok, "rc=", 3) == 0) {
            if (!parse_rc(tok + 3, &r->rc)) {
                *why = "rc= is not a known name or a non-zero number";
                return 0;
            }
            r->action = FAULT_RC;
            have_action++;
        } else if (strcmp(tok, "short") == 0) {
            r->action = FAULT_SHORT;
            have_action++;
        } else if (strcmp(tok, "garbled") == 0) {
            r->action = FAULT_GARBLED;
            have_action++;
        } else if (strcmp(tok, "silent") == 0) {
            r->action = FAULT_SILENT;
            have_action++;
        } else if (strncmp(tok, "times=", 6) == 0) {
            if (!parse_number(tok + 6, 1000000, &v) || v == 0) {
                *why = "times= must be a number from 1";
                return 0;
            }
            r->times = (long)v;
        } else if (strncmp(tok, "skip=", 5) == 0) {
            if (!parse_number(tok + 5, 1000000, &v)) {
                *why = "skip= must be a number";
                return 0;
            }
            r->skip = (long)v;
        } else {
            *why = "unknown word (use rc=CODE, short, garbled or silent, "
                   "times=N, skip=N)";
            return 0;
        }
    }
    if (have_action != 1) {
        *why = "a fault needs exactly one of rc=CODE, short, garbled, silent";
        return 0;
    }
    return 1;
}

/*
 * Reads the script; on failure says why on stderr (and in the log, if one
 * is known) and returns 0.
 */
static int script_read(const char *path, const char *log, FAULT_SCRIPT *s)
{
    char line[FAULTS_LINE_MAX], msg[FAULTS_LINE_MAX + 256];
    const char *why = NULL;
    unsigned lineno = 0;
    FILE *f;

    memset(s, 0, sizeof(*s));
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "tcti-faults: cannot open the script %s: %s\n", path,
                strerror(errno));
        return 0;
    }
    while (why == NULL && fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#'), *l;

        lineno++;
        if (hash != NULL)
            *hash = '\0';
        l = trim(line);
        if (*l == '\0')
            continue;
        if (strncmp(l, "tcti ", 5) == 0 || strncmp(l, "tcti\t", 5) == 0) {
            snprintf(s->tcti, sizeof(s->tcti), "%s", trim(l + 5));
        } else if (strncmp(l, "log ", 4) == 0 || strncmp(l, "log\t", 4) == 0) {
            if (strlen(trim(l + 4)) >= sizeof(s->log))
                why = "the log path is too long";
            else
                snprintf(s->log, sizeof(s->log), "%s", trim(l + 4));
        } else if (s->nrules == FAULTS_RULES_MAX) {
            why = "too many faults";
        } else if (parse_rule(l, &s->rules[s->nrules], &why)) {
            s->nrules++;
        }
    }
    fclose(f);
    if (why == NULL)
        return 1;
    snprintf(msg, sizeof(msg), "tcti-faults: %s line %u: %s\n", path, lineno,
             why);
    fputs(msg, stderr);
    if (log != NULL && log[0] != '\0') {
        FILE *lf = fopen(log, "a");

        if (lf != NULL) {
            fprintf(lf, "script error: %s", msg + strlen("tcti-faults: "));
            fclose(lf);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------- log */

static void log_line(const FAULTS_CTX *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_line(const FAULTS_CTX *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    FILE *f;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if ((f = fopen(c->log, "a")) == NULL) {
        fprintf(stderr, "tcti-faults: cannot append to %s: %s\n", c->log,
                strerror(errno));
        return;
    }
    fprintf(f, "%s\n", buf);
    fclose(f);
}

/*
 * How many log lines are about command `name` (any outcome), and how many
 * record rule `text` firing.
 */
static void log_count(const FAULTS_CTX *c, const char *name, const char *text,
                      long *commands, long *fired)
{
    char line[FAULTS_LINE_MAX], tail[300];
    size_t nlen = strlen(name), tlen;
    FILE *f;

    *commands = 0;
    *fired = 0;
    snprintf(tail, sizeof(tail), "[%s]", text);
    tlen = strlen(tail);
    if ((f = fopen(c->log, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t len = strlen(line);

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ' ')
            (*commands)++;
        if (len >= tlen && strcmp(line + len - tlen, tail) == 0)
            (*fired)++;
    }
    fclose(f);
}

/* The first rule that applies to command cc now, or NULL. */
static const FAULT_RULE *rule_for(const FAULTS_CTX *c, const FAULT_SCRIPT *s,
                                  uint32_t cc)
{
    char buf[32];
    const char *name = cc_name(cc, buf, sizeof(buf));
    size_t i;

    for (i = 0; i < s->nrules; i++) {
        const FAULT_RULE *r = &s->rules[i];
        long commands, fired;

        if (!r->any && r->cc != cc)
            continue;
        log_count(c, r->any ? "" : name, r->text, &commands, &fired);
        if (r->any) {           /* every line is a command */
            FILE *f = fopen(c->log, "r");
            int ch;

            commands = 0;
            if (f != NULL) {
                while ((ch = fgetc(f)) != EOF)
                    commands += ch == '\n';
                fclose(f);
            }
        }
        if (commands < r->skip)
            continue;
        if (r->times >= 0 && fired >= r->times)
            continue;
        return r;
    }
    return NULL;
}

/* ------------------------------------------------------------- the TCTI */

static FAULTS_CTX *faults_cast(TSS2_TCTI_CONTEXT *ctx)
{
    if (ctx == NULL || TSS2_TCTI_MAGIC(ctx) != FAULTS_MAGIC)
        return NULL;
    return (FAULTS_CTX *)ctx;
}

static void put_be16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
        | (uint32_t)p[3];
}

/* The scripted answer to a faulted command, in c->resp. */
static void fault_answer(FAULTS_CTX *c, const FAULT_RULE *r)
{
    switch (r->action) {
    case FAULT_RC:
        put_be16(c->resp, TPM2_ST_NO_SESSIONS);
        put_be32(c->resp + 2, 10);
        put_be32(c->resp + 6, r->rc);
        c->resp_len = 10;
        break;
    case FAULT_SHORT:           /* the first 6 bytes of a header */
        put_be16(c->resp, TPM2_ST_NO_SESSIONS);
        put_be32(c->resp + 2, 10);
        c->resp_len = 6;
        break;
    case FAULT_GARBLED:         /* no TPM 2.0 tag; says 1024, has 10 */
        put_be16(c->resp, 0xbeef);
        put_be32(c->resp + 2, 1024);
        put_be32(c->resp + 6, 0);
        c->resp_len = 10;
        break;
    case FAULT_SILENT:
        c->resp_len = 0;
        break;
    }
}

static TSS2_RC faults_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size,
                               const uint8_t *cmd)
{
    FAULTS_CTX *c = faults_cast(ctx);
    FAULT_SCRIPT *s;
    const FAULT_RULE *r;
    char buf[32];
    TSS2_RC rc;

    if (c == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (cmd == NULL || size < 10)
        return TSS2_TCTI_RC_BAD_VALUE;
    if (c->pending != PENDING_NONE)
        return TSS2_TCTI_RC_BAD_SEQUENCE;
    c->cc = get_be32(cmd + 6);
    if ((s = malloc(sizeof(*s))) == NULL)
        return TSS2_TCTI_RC_MEMORY;
    if (!script_read(c->script, c->log, s)) {
        free(s);
        return TSS2_TCTI_RC_BAD_VALUE;
    }
    r = rule_for(c, s, c->cc);
    if (r == NULL) {
        free(s);
        rc = Tss2_Tcti_Transmit(c->child, size, cmd);
        if (rc != TSS2_RC_SUCCESS) {
            log_line(c, "%s pass tcti-error 0x%08x",
                     cc_name(c->cc, buf, sizeof(buf)), (unsigned)rc);
            return rc;
        }
        c->pending = PENDING_CHILD;
        c->have_resp = 0;
        return TSS2_RC_SUCCESS;
    }
    fault_answer(c, r);
    if (r->action == FAULT_RC)
        log_line(c, "%s fault rc=0x%08x [%s]",
                 cc_name(c->cc, buf, sizeof(buf)), (unsigned)r->rc, r->text);
    else
        log_line(c, "%s fault %s [%s]", cc_name(c->cc, buf, sizeof(buf)),
                 r->action == FAULT_SHORT ? "short"
                 : r->action == FAULT_GARBLED ? "garbled" : "silent",
                 r->text);
    c->pending = r->action == FAULT_SILENT ? PENDING_SILENT : PENDING_FAULT;
    free(s);
    return TSS2_RC_SUCCESS;
}

/* A TPM that never answers: wait out the timeout, then "not yet". */
static TSS2_RC silent_wait(int32_t timeout)
{
    struct timespec ts;

    if (timeout == TSS2_TCTI_TIMEOUT_BLOCK) {
        for (;;) {
            ts.tv_sec = 60;
            ts.tv_nsec = 0;
            nanosleep(&ts, NULL);
        }
    }
    ts.tv_sec = timeout / 1000;
    ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return TSS2_TCTI_RC_TRY_AGAIN;
}

static TSS2_RC faults_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size,
                              uint8_t *resp, int32_t timeout)
{
    FAULTS_CTX *c = faults_cast(ctx);
    char buf[32];
    TSS2_RC rc;

    if (c == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (size == NULL)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (timeout < TSS2_TCTI_TIMEOUT_BLOCK)
        return TSS2_TCTI_RC_BAD_VALUE;
    switch (c->pending) {
    case PENDING_NONE:
        return TSS2_TCTI_RC_BAD_SEQUENCE;
    case PENDING_SILENT:
        return silent_wait(timeout);
    case PENDING_CHILD:
        if (!c->have_resp) {
            size_t len = sizeof(c->resp);

            rc = Tss2_Tcti_Receive(c->child, &len, c->resp, timeout);
            if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER
                && (rc & 0xffff) == TSS2_BASE_RC_TRY_AGAIN)
                return rc;
            if (rc != TSS2_RC_SUCCESS) {
                log_line(c, "%s pass tcti-error 0x%08x",
                         cc_name(c->cc, buf, sizeof(buf)), (unsigned)rc);
                c->pending = PENDING_NONE;
                return rc;
            }
            c->resp_len = len;
            c->have_resp = 1;
            log_line(c, "%s pass rc=0x%08x", cc_name(c->cc, buf, sizeof(buf)),
                     len >= 10 ? (unsigned)get_be32(c->resp + 6) : 0u);
        }
        break;
    case PENDING_FAULT:
        break;
    }
    if (resp == NULL) {         /* the caller asks for the size first */
        *size = c->resp_len;
        return TSS2_RC_SUCCESS;
    }
    if (*size < c->resp_len) {
        *size = c->resp_len;
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    }
    memcpy(resp, c->resp, c->resp_len);
    *size = c->resp_len;
    c->pending = PENDING_NONE;
    c->have_resp = 0;
    return TSS2_RC_SUCCESS;
}

static void faults_finalize(TSS2_TCTI_CONTEXT *ctx)
{
    FAULTS_CTX *c = faults_cast(ctx);

    if (c == NULL)
        return;
    if (c->child != NULL)
        Tss2_TctiLdr_Finalize(&c->child);
    TSS2_TCTI_MAGIC(ctx) = 0;
}

static TSS2_RC faults_cancel(TSS2_TCTI_CONTEXT *ctx)
{
    FAULTS_CTX *c = faults_cast(ctx);

    if (c == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    if (c->pending == PENDING_SILENT || c->pending == PENDING_FAULT) {
        c->pending = PENDING_NONE;
        return TSS2_RC_SUCCESS;
    }
    return Tss2_Tcti_Cancel(c->child);
}

static TSS2_RC faults_get_poll_handles(TSS2_TCTI_CONTEXT *ctx,
                                       TSS2_TCTI_POLL_HANDLE *handles,
                                       size_t *num)
{
    FAULTS_CTX *c = faults_cast(ctx);

    if (c == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    return Tss2_Tcti_GetPollHandles(c->child, handles, num);
}

static TSS2_RC faults_set_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t locality)
{
    FAULTS_CTX *c = faults_cast(ctx);

    if (c == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    return Tss2_Tcti_SetLocality(c->child, locality);
}

static TSS2_RC faults_make_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *handle,
                                  uint8_t sticky)
{
    FAULTS_CTX *c = faults_cast(ctx);

    if (c == NULL)
        return TSS2_TCTI_RC_BAD_CONTEXT;
    return Tss2_Tcti_MakeSticky(c->child, handle, sticky);
}

static TSS2_RC faults_init(TSS2_TCTI_CONTEXT *ctx, size_t *size,
                           const char *conf)
{
    FAULTS_CTX *c = (FAULTS_CTX *)ctx;
    FAULT_SCRIPT *s;
    TSS2_RC rc;

    if (size == NULL)
        return TSS2_TCTI_RC_BAD_REFERENCE;
    if (ctx == NULL) {
        *size = sizeof(FAULTS_CTX);
        return TSS2_RC_SUCCESS;
    }
    if (*size < sizeof(FAULTS_CTX))
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    if (conf == NULL || conf[0] == '\0'
        || strlen(conf) + strlen(".log") >= sizeof(c->script)) {
        fprintf(stderr, "tcti-faults: the config must be the path of a "
                "script file (tcti=/path/libtss2-tcti-faults.so:SCRIPT)\n");
        return TSS2_TCTI_RC_BAD_VALUE;
    }
    memset(c, 0, sizeof(*c));
    snprintf(c->script, sizeof(c->script), "%s", conf);
    if ((s = malloc(sizeof(*s))) == NULL)
        return TSS2_TCTI_RC_MEMORY;
    if (!script_read(c->script, NULL, s)) {
        free(s);
        return TSS2_TCTI_RC_BAD_VALUE;
    }
    if (s->log[0] != '\0')
        snprintf(c->log, sizeof(c->log), "%s", s->log);
    else {                      /* init checked that it fits */
        size_t n = strlen(c->script);

        memcpy(c->log, c->script, n);
        memcpy(c->log + n, ".log", sizeof(".log"));
    }
    if (s->tcti[0] == '\0') {
        fprintf(stderr, "tcti-faults: %s names no real TCTI (a line "
                "\"tcti CONF\", e.g. tcti swtpm:port=2321)\n", c->script);
        free(s);
        return TSS2_TCTI_RC_BAD_VALUE;
    }
    rc = Tss2_TctiLdr_Initialize(s->tcti, &c->child);
    if (rc != TSS2_RC_SUCCESS) {
        fprintf(stderr, "tcti-faults: cannot open the real TCTI \"%s\": "
                "0x%08x\n", s->tcti, (unsigned)rc);
        free(s);
        c->child = NULL;
        return rc;
    }
    free(s);
    TSS2_TCTI_MAGIC(ctx) = FAULTS_MAGIC;
    TSS2_TCTI_VERSION(ctx) = 2;
    TSS2_TCTI_TRANSMIT(ctx) = faults_transmit;
    TSS2_TCTI_RECEIVE(ctx) = faults_receive;
    TSS2_TCTI_FINALIZE(ctx) = faults_finalize;
    TSS2_TCTI_CANCEL(ctx) = faults_cancel;
    TSS2_TCTI_GET_POLL_HANDLES(ctx) = faults_get_poll_handles;
    TSS2_TCTI_SET_LOCALITY(ctx) = faults_set_locality;
    TSS2_TCTI_MAKE_STICKY(ctx) = faults_make_sticky;
    c->pending = PENDING_NONE;
    return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO faults_info = {
    .version = 2,
    .name = "tcti-faults",
    .description = "tpmkms test TCTI: passes commands to a real TCTI and "
                   "answers scripted ones with faults",
    .config_help = "the path of a script file: \"tcti CONF\", \"log PATH\", "
                   "and lines \"CMD rc=CODE|short|garbled|silent [times=N] "
                   "[skip=N]\"",
    .init = faults_init,
};

const TSS2_TCTI_INFO *Tss2_Tcti_Info(void);

FAULTS_EXPORT const TSS2_TCTI_INFO *Tss2_Tcti_Info(void)
{
    return &faults_info;
}
