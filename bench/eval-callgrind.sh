#!/usr/bin/env bash
# Counts the instructions the evaluator alone takes on files of
# ../shared/eval-bench (callgrind: exact and repeatable where timings are
# noisy), with atom-eval's `eval_file` example in the release profile.
#
# usage: bench/eval-callgrind.sh [FILE...]   (default: 01, 04, 06 and 07)
# EVAL_BENCH names another corpus folder. Needs valgrind.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
corpus="${EVAL_BENCH:-$repo/../shared/eval-bench}"
command -v valgrind >/dev/null || { echo "bench/eval-callgrind.sh: valgrind is required" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p atom-eval --example eval_file
bin="$repo/target/release/examples/eval_file"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(01-fib.nix 04-fixpoint-overlays.nix 06-deep-recursion.nix 07-lists.nix)
printf '| file | instructions |\n|---|---:|\n'
for f in "${files[@]}"; do
    log="$(mktemp)"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$corpus/$f" >/dev/null 2>"$log"
    refs="$(awk '/Collected :/ {print $4}' "$log")"
    rm -f "$log"
    printf '| %s | %s |\n' "$f" "$refs"
done
