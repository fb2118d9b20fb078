"""Reference generator: peak memory of one run, and one vs several workers for a sharded run.

    python benchmarks/bench_generate.py memory [--sample onshell] [--events 2500000]
    python benchmarks/bench_generate.py workers [--sample onshell] [--events 200000] [--workers 2]

``memory``: ``lhe-didi generate`` in a child process; its peak resident memory (ru_maxrss) and events/s.
``workers``: the plain run, the same run in shards (shards = workers) on one process and on a local Dask cluster
of ``--workers`` processes, medians of ``--repeats`` alternating repeats; the speed-ups, whether the sharded files
are byte-identical, and the machine's own ceiling (N plain runs of 1/N of the events side by side against one
alone). Wall times include each worker's start-up (imports, matrix-element loading, adaptation). Needs the
'generate' extra (and 'cluster' for ``workers``); the matrix elements must be built already (any earlier
``generate``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(output: Path, sample: str, events: int, *options: str) -> float:
    """Wall seconds of one ``lhe-didi generate`` run in a child process."""
    command = [sys.executable, "-m", "lhe_didi", "generate", sample, "-n", str(events), "-o", str(output), *options]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def memory(args, folder: Path) -> None:
    seconds = generate(folder / "run.lhe.gz", args.sample, args.events, "--seed", "1")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
    print(f"{args.sample}, {args.events} events: peak RSS {peak:.0f} MB, {seconds:.0f} s, {args.events / seconds:.0f}"
          " events/s (set-up included)")  # fmt: skip


def side_by_side(folder: Path, sample: str, events: int, processes: int) -> float:
    """Wall seconds of ``processes`` plain runs of ``events`` each, started together (the machine's own ceiling)."""
    command = [sys.executable, "-m", "lhe_didi", "generate", sample, "-n", str(events)]
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            command + ["--seed", str(k + 1), "-o", str(folder / f"alone-{k}.lhe.gz")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for k in range(processes)
    ]
    if any(p.wait() for p in running):
        raise SystemExit("a side-by-side run failed")
    return time.perf_counter() - start


def workers(args, folder: Path) -> None:
    """Alternating repeats (the machine is shared: medians): the plain run, the sharded run on one process and on
    N workers, and N plain runs of 1/N of the events side by side against one of them alone."""
    n, k = args.events, args.workers
    shards = ["--seed", "1", "--shards", str(k)]
    times: dict[str, list[float]] = {"plain": [], "sharded, one process": [], "workers": [], "alone": [], "side": []}
    for _ in range(args.repeats):
        times["plain"].append(generate(folder / "plain.lhe.gz", args.sample, n, "--seed", "1"))
        times["sharded, one process"].append(generate(folder / "one.lhe.gz", args.sample, n, *shards))
        times["workers"].append(generate(folder / "many.lhe.gz", args.sample, n, *shards, "--workers", str(k)))
        times["alone"].append(generate(folder / "alone.lhe.gz", args.sample, n // k, "--seed", "1"))
        times["side"].append(side_by_side(folder, args.sample, n // k, k))
    same = (folder / "one.lhe.gz").read_bytes() == (folder / "many.lhe.gz").read_bytes()
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.sample}, {n} events, {k} shards, medians of {args.repeats} (all runs: {times})")
    for name in ("plain", "sharded, one process", "workers"):
        print(f"  {name:22s} {median[name]:6.1f} s  {n / median[name]:6.0f} events/s")
    print(
        f"  {k} workers vs the plain run {median['plain'] / median['workers']:.2f}x, vs the sharded run on one"
        f" process {median['sharded, one process'] / median['workers']:.2f}x; files byte-identical: {same}"
    )
    print(
        f"  machine ceiling: {k} plain runs of {n // k} side by side {median['side']:.1f} s, one alone"
        f" {median['alone']:.1f} s: {k * median['alone'] / median['side']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["memory", "workers"])
    parser.add_argument("--sample", default="onshell", choices=["onshell", "offshell", "doubly-resonant"])
    parser.add_argument("--events", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.events = args.events or (2_500_000 if args.what == "memory" else 200_000)
    with tempfile.TemporaryDirectory() as folder:
        (memory if args.what == "memory" else workers)(args, Path(folder))


if __name__ == "__main__":
    main()
