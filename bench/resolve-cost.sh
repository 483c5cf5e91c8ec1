#!/usr/bin/env bash
# Cost of resolution against a registry advertising N versions of one atom
# whose manifests disagree with the rest of the graph (issue 17 #14);
# figures, not a test.
#
#   bench/resolve-cost.sh [path/to/eka ...]  (default: target/release/eka)
#   bench/resolve-cost.sh before/eka after/eka   side by side: each N is
#                                            measured with each binary in turn
#   RUNS=3 bench/resolve-cost.sh             runs per binary and N (1)
#   NS="1000 5000 20000" bench/resolve-cost.sh
#   KEEP=1 bench/resolve-cost.sh             keeps the work folder
#
# The registry (a bare repository, reached by file://) publishes, with eka:
#   b 1.0.0; c 1.0.0 requiring b =1.0.0; a 1.0.0 requiring b =1.0.0;
# and then, as refs written with git plumbing, versions 1.0.1 … 1.0.N-1 of
# `a` (each requiring b =1.0.<i>) and of `b`, their manifests real blobs
# (their atom refs point at the published commits: resolution reads only
# listings and manifests, and never chooses them). A project requiring
# `c ^1` then runs `eka add <registry>::a@^1`: the solver can only use
# a 1.0.0, so it rules out every higher version one by one, or gives up
# clearly (`eka::resolve::too_costly`). Each run is measured with
# `/usr/bin/time -v` (wall time, peak memory) from an empty cache.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- target/release/eka
for bin in "$@"; do
    [ -x "$bin" ] || { echo "no eka at $bin (cargo build --release -p atom-cli)" >&2; exit 2; }
done
EKAS=()
for bin in "$@"; do EKAS+=("$(realpath "$bin")"); done
# The registries are published with the first binary.
EKA=${EKAS[0]}
NS=${NS:-1000 5000 20000}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-resolve.XXXXXX")
cleanup() { if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi; }
trap cleanup EXIT

export HOME=$W/home XDG_CACHE_HOME=$W/home/.cache XDG_CONFIG_HOME=$W/home/.config
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@eka.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@eka.invalid
mkdir -p "$HOME"

# registry N: publishes the real atoms, then N-1 more versions of a and b.
registry() {
    local n=$1 reg=$W/reg-$1.git src=$W/src-$1
    git init -q --bare "$reg"
    git init -q "$src"
    local url="file://$reg"
    mkdir -p "$src/a" "$src/b" "$src/c"
    printf '[package]\nlabel = "b"\nversion = "1.0.0"\n' >"$src/b/atom.toml"
    for label in a c; do
        printf '[package]\nlabel = "%s"\nversion = "1.0.0"\n\n[package.sets]\nreg = "%s"\n\n[deps.from.reg]\nb = "=1.0.0"\n' \
            "$label" "$url" >"$src/$label/atom.toml"
    done
    git -C "$src" add -A
    git -C "$src" commit -q -m atoms
    (cd "$src" && "$EKA" publish --remote "$url" a b c >/dev/null 2>&1)
    local a_commit b_commit
    a_commit=$(git -C "$reg" rev-parse refs/atoms/a/1.0.0)
    b_commit=$(git -C "$reg" rev-parse refs/atoms/b/1.0.0)
    # The manifests as blobs, in one fast-import; their ids from its marks.
    python3 - "$n" "$url" >"$W/import-$n" <<'PY'
import sys
n, url = int(sys.argv[1]), sys.argv[2]
out = sys.stdout
mark = 0
for i in range(1, n):
    for label in ("a", "b"):
        text = f'[package]\nlabel = "{label}"\nversion = "1.0.{i}"\n'
        if label == "a":
            text += f'\n[package.sets]\nreg = "{url}"\n\n[deps.from.reg]\nb = "=1.0.{i}"\n'
        data = text.encode()
        mark += 1
        out.write(f"blob\nmark :{mark}\ndata {len(data)}\n")
        out.write(data.decode())
        out.write("\n")
PY
    git -C "$reg" fast-import --quiet --export-marks="$W/marks-$n" <"$W/import-$n"
    python3 - "$n" "$a_commit" "$b_commit" "$W/marks-$n" >"$W/refs-$n" <<'PY'
import sys
n, a_commit, b_commit, marks = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
blob = dict(line.split() for line in open(marks))
mark = 0
for i in range(1, n):
    for label, commit in (("a", a_commit), ("b", b_commit)):
        mark += 1
        print(f"create refs/atoms/{label}/1.0.{i} {commit}")
        print(f"create refs/atoms/_manifest/{label}/1.0.{i} {blob[f':{mark}']}")
PY
    git -C "$reg" update-ref --stdin <"$W/refs-$n"
    echo "$url"
}

printf '| N versions of a | eka | result | wall time | CPU (user + sys) | peak memory |\n|---:|:---|:---|---:|---:|---:|\n'
for n in $NS; do
    url=$(registry "$n")
    app=$W/app-$n
    mkdir -p "$app"
    printf '[package]\nlabel = "app"\nversion = "0.1.0"\n\n[package.sets]\nreg = "%s"\n\n[deps.from.reg]\nc = "^1"\n' "$url" >"$app/atom.toml"
    (cd "$app" && "$EKA" lock >/dev/null 2>&1)
    cp "$app/atom.toml" "$app/atom.toml.orig"
    for run in $(seq "${RUNS:-1}"); do
        for bin in "${EKAS[@]}"; do
            rm -rf "$XDG_CACHE_HOME/eka"
            set +e
            (cd "$app" && /usr/bin/time -v "$bin" add "$url::a@^1") >"$W/out-$n" 2>&1
            status=$?
            set -e
            wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/out-$n")
            rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/out-$n")
            user=$(sed -n 's/.*User time (seconds): //p' "$W/out-$n")
            sys=$(sed -n 's/.*System time (seconds): //p' "$W/out-$n")
            cpu=$(python3 -c "print(f'{$user + $sys:.2f} s')")
            if [ "$status" = 0 ]; then
                result="added: $(grep -o 'a@1\.0\.[0-9]*\|a 1\.0\.[0-9]*' "$app/atom.lock" "$W/out-$n" 2>/dev/null | head -1 | sed 's/.*://')"
            elif grep -q too_costly "$W/out-$n"; then
                result="eka::resolve::too_costly"
            else
                result="failed (exit $status)"
            fi
            printf '| %s | %s | %s | %s | %s | %s MiB |\n' "$n" "${bin#$PWD/}" "$result" "$wall" "$cpu" "$((rss / 1024))"
            [ -n "${VERBOSE:-}" ] && cat "$W/out-$n"
            cp "$app/atom.toml.orig" "$app/atom.toml"
        done
    done
done
