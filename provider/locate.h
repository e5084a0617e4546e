/*
 * Where a key lives: its record, its certificate chain, and the URI that
 * is handed back for it.  The one place these rules are computed; the
 * store loader, the key, the tpmkms command and the lifecycle functions
 * all ask here.
 *
 * The rules (README "key-scope and store-location"):
 *   - the record is found by tpmkms_record_resolve (record.c);
 *   - storage-directory, when given, holds the record and the
 *     certificate both;
 *   - else the certificate lives in the store store-location names;
 *   - else in the store of the key's scope: the scope its record keeps,
 *     or, when the record is not known, the URI's
 *     (tpmkms_uri_key_scope: key-scope, else user);
 *   - every URI handed back carries key-scope= and never pin-value=.
 */
#ifndef TPMKMS_LOCATE_H
#define TPMKMS_LOCATE_H

#include "errors.h"
#include "record.h"
#include "uri.h"

/*
 * The directory whose certs/ holds the key's certificate chain, by the
 * rules above.  key_scope: the scope of the key's record, or
 * TPMKMS_SCOPE_UNSET when it is not known.  OPENSSL_malloc'd; NULL
 * (raised) on failure.
 */
char *tpmkms_locate_cert_dir(const TPMKMS_URI *uri, tpmkms_scope key_scope);

/*
 * The scope of the store that holds the key's certificate, by the same
 * rules (storage-directory aside): store-location, else key_scope, else
 * the URI's key scope.  Decides who may write it.
 */
tpmkms_scope tpmkms_locate_cert_scope(const TPMKMS_URI *uri,
                                      tpmkms_scope key_scope);

/*
 * The canonical URI of a key: uri with key-scope set to scope and without
 * pin-value.  OPENSSL_malloc'd; NULL (raised) on allocation failure.
 */
char *tpmkms_locate_canonical_uri(const TPMKMS_URI *uri, tpmkms_scope scope);

/* Everything tpmkms_locate_key finds for a name= URI. */
typedef struct tpmkms_location_st {
    TPMKMS_RECORD *rec;          /* the key's record */
    char *key_dir;               /* the store directory holding it */
    char *cert_dir;              /* the directory of its certificate */
    tpmkms_scope cert_scope;     /* the scope of that store */
    char *uri;                   /* its canonical URI */
} TPMKMS_LOCATION;

/*
 * Finds the key a name= URI names (tpmkms_record_resolve, whose reasons
 * and messages it passes up) and fills loc.  On failure loc is left
 * cleared.  Release with tpmkms_location_clear.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_locate_key(const TPMKMS_URI *uri, TPMKMS_LOCATION *loc);
void tpmkms_location_clear(TPMKMS_LOCATION *loc);

#endif
