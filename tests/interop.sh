#!/usr/bin/env bash
# Interop: the real h2ring binary against curl --http2, nghttp, h2load,
# openssl s_client and headless Chromium (tests/browser.py), on loopback,
# serving a copy of the repo's content/ plus a 1 MiB static/big.bin.
# Usage: tests/interop.sh PATH/TO/h2ring
# A missing tool is skipped with a loud message, and fails when CI is set.
# Chromium's screenshots go to target/browser/<build>-*.png, <build> being
# $H2RING_BUILD or else the backend the server reports (io_uring, epoll).
set -uo pipefail

BIN=${1:?usage: tests/interop.sh PATH/TO/h2ring}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pass=0
fail=0
server_pid=
rotate_pid=

cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid"; wait "$server_pid" 2>/dev/null; fi
  if [ -n "$rotate_pid" ] && kill -0 "$rotate_pid" 2>/dev/null; then kill "$rotate_pid"; wait "$rotate_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

have() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ -n "${CI:-}" ]; then
    bad "$1 is not installed (apt-get install $2)"
  else
    echo "SKIPPED: $1 is not installed (apt-get install $2); its interop checks did not run" >&2
  fi
  return 1
}

# The large-body checks fetch /static/big.bin: deterministic bytes of every
# value but 251-255, served as application/octet-stream (not compressed).
content="$work/content"
cp -r "$repo/content" "$content" || { echo "interop: cannot copy $repo/content"; exit 1; }
mkdir -p "$content/static"
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 31) % 251 for i in range(1 << 20)))' >"$content/static/big.bin" ||
  { echo "interop: python3 is needed to write static/big.bin"; exit 1; }
site_title=$(sed -n 's/^title:[[:space:]]*//p' "$content/site.conf" 2>/dev/null | head -1)

"$BIN" --listen 127.0.0.1:0 --h2c-listen 127.0.0.1:0 --redirect-listen 127.0.0.1:0 --public-host blog.example \
  --workers 2 --certs-dir "$work/certs" --content "$content" 2>"$work/log" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.1; done
line=$(grep "listening on" "$work/log") || { cat "$work/log"; echo "h2ring did not start"; exit 1; }
tls=$(sed -E 's|.*https://127\.0\.0\.1:([0-9]+).*|\1|' <<<"$line")
h2c=$(sed -E 's|.*h2c://127\.0\.0\.1:([0-9]+).*|\1|' <<<"$line")
redirect=$(sed -E 's|.*redirect=http://127\.0\.0\.1:([0-9]+).*|\1|' <<<"$line")
cert="$work/certs/dev-cert.pem"
url="https://localhost:$tls"
echo "interop: $line"

big=/static/big.bin

