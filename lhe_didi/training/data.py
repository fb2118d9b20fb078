"""Training inputs: LHE files -> DiDi coordinates (decay products in their zero-pT frame) or classifier observables."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..constants import TOP_MASS
from ..errors import LheDidiError
from ..input_check import LineShape, header_parameters
from ..io.reader import LheHeader, LheReader
from ..kinematics import representation as representations
from ..kinematics.observables import classifier_observables
from ..kinematics.recoil import to_zero_pt_frame
from ..kinematics.symmetry import beam_exchange
from ..models.store import file_sha256

MAX_UNIT_WEIGHT_EXPANSION = 2.0  # DiDi training refuses samples whose unit-weight copies would exceed this x events


@contextmanager
def reading_progress(path: str | Path, enabled: bool = True):
    """Progress of reading a training file (minutes for millions of events on a CPU): a bar on a terminal, one
    stderr line when the file is read otherwise (batch jobs). Yields the callable taking each batch's size."""
    bar = tqdm(desc=f"reading {Path(path).name}", unit=" ev", unit_scale=True, leave=False, disable=not enabled or None)
    start, count = time.perf_counter(), 0

    def update(events: int) -> None:
        nonlocal count
        count += events
        bar.update(events)

    try:
        yield update
    finally:
        bar.close()
    if enabled and not sys.stderr.isatty():
        print(f"read {count} events of {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def unit_weight_copies(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How often to repeat each event so that a sample with a few weights above the common
    (smallest positive) weight becomes unit-weight: stochastic rounding of w / w_unit, exact in
    expectation. Events with negative weight get 0 copies (counted by the caller); unit-weight
    samples come back unchanged."""
    positive = weights > 0
    if not positive.any():
        raise LheDidiError("training needs events with positive weight")
    relative = np.where(positive, weights / weights[positive].min(), 0.0)
    if np.allclose(relative[positive], 1.0, rtol=1e-9):
        return positive.astype(np.int64)
    whole = np.floor(relative)
    return (whole + (rng.random(len(weights)) < relative - whole)).astype(np.int64)


def load_features(
    path: str | Path, max_events: int | None = None, seed: int = 0, representation: str = "particles", progress=None
) -> tuple[np.ndarray, dict]:
    """DiDi coordinates (:mod:`lhe_didi.kinematics.representation`) of up to ``max_events`` events, and the file's
    provenance.

    Events with weight above the sample's unit weight (kept by the reference generator when
    they exceed its maximum weight) are repeated, see :func:`unit_weight_copies`; events with
    negative weight (NLO samples) are dropped and counted in the provenance. A sample whose weights spread so
    much that this would multiply its size by more than MAX_UNIT_WEIGHT_EXPANSION (a tail-biased sample) is
    refused: flow matching needs unweighted events. ``progress`` is called with each batch's size.
    """
    coordinates = representations.get(representation)
    reader = LheReader(path)
    parameters = header_parameters(reader.header)
    line_shape = LineShape(parameters.get("top_mass", TOP_MASS))
    chunks, weights = [], []
    for batch in reader.batches(50_000, max_events):
        line_shape.add(batch.momenta)
        chunks.append(coordinates.encode(to_zero_pt_frame(batch.momenta)).features)
        weights.append(batch.weight)
        if progress is not None:
            progress(len(batch))
    features = np.concatenate(chunks) if chunks else np.zeros((0, len(coordinates.features)))
    weights = np.concatenate(weights) if weights else np.zeros(0)
    copies = unit_weight_copies(weights, np.random.default_rng(seed))
    if copies.sum() > MAX_UNIT_WEIGHT_EXPANSION * max((weights > 0).sum(), 1):
        spread = weights.max() / weights[weights > 0].min()
        raise LheDidiError(
            f"{path}: event weights spread by a factor {spread:.3g}; DiDi training would repeat its "
            f"{len(weights)} events into {copies.sum()} unit-weight ones. Train DiDi on unweighted "
            "samples (e.g. `lhe-didi generate` without --tail-bias)"
        )
    provenance = {
        "path": str(Path(path)),
        "sha256": file_sha256(path),
        "events_used": int(len(features)),
        "events_after_unit_weighting": int(copies.sum()),
        "weighted_events_expanded": int(((copies != 1) & (weights > 0)).sum()),
        "negative_weight_events_dropped": int((weights < 0).sum()),
        "cross_section_pb": reader.header.total_cross_section[0],
        "parameters": parameters,
        "line_shape": line_shape.fractions(),
    }
    return np.repeat(features, copies, axis=0), provenance


@dataclass
class ObservableSample:
    """The 27 classifier observables of a file's events with their weights and event bookkeeping."""

    path: Path
    header: LheHeader
    names: list[str]
    values: np.ndarray  # (N, 27)
    weights: np.ndarray  # (N,) XWGTUP
    index: np.ndarray  # (N,) event number in the file
    source_index: np.ndarray  # (N,) input event of a transformed event, -1 if unknown
    classifier_weights: np.ndarray | None  # (N,) the classifier's named weight, if requested
    mirrored_values: np.ndarray | None = None  # (N, 27) observables of the beam-exchanged events R x, if requested
    history: np.ndarray | None = None  # (N,) resonance history of each record (lhe_didi.kinematics.histories)

    def column(self, name: str) -> np.ndarray:
        """Values (N,) of one observable."""
        return self.values[:, self.names.index(name)]


