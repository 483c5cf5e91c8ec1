#!/usr/bin/env bash
# The quickstart: build eka, turn examples/ into a monorepo, publish its atoms
# to a local bare repository acting as the registry, list and verify them.
# Needs only Rust and git. Leaves everything in a temporary directory it prints.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
top="$(dirname "$here")"

echo "==> building eka"
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p atom-cli
eka="$top/target/release/eka"

work="$(mktemp -d "${TMPDIR:-/tmp}/eka-quickstart.XXXXXX")"
echo "==> working in $work"
mkdir "$work/monorepo"
(cd "$here" && tar cf - --exclude=quickstart.sh .) | (cd "$work/monorepo" && tar xf -)
git init --quiet --bare "$work/registry.git"
cd "$work/monorepo"
git init --quiet -b main
git -c user.name=quickstart -c user.email=quickstart@example.com add -A
# Fixed dates make the commit, and so every atom id and commit, the same on
# every machine.
GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" \
  git -c user.name=quickstart -c user.email=quickstart@example.com commit --quiet -m "examples"
git remote add origin "file://$work/registry.git"

echo "==> eka publish --all"
"$eka" publish --all

echo "==> what the registry holds (eka list: one ref listing, no objects fetched)"
"$eka" list "file://$work/registry.git"

echo "==> publishing again changes nothing"
"$eka" publish --all

echo "==> eka verify origin"
"$eka" verify origin

echo "==> eka eval: hello's public API, composed by the module system (it uses greeting and text-util from this repository)"
"$eka" eval tools/hello --strict

echo "==> public names only, without evaluating any member"
"$eka" eval lib/text/util --names

echo "==> a consumer depends on hello, resolved from the registry"
mkdir "$work/consumer"
cd "$work/consumer"
git init --quiet -b main
"$eka" new app
cd app
"$eka" add "file://$work/registry.git::hello@^1"
cat atom.toml
echo "--- atom.lock"
cat atom.lock
"$eka" fetch

echo "==> the consumer's own module uses hello through deps"
cat > mod.nix <<'NIX'
{ Says = deps.from.registry.hello.message; }
NIX
"$eka" eval . --worktree --strict

echo "==> or straight from the registry, by URI"
"$eka" eval "file://$work/registry.git::hello@^1#message"

echo "==> eka build: a module describes a derivation; eka computes it, Nix builds it"
cat > Greeting.nix <<'NIX'
derivation {
  name = "greeting";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "echo ${deps.from.registry.hello.message} > $out" ];
}
NIX
# Everything above needs only Rust and git; building needs Nix itself.
if command -v nix-store >/dev/null 2>&1; then
  "$eka" build ".#greeting" --worktree
  cat result
else
  echo "eka build needs Nix to build (Debian: apt-get install nix-bin; or https://nixos.org/download); its output path, computed by eka alone:"
  "$eka" eval ".#greeting.outPath" --worktree
fi
echo "==> done: $work"
