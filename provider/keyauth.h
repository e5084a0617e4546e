/*
 * A key's auth value: whether one is missing, and asking the application
 * for it.  One policy for every way a key is loaded (the store loader for
 * tpmkms: URIs, the decoder for key files):
 *
 *   A key known to have an auth value (emptyAuth false, not a persistent
 *   handle, whose auth the TPM alone knows about) and holding none (no
 *   pin-value=/pin-source=) is asked for it through the application's
 *   passphrase callback (openssl -passin/-pass, nginx ssl_password_file,
 *   a prompt).  No callback, or no answer, fails the load with
 *   TPMKMS_R_AUTH_FAILED naming the key and how to pass the value, before
 *   anything is sent to the TPM.
 *
 * Failing at load rather than at the first signature: a server (nginx,
 * s_server) then refuses to start with that message instead of failing
 * every handshake, and no signature is ever tried without the value (a
 * wrong one counts toward the TPM's dictionary-attack lockout).  The
 * public half of such a key stays readable without it through `tpmkms
 * show`, which needs no auth value.
 */
#ifndef TPMKMS_KEYAUTH_H
#define TPMKMS_KEYAUTH_H

#include <openssl/core.h>
#include "errors.h"
#include "key.h"

/*
 * 1 if signing with key needs an auth value it does not hold: its
 * material says it has one (emptyAuth false in a TSS2 key), it is not used
 * through a persistent handle, and no auth value was set.  Else 0.
 */
int tpmkms_key_needs_auth(const TPMKMS_KEY *key);

/*
 * Applies the policy above: nothing to do unless tpmkms_key_needs_auth;
 * then asks pw_cb (may be NULL) and sets what it answers as the key's
 * auth value (an empty answer is an empty auth value).  Returns
 * TPMKMS_R_OK, or TPMKMS_R_AUTH_FAILED (raised) when no value was given.
 */
TPMKMS_MUST_CHECK
tpmkms_rc tpmkms_key_ask_auth(TPMKMS_KEY *key, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                              void *pw_cbarg);

#endif
