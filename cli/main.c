/*
 * The tpmkms command: dispatch, option parsing, usage, exit codes and the
 * printing of the OpenSSL error queue in a form people can read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/provider.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include "cli.h"
#include "debug.h"
#include "lifecycle.h"

static const CLI_COMMAND commands[] = {
    { "create", cli_cmd_create,
      "URI [--alg ALG] [--usage USAGE] [--force] [--persistent HANDLE]",
      "create a key in the TPM and save its record",
      "Creates a key under the TPM's storage root key and saves its record in\n"
      "the key store the URI's key-scope names (else the one store-location\n"
      "names, else the user store).  Prints the key's URI, with key-scope=.\n"
      "A machine key needs write access to the machine store (root).\n"
      "\n"
      "  --alg ALG          ec-p256 (default), ec-p384, rsa-2048 or rsa-3072\n"
      "  --usage USAGE      both (default): the key signs and decrypts (RSA)\n"
      "                     or agrees on keys (ECDH); sign or decrypt: only\n"
      "                     that, fixed in the TPM for the key's life\n"
      "  --force            replace an existing key of that name: its\n"
      "                     persistent handle is evicted, its certificate\n"
      "                     removed, its record replaced in one rename\n"
      "  --persistent HANDLE\n"
      "                     also make the key persistent at HANDLE\n"
      "                     (0x81000002..0x817FFFFF; machine keys only);\n"
      "                     it is then used through that handle.  The\n"
      "                     record is written first as keys/NAME.pending,\n"
      "                     moved into place once the handle holds the\n"
      "                     key: a create killed in between is completed\n"
      "                     or cleaned up by the next create of the name,\n"
      "                     delete of it, or list\n"
      "A name an attestation key has (tpmkms ak) is refused, --force or not.\n" },
    { "list", cli_cmd_list,
      "[--scope user|machine] [--storage-directory DIR] [--json] [--orphans]",
      "list the keys in the key stores, or orphaned persistent handles",
      "Prints one line per key: its URI, algorithm and creation time.  Both\n"
      "stores by default; attestation keys are not keys to sign with and\n"
      "are listed by tpmkms ak list (a note on stderr counts them); a\n"
      "machine store that cannot be read is noted on stderr.  A damaged record (unreadable, writable by others, another\n"
      "user's, a bad field, an algorithm: its key contradicts) is not a key:\n"
      "each is named on stderr as 'tpmkms: skipped PATH: REASON', the good\n"
      "keys are still listed, and the exit code is 1.  A --storage-directory\n"
      "that does not exist is exit 2.\n"
      "A create --persistent that was killed leaves keys/NAME.pending: list\n"
      "settles it (a note on stderr): completed when its handle holds its\n"
      "key, removed when not (the TPM is not changed).  One it cannot settle\n"
      "(no write access, another TPM) is skipped, exit 1.\n"
      "\n"
      "  --scope SCOPE              only the user or only the machine store\n"
      "  --storage-directory DIR    list DIR instead of the default stores\n"
      "                             (with --orphans: as well as them)\n"
      "  --json                     the keys and the skipped records as one\n"
      "                             JSON object (schema tpmkms.list.v1,\n"
      "                             docs/json.md); exit codes as above\n"
      "  --orphans                  instead of keys, the TPM's persistent\n"
      "                             handles no record names (below)\n"
      "\n"
      "--orphans prints the persistent handles in 0x81000002..0x817FFFFF\n"
      "(less the EK range 0x81010000..0x8101FFFF) that no record in the\n"
      "user or machine store (or DIR) names, one a line with the command\n"
      "that evicts it:\n"
      "  0x81000010  tpmkms delete 'tpmkms:handle=0x81000010'\n"
      "Some may be keys other tools made and use by handle: check before\n"
      "evicting.  Exit 0: none; 5: some, listed; 1: the answer is incomplete\n"
      "(a store or record that could not be read may name one: none is\n"
      "listed).\n" },
    { "show", cli_cmd_show, "URI [--json]",
      "show a key's record, public key and certificate",
      "Prints the key's record (name, scope, algorithm, creation time,\n"
      "persistent handle, where it is stored), its certificate (looked for\n"
      "where store-location says, else in the key's own store) and its\n"
      "public key as a PEM SubjectPublicKeyInfo.  An attestation key is\n"
      "refused: tpmkms ak show shows it.\n"
      "\n"
      "  --json         the same as one JSON object (schema tpmkms.show.v1,\n"
      "                 docs/json.md)\n" },
    { "delete", cli_cmd_delete, "URI",
      "delete a key's record and certificate, evict its persistent handle",
      "Removes the key's record, its certificate (in either store, where it\n"
      "certifies this key) and evicts its persistent handle if it has one.\n"
      "The record always goes first.  Exit codes: 2 no such key; 4 the\n"
      "machine store needs root (nothing was changed); 3 partial delete: the\n"
      "record is gone but a certificate or the persistent handle is left,\n"
      "as the message says.  A handle left that way is evicted with\n"
      "  tpmkms delete 'tpmkms:handle=0x81000010'\n"
      "(only a handle no machine key record names, never the SRK);\n"
      "tpmkms list --orphans finds them.  A create of the key that was\n"
      "killed (keys/NAME.pending) is settled first, as list does.  An\n"
      "attestation key is refused (exit 1, nothing changed): tpmkms ak\n"
      "delete deletes it.\n" },
    { "cert", cli_cmd_cert, "import URI CERT [CHAIN] [--force]",
      "store a key's certificate (chain) for OpenSSL to find",
      "Stores the certificate CERT (PEM or DER; the key's own first, then\n"
      "any chain in the same file) and the chain in CHAIN, as PEM, in\n"
      "certs/<name>.pem of the store that the URI's store-location names\n"
      "(else the key's own store).  A certificate whose public key is not\n"
      "the key's is refused.  Then `openssl s_server -key URI -cert URI`\n"
      "and `openssl storeutl -certs URI` find it through the provider.\n"
      "\n"
      "  --force        replace a stored certificate\n" },
    { "ak", cli_cmd_ak,
      "create URI [--alg ALG] [--force] [--persistent HANDLE] | "
      "list [--scope SCOPE] [--storage-directory DIR] [--json] | "
      "show URI [--json] | delete URI | "
      "enroll-request URI [--ek rsa|ecc] [--out REQ] | "
      "activate URI --challenge CHALLENGE [--ek rsa|ecc] [--out RESPONSE] | "
      "cert-import URI CERT [CHAIN] [--force]",
      "attestation keys: create, list, show, delete; enrollment with a CA",
      "An attestation key (AK) is a restricted signing key: the TPM signs\n"
      "with it only statements it made itself (certifications of other\n"
      "keys, quotes), never data an application hands it, so a verifier\n"
      "can trust that what an AK signed comes from this TPM.  Template:\n"
      "fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted,\n"
      "sign (and noDA without a PIN); ECDSA or RSASSA with SHA-256.  AKs are\n"
      "stored like keys (record kind: ak), with the same key-scope and\n"
      "store-location rules: a machine AK needs write access to the machine\n"
      "store (exit 4 without it).  The provider opens an AK by its URI for\n"
      "its public key (openssl pkey -pubout) but refuses to sign with it.\n"
      "Keys and AKs keep apart: tpmkms create, show and delete refuse an\n"
      "AK, these refuse a key.\n"
      "\n"
      "  ak create URI      create an AK and save its record; prints its URI\n"
      "    --alg ALG        ec-p256 (default; ECDSA with SHA-256) or rsa-2048\n"
      "                     (RSASSA-PKCS1-v1_5 with SHA-256)\n"
      "    --force          replace an existing AK of that name (never a key)\n"
      "    --persistent HANDLE\n"
      "                     also make the AK persistent at HANDLE\n"
      "                     (0x81000002..0x817FFFFF; machine AKs only), as\n"
      "                     tpmkms create --persistent\n"
      "  ak list            one line per AK: URI, algorithm, creation time\n"
      "    --scope SCOPE    only the user or only the machine store\n"
      "    --storage-directory DIR\n"
      "                     list DIR instead of the default stores\n"
      "    --json           as JSON (schema tpmkms.list.v1, docs/json.md)\n"
      "  ak show URI        the AK's record, scheme and public key\n"
      "    --json           as JSON (schema tpmkms.show.v1)\n"
      "  ak delete URI      remove the AK's record and certificate, evict its\n"
      "                     persistent handle: as tpmkms delete, the record\n"
      "                     first; exit 2 no such AK, 4 the machine store\n"
      "                     needs root (nothing changed), 3 partial delete\n"
      "                     (the record is gone, the handle or certificate\n"
      "                     named is left)\n"
      "\n"
      "Enrollment, the device's side (the CA's is tpmkms attest-ca;\n"
      "docs/attestation.md):\n"
      "  ak enroll-request URI\n"
      "                     the enrollment request for the AK: the TPM's\n"
      "                     manufacturer, vendor strings and firmware, the\n"
      "                     EK's public area (derived with TPM2_CreatePrimary\n"
      "                     from its TCG template) and its certificate from\n"
      "                     NV (checked against it), the AK's public area and\n"
      "                     Name\n"
      "    --ek rsa|ecc     the EK: rsa is RSA 2048 (template L-1), ecc ECC\n"
      "                     P-256 (L-2); default L-1 when the TPM lists it,\n"
      "                     else L-2.  High-range EKs (H-1..H-7) are not\n"
      "                     offered: activation needs their PolicyB\n"
      "    --out REQ, -o    where the request goes (default stdout)\n"
      "  ak activate URI --challenge CHALLENGE\n"
      "                     TPM2_ActivateCredential with the AK and the EK\n"
      "                     (derived from its template, authorized by a\n"
      "                     policy session with TPM2_PolicySecret(endorsement),\n"
      "                     the profile's PolicyA) on CHALLENGE (what\n"
      "                     attest-ca challenge wrote); writes the recovered\n"
      "                     secret (attest-ca issue --response reads it).  A\n"
      "                     challenge for another AK's Name or another TPM's\n"
      "                     EK fails (exit 1) with the TPM's response code\n"
      "    --ek rsa|ecc     the EK the challenge is for (default: RSA when\n"
      "                     its seed is an RSA 2048 block, else ECC)\n"
      "    --out RESPONSE, -o\n"
      "                     where the secret goes, mode 0600 (default stdout,\n"
      "                     not a terminal)\n"
      "  ak cert-import URI CERT [CHAIN]\n"
      "                     store the AK certificate (and its chain) as\n"
      "                     tpmkms cert import does for keys; a key is refused\n"
      "    --force          replace a stored certificate\n" },
    { "probe", cli_cmd_probe, "[--json]",
      "describe the TPM: vendor, algorithms, lockout state, SRK",
      "Connects to the TPM and prints what it is and what it supports, its\n"
      "dictionary-attack lockout state, and whether the SRK is persistent.\n"
      "\n"
      "  --json         the same as one JSON object (schema tpmkms.probe.v1,\n"
      "                 docs/json.md)\n" },
    { "setup", cli_cmd_setup, "",
      "persist the storage root key at 0x81000001",
      "Creates the SRK (the TCG's ECC P-256 storage key template) and makes\n"
      "it persistent at 0x81000001, unless it is already there.  Every key\n"
      "operation then saves a TPM2_CreatePrimary.\n" },
    { "ek", cli_cmd_ek, "[--out-dir DIR]",
      "show the endorsement keys and their certificates",
      "Prints the TPM's manufacturer, model and firmware, then each\n"
      "endorsement key (EK) the TCG EK Credential Profile defines: its\n"
      "certificate from NV (0x01C00002 RSA 2048 / template L-1, 0x01C0000A\n"
      "ECC P-256 / L-2, the high range 0x01C00012..0x01C0001E / H-1..H-7;\n"
      "padding after the DER certificate trimmed), the EK recomputed from\n"
      "its template with TPM2_CreatePrimary and checked against the\n"
      "certificate's key, the persistent handle holding it (0x81010001 ...)\n"
      "and its EKPub hash: SHA-256 of the DER SubjectPublicKeyInfo, the\n"
      "file name an AD CS-style allow-list gives a trusted EK.  With no\n"
      "certificate at all, the L-1 and L-2 EKs are shown and it says so\n"
      "(exit 0).  A certificate for another key, or one that does not\n"
      "parse, is an error (exit 1) naming both keys.\n"
      "\n"
      "  --out-dir DIR      also write ek-<alg>.pem (the public key) and\n"
      "                     ek-<alg>-cert.pem (the certificate) into DIR\n" },
    { "attest-ca", cli_cmd_attest_ca,
      "challenge|issue --request REQ ...",
      "the verifier of AK enrollment: challenge, then issue the AK certificate",
      "Software only (no TPM): the CA side of enrolling a device's\n"
      "attestation key (AK), docs/attestation.md.\n"
      "\n"
      "attest-ca challenge --request REQ [--out CHALLENGE] [--state STATE]\n"
      "  Checks the enrollment request REQ (the AK's attributes and name,\n"
      "  the EK certificate's key) and runs TPM2_MakeCredential for its EK\n"
      "  and AK name on a fresh 32-byte secret: CHALLENGE (default\n"
      "  REQ.challenge) gets the credential blob and encrypted seed in\n"
      "  tpm2-tools' format (tpm2_activatecredential -i reads it); STATE\n"
      "  (default REQ.state, mode 0600) the secret and the request's hash.\n"
      "\n"
      "attest-ca issue --request REQ --state STATE --response RESP\n"
      "                --ca-key URI|FILE --ca-cert CERT [--ek-allow-list DIR]\n"
      "                [--ek-roots DIR] [--min-level LEVEL] [--days N]\n"
      "                [--out AKCERT]\n"
      "  Checks that RESP (the bytes TPM2_ActivateCredential gave back) is\n"
      "  the secret, grades the EK (high: a file named by its EKPub hash in\n"
      "  the allow list; medium: its certificate chains to a root in\n"
      "  --ek-roots; else low) and issues the AK certificate (TCG/WebAuthn\n"
      "  AK profile, the level's AD CS policy OID), signed by the CA key (a\n"
      "  tpmkms: URI or a key file).  The state is removed: one issue per\n"
      "  challenge.\n"
      "\n"
      "  --request REQ        the enrollment request\n"
      "  --out CHALLENGE      challenge: where the challenge goes\n"
      "  --out AKCERT, -o     issue: the AK certificate, PEM (default stdout)\n"
      "  --state STATE        the challenge's state file\n"
      "  --response RESP      the secret the device recovered\n"
      "  --ca-key URI|FILE    the CA's private key\n"
      "  --ca-cert CERT       the CA's certificate\n"
      "  --ek-allow-list DIR  EKPub hashes that grade an EK high\n"
      "  --ek-roots DIR       EK roots (and intermediates) for medium\n"
      "  --min-level LEVEL    low, medium or high: refuse below it\n"
      "  --days N             validity of the AK certificate (365)\n"
      "\n"
      "Exit codes: 10 bad request, state or response file; 11 the AK is\n"
      "not an AK; 12 ak-name is not the AK's Name; 13 the EK certificate\n"
      "is for another key; 14 the state is another request's; 15 wrong\n"
      "secret; 16 level below --min-level; 17 an EK no credential can be\n"
      "made for.\n" },
    { "quote", cli_cmd_quote,
      "AK-URI --pcrs BANK:N,N,... --nonce HEX [--out PREFIX]",
      "TPM2_Quote of PCRs by an AK over a verifier's nonce",
      "Reads the PCRs of --pcrs (e.g. sha256:0,1,7) and has the AK sign a\n"
      "quote of them (TPM2_Quote, the AK's scheme) with the nonce as its\n"
      "extraData; checks it with the AK's public key and prints the nonce\n"
      "and the PCR values.  The PCRs are read before and after the quote\n"
      "and must not change in between (else it is done again).\n"
      "\n"
      "  --pcrs BANK:N,...  the bank (sha1, sha256, sha384, sha512) and\n"
      "                     PCRs 0..23\n"
      "  --nonce HEX        the verifier's nonce, 1 to 64 bytes\n"
      "  --out PREFIX, -o   write PREFIX.msg (TPMS_ATTEST), PREFIX.sig\n"
      "                     (TPMT_SIGNATURE) and PREFIX.pcrs (tpm2-tools'\n"
      "                     PCR file): tpm2_checkquote -m, -s and -f read\n"
      "                     them; without it msg and sig print in hex\n" },
    { "verify-quote", cli_cmd_verify_quote,
      "--ak-pub PEM|--ak-cert PEM --msg F --sig F --pcrs F --nonce HEX",
      "check a quote in software (no TPM)",
      "Checks, in this order: the files parse (magic TPM_GENERATED_VALUE,\n"
      "type TPM_ST_ATTEST_QUOTE); the signature verifies with the AK's key\n"
      "over the quote; its extraData is --nonce; it covers the PCRs the PCR\n"
      "file holds; its pcrDigest is the hash of those values.\n"
      "\n"
      "  --ak-pub PEM       the AK's public key\n"
      "  --ak-cert PEM      or its certificate\n"
      "  --msg FILE         the quote (TPMS_ATTEST), quote's PREFIX.msg\n"
      "  --sig FILE         its signature (TPMT_SIGNATURE), PREFIX.sig\n"
      "  --pcrs FILE        the PCR values (tpm2-tools format), PREFIX.pcrs\n"
      "  --nonce HEX        the nonce the quote was asked for\n"
      "\n"
      "Exit codes: 20 a file does not parse; 21 the signature does not\n"
      "verify; 22 another nonce; 23 other PCRs; 24 the PCR values do not\n"
      "give the quote's PCR digest.\n" },
    { NULL, NULL, NULL, NULL, NULL }
};

static void print_main_usage(FILE *out)
{
    fprintf(out,
            "usage: tpmkms [--tcti CONF] COMMAND [ARGS]\n"
            "       tpmkms --version\n"
            "\n"
            "Keys live in the TPM and are named by tpmkms: URIs, e.g.\n"
            "  tpmkms:name=web            (user scope)\n"
            "  tpmkms:name=web;key-scope=machine\n"
            "\n"
            "commands:\n");
    for (const CLI_COMMAND *c = commands; c->name != NULL; c++)
        fprintf(out, "  %-9s %s\n", c->name, c->summary);
    fprintf(out,
            "\n"
            "options for every command:\n"
            "  --tcti CONF    the TPM to use, e.g. device:/dev/tpmrm0 or\n"
            "                 swtpm:host=127.0.0.1,port=2321 (overrides\n"
            "                 TPMKMS_TCTI; a URI's tcti= or device= wins)\n"
            "  -h, --help     help for the command\n"
            "\n"
            "exit codes: 0 ok, 1 error, 2 key not found, 3 partial delete,\n"
            "            4 requires elevation, 5 list --orphans found some,\n"
            "            10..17 attest-ca: 10 bad request, 11 not an AK,\n"
            "            12 AK name mismatch, 13 EK certificate mismatch,\n"
            "            14 state mismatch, 15 wrong secret, 16 level too low,\n"
            "            17 unsupported EK; 20..24 verify-quote: 20 malformed\n"
            "            quote, 21 bad signature, 22 nonce mismatch, 23 PCR\n"
            "            selection mismatch, 24 PCR digest mismatch;\n"
            "            64 usage error\n"
            "TPMKMS_DEBUG=1 adds where each error was raised.\n");
}

static void print_command_help(const CLI_COMMAND *c)
{
    printf("usage: tpmkms %s%s%s [--tcti CONF]\n\n%s\n", c->name,
           c->synopsis[0] != '\0' ? " " : "", c->synopsis, c->summary);
    printf("\n%s", c->help);
    printf("\n  --tcti CONF    the TPM to use (overrides TPMKMS_TCTI)\n"
           "  -h, --help     this help\n");
}

int cli_usage_error(const CLI *cli, const char *fmt, ...)
{
    va_list ap;
    const char *cmd = cli != NULL && cli->command != NULL
                      ? cli->command->name : NULL;

    fprintf(stderr, "tpmkms%s%s: ", cmd != NULL ? " " : "",
            cmd != NULL ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd != NULL)
        fprintf(stderr, "usage: tpmkms %s%s%s\nTry 'tpmkms %s --help'.\n",
                cmd, cli->command->synopsis[0] != '\0' ? " " : "",
                cli->command->synopsis, cmd);
    else
        fprintf(stderr, "Try 'tpmkms --help'.\n");
    return CLI_EXIT_USAGE;
}

/* Sets *dst to value, refusing a second occurrence and empty values. */
static int set_value(const CLI *cli, const char *name, const char **dst,
                     const char *value)
{
    if (*dst != NULL)
        return cli_usage_error(cli, "option '--%s' given twice", name);
    if (value[0] == '\0')
        return cli_usage_error(cli, "option '--%s' needs a non-empty value",
                               name);
    *dst = value;
    return CLI_CONTINUE;
}

