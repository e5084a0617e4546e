#!/usr/bin/env bash
# Debian's nginx serves HTTPS with its certificate key in the TPM and
# verifies clients whose keys are in the TPM too (mutual TLS), using the
# example configuration in examples/nginx/:
#
#   - nginx knows key files only: ssl_certificate_key is the TSS2 key file
#     `openssl pkey -out` wrote; OPENSSL_CONF activates default + tpmkms;
#   - four workers share one TPM straight on swtpm (no resource manager:
#     they take turns for its object slots): 200 concurrent requests from
#     software-key clients all get HTTP 200;
#   - four workers share one TPM through tpm2-abrmd (on a private D-Bus
#     session bus) with clients whose keys are in the same TPM: curl, with
#     its client key file, gets HTTP 200 over TLS 1.2 and 1.3, and 200
#     concurrent requests all succeed, signed by more than one worker;
#   - the certificate nginx serves carries the TPM key's public key, and
#     the TPM signs every handshake;
#   - a key with a PIN works with ssl_password_file;
#   - nginx refuses to start (error log naming the key file and the cause)
#     when the key file is missing or damaged, when tpmkms is not
#     activated, when the key's PIN is not given, and when its TPM is gone;
#     with tpm2-abrmd gone the handshakes fail naming the key and the TPM.
# Everything the test starts is stopped at exit, also on failure.
# shellcheck source=test/integration/helpers.sh
. "$(dirname "${BASH_SOURCE[0]}")/helpers.sh"

require_program nginx curl openssl dbus-daemon tpm2-abrmd tpm2_getcap \
    python3 timeout xargs ss cmp
start_swtpm
W=$TPMKMS_WORK
SWTPM_TCTI=$TPMKMS_TCTI
EX=$TPMKMS_SOURCE_DIR/examples/nginx
PKI=$W/pki
mkdir -p "$PKI"
TK=(-provider tpmkms -provider default)
SW=(-provider default)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# openssl_cnf FILE TCTI: examples/nginx/openssl.cnf with the build's module
# and the given TCTI.
openssl_cnf() {
    local file=$1 tcti=$2
    sed -e "s|^module = .*|module = $TPMKMS_BUILD_DIR/tpmkms.so|" \
        -e "s|^tcti = device:/dev/tpmrm0$|tcti = $tcti|" "$EX/openssl.cnf" >"$file"
    grep -qxF "tcti = $tcti" "$file" && grep -qxF "module = $TPMKMS_BUILD_DIR/tpmkms.so" "$file" ||
        fail "examples/nginx/openssl.cnf no longer has the module and tcti lines this test sets"
}

# nginx_conf NAME WORKERS PORT [KEY [PASSWORD_FILE]]: a prefix directory
# $W/NAME with nginx.conf around examples/nginx/tpmkms-site.conf.
nginx_conf() {
    local name=$1 workers=$2 port=$3 key=${4:-$PKI/www.key} pwfile=${5:-}
    local p=$W/$name user=''
    mkdir -p "$p/tmp"
    sed -e "s|^    listen 443 ssl;|    listen 127.0.0.1:$port ssl;|" \
        -e "s|/etc/nginx/tpmkms/www.key;|$key;|" \
        -e "s|/etc/nginx/tpmkms/|$PKI/|" "$EX/tpmkms-site.conf" >"$p/site.conf"
    if [[ -n $pwfile ]]; then
        sed -i "s|^    # ssl_password_file .*|    ssl_password_file $pwfile;|" "$p/site.conf"
        grep -q "ssl_password_file $pwfile;" "$p/site.conf" ||
            fail "examples/nginx/tpmkms-site.conf has no ssl_password_file line to enable"
    fi
    grep -q "listen 127.0.0.1:$port ssl;" "$p/site.conf" ||
        fail "examples/nginx/tpmkms-site.conf no longer has 'listen 443 ssl;'"
    # As root, workers run as root too: the D-Bus session bus admits only
    # its own user.
    if ((EUID == 0)); then user='user root root;'; fi
    cat >"$p/nginx.conf" <<EOF
$user
worker_processes $workers;
daemon off;
pid $p/nginx.pid;
error_log $p/error.log info;
# nginx clears the workers' environment but for these.
env DBUS_SESSION_BUS_ADDRESS;
env TPMKMS_DEBUG;
events { worker_connections 256; }
http {
    access_log $p/access.log;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    include $p/site.conf;
}
EOF
}

