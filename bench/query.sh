#!/usr/bin/env bash
# Benchmark of the zero-object queries (issue 3, "Performance"): `eka versions`
# for one atom against `git ls-remote <url> 'refs/atoms/<label>/*'`, on
#   - r50k: 1,000 atoms x 10 versions (published by eka) + 50,000 unrelated refs,
#   - r1m:  the same + 1,000,000 more unrelated refs,
# each served over smart HTTP (lighttpd + git-http-backend) and git:// (git
# daemon) on 127.0.0.1. Reports hyperfine timings and the bytes each server
# sent for one run of each command (counted by a TCP proxy in front of it).
#
# usage: bench/query.sh            (needs git, hyperfine, lighttpd, python3)
# env:   EKA=path/to/eka (default: target/release-lto/eka, built if missing)
#        BENCH_DIR=... (default: a temporary folder, deleted at the end;
#        reused between runs if given, skipping generation)
#        RUNS=20 (hyperfine runs for eka; git ls-remote on r1m gets 5)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
EKA=${EKA:-$ROOT/target/release-lto/eka}
RUNS=${RUNS:-20}
if [ ! -x "$EKA" ]; then cargo build --profile release-lto -p atom-cli; fi
for tool in git hyperfine lighttpd; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

KEEP=${BENCH_DIR:+1}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-query.XXXXXX")}
mkdir -p "$BENCH_DIR"
REPOS=$BENCH_DIR/repos RUN=$BENCH_DIR/run
mkdir -p "$REPOS" "$RUN"
DAEMON_PID="" LIGHTTPD_PID=""
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null || true
  [ -n "$LIGHTTPD_PID" ] && kill "$LIGHTTPD_PID" 2>/dev/null || true
  [ -n "$KEEP" ] || rm -rf "$BENCH_DIR"
}
trap cleanup EXIT

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@eka.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@eka.invalid
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"

ATOMS=1000 VERSIONS=10 LABEL=atom0500

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open" >&2; return 1
}

# Appends N unrelated refs (branches and tags at one commit) to a bare repo's
# packed-refs, written directly: creating a million loose refs would take ages.
add_refs() { # repo count tag
  local repo=$1 n=$2 tag=$3 head
  git -C "$repo" pack-refs --all
  head=$(git -C "$repo" rev-parse refs/atoms/_root)
  {
    grep -v '^#' "$repo/packed-refs" || true
    seq 1 "$n" | awk -v h="$head" -v t="$tag" '{
      if ($1 % 2) printf "%s refs/heads/%s/branch-%07d\n", h, t, $1;
      else        printf "%s refs/tags/%s/v%07d\n", h, t, $1 }'
  } | LC_ALL=C sort -k2,2 -u > "$repo/packed-refs.new"
  { echo "# pack-refs with: peeled fully-peeled sorted "; cat "$repo/packed-refs.new"; } > "$repo/packed-refs"
  rm "$repo/packed-refs.new"
}

if [ ! -d "$REPOS/r1m.git" ]; then
  echo "== generating: $ATOMS atoms x $VERSIONS versions (eka publish), + 50,000 and 1,000,000 refs"
  git init -q --bare "$REPOS/r50k.git"
  MONO=$BENCH_DIR/mono
  git init -q -b main "$MONO"
  for v in $(seq 1 $VERSIONS); do
    for i in $(seq -f %04g 1 $ATOMS); do
      [ "$v" = 1 ] && mkdir -p "$MONO/pkgs/g${i:0:2}/atom$i"
      printf '[package]\nlabel = "atom%s"\nversion = "0.%d.0"\n' "$i" "$v" > "$MONO/pkgs/g${i:0:2}/atom$i/atom.toml"
      [ "$v" = 1 ] && printf 'content of %s\n' "$i" > "$MONO/pkgs/g${i:0:2}/atom$i/file.txt"
    done
    git -C "$MONO" add -A && git -C "$MONO" commit -q -m "version 0.$v.0"
    (cd "$MONO" && "$EKA" -q publish --all --remote "$REPOS/r50k.git")
  done
  add_refs "$REPOS/r50k.git" 50000 unrelated
  cp -a "$REPOS/r50k.git" "$REPOS/r1m.git"
  add_refs "$REPOS/r1m.git" 1000000 more
fi
for r in r50k r1m; do
  echo "$r: $(wc -l < "$REPOS/$r.git/packed-refs") refs, $(grep -c ' refs/atoms/' "$REPOS/$r.git/packed-refs") under refs/atoms/"
done

# git daemon
GIT_PORT=$(free_port)
git daemon --base-path="$REPOS" --export-all --reuseaddr --listen=127.0.0.1 --port="$GIT_PORT" \
  --pid-file="$RUN/daemon.pid" "$REPOS" 2>"$RUN/daemon.log" &
