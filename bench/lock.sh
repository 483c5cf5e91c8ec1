#!/usr/bin/env bash
# Benchmarks for resolution and fetching (issue 3); figures, not tests.
#
#   bench/lock.sh [path/to/eka [path/to/other-eka]]
#                                    (default: target/release-lto/eka)
#   KEEP=1 bench/lock.sh             keeps the work folder
#   RUNS=20 bench/lock.sh            hyperfine runs per command (10)
#
# With a second binary (e.g. a copy of the release binary before a change),
# every timed command runs with both in one hyperfine run, side by side
# ("new" is the first, "old" the second); the registries are published with
# the first.
#
# 1. `eka lock` for a manifest with 50 dependencies spread over 5 remotes
#    (10 atoms x 3 versions each, all served by `git daemon` on loopback):
#    cold (empty cache, no lock), warm cache (no lock), and a lock already
#    in line (no network). Also counts the connections per remote.
# 2. `eka fetch` of one atom from a repository with unrelated history:
#    bytes on the wire (counted by a TCP proxy) against the atom's own
#    objects packed alone, and against a full clone.
set -euo pipefail

if [ -z "${1:-}" ] && [ ! -x target/release-lto/eka ]; then
  cargo build --profile release-lto -p atom-cli
fi
EKA=$(realpath "${1:-target/release-lto/eka}")
OLD=${2:+$(realpath "$2")}
RUNS=${RUNS:-10}
W=$(mktemp -d /tmp/eka-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

export HOME=$W/home XDG_CACHE_HOME=$W/home/.cache XDG_CONFIG_HOME=$W/home/.config
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@eka.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@eka.invalid
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
mkdir -p "$HOME" "$W/served"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

PORT=$(free_port)
git daemon --reuseaddr --export-all --verbose --base-path="$W/served" \
    --listen=127.0.0.1 --port="$PORT" "$W/served" 2>"$W/daemon.log" &
PIDS+=($!)
wait_port "$PORT"

# A TCP proxy in front of the daemon that logs "<bytes up> <bytes down>" per
# connection.
PROXY=$(free_port)
cat >"$W/proxy.py" <<'PY'
import socket, sys, threading
listen, target, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
def pump(a, b, counter, i):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            counter[i] += len(d)
            b.sendall(d)
    except OSError:
        pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
def handle(c):
    s = socket.create_connection(("127.0.0.1", target))
    counter = [0, 0]
    t1 = threading.Thread(target=pump, args=(c, s, counter, 0))
    t2 = threading.Thread(target=pump, args=(s, c, counter, 1))
    t1.start(); t2.start(); t1.join(); t2.join()
    c.close(); s.close()
    with lock, open(log, "a") as f:
        f.write(f"{counter[0]} {counter[1]}\n")
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen)); srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
python3 "$W/proxy.py" "$PROXY" "$PORT" "$W/proxy.log" &
PIDS+=($!)
wait_port "$PROXY"

# ---------------------------------------------------------------------------
echo "== eka lock: 50 dependencies over 5 remotes (git://, loopback)"
for r in 1 2 3 4 5; do
    git init -q --bare "$W/served/r$r.git"
    repo=$W/src/r$r
    git init -q "$repo"
    for v in 1.0.0 1.1.0 1.2.0; do
        for i in $(seq 0 9); do
            d=$repo/atoms/a$r-$i
            mkdir -p "$d"
            printf '[package]\nlabel = "a%s-%s"\nversion = "%s"\n' "$r" "$i" "$v" >"$d/atom.toml"
            for f in 1 2 3; do echo "atom $r $i file $f version $v" >"$d/f$f.txt"; done
        done
        git -C "$repo" add -A && git -C "$repo" commit -qm "v$v"
        (cd "$repo" && "$EKA" -q publish --all --remote "file://$W/served/r$r.git")
    done
