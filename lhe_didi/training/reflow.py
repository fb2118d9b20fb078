"""Reflow: straighten a trained DiDi model's paths so that a fixed-step solver needs fewer steps.

Rectified flow (Liu, Gong, Liu, arXiv:2209.03003, "reflow"): the teacher maps on-shell events z1 to
z0 = Phi(z1) with the solver transform uses for it; the student, started from the teacher's weights, is trained by flow
matching on these deterministic pairs (x_t = (1 - t) z0 + t z1, target z1 - z0). The pairs have the teacher's
output as their off-shell marginal, so the student maps onto the same distribution, while its paths no longer
cross and become nearly straight. The student keeps the teacher's preprocessing, feature ranges, conditions and
training-data provenance (it accepts exactly the inputs the teacher accepts).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..conditions import top_width
from ..errors import LheDidiError
from ..input_check import header_parameters
from ..io.reader import LheReader
from ..models.store import load_model_dir
from ..transform import DidiModel, Solver
from .data import load_features, reading_progress
from .didi import DidiSettings, DidiTrainingData, fit_didi


def teacher_pairs(
    teacher: DidiModel,
    onshell_files: list[str | Path],
    solver: Solver | None = None,
    max_events: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> DidiTrainingData:
    """Standardised on-shell coordinates of the files' events and the teacher's images of them, shuffled together.
    ``solver`` None: the solver ``transform`` uses for the teacher, in float32 (the student learns what transform
    makes, without bfloat16 rounding).
    A mass-conditional teacher needs each file's top mass in its header (one mass per file)."""
    solver = (solver or Solver(precision="float32")).for_model(teacher.config)
    ons, offs, masses, provenance = [], [], [], []
    for path in onshell_files:
        top = None
        if teacher.condition is not None:
            stated = header_parameters(LheReader(path).header)
            if "top_mass" not in stated:
                raise LheDidiError(f"{path}: the header states no top mass; a mass-conditional teacher needs it")
            teacher.condition.check(stated["top_mass"], stated.get("top_width"), f"reflow input {path}")
            teacher.top_mass = float(stated["top_mass"])
            top = (teacher.top_mass, top_width(teacher.top_mass))
        with reading_progress(path, progress) as update:
            features, info = load_features(path, max_events, seed, teacher.representation.name, update)
        z1 = torch.as_tensor(teacher.preprocessor.forward(features, top), dtype=torch.float32)
        z0 = teacher.flow_standardised(z1.to(teacher.device), solver).cpu()
        finite = torch.isfinite(z0).all(dim=1)
        if not bool(finite.all()):
            raise LheDidiError(f"{path}: the teacher's solve gave {int((~finite).sum())} non-finite events")
        ons.append(z1.numpy())
        offs.append(z0.numpy())
        masses.append(np.full(len(z1), teacher.top_mass if top else np.nan))
        provenance.append(info)
    on, off, mass = np.concatenate(ons), np.concatenate(offs), np.concatenate(masses)
    order = np.random.default_rng(seed).permutation(len(on))  # one order for both sides: the rows stay pairs
    conditional = teacher.condition is not None
    if conditional:
        missing = set(teacher.condition.trained_masses) - {round(float(m), 3) for m in np.unique(mass)}
        if missing:
            raise LheDidiError(f"reflow of a mass-conditional model needs on-shell files at {sorted(missing)} GeV too")
    return DidiTrainingData(
        on[order],
        off[order],
        teacher.preprocessor,
        teacher.config["feature_ranges"],
        {"onshell": provenance, "solver": solver.provenance()},
        mass[order] if conditional else None,
        mass[order] if conditional else None,
    )


def train_reflow(
    teacher_directory: str | Path,
    onshell_files: list[str | Path],
    output: str | Path,
    settings: DidiSettings,
    resume: bool = False,
    progress: bool = True,
    solver: Solver | None = None,
    transform_steps: int | None = None,
    start_from: str | Path | None = None,
) -> dict:
    """Train a student of the teacher model on its own pairs and write it to ``output``; returns the summary.
    ``transform_steps``: the rk4 steps ``transform`` takes for the student unless told otherwise (config
    ``transform.rk4_steps``; None: the general default). ``start_from``: a student of the same teacher to continue
    training from (instead of the teacher's weights)."""
    settings = replace(settings, coupling="reflow")
    teacher = DidiModel(teacher_directory, settings.device)
    architecture = teacher.config["architecture"]
    if architecture["bayesian"]:
        raise LheDidiError(f"{teacher_directory}: reflow of a Bayesian model is not supported")
    preprocessing = teacher.preprocessor.to_dict()
    settings = replace(
        settings,
        width=architecture["width"],
        depth=architecture["depth"],
        embedding=architecture["embedding"],
        representation=preprocessing["representation"],
        breit_wigner_scale=preprocessing.get("breit_wigner_scale", "width"),
    )
    tensors, started = load_model_dir(start_from or teacher_directory, "didi")
    if start_from is not None and started.get("reflow", {}).get("teacher") != teacher.content_hash:
        raise LheDidiError(f"{start_from} is not a reflow student of {teacher_directory}")
    torch.manual_seed(settings.seed)
    pairs = teacher_pairs(teacher, onshell_files, solver, settings.max_events, settings.seed, progress)
    reflow = {
        "teacher": teacher.content_hash,
        "lineage": list(teacher.lineage),
        "teacher_directory": Path(teacher_directory).name,
        "teacher_solver": pairs.data["solver"],
        "pairs": pairs.data["onshell"],
    }
    if start_from is not None:
        reflow["started_from"] = started["content_hash"]
    pairs.data = teacher.config["data"]  # the student accepts what the teacher was trained for
    extra = {"reflow": reflow}
    if transform_steps is not None:
        extra["transform"] = {"rk4_steps": transform_steps}
    return fit_didi(pairs, output, settings, resume, progress, initial_state=tensors, extra_config=extra)