int cli_parse(CLI *cli, int argc, char **argv, const CLI_OPTION *opts,
              const char **pos, int max_pos, int *npos)
{
    int only_positional = 0;

    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const CLI_OPTION *o = NULL;
        const char *eq, *value;
        size_t namelen;
        int r;

        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            if (*npos >= max_pos)
                return cli_usage_error(cli, "unexpected argument '%s'", arg);
            pos[(*npos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_command_help(cli->command);
            return CLI_EXIT_OK;
        }
        if (arg[1] != '-')
            return cli_usage_error(cli, "unknown option '%s'", arg);

        eq = strchr(arg + 2, '=');
        namelen = eq != NULL ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
        if (strncmp(arg + 2, "tcti", namelen) == 0 && namelen == 4) {
            static const CLI_OPTION tcti_opt = { "tcti", "CONF", NULL, NULL };

            o = &tcti_opt;
        } else {
            for (const CLI_OPTION *k = opts; k != NULL && k->name != NULL; k++)
                if (strlen(k->name) == namelen
                    && strncmp(k->name, arg + 2, namelen) == 0)
                    o = k;
        }
        if (o == NULL)
            return cli_usage_error(cli, "unknown option '%.*s'",
                                   (int)(namelen + 2), arg);

        if (o->metavar == NULL) {
            if (eq != NULL)
                return cli_usage_error(cli, "option '--%s' takes no value",
                                       o->name);
            if (*o->flag)
                return cli_usage_error(cli, "option '--%s' given twice",
                                       o->name);
            *o->flag = 1;
            continue;
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_usage_error(cli, "option '--%s' needs a value (%s)",
                                   o->name, o->metavar);
        }
        r = set_value(cli, o->name, o->value != NULL ? o->value : &cli->tcti,
                      value);
        if (r != CLI_CONTINUE)
            return r;
    }
    return CLI_CONTINUE;
}