def load_observable_sample(
    path: str | Path,
    max_events: int | None = None,
    classifier_weight_id: str | None = None,
    progress=None,
    mirrored: bool = False,
) -> ObservableSample:
    """Observables of up to ``max_events`` events of a file, with the classifier weight (the named weight
    ``classifier_weight_id``, see :data:`lhe_didi.reweight.WEIGHT_ID`) if an id is given, and with
    ``mirrored`` also those of every event after the beam exchange (:mod:`lhe_didi.kinematics.symmetry`)."""
    reader = LheReader(path)
    if classifier_weight_id is not None and classifier_weight_id not in reader.header.weight_ids:
        raise LheDidiError(
            f"{path}: no '{classifier_weight_id}' named weight (run `lhe-didi reweight` or transform with a classifier)"
        )
    names: list[str] = []
    columns: dict[str, list[np.ndarray]] = {
        "values": [],
        "weights": [],
        "index": [],
        "source": [],
        "named": [],
        "mirrored": [],
        "history": [],
    }
    for batch in reader.batches(50_000, max_events):
        names, values = classifier_observables(batch.momenta)
        columns["values"].append(values)
        if mirrored:
            columns["mirrored"].append(classifier_observables(beam_exchange(batch.momenta))[1])
        columns["weights"].append(batch.weight)
        columns["index"].append(batch.index)
        columns["source"].append(batch.source_index)
        columns["history"].append(batch.history)
        if classifier_weight_id is not None:
            columns["named"].append(batch.named_weights[classifier_weight_id])
        if progress is not None:
            progress(len(batch))
    if not columns["values"]:
        raise LheDidiError(f"{path}: no events")
    joined = {k: np.concatenate(v) if v else None for k, v in columns.items()}
    return ObservableSample(
        Path(path),
        reader.header,
        names,
        joined["values"],
        joined["weights"],
        joined["index"],
        joined["source"],
        joined["named"],
        joined["mirrored"],
        joined["history"],
    )


def load_observables(
    path: str | Path, max_events: int | None = None, mirrored: bool = False, progress=None
) -> tuple[list[str], np.ndarray, np.ndarray, dict, np.ndarray | None]:
    """Classifier observables (names, (N, 27)) and event weights (N,) of up to ``max_events`` events,
    with the file's provenance and (``mirrored``) the observables of the beam-exchanged events, else None.
    Negative-weight events are dropped and counted in the provenance."""
    sample = load_observable_sample(path, max_events, progress=progress, mirrored=mirrored)
    keep = sample.weights > 0
    if not keep.any():
        raise LheDidiError(f"{path}: no events with positive weight")
    provenance = {
        "path": str(Path(path)),
        "sha256": file_sha256(path),
        "events_used": int(keep.sum()),
        "negative_weight_events_dropped": int((~keep).sum()),
        "cross_section_pb": sample.header.total_cross_section[0],
        "didi_model_hash": sample.header.didi_model_hash,
        "beam_symmetrised": sample.header.didi_beam_symmetrised,
    }
    mirrored_values = sample.mirrored_values[keep] if mirrored else None
    return sample.names, sample.values[keep], sample.weights[keep], provenance, mirrored_values
