#!/usr/bin/env bash
# Benchmark of the atom module system (issue 5, "Performance (benchmark)").
#
# Generates, in one fresh git repository, atoms of N modules x M members
# (every module: a directory with mod.nix and M member files V0.nix..; files =
# N x (M+1)), and for each the same values as ONE plain Nix file, then times
# side by side, in one hyperfine run per size:
#   - eka eval <atom dir> --strict            (reads the atom from HEAD), three
#     ways: with its parse cache filled by an earlier run; as a first run
#     (the cache deleted before each run: it parses everything and writes
#     the cache); and with --no-parse-cache (parses everything, no cache)
#   - nix-instantiate --eval --strict <plain file>
#   - atom-nix (ekala-project/atom, the reference composer) on this Nix:
#     nix-instantiate --read-write-mode --eval --strict
#       -E 'import <atom-nix>/core/importAtom.nix {} "<atom dir>"'
#     (atom-nix copies every file to the store, so it needs --read-write-mode.)
# Sizes: small = 100 x 10, large = 300 x 20 (6,300 files). Then a scaling check
# (composition must grow n log n, not n^2): eka on SCALE modules x 10 members.
# Before timing, every command's printed value is compared with the plain
# file's; any difference stops the script.
#
# usage: bench/modules.sh          (needs git, hyperfine, nix-instantiate, python3)
# env:   EKA=path/to/eka (default target/release-lto/eka, built if missing)
#        ATOM_NIX=dir of atom-nix, e.g. extracted with
#          git -C <clone of ekala-project/atom> archive HEAD atom-nix | tar -x -C /tmp/modbench
#          ATOM_NIX=/tmp/modbench/atom-nix
#        (unset or missing: atom-nix is not run, and says so; the report
#        always shows issue 5's published atom-nix figures, 431 ms and 3.06 s,
#        in a column of their own. atom-nix is run from a copy; on a Nix
#        without builtins.traceVerbose, e.g. 2.8, the copy's one use of it is
#        replaced by the identity.) Timed twice: with the atom's files already
#        in the store (from the previous run), and not yet in it.
#        RUNS=10 (hyperfine runs per command), SCALE="50 100 200 400 800"
#        BENCH_DIR=... (default: a temporary folder, deleted at the end)
#        OUT=... (default bench/modules-results.md)
#        COLD=0: skip atom-nix with its files not yet in the store (that one
#          deletes, before each run, the store paths of the atom's files and
#          nothing else; it takes ~RUNS x 10 s on the large atom)
#        SKIP_EKA=1: do not run eka (develops the rest before eka eval knows atoms)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CMDLINE="$(printf '%q ' "$0" "$@")"; CMDLINE=${CMDLINE% }
ENVLINE=""
for v in EKA ATOM_NIX RUNS SCALE BENCH_DIR OUT SKIP_EKA COLD; do
  [ -n "${!v:-}" ] && ENVLINE+="$v=$(printf '%q' "${!v}") "
done
EKA=${EKA:-$ROOT/target/release-lto/eka}
RUNS=${RUNS:-10}
SCALE=${SCALE:-50 100 200 400 800}
OUT=${OUT:-$ROOT/bench/modules-results.md}
SKIP_EKA=${SKIP_EKA:-}
COLD=${COLD:-1}
for tool in git hyperfine nix-instantiate python3; do
  command -v "$tool" >/dev/null || { echo "bench/modules.sh: needs $tool" >&2; exit 2; }
done
if [ -z "$SKIP_EKA" ] && [ ! -x "$EKA" ]; then cargo build --profile release-lto -p atom-cli; fi

