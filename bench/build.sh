#!/usr/bin/env bash
# Derivations evaluated to `.drv` paths: eka against Nix 2.8 on the same
# plain Nix file of N derivations (chains, multiple outputs, fixed outputs,
# toFile texts, string context through lists and sets), side by side in
# ONE hyperfine run. Both compute the same paths (checked first).
#
#   eval:  `eka eval --strict F` against `nix-instantiate --eval --strict F`
#          (the drvPaths computed; Nix in read-only mode writes nothing)
#   dry:   `eka build --dry-run --no-link F` (evaluates, asks the store
#          which outputs are valid) against `nix-instantiate F` (evaluates
#          and writes the .drv files, already there after the first run)
#
# usage: bench/build.sh [N] [RUNS]   (default 400 derivations, 20 runs)
# EKA names the binary (default: target/release/eka, built here).
# Needs: hyperfine, nix-instantiate.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-400}"
runs="${2:-20}"
for tool in hyperfine nix-instantiate; do
    command -v "$tool" >/dev/null || { echo "bench/build.sh: $tool is required" >&2; exit 1; }
done
if [ -z "${EKA:-}" ]; then
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p atom-cli
    EKA="${CARGO_TARGET_DIR:-$repo/target}/release/eka"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cat > "$work/drvs.nix" <<NIX
let
  n = $n;
  sh = name: script: extra: derivation ({
    inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" script ];
  } // extra);
  conf = i: builtins.toFile "conf-\${toString i}.txt" "value \${toString i}\n";
  fetched = i: sh "fetched-\${toString i}" "printf \${toString i} > \$out" {
    outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" (toString i);
  };
  step = prev: i: sh "step-\${toString i}"
    "cat \${prev} \${conf i} > \$out; echo \${prev.dev or ""} > \$dev"
    {
      outputs = [ "out" "dev" ];
      deps = [ prev (fetched (i / 10)) ];
      meta = builtins.toJSON { index = i; previous = prev.name; fetched = "\${fetched (i / 10)}"; };
    };
  base = sh "base" "echo base > \$out; echo > \$dev" { outputs = [ "out" "dev" ]; };
  chain = builtins.genList (i: i) n;
  all = builtins.foldl' (acc: i: acc ++ [ (step (builtins.elemAt acc i) i) ]) [ base ] chain;
in map (d: d.drvPath) all
NIX

theirs="$(nix-instantiate --eval --strict --read-write-mode "$work/drvs.nix")"
ours="$("$EKA" eval --strict "$work/drvs.nix")"
if [ "$theirs" != "$ours" ]; then
    echo "bench/build.sh: eka and Nix computed different drvPaths" >&2
    diff <(echo "$theirs" | tr ' ' '\n') <(echo "$ours" | tr ' ' '\n') | head >&2
    exit 1
fi
echo "$n derivations (+ $((n / 10 + 1)) fixed-output, $n texts): identical drvPaths"

sed 's/in map (d: d.drvPath) all/in all/' "$work/drvs.nix" > "$work/drvs-set.nix"
nix-instantiate "$work/drvs-set.nix" >/dev/null
hyperfine --style basic --warmup 3 --runs "$runs" -N \
    -n "eka eval --strict" "$EKA eval --strict $work/drvs.nix" \
    -n "nix-instantiate --eval --strict --read-write-mode" "nix-instantiate --eval --strict --read-write-mode $work/drvs.nix" \
    -n "eka build --dry-run" "$EKA build --dry-run --no-link $work/drvs-set.nix" \
    -n "nix-instantiate" "nix-instantiate $work/drvs-set.nix"
