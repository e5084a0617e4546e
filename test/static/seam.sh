#!/usr/bin/env bash
# The backend seam, proved by grep: above provider/esys/ (the tpm2-tss
# backend) no file includes a tss2 header or the backend's own header, or
# calls into tpm2-tss.  Fails naming each offending line.
#   bash test/static/seam.sh [SOURCE_DIR]
set -uo pipefail
src=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$src" || exit 1
[[ -d provider/esys ]] || { echo "seam: no provider/esys in $src" >&2; exit 1; }

bad=0
check() {
    local what=$1 pattern=$2 hits
    hits=$(grep -rnE --include='*.c' --include='*.h' "$pattern" provider cli |
        grep -v '^provider/esys/')
    if [[ -n $hits ]]; then
        printf 'seam: %s outside provider/esys/:\n%s\n' "$what" "$hits" >&2
        bad=1
    fi
}
check "a tss2 header" '#[[:space:]]*include[[:space:]]*<tss2/'
check "the ESYS backend's header" '#[[:space:]]*include[[:space:]]*"(esys/)?esys\.h"'
check "a tpm2-tss call or type" '\b(Esys_|Tss2_|Fapi_)[A-Za-z_]+[[:space:]]*\(|\bESYS_(TR|CONTEXT)\b|\bTSS2_(RC|TCTI_CONTEXT)\b'
# The seam itself knows no key format: backend.h does not include the
# TSS2 PRIVATE KEY reader (key material is opaque above the backend).
if grep -nE '#[[:space:]]*include[[:space:]]*"tss2key\.h"' provider/backend.h >&2; then
    echo "seam: provider/backend.h includes tss2key.h" >&2
    bad=1
fi
n=$(grep -rlE '#[[:space:]]*include[[:space:]]*<tss2/' provider/esys | wc -l)
if ((bad == 0)); then
    echo "seam: tss2 headers are included by $n file(s), all in provider/esys/; nothing above the seam calls tpm2-tss"
fi
exit $bad
