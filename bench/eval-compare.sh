#!/usr/bin/env bash
# Before/after: an older `eka` binary, the current shipped build (profile release-lto) and
# `nix-instantiate`, side by side in ONE hyperfine run per file of
# ../shared/eval-bench (so the three share the machine's load), plus each
# one's peak RSS.
#
# usage: bench/eval-compare.sh OLD_EKA [RUNS]   (default 10 runs per command)
# Keep a copy of the old binary before rebuilding, e.g.
#   cp target/release-lto/eka /tmp/eka-before
# Needs: hyperfine, nix-instantiate, GNU time. JSON goes to target/bench-eval-compare/.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$repo/../shared/eval-bench"
old="${1:?usage: bench/eval-compare.sh OLD_EKA [RUNS]}"
runs="${2:-10}"
out="$repo/target/bench-eval-compare"
new="$repo/target/release-lto/eka"

for tool in hyperfine nix-instantiate /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/eval-compare.sh: $tool is required" >&2; exit 1; }
done
[ -x "$old" ] || { echo "bench/eval-compare.sh: $old is not an executable" >&2; exit 1; }
[ -d "$corpus" ] || { echo "bench/eval-compare.sh: $corpus not found" >&2; exit 1; }

cargo build --profile release-lto --quiet --manifest-path "$repo/Cargo.toml" -p atom-cli
mkdir -p "$out"

peak_mb() { # the peak RSS in MB of one run of "$@"
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {printf "%d", $2 / 1024}'
}

printf '| file | before | after | nix | after vs before | nix/after | RSS before | RSS after | RSS nix |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for f in "$corpus"/*.nix; do
    name="$(basename "$f")"
    theirs="$(nix-instantiate --eval --strict "$f" 2>/dev/null)"
    for bin in "$old" "$new"; do
        ours="$("$bin" eval --strict "$f")"
        if [ "$ours" != "$theirs" ]; then
            echo "bench/eval-compare.sh: $name: $bin printed '$ours', nix printed '$theirs'" >&2
            exit 1
        fi
    done
    json="$out/${name%.nix}.json"
    hyperfine --style none --warmup 1 --runs "$runs" -N --export-json "$json" \
        -n before "$old eval --strict $f" \
        -n after "$new eval --strict $f" \
        -n nix "nix-instantiate --eval --strict $f" >/dev/null
    row="$(python3 -c '
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
b, a, n = r["before"], r["after"], r["nix"]
print("%.1f ms | %.1f ms | %.1f ms | %.2f× | %.2f×" % (b, a, n, b / max(a, 0.01), n / max(a, 0.01)))' "$json")"
    printf '| %s | %s | %s MB | %s MB | %s MB |\n' "$name" "$row" \
        "$(peak_mb "$old" eval --strict "$f")" "$(peak_mb "$new" eval --strict "$f")" \
        "$(peak_mb nix-instantiate --eval --strict "$f")"
done
