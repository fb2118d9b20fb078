"""Reference generator: peak memory of one run, and one vs several workers for a sharded run.

    python benchmarks/bench_generate.py memory [--sample onshell] [--events 2500000]
    python benchmarks/bench_generate.py workers [--sample onshell] [--events 200000] [--workers 2]

``memory``: ``lhe-didi generate`` in a child process; its peak resident memory (ru_maxrss) and events/s.
``workers``: the same sharded run (shards = workers) on one process, one after the other, and on a local Dask
cluster of ``--workers`` processes; wall times, the speed-up and whether both files are byte-identical. Wall times
include each worker's start-up (imports, matrix-element loading, adaptation). Needs the 'generate' extra (and
'cluster' for ``workers``); the matrix elements must be built already (any earlier ``generate``).
"""

from __future__ import annotations

import argparse
import resource
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


def workers(args, folder: Path) -> None:
    shards = ["--seed", "1", "--shards", str(args.workers)]
    one = generate(folder / "one.lhe.gz", args.sample, args.events, *shards)
    many = generate(folder / "many.lhe.gz", args.sample, args.events, *shards, "--workers", str(args.workers))
    same = (folder / "one.lhe.gz").read_bytes() == (folder / "many.lhe.gz").read_bytes()
    rate = args.events / many
    print(f"{args.sample}, {args.events} events in {args.workers} shards: one process {one:.1f} s"
          f" ({args.events / one:.0f} events/s), {args.workers} workers {many:.1f} s ({rate:.0f} events/s):"
          f" {one / many:.2f}x; files byte-identical: {same}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["memory", "workers"])
    parser.add_argument("--sample", default="onshell", choices=["onshell", "offshell", "doubly-resonant"])
    parser.add_argument("--events", type=int)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.events = args.events or (2_500_000 if args.what == "memory" else 200_000)
    with tempfile.TemporaryDirectory() as folder:
        (memory if args.what == "memory" else workers)(args, Path(folder))


if __name__ == "__main__":
    main()
