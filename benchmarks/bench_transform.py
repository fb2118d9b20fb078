"""Transform throughput and ODE cost of a DiDi model, and training time per epoch.

    python benchmarks/bench_transform.py [--model DIR] [--input FILE] [--events N] [--device cpu|cuda]
                                         [--solve-batch N ...]

Reports (medians of repeats): end-to-end events/s (read + flow + write) without
and with classifier weights, and with the plain (not beam-symmetrised) map, the flow alone and the
classifier alone in events/s,
velocity evaluations (NFE) per dopri5 solve, and the median training seconds per
epoch recorded in the model directory. ``--solve-batch 2000 5000 20000`` compares
the flow for several numbers of events per dopri5 solve.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lhe_didi.input_check import header_parameters
from lhe_didi.io.reader import LheReader, concatenate
from lhe_didi.kinematics.recoil import to_zero_pt_frame
from lhe_didi.reweight import DEFAULT_CLASSIFIER, ClassifierModel
from lhe_didi.transform import DEFAULT_MODEL, DidiModel, TransformSettings, transform_file

HVQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "hvq" / "hvq_lo_emu_100k.lhe.gz"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER)
    parser.add_argument("--input", type=Path, default=HVQ)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--solve-batch",
        type=int,
        nargs="*",
        help="events per dopri5 solve to compare for the flow (default: the model's own choice)",
    )
    args = parser.parse_args()

    model = DidiModel(args.model, args.device)
    reader = LheReader(args.input)
    batch = concatenate(list(reader.batches(10_000, args.events)))
    if model.condition is not None:  # a mass-conditional model flows at the input's mass, as transform does
        model.top_mass = header_parameters(reader.header)["top_mass"]
    features = model.representation.encode(to_zero_pt_frame(batch.momenta)).features

    flow_rates, default_solve_batch = {}, model.solve_batch
    for solve_batch in args.solve_batch or [default_solve_batch]:
        model.solve_batch = solve_batch
        flow_times, nfe = [], []
        for _ in range(args.repeats):
            model.function_evaluations = model.solves = 0
            start = time.perf_counter()
            for first in range(0, len(features), args.batch_size):
                model.flow(features[first : first + args.batch_size])
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            flow_times.append(time.perf_counter() - start)
            nfe.append(model.function_evaluations / max(model.solves, 1))
        flow_rates[solve_batch] = (len(features) / statistics.median(flow_times), statistics.median(nfe))
    model.solve_batch = default_solve_batch

    classifier = ClassifierModel(args.classifier, args.device) if (args.classifier / "config.json").exists() else None
    classifier_times = []
    for _ in range(args.repeats if classifier else 0):
        start = time.perf_counter()
        classifier.weights(batch.momenta, top_mass=model.top_mass)
        classifier_times.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "input.lhe"
        # end to end on a file of exactly the benchmark size
        from lhe_didi.io.writer import LheWriter

        reader = LheReader(args.input)
        with LheWriter(subset, reader.header, {"command": "benchmark input"}) as writer:
            writer.write(batch)
        end_to_end, plain, weighted = [], [], []
        for _ in range(args.repeats):
            common = dict(model_dir=args.model, device=args.device, batch_size=args.batch_size)
            out = Path(tmp) / "out.lhe"
            report = transform_file(subset, out, TransformSettings(**common, use_classifier=False))
            end_to_end.append(report.seconds)
            plain.append(
                transform_file(
                    subset, out, TransformSettings(**common, use_classifier=False, beam_symmetrise=False)
                ).seconds
            )
            if classifier:
                weighted.append(
                    transform_file(subset, out, TransformSettings(**common, classifier_dir=args.classifier)).seconds
                )

    history = [h for h in model.config["training"]["history"] if h["epoch"] > 0]
    threads = torch.get_num_threads()
    print(f"model {args.model} ({model.config['architecture']}), device {model.device}, torch threads {threads}")
    print(f"events {len(features)}, batch {args.batch_size}, repeats {args.repeats} (medians)")
    for solve_batch, (rate, nfe) in flow_rates.items():
        print(f"flow only:   {rate:9.0f} events/s, NFE per solve {nfe:.0f} (solves of {solve_batch or 'all'} events)")
    print(
        f"end to end:  {len(features) / statistics.median(end_to_end):9.0f} events/s ({report.events_out} written,"
        f" beam-symmetrised); plain map {len(features) / statistics.median(plain):.0f} events/s"
    )
    if classifier:
        print(
            f"classifier:  {len(features) / statistics.median(classifier_times):9.0f} events/s (observables + network)"
        )
        print(f"end to end with classifier weights: {len(features) / statistics.median(weighted):9.0f} events/s")
    if history:
        print(
            f"training:    {np.median([h['seconds'] for h in history]):.1f} s/epoch on"
            f" {model.config['training']['device_used']}"
        )


if __name__ == "__main__":
    main()
