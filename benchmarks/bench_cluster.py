"""Transform throughput over several files: one process against a local Dask cluster of 1 and N workers.

    python benchmarks/bench_cluster.py [--input FILE] [--files K] [--events N] [--workers 2]

Writes K copies of the first N events of FILE (different names) and transforms them (defaults, .lhe.gz out) with
``lhe-didi transform`` in-process (one torch thread), on a local cluster of 1 worker and of ``--workers`` workers
(one thread each). Reports wall time, events/s and the speed-up over the single worker; checks that every output
is byte-identical to the in-process one.
"""

from __future__ import annotations

import argparse
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
        seconds, outputs = {}, {}
        for name in ("in-process", "1 worker", f"{args.workers} workers"):
            out = tmp / name.replace(" ", "-")
            workers = 1 if name == "in-process" else int(name.split()[0])
            start = time.perf_counter()
            if name == "1 worker":  # a one-worker cluster: the cluster path with its start-up cost
                from distributed import LocalCluster

                with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
                    transform_files(inputs, out, settings, scheduler=cluster.scheduler_address)
            else:
                transform_files(inputs, out, settings, workers=workers)
            seconds[name] = time.perf_counter() - start
            outputs[name] = {p.name: p.read_bytes() for p in out.iterdir()}
        identical = all(o == outputs["in-process"] for o in outputs.values())
    print(f"{args.files} files x {len(batch)} events of {args.input}; outputs identical to in-process: {identical}")
    for name, s in seconds.items():
        print(
            f"{name:12s} {s:7.1f} s  {events / s:6.0f} events/s  speed-up over 1 worker {seconds['1 worker'] / s:.2f}"
        )


if __name__ == "__main__":
    main()
