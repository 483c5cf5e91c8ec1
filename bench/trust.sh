#!/usr/bin/env bash
# Signing and trust benchmarks (issue 15), side by side in one hyperfine run
# each; figures, not tests.
#
#   bench/trust.sh [ATOMS]      (default 1000; needs hyperfine and ssh-keygen)
#   EKA=PATH  the binary to measure (default: build target/release-lto/eka)
#   RUNS=N    runs per case (10)
#   REF_FORMAT=reftable  the publish remotes' ref store (default: files,
#             git's default, one file per ref)
#
# 1. `eka publish --all` of ATOMS atoms to a fresh file:// remote, unsigned
#    against `--sign` with an unencrypted ed25519 key (signed in-process;
#    goal: signed <= 1.2x unsigned). The remotes' automatic maintenance is
#    off: git's receive-pack otherwise runs `git maintenance run --auto`
#    after the push, whose `pack-refs` of some 3,000-4,000 loose refs took
#    from 0.5 to 5 s here from one run to the next, for either case, and
#    the push waits for it.
# 2. `eka lock` of a manifest with 50 dependencies from one registry served
#    by `git daemon` on loopback, with a warm cache and no lock: a set
#    without a policy whose atoms are unsigned, against the same atoms each
#    signed, locked under a `[trust]` policy that checks every signature
#    (goal: signed <= 1.1x unsigned).
# Each pair is also timed interleaved (hyperfine runs all of one case before
# the other, which charges a drifting machine to the second); the lock once
# with the served refs loose, as a push leaves them, and once packed.
set -euo pipefail
atoms="${1:-1000}"
top="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${EKA:-}" ]; then
  cargo build --profile release-lto --quiet --manifest-path "$top/Cargo.toml" -p atom-cli
fi
eka="$(realpath "${EKA:-$top/target/release-lto/eka}")"
W="$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-trust.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
export HOME=$W/home XDG_CACHE_HOME=$W/home/.cache XDG_CONFIG_HOME=$W/home/.config
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@eka.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@eka.invalid
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
mkdir -p "$HOME" "$W/served"
ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/key"
echo "bench $(cat "$W/key.pub")" > "$W/allowed_signers"

# --- 1. publish, unsigned against signed -----------------------------------
base="$W/base"
python3 - "$base" "$atoms" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"group{i % 10}", f"atom{i}")
    os.makedirs(d)
    with open(os.path.join(d, "atom.toml"), "w") as f:
        f.write(f'[package]\nlabel = "atom{i}"\nversion = "1.0.{i % 7}"\n')
    for j in range(9):
        with open(os.path.join(d, f"file{j}.nix"), "w") as f:
            f.write(f"{{ value = {i * 10 + j}; name = \"atom{i}-file{j}\"; }}\n")
PY
git -C "$base" init -q -b main
git -C "$base" config gc.auto 0
git -C "$base" add -A
git -C "$base" commit -q -m atoms
git -C "$base" gc -q
# Each run publishes from its own copy of the monorepo's git directory
# (publish writes its commits, tags and local refs there) to its own
# remote. The work tree is one, shared: `$W/mono/.git` is a gitfile naming
# the run's git directory, whose index was refreshed against that work tree
# once, so that both cases find it clean without hashing files again.
# Nothing is deleted until the script ends (some 40 MB per run with a
# `files` remote: 2 GB for RUNS=10). On a file system without a
# journal (ext4 as on the VM of bench/trust-results.md), a new inode is not
# one deleted in the last minutes: the kernel scans past each of those in
# the inode bitmap, reading its inode, for every file and directory it
# creates. Removing the previous run's copies here (some 20,000 inodes, in
# the untimed --prepare) made the next run's remote pay for them: its
# receive-pack creates a loose ref file and directories for every ref,
# and spent 65-70% of the run's CPU time in that scan (perf: ext4
# `recently_deleted`, `find_inode_bit`), growing with every run. For the
# same reason, leave a few minutes between two runs of this script: the
# end of one deletes everything it made.
mv "$base/.git" "$W/base.git"
mv "$base" "$W/mono"
printf 'gitdir: %s\n' "$W/base.git" > "$W/mono/.git"
git -C "$W/mono" update-index -q --refresh
cat > "$W/fresh.sh" <<SH
set -e
n=\$(( \$(cat "$W/n" 2>/dev/null || echo 0) + 1 ))
echo \$n > "$W/n"
cp -a "$W/base.git" "$W/git.\$n"
printf 'gitdir: %s\\n' "$W/git.\$n" > "$W/mono/.git"
git init -q --bare --ref-format=${REF_FORMAT:-files} "$W/remote.\$n.git"
git -C "$W/remote.\$n.git" config gc.auto 0
git -C "$W/remote.\$n.git" config maintenance.auto false
ln -sfn "$W/remote.\$n.git" "$W/remote.git"
SH
bash "$W/fresh.sh"
(cd "$W/mono" && "$eka" -q publish --all --sign --key "$W/key" --remote "file://$W/remote.git")
echo "signature refs after one signed publish: $(git -C "$W/remote.git" for-each-ref 'refs/atoms/_sig/' | wc -l)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine --warmup 1 --runs "${RUNS:-10}" --export-json "$W/publish.json" \
  --prepare "bash $W/fresh.sh" \
  -n "publish $atoms atoms, unsigned" "cd $W/mono && $eka -q publish --all --remote file://$W/remote.git" \
  --prepare "bash $W/fresh.sh" \
  -n "publish $atoms atoms, --sign (ed25519, in-process)" "cd $W/mono && $eka -q publish --all --sign --key $W/key --remote file://$W/remote.git"
