"""Training inputs: LHE files -> 17-D coordinates (decay products in their zero-pT frame)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.reader import LheReader
from ..kinematics import event_map
from ..kinematics.recoil import to_zero_pt_frame
from ..models.store import file_sha256


def load_features(path: str | Path, max_events: int | None = None, progress=None) -> tuple[np.ndarray, dict]:
    """17-D (pT, eta, phi) coordinates of up to ``max_events`` events, and provenance of the file."""
    reader = LheReader(path)
    chunks, n = [], 0
    for batch in reader.batches(50_000):
        if max_events is not None:
            batch_momenta = batch.momenta[: max_events - n]
        else:
            batch_momenta = batch.momenta
        chunks.append(event_map.encode(to_zero_pt_frame(batch_momenta)).features)
        n += len(batch_momenta)
        if progress is not None:
            progress(len(batch_momenta))
        if max_events is not None and n >= max_events:
            break
    features = np.concatenate(chunks) if chunks else np.zeros((0, len(event_map.TRAINING_FEATURES)))
    provenance = {"path": str(Path(path)), "sha256": file_sha256(path), "events_used": int(len(features)),
                  "cross_section_pb": reader.header.total_cross_section[0]}
    return features, provenance
