#!/usr/bin/env bash
# Two `eka` binaries side by side on the publishing benchmark's monorepo
# (see publish.sh): a fresh publish of ATOMS atoms to a fresh bare file://
# remote, the two binaries taking turns run after run so that both see the
# same machine load. Prints every run's wall time and `-v` phase timings,
# then the medians.
#
#   bench/publish-compare.sh OLD_EKA NEW_EKA [ATOMS] [PAIRS]
#
# Every run publishes afresh: a monorepo without atom refs or atom commits,
# an empty remote (see `fresh` below; RESET=delete for the older way).
set -euo pipefail
old="$(realpath "$1")" new="$(realpath "$2")" atoms="${3:-1000}" pairs="${4:-10}"
work="$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-compare.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mono="$work/mono"

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

n=0
# Points $repo and $remote at a monorepo without atom refs or atom commits
# and an empty bare remote. By default each run gets its own copy of the
# monorepo's .git and its own new remote, and nothing is deleted until the
# end: deleting a remote of 3,001 loose refs leaves filesystem work that the
# next run's ref writes wait for. RESET=delete reuses one of each, deleting
# what the run before wrote.
fresh() {
  n=$((n + 1))
  if [ "${RESET:-copy}" = delete ]; then
    repo="$mono" remote="$work/remote.git"
    rm -rf "$remote"
    git -C "$mono" for-each-ref --format='delete %(refname)' refs/atoms/ | git -C "$mono" update-ref --stdin
    find "$mono/.git/objects" -mindepth 1 -maxdepth 1 -name '??' -type d -exec rm -rf {} +
    for p in "$mono/.git/objects/pack/"*.pack; do
      [ "$p" = "$base_pack" ] || rm -f "${p%.pack}".*
    done
  else
    repo="$work/mono.$n" remote="$work/remote.$n.git"
    # The work tree too: publish refuses one that differs from HEAD.
    cp -a "$mono" "$repo"
    git -C "$repo" update-index -q --refresh
  fi
  git init -q --bare "$remote"
  sync
}

run() { # name binary
  fresh
  local start end
  start=$(date +%s.%N)
  (cd "$repo" && "$2" -v publish --all --remote "file://$remote" >/dev/null 2>"$work/phases")
  end=$(date +%s.%N)
  local total
  total=$(echo "$end - $start" | bc)
  [ "$(git -C "$remote" for-each-ref refs/atoms | wc -l)" = $((3 * atoms + 1)) ]
  printf '%s\t%.3f' "$1" "$total" | tee -a "$work/results"
  sed -n 's/^\(.*\): \([0-9.]*\) ms$/\t\1=\2/p' "$work/phases" | tr -d '\n' | tee -a "$work/results"
  echo | tee -a "$work/results"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$pairs"); do
  if [ $((i % 2)) = 1 ]; then run old "$old"; run new "$new"; else run new "$new"; run old "$old"; fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
git -C "$remote" fsck --strict --no-dangling >/dev/null 2>&1 && echo "last remote: git fsck --strict ok"
git -C "$repo" fsck --strict --no-dangling >/dev/null 2>&1 && echo "last monorepo: git fsck --strict ok"

python3 - "$work/results" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, total, *phases = line.rstrip("\n").split("\t")
    r = rows.setdefault(name, {})
    r.setdefault("total (s)", []).append(float(total))
    for p in phases:
        k, v = p.rsplit("=", 1)
        r.setdefault(k + " (ms)", []).append(float(v))
keys = list(rows["old"].keys()) + [k for k in rows["new"] if k not in rows["old"]]
print(f"\n{'median of ' + str(len(rows['old']['total (s)'])) + ' runs':<45} {'old':>10} {'new':>10}")
for k in keys:
    cell = lambda n: f"{statistics.median(rows[n][k]):.3f}" if k in rows[n] else "-"
    print(f"{k:<45} {cell('old'):>10} {cell('new'):>10}")
for n in ("old", "new"):
    t = rows[n]["total (s)"]
    print(f"{n}: total min {min(t):.3f} s, max {max(t):.3f} s")
PY
