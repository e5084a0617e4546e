#!/usr/bin/env bash
# The bad-input table (issue 20): every row of test/bad_inputs.tsv is run
# against a swtpm with a few keys and files made here, and must end with
# exactly its exit code (never a crash, a hang or a success) and an output
# matching its message.  docs/errors.md is made from the same table by
# scripts/errors_doc.sh; this test also fails when that page is out of date.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program openssl timeout mkfifo
TABLE=$TPMKMS_SOURCE_DIR/test/bad_inputs.tsv
[[ -r $TABLE ]] || fail "no table at $TABLE"
start_swtpm
W=$TPMKMS_WORK
TPM="-provider tpmkms -provider default"
export W TPM

step "fixtures: keys web and pinned, the attestation key att, certificates, damaged files, a FIFO, a shared PIN file, bad openssl.cnf files"
tpmkms setup >/dev/null
tpmkms create 'tpmkms:name=web' >/dev/null
tpmkms create 'tpmkms:name=pinned;pin-value=1234' >/dev/null
tpmkms ak create 'tpmkms:name=att' >/dev/null
openssl dgst -sha256 -binary -out "$W/dg" /etc/hostname
# shellcheck disable=SC2086
openssl req -x509 $TPM -key 'tpmkms:name=web' -subj /CN=web -out "$W/cert.pem"
tpmkms cert import 'tpmkms:name=web' "$W/cert.pem" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout /dev/null -subj /CN=other -out "$W/other.pem" 2>/dev/null
printf -- '-----BEGIN TSS2 PRIVATE KEY-----\nAAAA\n-----END TSS2 PRIVATE KEY-----\n' >"$W/badkey.pem"
sed -n '/BEGIN TSS2/,/END TSS2/p' "$XDG_DATA_HOME/tpmkms/keys/web.tpmkey" |
    head -c 150 >"$W/truncated.pem"
printf '\n-----END TSS2 PRIVATE KEY-----\n' >>"$W/truncated.pem"
mkfifo -m 600 "$W/fifo"
printf '1234\n' >"$W/pin644"
chmod 644 "$W/pin644"
# A record whose algorithm line contradicts its key (a P-384 key).
tpmkms create "tpmkms:name=lies;storage-directory=$W/damaged" --alg ec-p384 >/dev/null
sed -i 's/^algorithm: ec-p384$/algorithm: ec-p256/' "$W/damaged/keys/lies.tpmkey"

# openssl.cnf files activating tpmkms with one bad setting each:
# $W/bad-<setting>.cnf (the rows' messages show the values).
while IFS='|' read -r setting line; do
    write_openssl_cnf "$W/bad-$setting.cnf"
    sed -i "s|^\[tpmkms_sect\]\$|[tpmkms_sect]\n$line|" "$W/bad-$setting.cnf"
    grep -qxF "$line" "$W/bad-$setting.cnf" || fail "could not write '$line' into $W/bad-$setting.cnf"
done <<'CNF'
tcti|tcti =
tpm-timeout|tpm-timeout = 2s
user-store|user-store = relative/dir
machine-store|machine-store = var/lib/tpmkms
machine-group|machine-group = tpmkms-no-such-group
owner-auth-file|owner-auth-file = owner.pw
debug|debug = maybe
unknown|tcit = swtpm:port=2321
CNF

step "every row of the table"
n=0
while IFS=$'\t' read -r want regex cmd advice; do
    [[ -z $want || $want == \#* ]] && continue
    n=$((n + 1))
    [[ -n $advice ]] || fail "row $n has no 'what to do': $cmd"
    rc=0
    out=$(timeout 60 bash -c "$cmd" 2>&1 </dev/null) || rc=$?
    if ((rc != want)); then
        printf -- '--- row %d output ---\n%s\n---\n' "$n" "$out" >&2
        fail "row $n: expected exit $want, got $rc: $cmd"
    fi
    if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$out"; then
        printf '%s\n' "$out" >&2
        fail "row $n: sanitizer report: $cmd"
    fi
    grep -Eaq -- "$regex" <<<"$out" || {
        printf -- '--- row %d output ---\n%s\n---\n' "$n" "$out" >&2
        fail "row $n: no match for /$regex/: $cmd"
    }
done <"$TABLE"
((n >= 60)) || fail "the table has $n rows; the issue asks for at least 60"
printf '   %d bad inputs: every exit code and message as listed\n' "$n"

step "docs/errors.md is the table's page"
"$TPMKMS_SOURCE_DIR/scripts/errors_doc.sh" - >"$W/errors.md"
diff -u "$TPMKMS_SOURCE_DIR/docs/errors.md" "$W/errors.md" >&2 ||
    fail "docs/errors.md is out of date: run scripts/errors_doc.sh"

pass
