#!/usr/bin/env python3
"""eka against Nix on eval-bench files, run in alternating pairs.

    bench/eval-interleaved.py EKA [RUNS] FILE...

hyperfine runs every eka run before every Nix run, which charges a
drifting machine (a VM whose neighbours come and go) to one side. Here each
pair runs eka then Nix, or Nix then eka, alternately; the figures are the
median of the per-pair ratios and the ratio of the medians and of the
minima (eka / Nix, lower is faster). Results are checked to agree.
"""
import statistics
import subprocess
import sys
import time


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out.strip()


def main():
    eka, runs, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    print("| file | eka median | nix median | median of pair ratios | ratio of medians | ratio of minima |")
    print("|---|---:|---:|---:|---:|---:|")
    for f in files:
        cmds = {
            "eka": [eka, "eval", "--strict", f],
            "nix": ["nix-instantiate", "--eval", "--strict", f],
        }
        for cmd in cmds.values():  # warm-up, and the results must agree
            timed(cmd)
        outs = {k: timed(c)[1] for k, c in cmds.items()}
        if outs["eka"] != outs["nix"]:
            sys.exit(f"{f}: eka printed {outs['eka']!r}, nix printed {outs['nix']!r}")
        times = {"eka": [], "nix": []}
        for i in range(runs):
            for k in (["eka", "nix"] if i % 2 == 0 else ["nix", "eka"]):
                times[k].append(timed(cmds[k])[0])
        pairs = [e / n for e, n in zip(times["eka"], times["nix"])]
        med = {k: statistics.median(t) for k, t in times.items()}
        print(
            f"| {f.rsplit('/', 1)[-1]} | {med['eka'] * 1e3:.1f} ms | {med['nix'] * 1e3:.1f} ms "
            f"| {statistics.median(pairs):.3f} | {med['eka'] / med['nix']:.3f} "
            f"| {min(times['eka']) / min(times['nix']):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
