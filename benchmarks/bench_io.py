"""Throughput of the reader, the event map and the writer, in events/s (median of repeats).

    python benchmarks/bench_io.py [FILE] [--events N] [--repeats R]

Defaults to the real POWHEG hvq LO sample in ../shared/data/hvq. Not a test:
timings on shared machines are noisy, so medians are reported.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lhe_didi.io.reader import LheReader, concatenate
from lhe_didi.io.writer import LheWriter
from lhe_didi.kinematics import event_map as em
from lhe_didi.kinematics.representation import Preprocessor

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "hvq" / "hvq_lo_emu_100k.lhe.gz"


def timed(function, repeats: int) -> float:
    """Median wall time of ``function()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=DEFAULT, type=Path)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    def read():
        reader = LheReader(args.file)
        batches, n = [], 0
        for batch in reader.batches(5_000):
            batches.append(batch)
            n += len(batch)
            if n >= args.events:
                break
        return reader, concatenate(batches)

    reader, batch = read()
    n = len(batch)
    t_read = timed(read, args.repeats)

    preprocessor = Preprocessor.fit(em.encode(batch.momenta).features)

    def map_round_trip():
        encoded = em.encode(batch.momenta)
        z = preprocessor.forward(encoded.features)
        features = preprocessor.inverse(z)[:, em.PHYSICAL_COLUMNS]
        return em.decode(features, encoded.rotation, batch.masses, batch.extra_transverse_momentum)

    t_map = timed(map_round_trip, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:

        def write(suffix):
            with LheWriter(Path(tmp) / f"bench.lhe{suffix}", reader.header, {"command": "benchmark"}) as writer:
                writer.write(batch)

        t_write = timed(lambda: write(""), args.repeats)
        t_write_gz = timed(lambda: write(".gz"), args.repeats)

    print(f"file: {args.file}  events: {n}  repeats: {args.repeats} (medians)")
    print(f"reader (pylhe + identification)  {n / t_read:10.0f} events/s")
    print(f"event map encode+preprocess+inverse+decode  {n / t_map:10.0f} events/s")
    print(f"writer (.lhe)                    {n / t_write:10.0f} events/s")
    print(f"writer (.lhe.gz)                 {n / t_write_gz:10.0f} events/s")
    assert np.isfinite(map_round_trip()).all()


if __name__ == "__main__":
    main()