NGINX_PID=
# start_nginx NAME CNF: starts nginx (foreground master, in the
# background) with OPENSSL_CONF=CNF and TPMKMS_DEBUG; waits until it
# listens.  Sets NGINX_PID.
start_nginx() {
    local name=$1 cnf=$2 p=$W/$1 port workers
    port=$(sed -n 's/^    listen 127.0.0.1:\([0-9]*\) ssl;/\1/p' "$p/site.conf")
    workers=$(sed -n 's/^worker_processes \([0-9]*\);/\1/p' "$p/nginx.conf")
    : >"$p/error.log"
    OPENSSL_CONF=$cnf TPMKMS_DEBUG=1 nginx -p "$p" -c "$p/nginx.conf" -e "$p/error.log" \
        >"$p/stderr.log" 2>&1 &
    NGINX_PID=$!
    on_exit "stop_nginx $NGINX_PID"
    for _ in $(seq 100); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            cat "$p/error.log" "$p/stderr.log" >&2
            fail "nginx ($name) exited at start"
        fi
        if ss -Hltn "sport = :$port" | grep -q LISTEN &&
            [[ $(grep -c 'start worker process [0-9]' "$p/error.log") == "$workers" ]]; then
            return 0
        fi
        sleep 0.1
    done
    fail "nginx ($name) does not listen on port $port with $workers workers"
}

# stop_nginx PID: stops a master started here and waits for its workers.
stop_nginx() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -QUIT "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    pkill -KILL -P "$pid" 2>/dev/null
}

# nginx_refuses NAME CNF REGEX...: nginx must fail to start (exit 1 in
# bounded time, nothing listening) and its error log must match each REGEX.
nginx_refuses() {
    local name=$1 cnf=$2 p=$W/$1 rc=0 port re
    shift 2
    port=$(sed -n 's/^    listen 127.0.0.1:\([0-9]*\) ssl;/\1/p' "$p/site.conf")
    : >"$p/error.log"
    OPENSSL_CONF=$cnf timeout 30 nginx -p "$p" -c "$p/nginx.conf" -e "$p/error.log" \
        >"$p/stderr.log" 2>&1 || rc=$?
    ((rc == 1)) || {
        cat "$p/error.log" >&2
        fail "nginx ($name) should have refused to start, exit $rc"
    }
    ! ss -Hltn "sport = :$port" | grep -q LISTEN || fail "something listens on $port"
    for re in "$@"; do
        grep -Eq -- "$re" "$p/error.log" || {
            cat "$p/error.log" >&2
            fail "nginx ($name): error log does not match /$re/"
        }
    done
    printf '   nginx refused to start: %s\n' "$(grep -m1 emerg "$p/error.log" | cut -c1-240)"
}

# fetch PORT CNF [curl options]: one HTTPS request with the TPM client key;
# prints the HTTP code and body.
fetch() {
    local port=$1 cnf=$2
    shift 2
    OPENSSL_CONF=$cnf curl -sS --max-time 20 --cacert "$PKI/ca.crt" \
        --cert "$PKI/alice.crt" --key "$PKI/alice.key" \
        --resolve "www.example.org:$port:127.0.0.1" "$@" \
        -w '%{http_code}\n' "https://www.example.org:$port/"
}

# server_signatures DIR: one line per TPM2_Sign of the server key in
# DIR/error.log (workers' TPMKMS_DEBUG output), the signing pid on each.
server_signatures() {
    grep -o 'tpmkms\[[0-9]*\] [a-z_]*: TPM2_Sign ECDSA with SHA-256 on ec-p256' "$1/error.log" |
        sed 's/^tpmkms\[\([0-9]*\)\].*/\1/' || true
}