int cli_exit_code(tpmkms_rc rc)
{
    switch (rc) {
    case TPMKMS_R_OK:
        return CLI_EXIT_OK;
    case TPMKMS_R_KEY_NOT_FOUND:
        return CLI_EXIT_NOT_FOUND;
    case TPMKMS_R_PARTIAL_DELETE:
        return CLI_EXIT_PARTIAL_DELETE;
    case TPMKMS_R_REQUIRES_ELEVATION:
        return CLI_EXIT_ELEVATION;
    default:
        return CLI_EXIT_ERROR;
    }
}

int cli_fail(tpmkms_rc rc)
{
    const char *file, *func, *data;
    int line, flags, printed = 0;
    unsigned long e;
    char msg[1024];

    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        tpmkms_err_format(msg, sizeof(msg), e, data, flags);
        if (tpmkms_debug_enabled())
            fprintf(stderr, "tpmkms: %s (%s:%d %s)\n", msg,
                    file != NULL ? file : "?", line, func != NULL ? func : "?");
        else
            fprintf(stderr, "tpmkms: %s\n", msg);
        printed++;
    }
    /* A failure that raised nothing still deserves a line. */
    if (printed == 0)
        fprintf(stderr, "tpmkms: %s\n",
                rc == TPMKMS_R_OK ? "failed" : tpmkms_err_reason_string(rc));
    return rc == TPMKMS_R_OK ? CLI_EXIT_ERROR : cli_exit_code(rc);
}

