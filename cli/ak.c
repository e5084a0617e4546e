/*
 * tpmkms ak create | list | show | delete: attestation keys (AKs).
 *
 * An AK is a restricted signing key: the TPM signs with it only what it
 * made itself (certifications of other keys, quotes), so a verifier can
 * trust that what an AK signed came from this TPM.  It is stored, scoped
 * and deleted exactly as keys are, by the same code (keys.c's *_kind
 * functions over the library's tpmkms_key_create_ex and
 * tpmkms_key_delete_kind), with kind: ak in its record.  The key
 * commands and the ak commands keep to their own kind: neither creates
 * over, shows or deletes the other's.
 */
#include <string.h>
#include "cli.h"
#include "record.h"

int cli_cmd_ak(CLI *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(CLI *cli, int argc, char **argv, tpmkms_key_kind kind);
    } subs[] = {
        { "create", cli_create_kind },
        { "list", cli_list_kind },
        { "show", cli_show_kind },
        { "delete", cli_delete_kind },
    };

    if (argc < 2)
        return cli_usage_error(cli, "missing the subcommand (create, list, "
                               "show or delete)");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        char *help[] = { argv[0], argv[1] };
        int npos;

        return cli_parse(cli, 2, help, NULL, NULL, 0, &npos);
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].run(cli, argc - 1, argv + 1, TPMKMS_KIND_AK);
    return cli_usage_error(cli, "unknown subcommand '%s' (expected create, "
                           "list, show or delete)", argv[1]);
}
