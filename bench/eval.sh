#!/usr/bin/env bash
# Benchmarks `eka eval --strict` against `nix-instantiate --eval --strict`
# over ../shared/eval-bench (relative to the repository root), side by side
# with hyperfine, and records each one's peak RSS with /usr/bin/time -v.
#
# usage: bench/eval.sh [RUNS]     (default 10 runs per command)
# Measures the build `cargo install` makes (the release profile); set
# EKA_PROFILE to measure another profile, EKA to measure a given binary
# (not built), EVAL_BENCH to use another corpus folder (e.g. from a git
# worktree, whose ../shared is elsewhere).
# Needs: hyperfine, nix-instantiate, GNU time. Results go to target/bench-eval/.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
corpus="${EVAL_BENCH:-$repo/../shared/eval-bench}"
runs="${1:-10}"
profile="${EKA_PROFILE:-release}"
out="$repo/target/bench-eval"
eka="${EKA:-$repo/target/$profile/eka}"

for tool in hyperfine nix-instantiate /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench/eval.sh: $tool is required" >&2; exit 1; }
done
[ -d "$corpus" ] || { echo "bench/eval.sh: $corpus not found" >&2; exit 1; }

[ -n "${EKA:-}" ] || cargo build --profile "$profile" --quiet --manifest-path "$repo/Cargo.toml" -p atom-cli
mkdir -p "$out"

peak_kb() { # the peak RSS in KB of one run of "$@"
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'
}

printf '| file | result | eka median | nix median | nix/eka | eka peak RSS | nix peak RSS |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
for f in "$corpus"/*.nix; do
    name="$(basename "$f")"
    ours="$("$eka" eval --strict "$f")"
    theirs="$(nix-instantiate --eval --strict "$f" 2>/dev/null)"
    if [ "$ours" != "$theirs" ]; then
        echo "bench/eval.sh: $name: eka printed '$ours', nix printed '$theirs'" >&2
        exit 1
    fi
    json="$out/${name%.nix}.json"
    hyperfine --style none --warmup 1 --runs "$runs" -N --export-json "$json" \
        -n eka "$eka eval --strict $f" \
        -n nix "nix-instantiate --eval --strict $f" >/dev/null
    read -r eka_ms nix_ms < <(python3 -c '
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print("%.1f %.1f" % (r["eka"], r["nix"]))' "$json")
    ratio="$(python3 -c "print('%.2f' % ($nix_ms / max($eka_ms, 0.01)))")"
    eka_rss="$(peak_kb "$eka" eval --strict "$f")"
    nix_rss="$(peak_kb nix-instantiate --eval --strict "$f")"
    printf '| %s | `%s` | %s ms | %s ms | %s× | %s MB | %s MB |\n' "$name" "$ours" "$eka_ms" "$nix_ms" "$ratio" \
        "$((eka_rss / 1024))" "$((nix_rss / 1024))"
done