char *cli_take_errors(char *buf, size_t len)
{
    return tpmkms_err_take_text(buf, len);
}

tpmkms_rc cli_ctx(CLI *cli, TPMKMS_CTX **out)
{
    if (cli->ctx == NULL) {
        cli->ctx = tpmkms_ctx_new(NULL, cli->tcti,
                                  tpmkms_backend_default_method());
        if (cli->ctx == NULL) {
            if (ERR_peek_error() == 0)
                TPMKMS_raise(TPMKMS_R_INTERNAL,
                             "cannot create the tpmkms library context");
            return TPMKMS_R_INTERNAL;
        }
    }
    *out = cli->ctx;
    return TPMKMS_R_OK;
}

tpmkms_rc cli_backend(CLI *cli, const TPMKMS_URI *uri, TPMKMS_BACKEND **out)
{
    TPMKMS_CTX *ctx;
    tpmkms_rc rc;

    if ((rc = cli_ctx(cli, &ctx)) != TPMKMS_R_OK)
        return rc;
    /* NULL was raised (ctx.h). */
    *out = tpmkms_ctx_backend_for_uri(ctx, uri);
    return *out != NULL ? TPMKMS_R_OK : TPMKMS_R_TPM_UNAVAILABLE;
}

int cli_parse_uri(const CLI *cli, const char *text, TPMKMS_URI **out)
{
    static const char scheme[] = TPMKMS_URI_SCHEME ":";
    tpmkms_rc rc;

    if (strncmp(text, scheme, sizeof(scheme) - 1) != 0)
        return cli_usage_error(cli, "'%s' is not a tpmkms: URI "
                               "(e.g. tpmkms:name=web)", text);
    rc = tpmkms_uri_parse(text, out);
    if (rc == TPMKMS_R_OK)
        return CLI_CONTINUE;
    /* The core's message names the attribute; a bad argument is usage. */
    cli_fail(rc);
    return rc == TPMKMS_R_BAD_URI ? CLI_EXIT_USAGE : cli_exit_code(rc);
}