done
app=$W/app
mkdir -p "$app"
{
    printf '[package]\nlabel = "app"\nversion = "0.1.0"\n\n[package.sets]\n'
    for r in 1 2 3 4 5; do printf 'r%s = "git://127.0.0.1:%s/r%s.git"\n' "$r" "$PORT" "$r"; done
    for r in 1 2 3 4 5; do
        printf '\n[deps.from.r%s]\n' "$r"
        for i in $(seq 0 9); do printf 'a%s-%s = "^1"\n' "$r" "$i"; done
    done
} >"$app/atom.toml"
cd "$app"
BINS=("$EKA") NAMES=("")
[ -n "$OLD" ] && BINS+=("$OLD") NAMES=(" [new]" " [old]")
for i in "${!BINS[@]}"; do
    rm -rf "$XDG_CACHE_HOME/eka" atom.lock
    : >"$W/daemon.log"
    "${BINS[$i]}" -q lock
    cp atom.lock "$W/atom.lock.$i"
    echo "${NAMES[$i]# }${NAMES[$i]:+: }atoms locked: $(grep -c '^\[\[atom\]\]' atom.lock)"
    echo "connections per remote (cold lock):"
    for r in 1 2 3 4 5; do printf '  r%s: %s\n' "$r" "$(grep -c "Request upload-pack for '/r$r.git'" "$W/daemon.log")"; done
    echo "phases of one cold lock (eka -v lock, if it reports them):"
    rm -rf "$XDG_CACHE_HOME/eka" atom.lock
    "${BINS[$i]}" -v lock 2>&1 >/dev/null | grep ' ms$' | sed 's/^/  /' || true
done
if [ -n "$OLD" ]; then
    cmp -s "$W/atom.lock.0" "$W/atom.lock.1" && echo "both write the same atom.lock, byte for byte" \
        || { echo "the two binaries write different locks" >&2; exit 1; }
fi
args=()
add() { # name, prepare, eka arguments…
    local name=$1 prepare=$2; shift 2
    for i in "${!BINS[@]}"; do
        args+=(--prepare "$prepare" -n "$name${NAMES[$i]}" "'${BINS[$i]}' $*")
    done
}
add "cold (no cache, no lock)" "rm -rf '$XDG_CACHE_HOME/eka' '$app/atom.lock'" -q lock
add "warm cache, no lock" "rm -f '$app/atom.lock'" -q lock
add "lock in line (no network)" "true" -q lock
add "lock --check" "true" -q lock --check
"$EKA" -q lock
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$W/lock.md" "${args[@]}"
cat "$W/lock.md"

# ---------------------------------------------------------------------------
echo
echo "== eka fetch of one atom vs the atom's own objects vs a full clone"
big=$W/src/big
git init -q --bare "$W/served/big.git"
git init -q "$big"
mkdir -p "$big/one"
printf '[package]\nlabel = "one"\nversion = "1.0.0"\n' >"$big/one/atom.toml"
head -c 65536 /dev/urandom >"$big/one/data.bin"
for f in 1 2 3 4 5; do seq 1 2000 | sed "s/^/line $f /" >"$big/one/text$f.txt"; done
for c in $(seq 1 40); do
    head -c 65536 /dev/urandom >"$big/history-$c.bin"
    git -C "$big" add -A && git -C "$big" commit -qm "history $c"
done
(cd "$big" && "$EKA" -q publish one --remote "file://$W/served/big.git")
git -C "$W/served/big.git" push -q . "$(git -C "$big" rev-parse HEAD):refs/heads/main" 2>/dev/null \
    || git -C "$big" push -q "file://$W/served/big.git" HEAD:refs/heads/main
commit=$(git -C "$W/served/big.git" rev-parse refs/atoms/one/1.0.0)
own=$(echo "$commit" | git -C "$W/served/big.git" pack-objects --revs --stdout -q | wc -c)
one=$W/one
mkdir -p "$one"
printf '[package]\nlabel = "user"\nversion = "0.1.0"\n\n[package.sets]\nbig = "git://127.0.0.1:%s/big.git"\n\n[deps.from.big]\none = "^1"\n' "$PROXY" >"$one/atom.toml"
(cd "$one" && "$EKA" -q lock)
rm -rf "$XDG_CACHE_HOME/eka"
: >"$W/proxy.log"
(cd "$one" && "$EKA" fetch)
sleep 0.3
fetch_down=$(awk '{d += $2} END {print d}' "$W/proxy.log")
fetch_up=$(awk '{u += $1} END {print u}' "$W/proxy.log")
: >"$W/proxy.log"
git clone -q --bare "git://127.0.0.1:$PROXY/big.git" "$W/clone.git"
sleep 0.3
clone_down=$(awk '{d += $2} END {print d}' "$W/proxy.log")
printf "atom's own objects, packed alone:  %8d bytes\n" "$own"
printf "eka fetch, server to client:       %8d bytes (%s x own; client to server %d bytes)\n" \
    "$fetch_down" "$(python3 -c "print(round($fetch_down / $own, 3))")" "$fetch_up"
printf "git clone --bare, server to client: %8d bytes (%s x own)\n" \
    "$clone_down" "$(python3 -c "print(round($clone_down / $own, 3))")"