# hyperfine runs every unsigned publish before every signed one; on a
# machine whose file-system cost drifts over minutes, that charges the
# drift to one case. The same pair again, interleaved (unsigned, signed,
# then signed, unsigned, ...), timed here.
python3 "$top/bench/interleave.py" "interleaved" s "${RUNS:-10}" \
  "bash $W/fresh.sh" "cd $W/mono && $eka -q publish --all --remote file://$W/remote.git" \
  "bash $W/fresh.sh" "cd $W/mono && $eka -q publish --all --sign --key $W/key --remote file://$W/remote.git"

# --- 2. lock of 50 dependencies, unsigned against signed under a policy ----
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
PORT=$(free_port)
git daemon --reuseaddr --export-all --base-path="$W/served" \
  --listen=127.0.0.1 --port="$PORT" "$W/served" 2>"$W/daemon.log" &
PIDS+=($!)
wait_port "$PORT"
deps="$W/deps"
mkdir -p "$deps"
for i in $(seq 0 49); do
  mkdir -p "$deps/d$i"
  printf '[package]\nlabel = "d%s"\nversion = "1.0.0"\n' "$i" > "$deps/d$i/atom.toml"
  printf '{ value = %s; }\n' "$i" > "$deps/d$i/mod.nix"
done
git -C "$deps" init -q -b main
git -C "$deps" add -A
git -C "$deps" commit -q -m deps
for kind in unsigned signed; do
  git init -q --bare "$W/served/$kind.git"
  sign=()
  [ "$kind" = signed ] && sign=(--sign --key "$W/key")
  (cd "$deps" && "$eka" -q publish --all "${sign[@]}" --remote "$W/served/$kind.git")
  app="$W/app-$kind"
  mkdir -p "$app"
  url="git://127.0.0.1:$PORT/$kind.git"
  {
    printf '[package]\nlabel = "app"\nversion = "0.1.0"\n\n[package.sets]\nreg = "%s"\n' "$url"
    if [ "$kind" = signed ]; then
      cp "$W/allowed_signers" "$app/allowed_signers"
      printf '\n[trust.reg]\nallowed-signers = "allowed_signers"\n'
    fi
    printf '\n[deps.from.reg]\n'
    for i in $(seq 0 49); do printf 'd%s = "^1"\n' "$i"; done
  } > "$app/atom.toml"
  (cd "$app" && "$eka" -q lock)
done
grep -c '^signers' "$W/app-signed/atom.lock" | sed 's/^/atoms locked with recorded signers: /'
hyperfine --warmup 1 --runs "${RUNS:-10}" --export-json "$W/lock.json" \
  --prepare "rm -f $W/app-unsigned/atom.lock" \
  -n "lock 50 unsigned deps (no policy, warm cache)" "cd $W/app-unsigned && $eka -q lock" \
  --prepare "rm -f $W/app-signed/atom.lock" \
  -n "lock 50 signed deps (policy checks each, warm cache)" "cd $W/app-signed && $eka -q lock"
# The same pair interleaved (unsigned, signed, then signed, unsigned, ...),
# with the served refs loose as a push leaves them, then packed as a
# registry's maintenance (or a forge) keeps them: with loose refs the
# signed listing makes git upload-pack read 50 more ref files.
lock_interleaved() {
  python3 "$top/bench/interleave.py" "lock interleaved, $1" ms "$(( ${RUNS:-10} * 3 ))" \
    "rm -f $W/app-unsigned/atom.lock" "cd $W/app-unsigned && $eka -q lock" \
    "rm -f $W/app-signed/atom.lock" "cd $W/app-signed && $eka -q lock"
}
lock_interleaved "loose refs"
for kind in unsigned signed; do git -C "$W/served/$kind.git" pack-refs --all; done
lock_interleaved "packed refs"

python3 - "$W/publish.json" "$W/lock.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))["results"]
    for x in r:
        print(f"median {x['median']:.3f} s  (mean {x['mean']:.3f} ± {x['stddev']:.3f}, min {x['min']:.3f})  {x['command']}")
    ratio = lambda k: r[1][k] / r[0][k]
    print(f"ratio (second / first): medians {ratio('median'):.3f}, means {ratio('mean'):.3f}, minima {ratio('min'):.3f}")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
