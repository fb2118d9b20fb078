"""Training inputs: LHE files -> 17-D DiDi coordinates (decay products in their zero-pT frame) or classifier observables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LheDidiError
from ..io.reader import LheReader
from ..kinematics import event_map
from ..kinematics.observables import classifier_observables
from ..kinematics.recoil import to_zero_pt_frame
from ..models.store import file_sha256


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


def load_features(path: str | Path, max_events: int | None = None, seed: int = 0) -> tuple[np.ndarray, dict]:
    """17-D (pT, eta, phi) coordinates of up to ``max_events`` events, and provenance of the file.

    Events with weight above the sample's unit weight (kept by the reference generator when
    they exceed its maximum weight) are repeated, see :func:`unit_weight_copies`; events with
    negative weight (NLO samples) are dropped and counted in the provenance.
    """
    reader = LheReader(path)
    chunks, weights, n = [], [], 0
    for batch in reader.batches(50_000):
        take = len(batch) if max_events is None else min(len(batch), max_events - n)
        chunks.append(event_map.encode(to_zero_pt_frame(batch.momenta[:take])).features)
        weights.append(batch.weight[:take])
        n += take
        if max_events is not None and n >= max_events:
            break
    features = np.concatenate(chunks) if chunks else np.zeros((0, len(event_map.TRAINING_FEATURES)))
    weights = np.concatenate(weights) if weights else np.zeros(0)
    copies = unit_weight_copies(weights, np.random.default_rng(seed))
    provenance = {"path": str(Path(path)), "sha256": file_sha256(path), "events_used": int(len(features)),
                  "events_after_unit_weighting": int(copies.sum()),
                  "weighted_events_expanded": int(((copies != 1) & (weights > 0)).sum()),
                  "negative_weight_events_dropped": int((weights < 0).sum()),
                  "cross_section_pb": reader.header.total_cross_section[0]}
    return np.repeat(features, copies, axis=0), provenance


def load_observables(path: str | Path, max_events: int | None = None) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """Classifier observables (names, (N, 27)) and event weights (N,) of up to ``max_events`` events,
    with the file's provenance. Negative-weight events are dropped and counted in the provenance."""
    reader = LheReader(path)
    chunks, weights, n = [], [], 0
    names: list[str] = []
    for batch in reader.batches(50_000):
        take = len(batch) if max_events is None else min(len(batch), max_events - n)
        names, values = classifier_observables(batch.momenta[:take])
        chunks.append(values)
        weights.append(batch.weight[:take])
        n += take
        if max_events is not None and n >= max_events:
            break
    if not chunks:
        raise LheDidiError(f"{path}: no events")
    values, weights = np.concatenate(chunks), np.concatenate(weights)
    keep = weights > 0
    if not keep.any():
        raise LheDidiError(f"{path}: no events with positive weight")
    provenance = {"path": str(Path(path)), "sha256": file_sha256(path), "events_used": int(keep.sum()),
                  "negative_weight_events_dropped": int((~keep).sum()),
                  "cross_section_pb": reader.header.total_cross_section[0],
                  "didi_model_hash": reader.header.didi_model_hash}
    return names, values[keep], weights[keep], provenance
