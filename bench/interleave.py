#!/usr/bin/env python3
"""Times an unsigned and a signed case in alternating order.

    bench/interleave.py LABEL UNIT RUNS PREPARE_UNSIGNED CMD_UNSIGNED PREPARE_SIGNED CMD_SIGNED

hyperfine runs every run of one case before the other's, which charges a
drifting machine to the second case. Here the runs alternate (unsigned,
signed, then signed, unsigned, ...). Each PREPARE is a shell command run,
untimed, before each run of its case; each CMD a shell command, timed.
UNIT is `s` or `ms`. Prints each case's mean, median and minimum, and the
ratios signed / unsigned of the means, medians and minima.
"""
import statistics
import subprocess
import sys
import time


def main():
    label, unit, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cases = {"unsigned": sys.argv[4:6], "signed": sys.argv[6:8]}
    scale, fmt = (1000, "{:.1f} ms") if unit == "ms" else (1, "{:.3f} s")
    times = {case: [] for case in cases}
    for i in range(runs):
        for case in (["unsigned", "signed"] if i % 2 == 0 else ["signed", "unsigned"]):
            prepare, command = cases[case]
            subprocess.run(prepare, shell=True, check=True)
            start = time.perf_counter()
            subprocess.run(command, shell=True, check=True)
            times[case].append(time.perf_counter() - start)
    show = lambda x: fmt.format(x * scale)
    for case, t in times.items():
        print(f"{label}, {case}: mean {show(statistics.mean(t))} ± {show(statistics.stdev(t))}, "
              f"median {show(statistics.median(t))}, min {show(min(t))} ({len(t)} runs)")
    ratio = lambda f: f(times["signed"]) / f(times["unsigned"])
    print(f"{label}, ratio (signed / unsigned): means {ratio(statistics.mean):.3f}, "
          f"medians {ratio(statistics.median):.3f}, minima {ratio(min):.3f}")


if __name__ == "__main__":
    main()