# concurrent NAME PORT CNF CERT KEY: 200 HTTPS requests, 8 at a time, from
# curl with OPENSSL_CONF=CNF and that client certificate and key: all must
# get HTTP 200 (each handshake signed with a key that exists only in the
# TPM), nginx must log no failed handshake, and the TPM signatures must
# come from at least two workers.
concurrent() {
    local name=$1 port=$2 cnf=$3 cert=$4 key=$5 p=$W/$1 ok before after workers
    before=$(server_signatures "$p" | wc -l)
    seq 200 | xargs -P 8 -I{} env OPENSSL_CONF="$cnf" curl -sS --max-time 30 -o /dev/null \
        --cacert "$PKI/ca.crt" --cert "$cert" --key "$key" \
        --resolve "www.example.org:$port:127.0.0.1" -w '%{http_code}\n' \
        "https://www.example.org:$port/?{}" >"$p/codes" 2>"$p/codes.err" || true
    ok=$(grep -cx 200 "$p/codes" || true)
    ((ok == 200)) || {
        sort "$p/codes" | uniq -c >&2
        head "$p/codes.err" >&2
        grep -E '\[(crit|alert|emerg)\]' "$p/error.log" | head -3 >&2
        fail "$name: $ok of 200 requests got HTTP 200"
    }
    if grep -Eq 'SSL_do_handshake\(\) failed|\[(crit|alert|emerg)\]' "$p/error.log"; then
        grep -E 'SSL_do_handshake|\[(crit|alert|emerg)\]' "$p/error.log" | head >&2
        fail "$name: nginx logged failed handshakes"
    fi
    # Workers' debug lines can interleave in the shared log and a few get
    # garbled, so most, not all, of the 200 signatures are counted here.
    after=$(server_signatures "$p" | wc -l)
    ((after - before >= 180)) ||
        fail "$name: only $((after - before)) server signatures in the TPM for 200 handshakes"
    workers=$(server_signatures "$p" | sort -u | wc -l)
    ((workers >= 2)) || fail "$name: only $workers worker(s) signed: the TPM was not shared"
    printf '   200/200 HTTP 200; %d server signatures in the TPM logged, from %d workers\n' \
        "$((after - before))" "$workers"
}

step "tpmkms setup; a software CA; the server key (EC P-256) and a client key (RSA 2048) in the TPM"
tpmkms setup
openssl req -x509 "${SW[@]}" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$PKI/ca.key" -subj /CN=tpmkms-test-ca -days 2 -out "$PKI/ca.crt" 2>/dev/null
cp "$PKI/ca.crt" "$PKI/clients-ca.crt"
# issue NAME SUBJECT EXT: a certificate for the TPM key NAME, signed by the CA.
issue() {
    local name=$1 subj=$2 ext=$3
    openssl pkey "${TK[@]}" -in "tpmkms:name=$name" -out "$PKI/$name.key"
    head -n1 "$PKI/$name.key" | grep -qxF -- '-----BEGIN TSS2 PRIVATE KEY-----' ||
        fail "$name.key is not a TSS2 key file"
    openssl pkey "${TK[@]}" -in "tpmkms:name=$name" -pubout -out "$PKI/$name.pub"
    openssl req -new "${TK[@]}" -key "tpmkms:name=$name" -subj "$subj" -out "$PKI/$name.csr"
    printf '%s\n' "$ext" >"$PKI/$name.ext"
    openssl x509 -req "${SW[@]}" -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
        -CAcreateserial -days 1 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
}
tpmkms create 'tpmkms:name=www' --alg ec-p256 >/dev/null
tpmkms create 'tpmkms:name=alice' --alg rsa-2048 >/dev/null
issue www /CN=www.example.org $'subjectAltName=DNS:www.example.org\nextendedKeyUsage=serverAuth'
issue alice /CN=alice 'extendedKeyUsage=clientAuth'
write_openssl_cnf "$W/both.cnf" default-first
sed '/^tpmkms = tpmkms_sect$/d' "$W/both.cnf" >"$W/no-tpmkms-client.cnf"

step "four workers straight on swtpm (no resource manager): 200 concurrent requests, all HTTP 200"
openssl_cnf "$W/swtpm.cnf" "$SWTPM_TCTI"
port=$(free_port)
nginx_conf direct 4 "$port"
start_nginx direct "$W/swtpm.cnf"
# Only nginx uses this TPM: its clients' keys are software keys here (on a
# TPM without resource manager they would compete for its object slots).
openssl req -new "${SW[@]}" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$PKI/bob.key" -subj /CN=bob -out "$PKI/bob.csr" 2>/dev/null
openssl x509 -req "${SW[@]}" -in "$PKI/bob.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 1 -out "$PKI/bob.crt" 2>/dev/null
out=$(env -u OPENSSL_CONF curl -sS --max-time 20 --cacert "$PKI/ca.crt" --cert "$PKI/bob.crt" \
    --key "$PKI/bob.key" --resolve "www.example.org:$port:127.0.0.1" \
    -w '%{http_code}\n' "https://www.example.org:$port/")