KEEP=${BENCH_DIR:+1}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/eka-bench-modules.XXXXXX")}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
cleanup() { # a failed run keeps its files for inspection
  local rc=$?
  if [ -n "$KEEP" ]; then :
  elif [ "$rc" != 0 ]; then echo "bench/modules.sh: kept $BENCH_DIR" >&2
  else rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT
REPO=$BENCH_DIR/repo PLAIN=$BENCH_DIR/plain RES=$BENCH_DIR/results
rm -rf "$REPO" "$PLAIN" "$RES" "$BENCH_DIR/cache"
mkdir -p "$REPO" "$PLAIN" "$RES"
# eka's parse cache (packs of the files it parsed, by atom) lives here, not in
# the user's cache. PARSED is deleted before each "first run" of eka.
export XDG_CACHE_HOME=$BENCH_DIR/cache
PARSED=$XDG_CACHE_HOME/eka/parsed

# ---------------------------------------------------------------- generation
# Module k (0 = the atom's root) has parent (k-1)/10: a tree of fan-out 10,
# so 100 modules are 3 levels deep and 300 are 4. Directory of module k>0:
# <dir of parent>/M<k>. Module k's mod.nix is `{ Id = k; tag = "m<k>"; }`
# (one public and one private name); member j (V<j>.nix, exported as v<j>) is
# one of five kinds (j mod 5): int, string, list, attrset, let+function, each
# using earlier siblings (mod.v<j-1>...), the parent and grandparent (pre.id,
# pre.pre.id, pre.tag, pre.v0, a sibling module pre.m<k-1>.v0), a child
# module's public member (mod.m<child>.v0) and the atom's API (atom.v3.sum,
# atom.m1.v0), std.length and toString, and a constant 1000*k+j that makes
# every file's text unique. The plain file has the same expressions with
# mod/pre/pre.pre/atom/std replaced by let-bound module sets and builtins.
echo "== generating atoms in $REPO"
python3 - "$REPO" "$PLAIN" $SCALE <<'PY'
import os, sys
repo, plain, scale = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
FAN = 10

def parent(k): return (k - 1) // FAN if k > 0 else None
def depth(k):
    d = 0
    while k > 0: k, d = parent(k), d + 1
    return d

def member(k, j, n, R):
    """Expression of member j of module k; R maps roles to Nix expressions."""
    mod, pre, prepre, atom = R["mod"], R["pre"], R["prepre"], R["atom"]
    d, kind = depth(k), j % 5
    children = [c for c in range(FAN * k + 1, FAN * k + FAN + 1) if c < n]
    p = parent(k)
    u = 1000 * k + j  # makes every file's text unique, as in a real atom
    if kind == 0:
        e = f"{mod}.id * 3 + {u}"
        if d >= 1: e += f" + {pre}.id"
        if d >= 2: e += f" + {prepre}.id"
        return e + "\n"
    if kind == 1:
        return f'"${{{mod}.tag}}-v{j}-${{toString ({mod}.v{j-1} + {u})}}"\n'
    if kind == 2:
        return f'[\n  {mod}.v{j-2}\n  ({mod}.v{j-2} * 2)\n  "${{{mod}.v{j-1}}}!"\n  {u}\n]\n'
    if kind == 3:
        up = f"{pre}.v0" if d >= 1 else f"{mod}.v0"
        s = (f"{{\n  n = {R['std']}.length {mod}.v{j-1};\n  s = {mod}.v{j-2};\n"
             f"  sum = {mod}.v{j-3} + {up} + {u};\n  ok = true;\n")
        if children: s += f"  child = {mod}.m{children[0]}.v0;\n"
        if d >= 1 and k - 1 > FAN * p:  # a previous sibling module exists
            s += f"  sibling = {pre}.m{k-1}.v0;\n"
        return s + "}\n"
    par = f"{pre}.tag" if d >= 1 else '"none"'
    return (f"let\n  f = x: x * 2 + {mod}.v{j-4};\nin\n{{\n  doubled = f {u};\n"
            f"  label = {mod}.v{j-3};\n  parent = {par};\n"
            f"  root = {atom}.v3.sum + {atom}.m1.v0 + {mod}.id;\n  nothing = null;\n}}\n")

def generate(name, label, n, m):
    top = os.path.join(repo, name)
    dirs = {0: top}
    for k in range(1, n):
        dirs[k] = os.path.join(dirs[parent(k)], f"M{k}")
    for k in range(n):
        os.makedirs(dirs[k], exist_ok=True)
    with open(os.path.join(top, "atom.toml"), "w") as f:
        f.write(f'[package]\nlabel = "{label}"\nversion = "0.1.0"\n')
    # the plain file: priv<k> = all names of module k (its `mod`),
    # pub<k> = its public names (what its parent and the atom see)
    out = ["# the values of the atom", f"# {name} ({n} modules x {m} members) as one file", "let"]
    for k in range(n):
        with open(os.path.join(dirs[k], "mod.nix"), "w") as f:
            f.write(f'{{\n  Id = {k};\n  tag = "m{k}";\n}}\n')
        p = parent(k)
        atomR = dict(mod="mod", pre="pre", prepre="pre.pre", atom="atom", std="std")
        plainR = dict(mod=f"priv{k}", pre=f"priv{p}", atom="pub0", std="builtins",
                      prepre=f"priv{parent(p)}" if p else "")
        children = [c for c in range(FAN * k + 1, FAN * k + FAN + 1) if c < n]
        out.append(f"  priv{k} = {{")
        out.append(f"    id = {k};")
        out.append(f'    tag = "m{k}";')
        for j in range(m):
            with open(os.path.join(dirs[k], f"V{j}.nix"), "w") as f:
                f.write(member(k, j, n, atomR))
            e = member(k, j, n, plainR).rstrip("\n").replace("\n", "\n    ")
            out.append(f"    v{j} = {e};")
        for c in children:
            out.append(f"    m{c} = pub{c};")
        out.append("  };")
        names = ["id"] + [f"v{j}" for j in range(m)] + [f"m{c}" for c in children]
        out.append(f"  pub{k} = {{ inherit (priv{k}) {' '.join(names)}; }};")
    out += ["in", "pub0", ""]
    os.makedirs(os.path.dirname(os.path.join(plain, f"{name}.nix")), exist_ok=True)
    with open(os.path.join(plain, f"{name}.nix"), "w") as f:
        f.write("\n".join(out))

generate("small", "bench-small", 100, 10)
generate("large", "bench-large", 300, 20)
for n in scale:
    generate(f"scale/n{n}", f"bench-scale-n{n}", n, 10)
PY
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@eka.invalid
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@eka.invalid
export GIT_AUTHOR_DATE="1700000000 +0000" GIT_COMMITTER_DATE="1700000000 +0000"
git -C "$REPO" init -q -b main
git -C "$REPO" add -A
git -C "$REPO" commit -q -m "benchmark atoms"
for a in small large; do
  echo "$a: $(find "$REPO/$a" -name '*.nix' | wc -l) .nix files, $(find "$REPO/$a" -name mod.nix | wc -l) modules, plain file $(wc -c < "$PLAIN/$a.nix") bytes"
done

# ---------------------------------------------------------------- atom-nix
ATOMNIX=""
ATOMNIX_NOTE=""
if [ -n "${ATOM_NIX:-}" ] && [ -f "$ATOM_NIX/core/importAtom.nix" ]; then
  ATOMNIX=$BENCH_DIR/atom-nix
  rm -rf "$ATOMNIX"
  cp -r "$ATOM_NIX" "$ATOMNIX"
  if [ "$(nix-instantiate --eval -E 'builtins ? traceVerbose')" != true ]; then
    grep -q 'l.traceVerbose msg value' "$ATOMNIX/core/errors.nix" || {
      echo "bench/modules.sh: atom-nix's core/errors.nix no longer reads 'l.traceVerbose msg value'; update the patch" >&2; exit 1; }
    sed -i 's/l\.traceVerbose msg value/(l.traceVerbose or (_: v: v)) msg value/' "$ATOMNIX/core/errors.nix"
    ATOMNIX_NOTE="This Nix has no \`builtins.traceVerbose\` (added in Nix 2.10), which atom-nix's \`core/errors.nix\` calls once per member (\`context = msg: value: l.traceVerbose msg value\`); the benchmark's copy replaces it with the identity (what traceVerbose is without \`--trace-verbose\`), its only change."
  fi
else
  echo "bench/modules.sh: atom-nix not available (ATOM_NIX=${ATOM_NIX:-unset}); using the issue's published figures for it" >&2
fi
atomnix_expr() { echo "import $ATOMNIX/core/importAtom.nix {} \"$1\""; }

# ---------------------------------------------------------------- checks
check() { # name, expected output file, command...
  local name=$1 want=$2 got; shift 2
  if ! got=$("$@" 2>"$RES/err"); then
    echo "bench/modules.sh: $name failed: $*" >&2; cat "$RES/err" >&2; exit 1
  fi
  if [ "$got" != "$(cat "$want")" ]; then
    echo "bench/modules.sh: MISMATCH: $name printed something else than the plain file" >&2
    echo "  command: $*" >&2
    printf '%s\n' "$got" > "$RES/got"
    cmp "$want" "$RES/got" >&2 || true
    echo "  (plain: $want, got: $RES/got; first difference:)" >&2
    python3 - "$want" "$RES/got" >&2 <<'PY' || true
import sys
a, b = open(sys.argv[1]).read(), open(sys.argv[2]).read()
i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
print("  plain: ..." + a[max(0, i - 80):i + 80] + "...")
print("  got:   ..." + b[max(0, i - 80):i + 80] + "...")
PY
    exit 1
  fi
}
cd "$REPO"
SIZES="small large"
ALL="$SIZES"
for n in $SCALE; do ALL+=" scale/n$n"; done
for a in $ALL; do
  f=${a//\//-}
  echo "checking $a"
  nix-instantiate --eval --strict "$PLAIN/$a.nix" > "$RES/$f.want" 2>"$RES/err" || {
    echo "bench/modules.sh: the plain file $PLAIN/$a.nix does not evaluate" >&2; cat "$RES/err" >&2; exit 1; }
  nix-instantiate --eval --strict --json "$PLAIN/$a.nix" > "$RES/$f.json"
  if [ -z "$SKIP_EKA" ]; then
    check "eka ($a)" "$RES/$f.want" "$EKA" eval "$REPO/$a" --strict
  fi
  if [ -n "$ATOMNIX" ] && { [ "$a" = small ] || [ "$a" = large ]; }; then
    check "atom-nix ($a)" "$RES/$f.want" \
      nix-instantiate --read-write-mode --eval --strict -E "$(atomnix_expr "$REPO/$a")"
  fi
done
python3 - "$RES" "${SKIP_EKA:-eka}" "${ATOMNIX:+atom-nix}" <<'PY'
import json, sys
who = " and ".join(["the plain file"] + [w for w in sys.argv[2:] if w in ("eka", "atom-nix")])
for a in ("small", "large"):
    v = json.load(open(f"{sys.argv[1]}/{a}.json"))
    def count(x):
        if isinstance(x, dict): return sum(count(y) for y in x.values())
        if isinstance(x, list): return sum(count(y) for y in x)
        return 1
    print(f"{a}: {who} print the same {count(v)} scalar values")
PY

# atom-nix copies each file to the store (builtins.path), then scopedImports
# it. "files not in the store": before each run, delete exactly the store paths
# of this atom's files (computed without adding them: read-only evaluation), as
# on the first evaluation after an edit. Nothing else in the store is touched.
if [ -n "$ATOMNIX" ] && [ "$COLD" != 0 ]; then
  for a in $SIZES; do
    { echo "map (p: toString (builtins.path { path = p; name = baseNameOf p; })) ["
      find "$REPO/$a" -name '*.nix' | sort | sed 's/^/  /'
      echo "]"; } > "$RES/$a-paths.nix"
    nix-instantiate --eval --strict --json "$RES/$a-paths.nix" \
      | python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)))' > "$RES/$a.storepaths"
    [ "$(sort -u "$RES/$a.storepaths" | wc -l)" = "$(find "$REPO/$a" -name '*.nix' | wc -l)" ] || {
      echo "bench/modules.sh: $a: files with identical contents (store paths shared); fix the generator" >&2; exit 1; }
    echo "xargs nix-store --delete < $RES/$a.storepaths > /dev/null 2>&1" > "$RES/$a-evict.sh"
  done
