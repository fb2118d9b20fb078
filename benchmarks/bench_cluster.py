"""Transform throughput over several files: one process against a local Dask cluster of 1 and N workers.

    python benchmarks/bench_cluster.py [--input FILE] [--files K] [--events N] [--workers 2] [--repeats R]

Writes K copies of the first N events of FILE (different names) and transforms them (defaults, .lhe.gz out)
in-process (one torch thread), on a local cluster of 1 worker and of ``--workers`` workers (one thread each; with
``--files 1`` the file is cut into event ranges). Reports median wall times of R alternating repeats, events/s and
the speed-up over the single worker; checks that every output is byte-identical to the in-process one; and the
machine's own ceiling: ``--workers`` plain ``lhe-didi transform`` processes of one file each side by side against
one alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from lhe_didi.cluster import transform_files
from lhe_didi.io.reader import LheReader, concatenate
from lhe_didi.io.writer import LheWriter
from lhe_didi.transform import TransformSettings

HVQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "hvq" / "hvq_lo_emu_100k.lhe.gz"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, default=HVQ)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = TransformSettings(device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reader = LheReader(args.input)
        batch = concatenate(list(reader.batches(10_000, args.events)))
        inputs = []
        for k in range(args.files):
            inputs.append(tmp / f"in{k}.lhe.gz")
            with LheWriter(inputs[-1], reader.header, {"command": "benchmark input"}) as writer:
                writer.write(batch)
        events = args.files * len(batch)
        names = ("in-process", "1 worker", f"{args.workers} workers")
        seconds, outputs = {name: [] for name in names}, {}
        alone, side = [], []
        for _ in range(args.repeats):
            for name in names:
                out = tmp / name.replace(" ", "-")
                shutil.rmtree(out, ignore_errors=True)
                workers = 1 if name == "in-process" else int(name.split()[0])
                start = time.perf_counter()
                if name == "1 worker":  # a one-worker cluster: the cluster path with its start-up cost
                    from distributed import LocalCluster

                    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
                        transform_files(inputs, out, settings, scheduler=cluster.scheduler_address)
                else:
                    transform_files(inputs, out, settings, workers=workers)
                seconds[name].append(time.perf_counter() - start)
                outputs[name] = {p.name: p.read_bytes() for p in out.iterdir()}
            alone.append(side_by_side(inputs[0], tmp, 1))
            side.append(side_by_side(inputs[0], tmp, args.workers))
        identical = all(o == outputs["in-process"] for o in outputs.values())
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{args.files} files x {len(batch)} events of {args.input}; medians of {args.repeats} (all: {seconds});"
          f" outputs identical to in-process: {identical}")  # fmt: skip
    for name, s in median.items():
        print(f"{name:12s} {s:7.1f} s  {events / s:6.0f} events/s  speed-up over 1 worker {median['1 worker'] / s:.2f}")
    ceiling = args.workers * statistics.median(alone) / statistics.median(side)
    print(f"machine ceiling: {args.workers} plain transforms of {len(batch)} events side by side"
          f" {statistics.median(side):.1f} s, one alone {statistics.median(alone):.1f} s: {ceiling:.2f}x")  # fmt: skip


def side_by_side(source: Path, tmp: Path, processes: int) -> float:
    """Wall seconds of ``processes`` plain ``lhe-didi transform`` runs of ``source`` started together."""
    command = [sys.executable, "-m", "lhe_didi", "transform", str(source), "--threads", "1", "--device", "cpu"]
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            command + ["-o", str(tmp / f"side-{k}.lhe.gz")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )  # fmt: skip
        for k in range(processes)
    ]
    if any(p.wait() for p in running):
        raise SystemExit("a side-by-side transform failed")
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