[[ $out == $'hello CN=bob\n200' ]] || fail "four workers on swtpm: got '$out'"
concurrent direct "$port" "$W/no-tpmkms-client.cnf" "$PKI/bob.crt" "$PKI/bob.key"
stop_nginx "$NGINX_PID"

step "tpm2-abrmd on a private D-Bus session bus brokers the TPM for every process"
bus=$(dbus-daemon --session --fork --print-address=1 --print-pid=1)
bus_pid=$(sed -n 2p <<<"$bus")
[[ $bus_pid =~ ^[0-9]+$ ]] || fail "dbus-daemon did not start: $bus"
on_exit "kill $bus_pid 2>/dev/null"
export DBUS_SESSION_BUS_ADDRESS
DBUS_SESSION_BUS_ADDRESS=$(sed -n 1p <<<"$bus")
abrmd_opts=(--session "--tcti=$SWTPM_TCTI")
if ((EUID == 0)); then abrmd_opts+=(--allow-root); fi
tpm2-abrmd "${abrmd_opts[@]}" >"$W/abrmd.log" 2>&1 &
abrmd_pid=$!
on_exit "kill $abrmd_pid 2>/dev/null; wait $abrmd_pid 2>/dev/null"
ABRMD_TCTI=tabrmd:bus_type=session
for _ in $(seq 100); do
    kill -0 "$abrmd_pid" 2>/dev/null || { cat "$W/abrmd.log" >&2; fail "tpm2-abrmd exited"; }
    tpm2_getcap -T "$ABRMD_TCTI" properties-fixed >/dev/null 2>&1 && break
    sleep 0.1
done
tpm2_getcap -T "$ABRMD_TCTI" properties-fixed >/dev/null || fail "tpm2-abrmd does not answer"
export TPMKMS_TCTI=$ABRMD_TCTI TPM2TOOLS_TCTI=$ABRMD_TCTI
openssl_cnf "$W/abrmd.cnf" "$ABRMD_TCTI"

step "four workers through tpm2-abrmd: curl with its key file in the TPM gets HTTP 200 (TLS 1.3 and 1.2)"
port=$(free_port)
nginx_conf four 4 "$port"
start_nginx four "$W/abrmd.cnf"
for v in "--tlsv1.3" "--tlsv1.2 --tls-max 1.2"; do
    # shellcheck disable=SC2086 # two options in one word on purpose
    out=$(TPMKMS_DEBUG=1 fetch "$port" "$W/abrmd.cnf" $v 2>"$W/curl.log") || {
        cat "$W/curl.log" "$W/four/error.log" >&2
        fail "curl $v failed"
    }
    [[ $out == $'hello CN=alice\n200' ]] || fail "curl $v: got '$out'"
    grep -q 'der_decode: decoded TSS2 key file (rsa-2048' "$W/curl.log" &&
        grep -q 'TPM2_Sign RSASSA-[A-Z0-9]* with SHA-256 on rsa-2048' "$W/curl.log" ||
        fail "curl $v: the client key was not used in the TPM:"$'\n'"$(cat "$W/curl.log")"
done

step "the certificate nginx serves has the TPM key's public key"
openssl s_client "${SW[@]}" -connect "127.0.0.1:$port" -servername www.example.org \
    </dev/null 2>/dev/null | openssl x509 -pubkey -noout >"$W/served.pub"
cmp -s "$W/served.pub" "$PKI/www.pub" || fail "the served certificate's key is not tpmkms:name=www"

step "200 concurrent HTTPS requests (8 at a time), client keys in the TPM too: all 200, several workers signing"
concurrent four "$port" "$W/abrmd.cnf" "$PKI/alice.crt" "$PKI/alice.key"
stop_nginx "$NGINX_PID"

step "a server key with a PIN: nginx starts with ssl_password_file, and refuses without it"
tpmkms create 'tpmkms:name=pinned;pin-value=2468' --alg ec-p256 >/dev/null
openssl pkey "${TK[@]}" -in 'tpmkms:name=pinned;pin-value=2468' -out "$PKI/pinned.key"
openssl req -new "${TK[@]}" -key 'tpmkms:name=pinned;pin-value=2468' -subj /CN=www.example.org \
    -out "$PKI/pinned.csr"