fi

# ---------------------------------------------------------------- timing
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for a in $SIZES; do
  echo "== timing $a"
  args=() prep=()
  if [ -z "$SKIP_EKA" ]; then
    args+=(-n eka "$EKA eval $REPO/$a --strict"); prep+=(--prepare true)
    args+=(-n "eka, first run" "$EKA eval $REPO/$a --strict"); prep+=(--prepare "rm -rf $PARSED")
    args+=(-n "eka --no-parse-cache" "$EKA eval $REPO/$a --strict --no-parse-cache"); prep+=(--prepare true)
  fi
  args+=(-n plain "nix-instantiate --eval --strict $PLAIN/$a.nix"); prep+=(--prepare true)
  if [ -n "$ATOMNIX" ]; then
    run="nix-instantiate --read-write-mode --eval --strict -E '$(atomnix_expr "$REPO/$a")'"
    args+=(-n "atom-nix" "$run"); prep+=(--prepare true)
    if [ "$COLD" != 0 ]; then
      args+=(-n "atom-nix, files not in the store" "$run"); prep+=(--prepare "bash $RES/$a-evict.sh")
    fi
  fi
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$RES/$a-time.json" "${prep[@]}" "${args[@]}"
done
if [ -z "$SKIP_EKA" ]; then
  echo "== timing the scaling check (eka and the plain file, modules x 10 members)"
  args=()
  for n in $SCALE; do
    args+=(-n "eka $n" "$EKA eval $REPO/scale/n$n --strict"
           -n "eka no cache $n" "$EKA eval $REPO/scale/n$n --strict --no-parse-cache"
           -n "plain $n" "nix-instantiate --eval --strict $PLAIN/scale/n$n.nix")
  done
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$RES/scale-time.json" "${args[@]}"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
python3 - "$RES" "$OUT" "$SCALE" "${SKIP_EKA:+1}" "${ATOMNIX:+1}" <<PY
import json, os, sys
res, out, scale, skip_eka, have_atomnix = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split()], sys.argv[4] == "1", sys.argv[5] == "1"
PUBLISHED = {"small": 0.431, "large": 3.06}   # atom-nix on Nix 2.8, issue 5
PUB_PLAIN = {"small": 0.040, "large": 0.102}
SHAPE = {"small": (100, 10), "large": (300, 20)}
def load(p): return {r["command"]: r for r in json.load(open(p))["results"]}
def fmt(s):
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"
def cell(r): return f"{fmt(r['median'])} ± {fmt(r['stddev'])}" if r else "—"
L = []
L.append("# \`bench/modules.sh\`: figures\n")
L.append("Command: \`$ENVLINE$CMDLINE\`  ")
L.append("Load average (1, 5, 15 min) before timing: $LOAD_BEFORE; after: $LOAD_AFTER  ")
L.append("Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')); $(nix-instantiate --version); $(hyperfine --version); $(git --version).\n")
L.append("Atoms: N modules × M members in one git repository (read by eka from HEAD); "
         "files = N × (M + 1) with each module's \`mod.nix\`; modules nested in a tree "
         "of fan-out 10. Every value is forced (\`--strict\`); before timing, each command's "
         "output was checked to be identical to the plain file's.\n")
