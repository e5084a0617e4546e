/*
 * Where a key's record and certificate live, and its canonical URI (see
 * locate.h for the rules).  Pure code apart from record.c's lookups.
 */
#include <string.h>
#include <openssl/crypto.h>
#include "locate.h"

tpmkms_scope tpmkms_locate_cert_scope(const TPMKMS_URI *uri,
                                      tpmkms_scope key_scope)
{
    if (uri->store_location != TPMKMS_SCOPE_UNSET)
        return uri->store_location;
    if (key_scope != TPMKMS_SCOPE_UNSET)
        return key_scope;
    return tpmkms_uri_key_scope(uri);
}

char *tpmkms_locate_cert_dir(const TPMKMS_URI *uri, tpmkms_scope key_scope)
{
    /* storage-directory overrides both: tpmkms_store_dir returns it. */
    return tpmkms_store_dir(tpmkms_locate_cert_scope(uri, key_scope),
                            uri->storage_directory);
}

char *tpmkms_locate_canonical_uri(const TPMKMS_URI *uri, tpmkms_scope scope)
{
    TPMKMS_URI copy = *uri;     /* shallow: only the string is made */
    char *text;

    copy.key_scope = scope;
    copy.pin_value = NULL;
    copy.pin_value_len = 0;
    if ((text = tpmkms_uri_to_string(&copy)) == NULL)
        TPMKMS_raise(TPMKMS_R_INTERNAL, "out of memory");
    return text;
}

void tpmkms_location_clear(TPMKMS_LOCATION *loc)
{
    if (loc == NULL)
        return;
    tpmkms_record_free(loc->rec);
    OPENSSL_free(loc->key_dir);
    OPENSSL_free(loc->cert_dir);
    OPENSSL_free(loc->uri);
    memset(loc, 0, sizeof(*loc));
}

tpmkms_rc tpmkms_locate_key(const TPMKMS_URI *uri, TPMKMS_LOCATION *loc)
{
    tpmkms_rc rc;

    memset(loc, 0, sizeof(*loc));
    if ((rc = tpmkms_record_resolve(uri, &loc->rec, &loc->key_dir))
            != TPMKMS_R_OK)
        goto err;
    if ((loc->uri = tpmkms_locate_canonical_uri(uri, loc->rec->scope)) == NULL) {
        rc = TPMKMS_R_INTERNAL;
        goto err;
    }
    loc->cert_scope = tpmkms_locate_cert_scope(uri, loc->rec->scope);
    if ((loc->cert_dir = tpmkms_locate_cert_dir(uri, loc->rec->scope)) == NULL) {
        rc = TPMKMS_R_STORE_IO;
        goto err;
    }
    return TPMKMS_R_OK;
 err:
    tpmkms_location_clear(loc);
    return rc;
}
