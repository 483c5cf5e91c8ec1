#!/usr/bin/env bash
# Publishing benchmark (issue: "Performance"): a monorepo of 1,000 atoms with
# 10 files each, published to a fresh bare file:// remote, then republished
# with nothing new. Side by side, as a floor, a plain `git push` of the same
# history to a fresh remote (what the transfer alone costs).
#
#   bench/publish.sh [ATOMS]        (needs hyperfine: apt-get install hyperfine)
#
# Also checks that publishing wrote no blob or tree object, and that it was
# one push.
set -euo pipefail
atoms="${1:-1000}"
top="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p atom-cli
eka="$top/target/release/eka"
work="$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-publish.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mono="$work/mono"

echo "==> generating $atoms atoms x 10 files in $mono"
python3 - "$mono" "$atoms" <<'PY'
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
git -C "$mono" init -q -b main
git -C "$mono" config gc.auto 0  # no background gc between runs
git -C "$mono" add -A
git -C "$mono" -c user.name=bench -c user.email=bench@example.com commit -q -m "atoms"
git -C "$mono" gc -q
base_pack="$(ls "$mono/.git/objects/pack/"*.pack)"

count_objects() { git -C "$mono" cat-file --batch-all-objects --batch-check='%(objecttype)' | sort | uniq -c | tr -s ' \n' ' '; }
# A fresh remote, and no atom refs or atom commits left in the monorepo from
# earlier runs (loose objects, or packs other than gc's), so that every run
# publishes afresh.
cat > "$work/reset.sh" <<SH
set -e
rm -rf "$work/remote.git" "$work/plain.git"
git init -q --bare "$work/remote.git"
git init -q --bare "$work/plain.git"
git -C "$mono" for-each-ref --format='delete %(refname)' refs/atoms/ | git -C "$mono" update-ref --stdin
find "$mono/.git/objects" -mindepth 1 -maxdepth 1 -name '??' -type d -exec rm -rf {} +
for p in "$mono/.git/objects/pack/"*.pack; do [ "\$p" = "$base_pack" ] || rm -f "\${p%.pack}".*; done
SH
remote="file://$work/remote.git"
cd "$mono"

bash "$work/reset.sh"
before="$(count_objects)"
GIT_TRACE2_EVENT="$work/trace.json" "$eka" -q publish --all --remote "$remote"
after="$(count_objects)"
echo "objects before publishing: $before"
echo "objects after publishing:  $after (only commits may be added)"
echo "git push processes: $(grep '"event":"start"' "$work/trace.json" | grep -c '"push"')"
echo "atom refs on the remote: $(git -C "$work/remote.git" for-each-ref refs/atoms | wc -l)"
git -C "$work/remote.git" fsck --strict --no-dangling >/dev/null && echo "remote: git fsck --strict ok"

hyperfine --warmup 1 --runs "${RUNS:-10}" --export-markdown "$work/publish.md" \
  --prepare "bash $work/reset.sh" \
  -n "eka publish ($atoms atoms, fresh remote)" "$eka -q publish --all --remote $remote" \
  --prepare "bash $work/reset.sh" \
  -n "git push of the same history (floor)" "git push -q file://$work/plain.git main" \
  --prepare "$eka -q publish --all --remote $remote" \
  -n "eka publish again (nothing new)" "$eka -q publish --all --remote $remote"
cat "$work/publish.md"