openssl x509 -req "${SW[@]}" -in "$PKI/pinned.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 1 -extfile "$PKI/www.ext" -out "$PKI/pinned.crt" 2>/dev/null
printf '2468\n' >"$PKI/pinned.pin"
port=$(free_port)
nginx_conf pinned 2 "$port" "$PKI/pinned.key" "$PKI/pinned.pin"
sed -i "s|$PKI/www.crt;|$PKI/pinned.crt;|" "$W/pinned/site.conf"
start_nginx pinned "$W/abrmd.cnf"
out=$(fetch "$port" "$W/abrmd.cnf") || fail "curl to the PIN-protected server failed"
[[ $out == $'hello CN=alice\n200' ]] || fail "PIN-protected server: got '$out'"
stop_nginx "$NGINX_PID"
nginx_conf pinned-nopin 2 "$(free_port)" "$PKI/pinned.key"
sed -i "s|$PKI/www.crt;|$PKI/pinned.crt;|" "$W/pinned-nopin/site.conf"
nginx_refuses pinned-nopin "$W/abrmd.cnf" \
    "cannot load certificate key \"$PKI/pinned.key\"" \
    'TSS2 key file \(ec-p256, parent 0x81000001, with auth value\) has an auth value .*none was given'

step "a missing or damaged key file: nginx refuses to start, naming the file and the fault"
nginx_conf missing 1 "$(free_port)" "$PKI/nowhere.key"
nginx_refuses missing "$W/abrmd.cnf" "cannot load certificate key \"$PKI/nowhere.key\".*No such file"
head -c 300 "$PKI/www.key" >"$PKI/damaged.key"
nginx_conf damaged 1 "$(free_port)" "$PKI/damaged.key"
nginx_refuses damaged "$W/abrmd.cnf" \
    "cannot load certificate key \"$PKI/damaged.key\".*bad TSS2 key file.*PEM block is malformed"

step "tpmkms not activated in OPENSSL_CONF: nginx refuses the key file (no software key stands in)"
nginx_conf notpmkms 1 "$(free_port)"
nginx_refuses notpmkms "$W/no-tpmkms-client.cnf" "cannot load certificate key \"$PKI/www.key\""

step "the TPM gone (a device TCTI that does not answer): nginx refuses to start, naming the key and the TPM"
openssl_cnf "$W/dead.cnf" 'swtpm:host=127.0.0.1,port=1'
nginx_conf dead 4 "$(free_port)"
nginx_refuses dead "$W/dead.cnf" \
    "cannot load certificate key \"$PKI/www.key\"" \
    'cannot open the TPM through TCTI "swtpm:host=127.0.0.1,port=1"' \
    'TSS2 key file \(ec-p256, parent 0x81000001\): the TPM that holds this key cannot be reached'

step "tpm2-abrmd gone under a running nginx: handshakes fail, the error log names the key and the TPM"
port=$(free_port)
nginx_conf gone 1 "$port"
start_nginx gone "$W/abrmd.cnf"
# The worker serves (and so connects to the TPM) before abrmd goes.
for _ in 1 2; do
    out=$(fetch "$port" "$W/abrmd.cnf") || fail "curl before stopping abrmd failed"
    [[ $out == $'hello CN=alice\n200' ]] || fail "before stopping abrmd: got '$out'"
done
kill "$abrmd_pid"
wait "$abrmd_pid" 2>/dev/null || true
if out=$(env -u OPENSSL_CONF curl -sS --max-time 20 --cacert "$PKI/ca.crt" \
        --resolve "www.example.org:$port:127.0.0.1" "https://www.example.org:$port/" 2>&1); then
    fail "a handshake succeeded without the TPM: $out"
fi
for _ in $(seq 50); do
    grep -q 'SSL_do_handshake() failed' "$W/gone/error.log" && break
    sleep 0.1
done
grep -Eq 'SSL_do_handshake\(\) failed .*tpmkms::TPM unavailable:TSS2 key file \(ec-p256, parent 0x81000001\): TPM2_Sign failed: .*TCTI "tabrmd:bus_type=session"' \
    "$W/gone/error.log" || {
    cat "$W/gone/error.log" >&2
    fail "the error log does not name the key and the TPM"
}
printf '   %s\n' "$(grep -m1 'SSL_do_handshake() failed' "$W/gone/error.log" | cut -c1-240)"
stop_nginx "$NGINX_PID"

pass
