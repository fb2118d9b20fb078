"""``lhe-didi transform --workers N`` against ``--workers 1`` (the run in the calling process), as a user runs them.

    python benchmarks/bench_cluster.py [--input FILE] [--files K] [--events N] [--workers 2] [--repeats R]

Each run is the whole command in a child process (imports, cluster start, reading, flow, writing, closing), one
torch thread per process, defaults otherwise. With ``--files 1`` and no ``--events`` the input file itself is
transformed (on N workers: cut into ranges of one batch); otherwise K copies of its first N events (different
names). Reports, from R alternating repeats: median wall times, events/s, the speed-up, the CPU seconds each run
used (its cores in use = CPU / wall: the run in one process already reads and writes on a second thread), whether
the outputs are byte-identical, and the machine's own ceiling: N plain one-process transforms side by side against
one alone.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HVQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "hvq" / "hvq_lo_emu_100k.lhe.gz"
COMMON = ["--threads", "1", "--device", "cpu"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, default=HVQ)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs, events = benchmark_inputs(args, tmp)
        names = ("--workers 1", f"--workers {args.workers}")
        runs = {name: [] for name in names}
        alone, side = [], []
        outputs = {}
        for _ in range(args.repeats):
            for name in names:
                target = tmp / name.replace(" ", "").replace("-", "")
                shutil.rmtree(target, ignore_errors=True)
                target = target if len(inputs) > 1 else target.with_suffix(".lhe.gz")
                runs[name].append(cli(["transform", *map(str, inputs), "-o", str(target), *COMMON, *name.split()]))
                outputs[name] = output_bytes(target)
            alone.append(side_by_side(inputs[0], tmp, 1))
            side.append(side_by_side(inputs[0], tmp, args.workers))
        identical = outputs[names[0]] == outputs[names[1]]
    print(f"{len(inputs)} file(s), {events} events of {args.input}; medians of {args.repeats} alternating repeats"
          f" (wall, CPU seconds: {runs}); outputs byte-identical: {identical}")  # fmt: skip
    walls = {name: statistics.median(w for w, _ in values) for name, values in runs.items()}
    for name, values in runs.items():
        cores = statistics.median(c / w for w, c in values)
        print(f"{name:12s} {walls[name]:7.1f} s  {events / walls[name]:6.0f} events/s  cores in use {cores:.2f}"
              f"  speed-up {walls[names[0]] / walls[name]:.2f}")  # fmt: skip
    one, many = statistics.median(w for w, _ in alone), statistics.median(w for w, _ in side)
    print(f"machine ceiling: {args.workers} plain transforms of {inputs[0].name} side by side {many:.1f} s, one alone"
          f" {one:.1f} s: {args.workers * one / many:.2f}x")  # fmt: skip


def benchmark_inputs(args, tmp: Path) -> tuple[list[Path], int]:
    """The input file itself, or ``--files`` copies of its first ``--events`` events; and the number of events."""
    from lhe_didi.io.reader import LheReader, concatenate
    from lhe_didi.io.writer import LheWriter

    if args.files == 1 and args.events is None:
        return [args.input], sum(len(b) for b in LheReader(args.input).batches(100_000))
    reader = LheReader(args.input)
    batch = concatenate(list(reader.batches(10_000, args.events)))
    inputs = []
    for k in range(args.files):
        inputs.append(tmp / f"in{k}.lhe.gz")
        with LheWriter(inputs[-1], reader.header, {"command": "benchmark input"}) as writer:
            writer.write(batch)
    return inputs, args.files * len(batch)


def cli(arguments: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the child and its worker processes) of one ``lhe-didi`` command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lhe_didi", *arguments], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"lhe-didi {' '.join(arguments)} failed: {done.stderr.strip().splitlines()[-1:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def output_bytes(target: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(target.iterdir())] if target.is_dir() else [target.read_bytes()]


def side_by_side(source: Path, tmp: Path, processes: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``processes`` plain ``lhe-didi transform`` runs of ``source`` started together."""
    command = [sys.executable, "-m", "lhe_didi", "transform", str(source), *COMMON]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            command + ["-o", str(tmp / f"side-{k}.lhe.gz")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )  # fmt: skip
        for k in range(processes)
    ]
    if any(p.wait() for p in running):
        raise SystemExit("a side-by-side transform failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


if __name__ == "__main__":
    main()
