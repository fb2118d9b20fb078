"""Transform throughput, stage by stage, and the cost of the earlier defaults on the same machine.

    python benchmarks/bench_transform.py [--model DIR] [--classifier DIR] [--input FILE] [--events N]
                                         [--device cpu|cuda] [--repeats K] [--solve-batch N ...]

Run with one thread (``OMP_NUM_THREADS=1``) for per-core figures. Reports medians of ``--repeats``:

- reading the benchmark file: gzip decompression alone (the floor), the fast parser, pylhe;
- the flow alone: the default solver (fixed-step rk4, network in bfloat16 where the hardware has it), rk4 in
  float32, and adaptive dopri5 (rtol = atol = 1e-5, float32: the default before), events/s and velocity evaluations
  per solve;
- the classifier weights alone (observables + network) and the writer alone (.lhe.gz);
- end to end: wall time of ``transform_file`` on a .lhe.gz file of exactly the benchmark size, reading, model
  loading and writing included, with classifier weights, and events per CPU second (all threads of the process):
  the defaults (reading and writing in background threads), the defaults in one thread, the defaults with the
  network in float32, and the earlier defaults
  (pylhe reader, dopri5, one thread) in the same run;
- ``--solve-batch 2000 5000 20000``: the flow for several numbers of events per ODE solve.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lhe_didi.input_check import header_parameters
from lhe_didi.io.reader import LheReader, concatenate
from lhe_didi.io.writer import LheWriter
from lhe_didi.kinematics.recoil import to_zero_pt_frame
from lhe_didi.reweight import DEFAULT_CLASSIFIER, ClassifierModel
from lhe_didi.runtime import events_per_chunk, native_bfloat16
from lhe_didi.transform import DEFAULT_MODEL, DidiModel, Solver, TransformSettings, transform_file

HVQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "hvq" / "hvq_lo_emu_100k.lhe.gz"


def median_seconds(function, repeats: int) -> float:
    return median_times(function, repeats)[0]


def median_times(function, repeats: int) -> tuple[float, float]:
    """Median wall and CPU (all threads of the process) seconds of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def read_all(path: Path, parser: str) -> None:
    for _ in LheReader(path, parser=parser).batches(50_000):
        pass


def decompress(path: Path) -> None:
    with gzip.open(path, "rb") as stream:
        while stream.read(1 << 22):
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER)
    parser.add_argument("--input", type=Path, default=HVQ)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the transform's on this device")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--solve-batch", type=int, nargs="*", help="events per ODE solve to compare for the flow")
    args = parser.parse_args()

    model = DidiModel(args.model, args.device)
    args.batch_size = args.batch_size or events_per_chunk(model.device)
    reader = LheReader(args.input)
    batch = concatenate(list(reader.batches(10_000, args.events)))
    n = len(batch)
    if model.condition is not None:  # a mass-conditional model flows at the input's mass, as transform does
        model.top_mass = header_parameters(reader.header)["top_mass"]
    features = model.representation.encode(to_zero_pt_frame(batch.momenta)).features
    classifier = ClassifierModel(args.classifier, args.device) if (args.classifier / "config.json").exists() else None

    def flow(solver: Solver) -> tuple[float, float]:
        model.function_evaluations = model.solves = 0

        def run():
            for first in range(0, n, args.batch_size):
                model.flow(features[first : first + args.batch_size], solver)
            if model.device.type == "cuda":
                torch.cuda.synchronize()

        seconds = median_seconds(run, args.repeats)
        return n / seconds, model.function_evaluations / max(model.solves, 1)

    default = Solver().on(model.device).precision
    solvers = {
        f"rk4, {default} (default)": Solver(),
        "rk4, float32": Solver(precision="float32"),
        "dopri5 1e-5, float32 (before)": Solver("dopri5", precision="float32"),
    }
    flow_rates = {name: flow(solver) for name, solver in solvers.items()}
    solve_batches = {}
    for solve_batch in args.solve_batch or []:
        default, model.solve_batch = model.solve_batch, solve_batch
        solve_batches[solve_batch] = flow(Solver())
        model.solve_batch = default

    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "input.lhe.gz"
        with LheWriter(subset, reader.header, {"command": "benchmark input"}) as writer:
            writer.write(batch)
        reading = {
            "gzip decompression alone (floor)": n / median_seconds(lambda: decompress(subset), args.repeats),
            "fast parser (default)": n / median_seconds(lambda: read_all(subset, "fast"), args.repeats),
            "pylhe (before)": n / median_seconds(lambda: read_all(subset, "pylhe"), args.repeats),
        }

        def write():
            with LheWriter(Path(tmp) / "written.lhe.gz", reader.header, {"command": "benchmark"}) as writer:
                writer.write(batch)

        writing = n / median_seconds(write, args.repeats)
        weights = (
            n / median_seconds(lambda: classifier.weights(batch.momenta, top_mass=model.top_mass), args.repeats)
            if classifier
            else None
        )
        out = Path(tmp) / "out.lhe.gz"
        common = dict(model_dir=args.model, device=args.device, batch_size=args.batch_size)
        use = dict(classifier_dir=args.classifier) if classifier else dict(use_classifier=False)

        def end_to_end(reader_choice: str, **settings) -> tuple[float, float]:
            os.environ["LHE_DIDI_READER"] = reader_choice
            try:
                wall, cpu = median_times(
                    lambda: transform_file(subset, out, TransformSettings(**common, **use, **settings)), args.repeats
                )
                return n / wall, n / cpu
            finally:
                del os.environ["LHE_DIDI_READER"]

        e2e = {
            "defaults (read-ahead and writer threads)": end_to_end("fast"),
            "defaults without overlap (one thread)": end_to_end("fast", overlap=False),
            "defaults in float32": end_to_end("fast", solver=Solver(precision="float32")),
            "before (pylhe reader, dopri5, one thread)": end_to_end(
                "pylhe", solver=Solver("dopri5", precision="float32"), overlap=False
            ),
        }

    threads = torch.get_num_threads()
    native = "yes" if native_bfloat16(model.device) else "no"
    print(f"model {args.model} ({model.config['architecture']}), device {model.device}, torch threads {threads},"
          f" bfloat16 in hardware: {native}")  # fmt: skip
    print(f"{n} events of {args.input}, chunks of {args.batch_size}, medians of {args.repeats}")
    for name, (rate, nfe) in flow_rates.items():
        print(f"flow, {name:31s} {rate:9.0f} events/s, {nfe:.0f} velocity evaluations per solve")
    for solve_batch, (rate, _) in solve_batches.items():
        print(f"flow, rk4 in solves of {solve_batch:6d}  {rate:9.0f} events/s")
    for name, rate in reading.items():
        print(f"read, {name:33s} {rate:9.0f} events/s")
    print(f"write (.lhe.gz)                          {writing:9.0f} events/s")
    if weights:
        print(f"classifier weights (observables + net)   {weights:9.0f} events/s")
    what = "with classifier weights" if classifier else "without classifier"
    for name, (wall, cpu) in e2e.items():
        print(f"end to end, {what}, {name:42s} {wall:6.0f} events/s ({cpu:.0f} per CPU second)")


if __name__ == "__main__":
    main()