L.append("Times: hyperfine, median ± σ of $RUNS runs (1 warm-up), the commands of one size side by side in one hyperfine run.\n")
L.append("| atom | files | eka | eka, first run | eka \`--no-parse-cache\` | plain file (Nix) | atom-nix, files in the store | atom-nix, files not in the store | atom-nix, issue 5's figure |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
R = []
for a in ("small", "large"):
    r = load(f"{res}/{a}-time.json")
    n, m = SHAPE[a]
    e, e1, e0, p = r.get("eka"), r.get("eka, first run"), r.get("eka --no-parse-cache"), r.get("plain")
    w, c = r.get("atom-nix"), r.get("atom-nix, files not in the store")
    L.append(f"| {a} ({n} × {m}) | {n * (m + 1):,} | {cell(e)} | {cell(e1)} | {cell(e0)} | {cell(p)} "
             f"| {cell(w)} | {cell(c)} | {fmt(PUBLISHED[a])} |")
    R.append((a, e, e1, e0, p, w, c))
L.append("")
L.append("Ratios (each from one hyperfine run, side by side). Goals: eka within 2× of the plain file; "
         "at least 10× faster than atom-nix. *Warm*: a run after an earlier one (eka's parse cache "
         "filled, atom-nix's files in the store); *first*: eka's first run (no parse cache; it parses "
         "everything and writes the pack) against atom-nix's first (files not in the store).\n")
L.append("| atom | eka / plain | eka first / plain | eka no cache / plain | atom-nix / eka, warm | atom-nix / eka, first | atom-nix in store / eka no cache | issue 5's atom-nix / eka no cache |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
def ratio(x, y): return f"{x['median'] / y['median']:.2f}×" if x and y else "—"
for a, e, e1, e0, p, w, c in R:
    pub = {"median": PUBLISHED[a]}
    L.append(f"| {a} | {ratio(e, p)} | {ratio(e1, p)} | {ratio(e0, p)} | {ratio(w, e)} | {ratio(c, e1)} "
             f"| {ratio(w, e0)} | {ratio(pub, e0)} |")
notes = []
notes.append("eka reads the atom from git (HEAD). Its parse cache (\`~/.cache/eka/parsed\`, here "
             "\`\$BENCH_DIR/cache\`) keeps, per atom tree, what each file parsed and bound to; a later "
             "run reads that back instead of parsing. *eka*: the pack exists (from the check and "
             "warm-up runs). *eka, first run*: the pack is deleted before each run (untimed), so the "
             "run parses every file and writes the pack. *eka \`--no-parse-cache\`*: parses every "
             "file, reads and writes no pack.")
notes.append("Issue 5's figures (atom-nix on Nix 2.8: 431 ms and 3.06 s; the plain file 40 ms and "
             "102 ms) were measured on another occasion, on atoms of the same shape but not these files, "
             "so ratios against them mix two runs.")
if not have_atomnix:
    notes.append("**atom-nix was not run** (\`ATOM_NIX\` not given or not an atom-nix tree): "
                 "only issue 5's figures are shown for it.")
else:
    notes.append("atom-nix: \`nix-instantiate --read-write-mode --eval --strict -E 'import "
                 "<atom-nix>/core/importAtom.nix {} \"<atom dir>\"'\`. atom-nix copies every file "
                 "to the store (\`builtins.path\`) before \`scopedImport\`ing it, hence "
                 "\`--read-write-mode\`. *Files in the store*: they are already there from the previous "
                 "run, so each is only read and hashed. *Files not in the store*: before each run (untimed) "
                 "exactly the store paths of this atom's files are deleted, as on the first evaluation "
                 "after editing every file; the run then also writes them to the store.")
if skip_eka:
    notes.append("eka was not run (\`SKIP_EKA=1\`).")
atomnix_note = """$ATOMNIX_NOTE"""
if atomnix_note: notes.append(atomnix_note)
L.append("")
L += [n + "\n" for n in notes]
if not skip_eka:
    r = load(f"{res}/scale-time.json")
    L.append("## Scaling: N modules × 10 members\n")
    L.append("Composition must grow as n log n, not n². *× prev*: the time against the previous "
             "size's (when the size doubles: ≈ 2 if linear, a little more if n log n, 4 if quadratic). *marginal*: the added time "
             "per added file against the previous size, which leaves out the fixed start-up cost; "
             "it stays flat when the cost per file does not grow.\n")
    for label, key in (("eka (parse cache filled)", "eka {n}"), ("eka \`--no-parse-cache\`", "eka no cache {n}")):
        L.append(f"### {label}\n")
        L.append("| modules | files | eka | eka per file | eka × prev (size × prev) | eka marginal per file | plain file | plain per file |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        prev = None
        for n in scale:
            e, p = r[key.format(n=n)], r[f"plain {n}"]
            files = n * 11
            t = e["median"]
            per = f"{t / files * 1e6:.0f} µs"
            if prev:
                xp = f"{t / prev[1]:.2f} (×{files / prev[0]:.3g})"
                marg = f"{(t - prev[1]) / (files - prev[0]) * 1e6:.0f} µs"
            else:
                xp = marg = "—"
            L.append(f"| {n} | {files:,} | {cell(e)} | {per} | {xp} | {marg} | {cell(p)} | {p['median'] / files * 1e6:.0f} µs |")
            prev = (files, t)
        L.append("")
text = "\n".join(L)
open(out, "w").write(text)
print(); print(text)
PY
echo "== written to $OUT"
