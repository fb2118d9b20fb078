"""Per-event accuracy of (model, solver) choices against one exact solve, and the flow's speed.

    python benchmarks/solver_accuracy.py ONSHELL.lhe.gz REFERENCE_MODEL MODEL:SOLVER [MODEL:SOLVER ...]

SOLVER is ``dopri5`` or ``rk4-N``, with ``-bfloat16`` for bfloat16 velocity evaluations; the reference is
REFERENCE_MODEL solved by dopri5 at rtol = atol = 1e-7 in float32. The first 20k events of ONSHELL (a mass-conditional
model is given its header's top mass) go through every choice; per choice: |delta m(b l nu)| (t and t~) against the
reference at the 50th and 99th percentile, the fraction of tops moved by more than 1 GeV, velocity evaluations per
solve and flow-only events/s on this process's threads. For a reflowed student against its teacher this is the
student's map error and its discretisation error together.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from lhe_didi.input_check import header_parameters
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses
from lhe_didi.kinematics.recoil import to_zero_pt_frame
from lhe_didi.transform import DidiModel, Solver

EVENTS = 20_000


def solver_from(text: str) -> Solver:
    """``dopri5``, ``rk4-N``, either with ``-bfloat16`` appended for bfloat16 velocity evaluations (else float32)."""
    text, bfloat16 = text.removesuffix("-bfloat16"), text.endswith("-bfloat16")
    precision = "bfloat16" if bfloat16 else "float32"
    if text == "dopri5":
        return Solver("dopri5", precision=precision)
    method, steps = text.split("-")
    return Solver(method, int(steps), precision=precision)


def top_masses(model: DidiModel, encoded, batch, features: np.ndarray) -> np.ndarray:
    momenta = model.representation.decode(features, encoded.rotation, batch.masses, "boost")
    masses = system_masses(momenta)
    return np.concatenate([masses["t"], masses["tbar"]])


def main(path: str, reference_dir: str, choices: list[str]) -> None:
    batch = next(LheReader(path).batches(EVENTS))
    top_mass = header_parameters(LheReader(path).header).get("top_mass", 172.5)
    reference = DidiModel(reference_dir, "cpu")
    reference.top_mass = top_mass
    encoded = reference.representation.encode(to_zero_pt_frame(batch.momenta))
    exact_solver = Solver("dopri5", 0, 1e-7, 1e-7, "float32")
    exact = top_masses(reference, encoded, batch, reference.flow(encoded.features, exact_solver))
    print(f"{len(batch)} events of {path} at m_t = {top_mass} GeV; {torch.get_num_threads()} thread(s)")
    print("| model | solver | evaluations | abs(dm_t) median (GeV) | 99th percentile | > 1 GeV | flow events/s |")
    print("|---|---|---|---|---|---|---|")
    for choice in choices:
        model_dir, solver_text = choice.rsplit(":", 1)
        model = DidiModel(model_dir, "cpu")
        model.top_mass = top_mass
        model.function_evaluations = model.solves = 0
        started = time.perf_counter()
        features = model.flow(encoded.features, solver_from(solver_text))
        seconds = time.perf_counter() - started
        delta = np.abs(top_masses(model, encoded, batch, features) - exact)
        delta = delta[np.isfinite(delta)]
        evaluations = model.function_evaluations / max(model.solves, 1)
        print(
            f"| {model.content_hash[:8]} | {solver_text} | {evaluations:.0f} | {np.median(delta):.4f} |"
            f" {np.quantile(delta, 0.99):.3f} | {np.mean(delta > 1.0):.2%} | {len(batch) / seconds:.0f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
