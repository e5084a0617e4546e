#!/usr/bin/env bash
# --json (docs/json.md): list, show and probe (and ak list, ak show) print
# one JSON object each that validates against its schema in docs/schema/
# (python3-jsonschema), with the values the text form shows; a damaged
# record is in list's "skipped" and still makes the exit code 1.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

PY=/usr/bin/python3
[[ -x $PY ]] && $PY -c 'import jsonschema' 2>/dev/null ||
    fail "missing: Debian's python3-jsonschema (/usr/bin/python3 -c 'import jsonschema'): run scripts/setup.sh"
require_program openssl
start_swtpm
W=$TPMKMS_WORK
SCHEMA=$TPMKMS_SOURCE_DIR/docs/schema

# valid NAME FILE: FILE validates against docs/schema/NAME.json.
valid() {
    $PY - "$SCHEMA/$1.json" "$2" <<'PYEOF' || fail "$2 does not validate against $1"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
PYEOF
}
# field FILE EXPR: a value of the JSON in FILE (a Python expression on d).
field() {
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

step "tpmkms probe --json"
tpmkms probe --json >"$W/probe.json"
valid tpmkms.probe.v1 "$W/probe.json"
[[ $(field "$W/probe.json" 'd["srk_persistent"]') == False ]] || fail "probe: srk_persistent before setup"
tpmkms setup >/dev/null
tpmkms probe --json >"$W/probe.json"
[[ $(field "$W/probe.json" 'd["srk_persistent"]') == True ]] || fail "probe: srk_persistent after setup"
[[ $(field "$W/probe.json" '"P-256" in d["algorithms"]["ecc_curves"]') == True ]] ||
    fail "probe: P-256 missing: $(cat "$W/probe.json")"

step "tpmkms list --json: an empty store, then keys of both scopes"
tpmkms list --json >"$W/list0.json"
valid tpmkms.list.v1 "$W/list0.json"
[[ $(field "$W/list0.json" 'len(d["keys"])') == 0 ]] || fail "list: keys in an empty store"
tpmkms create 'tpmkms:name=web' >/dev/null
tpmkms create 'tpmkms:name=vpn;key-scope=machine' --alg rsa-2048 --persistent 0x81000010 >/dev/null
tpmkms list --json >"$W/list.json"
valid tpmkms.list.v1 "$W/list.json"
[[ $(field "$W/list.json" 'sorted(k["uri"] for k in d["keys"])') == \
    "['tpmkms:name=vpn;key-scope=machine', 'tpmkms:name=web;key-scope=user']" ]] ||
    fail "list: $(cat "$W/list.json")"
[[ $(field "$W/list.json" '[k["persistent_handle"] for k in d["keys"] if k["name"] == "vpn"][0]') == 0x81000010 ]] ||
    fail "list: vpn's handle: $(cat "$W/list.json")"

step "tpmkms show --json, with and without a certificate"
tpmkms show 'tpmkms:name=web' --json >"$W/show.json"
valid tpmkms.show.v1 "$W/show.json"
[[ $(field "$W/show.json" 'd["certificate"]') == None ]] || fail "show: a certificate out of nowhere"
openssl pkey -provider tpmkms -provider default -pubin -in 'tpmkms:name=web' -pubout >"$W/web.pub"
[[ $(field "$W/show.json" 'd["public_key"]') == "$(cat "$W/web.pub")" ]] ||
    fail "show: the public key is not the key's"
openssl req -new -x509 -provider tpmkms -provider default -key 'tpmkms:name=web' \
    -subj '/CN=json "quoted" \\ name' -days 2 -out "$W/web.crt"
tpmkms cert import 'tpmkms:name=web' "$W/web.crt"
tpmkms show 'tpmkms:name=web' --json >"$W/show.json"
valid tpmkms.show.v1 "$W/show.json"
[[ $(field "$W/show.json" 'd["certificate"]["subject"]') == *'json "quoted" \ name'* ]] ||
    fail "show: the subject with quotes and a backslash: $(cat "$W/show.json")"

step "tpmkms ak list --json and ak show --json"
tpmkms ak create 'tpmkms:name=ak1' >/dev/null
tpmkms ak list --json >"$W/aks.json"
valid tpmkms.list.v1 "$W/aks.json"
[[ $(field "$W/aks.json" 'd["kind"] + " " + d["keys"][0]["name"]') == "ak ak1" ]] || fail "ak list: $(cat "$W/aks.json")"
tpmkms ak show 'tpmkms:name=ak1' --json >"$W/ak.json"
valid tpmkms.show.v1 "$W/ak.json"
[[ $(field "$W/ak.json" 'd["kind"], d["restricted"]') == "('ak', True)" ]] || fail "ak show: $(cat "$W/ak.json")"

step "a damaged record: in \"skipped\", exit 1, the good keys still listed"
printf 'garbage\n' >"$XDG_DATA_HOME/tpmkms/keys/broken.tpmkey"
chmod 600 "$XDG_DATA_HOME/tpmkms/keys/broken.tpmkey"
rc=0
tpmkms list --json >"$W/list2.json" 2>"$W/list2.err" || rc=$?
((rc == 1)) || fail "list --json with a damaged record: exit $rc, want 1"
valid tpmkms.list.v1 "$W/list2.json"
[[ $(field "$W/list2.json" 'd["skipped"][0]["path"].endswith("/broken.tpmkey"), len(d["keys"])') == "(True, 2)" ]] ||
    fail "list --json: $(cat "$W/list2.json")"
expect_fail 'takes no --json' tpmkms list --orphans --json
pass