if have curl curl; then
  got=$(curl -sS --http2 --cacert "$cert" --resolve "localhost:$tls:127.0.0.1" -o "$work/page" -w '%{http_version} %{http_code}' "$url/")
  [ "$got" = "2 200" ] && grep -qF "<title>$site_title</title>" "$work/page" &&
    ok "curl --http2 over TLS: $got" || bad "curl --http2 over TLS: $got, $(grep -o '<title>[^<]*</title>' "$work/page")"
  got=$(curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' "http://127.0.0.1:$h2c/")
  [ "$got" = "2 200" ] && ok "curl --http2-prior-knowledge (h2c): $got" || bad "curl h2c: $got"
  got=$(curl -sS --http2 --cacert "$cert" --resolve "localhost:$tls:127.0.0.1" -o "$work/big" -w '%{http_code} %{size_download}' "$url$big")
  if [ "$got" = "200 1048576" ] && cmp -s "$work/big" "$content/static/big.bin"; then
    ok "curl 1 MiB body ($big): $got"
  else
    bad "curl 1 MiB body ($big): $got$(cmp "$work/big" "$content/static/big.bin" 2>&1 | sed 's/^/, /')"
  fi
  got=$(curl -sS --http2 --cacert "$cert" --resolve "localhost:$tls:127.0.0.1" -o /dev/null -w '%{http_code}' "$url/missing")
  [ "$got" = "404" ] && ok "curl 404" || bad "curl 404: $got"
  got=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$redirect/posts/x?y=1")
  [ "$got" = "308 https://blog.example/posts/x?y=1" ] && ok "curl to --redirect-listen: $got" || bad "redirect: $got"
  # HTTP/1.1 over TLS (ALPN http/1.1): two requests on one kept-alive connection.
  got=$(curl -sS --http1.1 --cacert "$cert" --resolve "localhost:$tls:127.0.0.1" -o /dev/null -o /dev/null \
    -w '%{http_version} %{http_code} %{num_connects}\n' "$url/" "$url/about" 2>&1 | tr '\n' ' ')
  [ "$got" = "1.1 200 1 1.1 200 0 " ] && ok "curl --http1.1 over TLS, keep-alive: $got" || bad "curl --http1.1: $got"
  got=$(curl -sS --http1.1 --compressed --cacert "$cert" --resolve "localhost:$tls:127.0.0.1" -o "$work/h1page" \
    -w '%{http_code} %{content_type}' "$url/")
  [ "$got" = "200 text/html; charset=utf-8" ] && grep -q "<title>$site_title</title>" "$work/h1page" &&
    ok "curl --http1.1 --compressed: $got" || bad "curl --http1.1 --compressed: $got"
fi

if have nghttp nghttp2-client; then
  out=$(nghttp -nv "https://127.0.0.1:$tls/" "https://127.0.0.1:$tls$big" 2>&1)
  n=$(grep -c ':status: 200' <<<"$out")
  [ "$n" = 2 ] && ok "nghttp: two streams, both 200" || bad "nghttp: $n × 200 in: $(tail -5 <<<"$out")"
  out=$(nghttp -nv "http://127.0.0.1:$h2c/" 2>&1)
  grep -q ':status: 200' <<<"$out" && ok "nghttp h2c: 200" || bad "nghttp h2c: $(tail -3 <<<"$out")"
fi

h2load_check() {
  local name=$1; shift
  local out
  out=$(timeout 60 h2load "$@" 2>&1)
  local summary
  summary=$(grep -E '^requests:' <<<"$out")
  # requests: N total, N started, N done, N succeeded, 0 failed, 0 errored, 0 timeout
  if [[ $summary =~ ^requests:\ ([0-9]+)\ total,.*\ ([0-9]+)\ succeeded,\ 0\ failed,\ 0\ errored ]] &&
    [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
    ok "h2load $name: $summary"
  else
    bad "h2load $name: ${summary:-$(tail -5 <<<"$out")}"
  fi
}
if have h2load nghttp2-client; then
  h2load_check "TLS" -n 20000 -c 16 -m 16 "https://127.0.0.1:$tls/"
  h2load_check "h2c" -n 20000 -c 16 -m 16 "http://127.0.0.1:$h2c/"
  h2load_check "TLS 1 MiB" -n 100 -c 4 -m 2 "https://127.0.0.1:$tls$big"
fi

if have openssl openssl; then
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$tls" -tls1_3 -alpn h2 -servername localhost </dev/null 2>&1)
  grep -q "ALPN protocol: h2" <<<"$out" && grep -q "TLSv1.3" <<<"$out" && ok "openssl s_client: TLSv1.3, ALPN h2" ||
    bad "openssl s_client h2: $(grep -E 'ALPN|Protocol' <<<"$out")"
  # HTTP/1.1 for clients that offer only http/1.1, or no ALPN at all.
  req='GET /about HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
  out=$( (printf "$req"; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$tls" -alpn http/1.1 -servername localhost -ign_eof 2>&1)
  grep -q "ALPN protocol: http/1.1" <<<"$out" && grep -q "^HTTP/1.1 200" <<<"$out" &&
    ok "openssl s_client -alpn http/1.1: HTTP/1.1 200" || bad "openssl http/1.1: $(grep -E 'ALPN|^HTTP|alert' <<<"$out" | head -3)"
  out=$( (printf "$req"; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$tls" -servername localhost -ign_eof 2>&1)
  grep -q "No ALPN negotiated" <<<"$out" && grep -q "^HTTP/1.1 200" <<<"$out" &&
    ok "openssl s_client without ALPN: HTTP/1.1 200" || bad "openssl without ALPN: $(grep -E 'ALPN|^HTTP|alert' <<<"$out" | head -3)"
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$tls" -tls1_2 -alpn h2 </dev/null 2>&1 | tr -d "\000")
  grep -qi "alert protocol version" <<<"$out" && ok "openssl s_client -tls1_2: protocol_version alert" ||
    bad "openssl -tls1_2: $(grep -i alert <<<"$out" | head -2)"
  # 0-RTT: a full handshake saves the session; the resumed connection sends
  # the HTTP/2 preface, SETTINGS and GET / as early data (HPACK by hand:
  # :method GET, :scheme https, :authority localhost, :path /), and the
  # page comes back. The same ticket a second time is refused (single use).
  printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x0e\x01\x05\x00\x00\x00\x01\x82\x87\x01\x09localhost\x84' >"$work/early.bin"
  s_client() { timeout 10 openssl s_client -connect "127.0.0.1:$tls" -alpn h2 -servername localhost "$@" 2>&1 | tr -d "\000"; }
  (cat "$work/early.bin"; sleep 1) | s_client -sess_out "$work/sess.pem" >/dev/null
  out=$(sleep 1 | s_client -sess_in "$work/sess.pem" -early_data "$work/early.bin")
  grep -q "Early data was accepted" <<<"$out" && grep -qF "<title>$site_title</title>" <<<"$out" &&
    ok "openssl s_client -early_data: Early data was accepted, page in the first flight" ||
    bad "openssl 0-RTT: $(grep -E 'Reused|New,|Early data' <<<"$out" | tr '\n' ' ')"
  out=$(sleep 1 | s_client -sess_in "$work/sess.pem" -early_data "$work/early.bin")
  grep -q "Early data was rejected" <<<"$out" && ok "openssl s_client: a replayed ticket gets no early data" ||
    bad "openssl 0-RTT replay: $(grep -E 'Reused|New,|Early data' <<<"$out" | tr '\n' ' ')"
fi

# Certificate rotation: a second server on --cert/--key files made by
# openssl. The files are replaced and SIGHUP sent: s_client sees the new
# certificate (compared by SHA-256 fingerprint, which the server also
# logs). Then a key that is not the certificate's is refused, and the
# server keeps the new certificate.
rotation_check() {
  local dir="$work/rotate" log="$work/rotate.log" port fp_a fp_b got
  mkdir -p "$dir"
  for name in a b c; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=rotation $name" \
      -addext "subjectAltName=DNS:localhost" -keyout "$dir/$name.key" -out "$dir/$name.pem" 2>"$dir/req.err" ||
      { bad "certificate rotation: openssl req: $(tail -1 "$dir/req.err")"; return; }
  done
  fingerprint() { openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*Fingerprint=//'; }
  served() {
    timeout 10 openssl s_client -connect "127.0.0.1:$port" -alpn h2 -servername localhost </dev/null 2>/dev/null | fingerprint
  }
  fp_a=$(fingerprint <"$dir/a.pem")
  fp_b=$(fingerprint <"$dir/b.pem")
  cp "$dir/a.pem" "$dir/cert.pem" && cp "$dir/a.key" "$dir/key.pem"
  "$BIN" --listen 127.0.0.1:0 --workers 1 --cert "$dir/cert.pem" --key "$dir/key.pem" --content "$content" 2>"$log" &
  rotate_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
  port=$(sed -nE 's|.*listening on https://127\.0\.0\.1:([0-9]+).*|\1|p' "$log")
  [ -n "$port" ] || { bad "certificate rotation: the server did not start: $(tail -1 "$log")"; return; }
  got=$(served)
  [ "$got" = "$fp_a" ] || { bad "certificate rotation: served ${got:-nothing} before SIGHUP, not $fp_a"; return; }

  cp "$dir/b.pem" "$dir/cert.pem" && cp "$dir/b.key" "$dir/key.pem"
  kill -HUP "$rotate_pid"
  for _ in $(seq 50); do got=$(served); [ "$got" = "$fp_b" ] && break; sleep 0.2; done
  if [ "$got" = "$fp_b" ] && grep -qF "certificate reloaded from \"$dir/cert.pem\": CN \"rotation b\", SHA-256 $fp_b" "$log"; then
    ok "openssl s_client after SIGHUP: the new certificate (SHA-256 ${fp_b:0:11}...), as logged"
  else
    bad "certificate rotation: served ${got:-nothing} after SIGHUP, not $fp_b; log: $(grep certificate "$log" | tail -1)"
  fi

  cp "$dir/c.pem" "$dir/cert.pem"
  kill -HUP "$rotate_pid"
  for _ in $(seq 50); do grep -q "certificate not reloaded" "$log" && break; sleep 0.2; done
  got=$(served)
  if [ "$got" = "$fp_b" ] && grep -q "does not belong.*still serving the previous certificate" "$log"; then
    ok "openssl s_client after SIGHUP with a mismatched key: refused, the previous certificate still served"
  else
    bad "certificate rotation, mismatched key: served ${got:-nothing}; log: $(grep certificate "$log" | tail -1)"
  fi
  kill -TERM "$rotate_pid"
  wait "$rotate_pid"
  rotate_pid=
}
if have openssl openssl; then
  rotation_check
fi

# Headless Chromium: the index and a post over TLS, title and h2 checked,
# screenshots kept. Its ok/FAIL lines count like the others'.
if have chromium chromium && have python3 python3; then
  build=${H2RING_BUILD:-$(sed -nE 's/.* workers?; ([A-Za-z0-9_]+).*/\1/p' <<<"$line")}
  build=${build:-$(basename "$BIN")}
  mkdir -p "$repo/target/browser"
  timeout 90 python3 "$repo/tests/browser.py" --chromium "$(command -v chromium)" \
    --url "https://127.0.0.1:$tls/" --expect-title-contains "$site_title" \
    --out "$repo/target/browser/$build" 2>&1 | tee "$work/browser"
  brc=${PIPESTATUS[0]}
  n_ok=$(grep -c '^ok ' "$work/browser")
  n_bad=$(grep -c '^FAIL ' "$work/browser")
  pass=$((pass + n_ok))
  fail=$((fail + n_bad))
  [ "$brc" = 0 ] || [ "$n_bad" != 0 ] || bad "browser: tests/browser.py exited with $brc"
fi

kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"

echo "interop: $pass passed, $fail failed"
[ "$fail" = 0 ]
