#!/usr/bin/env bash
# Publishing benchmark (issue: "Performance"): a monorepo of 1,000 atoms with
# 10 files each, published to a fresh bare file:// remote, then republished
# with nothing new. Side by side, as a floor, a plain `git push` of the same
# history to a fresh remote (what the transfer alone costs).
#
#   bench/publish.sh [ATOMS]        (needs hyperfine: apt-get install hyperfine)
#   RUNS=N    runs per case (10)
#   EKA=PATH  the binary to measure (default: build target/release-lto/eka)
#   RESET=delete  reuse one monorepo and one remote path, deleting the refs,
#             commits and remote of the run before (how this script measured
#             before; see publish-results.md for why that is noisier)
#
# Every fresh publish runs in its own copy of the monorepo's .git (as left
# by `git gc`: no atom refs, no atom commits) against its own new bare
# remote; nothing is deleted until the end. Deleting a remote of 3,001 loose
# refs leaves the filesystem work that the next run's ref writes wait for.
#
# Also checks that publishing wrote no blob or tree object, and that it was
# one push.
set -euo pipefail
atoms="${1:-1000}"
top="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${EKA:-}" ]; then
  cargo build --profile release-lto --quiet --manifest-path "$top/Cargo.toml" -p atom-cli
fi
eka="$(realpath "${EKA:-$top/target/release-lto/eka}")"
work="$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-publish.XXXXXX")"
trap 'rm -rf "$work"' EXIT
base="$work/base"

echo "==> generating $atoms atoms x 10 files in $base"
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
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
git -C "$base" init -q -b main
git -C "$base" config gc.auto 0  # no background gc between runs
git -C "$base" add -A
git -C "$base" -c user.name=bench -c user.email=bench@example.com commit -q -m "atoms"
git -C "$base" gc -q
base_pack="$(ls "$base/.git/objects/pack/"*.pack)"

# `fresh.sh` points $work/mono and $work/remote.git at a monorepo without
# atom refs or atom commits and an empty bare remote; $work/plain.git is an
# empty remote for the plain push.
mono="$work/mono" remote_dir="$work/remote.git"
if [ "${RESET:-copy}" = delete ]; then
  cp -a "$base" "$work/mono.0"
  cat > "$work/fresh.sh" <<SH
set -e
ln -sfn "$work/mono.0" "$mono"
rm -rf "$work/remote.0.git" "$work/plain.git"
git init -q --bare "$work/remote.0.git"
ln -sfn "$work/remote.0.git" "$remote_dir"
git init -q --bare "$work/plain.git"
git -C "$mono" for-each-ref --format='delete %(refname)' refs/atoms/ | git -C "$mono" update-ref --stdin
find "$mono/.git/objects" -mindepth 1 -maxdepth 1 -name '??' -type d -exec rm -rf {} +
for p in "$mono/.git/objects/pack/"*.pack; do [ "\$p" = "$work/mono.0/.git/objects/pack/$(basename "$base_pack")" ] || rm -f "\${p%.pack}".*; done
sync
SH
else
  cat > "$work/fresh.sh" <<SH
set -e
n=\$(( \$(cat "$work/n" 2>/dev/null || echo 0) + 1 ))
echo \$n > "$work/n"
mkdir "$work/mono.\$n"
cp -a "$base/.git" "$work/mono.\$n/.git"
git init -q --bare "$work/remote.\$n.git"
ln -sfn "$work/mono.\$n" "$mono"
ln -sfn "$work/remote.\$n.git" "$remote_dir"
rm -rf "$work/plain.git"
git init -q --bare "$work/plain.git"
sync
SH
fi
remote="file://$remote_dir"

count_objects() { git -C "$mono" cat-file --batch-all-objects --batch-check='%(objecttype)' | sort | uniq -c | tr -s ' \n' ' '; }
bash "$work/fresh.sh"
before="$(count_objects)"
(cd "$mono" && GIT_TRACE2_EVENT="$work/trace.json" "$eka" -q publish --all --remote "$remote")
after="$(count_objects)"
echo "objects before publishing: $before"
echo "objects after publishing:  $after (only commits may be added)"
echo "git push processes: $(grep '"event":"start"' "$work/trace.json" | grep -c '"push"')"
echo "atom refs on the remote: $(git -C "$remote_dir" for-each-ref refs/atoms | wc -l)"
git -C "$remote_dir" fsck --strict --no-dangling >/dev/null 2>&1 && echo "remote: git fsck --strict ok"
git -C "$mono" fsck --strict --no-dangling >/dev/null 2>&1 && echo "monorepo: git fsck --strict ok"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

hyperfine --warmup 1 --runs "${RUNS:-10}" --export-markdown "$work/publish.md" --export-json "$work/publish.json" \
  --prepare "bash $work/fresh.sh" \
  -n "eka publish ($atoms atoms, fresh remote)" "cd $mono && $eka -q publish --all --remote $remote" \
  --prepare "bash $work/fresh.sh" \
  -n "git push of the same history (floor)" "git -C $mono push -q file://$work/plain.git main" \
  --prepare "cd $mono && $eka -q publish --all --remote $remote" \
  -n "eka publish again (nothing new)" "cd $mono && $eka -q publish --all --remote $remote"
cat "$work/publish.md"
python3 - "$work/publish.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"median {r['median']:.3f} s  {r['command']}")
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