static const CLI_COMMAND *find_command(const char *name)
{
    for (const CLI_COMMAND *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* A library context of our own with the default provider (cli.h). */
tpmkms_rc cli_libctx_new(OSSL_LIB_CTX **out)
{
    *out = OSSL_LIB_CTX_new();
    if (*out == NULL || OSSL_PROVIDER_load(*out, "default") == NULL) {
        OSSL_LIB_CTX_free(*out);
        *out = NULL;
        TPMKMS_raise(TPMKMS_R_INTERNAL, "cannot load OpenSSL's default "
                     "provider");
        return TPMKMS_R_INTERNAL;
    }
    return TPMKMS_R_OK;
}

/* OSSL_PROVIDER_do_all's collector for cli_libctx_free. */
typedef struct {
    OSSL_PROVIDER *prov[8];
    int n;
} PROV_LIST;

static int collect_provider(OSSL_PROVIDER *prov, void *arg)
{
    PROV_LIST *l = arg;

    if (l->n < (int)(sizeof(l->prov) / sizeof(l->prov[0])))
        l->prov[l->n++] = prov;
    return 1;
}

/*
 * Frees cli_libctx_new's context: the providers loaded into it (default, and
 * tpmkms for a tpmkms: CA key) are unloaded first, which
 * OSSL_LIB_CTX_free alone does not do (LeakSanitizer).
 */
void cli_libctx_free(OSSL_LIB_CTX *libctx)
{
    PROV_LIST l = { { NULL }, 0 };

    if (libctx == NULL)
        return;
    OSSL_PROVIDER_do_all(libctx, collect_provider, &l);
    while (l.n > 0)
        OSSL_PROVIDER_unload(l.prov[--l.n]);
    OSSL_LIB_CTX_free(libctx);
}


int main(int argc, char **argv)
{
    CLI cli = { 0 };
    int i, ret;

    tpmkms_err_init_standalone();
    /*
     * The backend's own log lines would repeat, less readably, what we
     * print from the error queue (see the backend's process_init).
     */
    tpmkms_backend_process_init(tpmkms_backend_default_method());

    /* Options before the command: --tcti, --version, --help. */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            print_main_usage(stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("tpmkms %s (%s)\n", TPMKMS_VERSION,
                   OpenSSL_version(OPENSSL_VERSION));
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "--tcti") == 0 || strncmp(arg, "--tcti=", 7) == 0) {
            const char *value = arg[6] == '=' ? arg + 7
                                : i + 1 < argc ? argv[++i] : NULL;

            if (value == NULL)
                return cli_usage_error(NULL, "option '--tcti' needs a value "
                                       "(CONF)");
            if ((ret = set_value(&cli, "tcti", &cli.tcti, value))
                != CLI_CONTINUE)
                return ret;
            continue;
        }
        return cli_usage_error(NULL, "unknown option '%s'", arg);
    }
    if (i >= argc) {
        fprintf(stderr, "tpmkms: missing the command\n");
        print_main_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        const CLI_COMMAND *c = i + 1 < argc ? find_command(argv[i + 1]) : NULL;

        if (i + 1 < argc && c == NULL)
            return cli_usage_error(NULL, "unknown command '%s'", argv[i + 1]);
        if (c != NULL)
            print_command_help(c);
        else
            print_main_usage(stdout);
        return CLI_EXIT_OK;
    }
    cli.command = find_command(argv[i]);
    if (cli.command == NULL)
        return cli_usage_error(NULL, "unknown command '%s'", argv[i]);

    ret = cli.command->run(&cli, argc - i, argv + i);
    tpmkms_ctx_free(cli.ctx);
    return ret;
}