DAEMON_PID=$!
# lighttpd + git-http-backend
HTTP_PORT=$(free_port)
mkdir -p "$RUN/www"
cat > "$RUN/lighttpd.conf" <<CONF
server.document-root = "$RUN/www"
server.bind          = "127.0.0.1"
server.port          = $HTTP_PORT
server.errorlog      = "$RUN/error.log"
server.modules       = ( "mod_alias", "mod_setenv", "mod_cgi" )
server.stream-request-body  = 2
server.stream-response-body = 2
alias.url = ( "/git/" => "$(git --exec-path)/git-http-backend/" )
\$HTTP["url"] =~ "^/git/" {
  cgi.assign = ( "" => "" )
  setenv.set-environment = (
    "GIT_PROJECT_ROOT"    => "$REPOS",
    "GIT_HTTP_EXPORT_ALL" => "1",
    "GIT_CONFIG_COUNT"    => "1",
    "GIT_CONFIG_KEY_0"    => "safe.directory", "GIT_CONFIG_VALUE_0" => "*",
    "PATH"                => "$(dirname "$(command -v git)"):/usr/bin:/bin"
  )
}
CONF
lighttpd -D -f "$RUN/lighttpd.conf" &
LIGHTTPD_PID=$!
wait_port "$GIT_PORT"; wait_port "$HTTP_PORT"

http_url() { echo "http://127.0.0.1:$HTTP_PORT/git/$1.git"; }
git_url() { echo "git://127.0.0.1:$GIT_PORT/$1.git"; }

# Bytes on the wire: a counting TCP proxy in front of each server adds up what
# the server sends (TCP payload: HTTP status lines, headers, bodies; git://
# pkt-lines) and writes the running total to a file after each connection.
cat > "$RUN/count-proxy.py" <<'PY'
import socket, sys, threading
listen, target, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
total, lock = 0, threading.Lock()
def pipe(src, dst, count):
    global total
    n = 0
    try:
        while True:
            b = src.recv(65536)
            if not b: break
            dst.sendall(b); n += len(b)
    except OSError: pass
    for s in (src, dst):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
    if count:
        with lock:
            total += n
            with open(out, "w") as f: f.write(str(total))
def serve(c):
    u = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(c, u, False), daemon=True).start()
    pipe(u, c, True)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", listen)); s.listen(64)
open(out, "w").write("0")
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
HTTP_PROXY_PORT=$(free_port); GIT_PROXY_PORT=$(free_port)
python3 "$RUN/count-proxy.py" "$HTTP_PROXY_PORT" "$HTTP_PORT" "$RUN/http.bytes" & PROXY1=$!
python3 "$RUN/count-proxy.py" "$GIT_PROXY_PORT" "$GIT_PORT" "$RUN/git.bytes" & PROXY2=$!
trap 'kill $PROXY1 $PROXY2 2>/dev/null; cleanup' EXIT
wait_port "$HTTP_PROXY_PORT"; wait_port "$GIT_PROXY_PORT"

# Bytes the server sent for one run of a command through proxy $1 (http|git).
wire_bytes() {
  local f=$RUN/$1.bytes before after; shift
  sleep 0.3; before=$(cat "$f")
  "$@" > /dev/null
  sleep 0.3; after=$(cat "$f")
  echo $((after - before))
}

echo
echo "== correctness: eka versions lists $VERSIONS versions of $LABEL on every remote"
for r in r50k r1m; do
  for url in "$(http_url $r)" "$(git_url $r)"; do
    n=$("$EKA" --json versions "$url::$LABEL" | grep -c '"version"')
    g=$(git ls-remote "$url" "refs/atoms/$LABEL/*" | wc -l)
    echo "$url: eka $n versions, git ls-remote $g refs"
    [ "$n" = "$VERSIONS" ] && [ "$g" = "$VERSIONS" ]
  done
done

echo
echo "== bytes sent by the server for one run (counted by a TCP proxy)"
for r in r50k r1m; do
  h="http://127.0.0.1:$HTTP_PROXY_PORT/git/$r.git" g="git://127.0.0.1:$GIT_PROXY_PORT/$r.git"
  echo "$r  http  eka versions:  $(wire_bytes http "$EKA" versions "$h::$LABEL") bytes"
  echo "$r  http  git ls-remote: $(wire_bytes http git ls-remote "$h" "refs/atoms/$LABEL/*") bytes"
  echo "$r  git   eka versions:  $(wire_bytes git "$EKA" versions "$g::$LABEL") bytes"
  echo "$r  git   git ls-remote: $(wire_bytes git git ls-remote "$g" "refs/atoms/$LABEL/*") bytes"
done

echo
echo "== time"
for r in r50k r1m; do
  GIT_RUNS=$RUNS; [ "$r" = r1m ] && GIT_RUNS=5
  for url in "$(http_url $r)" "$(git_url $r)"; do
    hyperfine -N --warmup 3 --runs "$RUNS" --export-markdown "$RUN/eka-$r-${url%%:*}.md" \
      "$EKA versions $url::$LABEL" 2>&1 | grep -v '^ *$'
    hyperfine -N --warmup 1 --runs "$GIT_RUNS" --export-markdown "$RUN/git-$r-${url%%:*}.md" \
      "git ls-remote $url refs/atoms/$LABEL/*" 2>&1 | grep -v '^ *$'
  done
done
