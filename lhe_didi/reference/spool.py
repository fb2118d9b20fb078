"""Generated events parked on disk until the run's cross section, and so every event weight, is known.

``generate`` writes XWGTUP = sigma x w_rel / <w_rel>, where sigma and the mean are those of the whole run; holding
every event in memory until then cost 5.4 GB for 2.5M events. The spool keeps each accepted chunk as an ``.npz``
(no pickle) in a temporary folder and hands the chunks back in order, so memory does not grow with the number of
events. Only LO reference events fit (no extra partons, no named weights).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np

from ..io.events import EventBatch, extras_array

_ARRAYS = (
    "index",
    "momenta",
    "masses",
    "pdg",
    "colours",
    "incoming_pdg",
    "incoming_colours",
    "incoming_momenta",
    "resonance_colours",
    "process_id",
    "weight",
    "scale",
    "aqed",
    "aqcd",
    "source_index",
    "history",
)


class EventSpool:
    """Chunks of events in a temporary folder beside ``near`` (removed on :meth:`close`)."""

    def __init__(self, near: str | Path, events_per_file: int = 50_000):
        near = Path(near)
        self.directory = Path(tempfile.mkdtemp(prefix=f".{near.name}.spool-", dir=near.parent))
        self.events_per_file = events_per_file
        self.chunks = 0
        self.events = 0
        self._pending: list[EventBatch] = []
        self._pending_events = 0

    def append(self, batch: EventBatch) -> None:
        if batch.named_weights or int(ak.sum(ak.num(batch.extras))) > 0:
            raise ValueError("the spool holds LO events without extra partons or named weights")
        self._pending.append(batch)
        self.events += len(batch)
        self._pending_events += len(batch)
        if self._pending_events >= self.events_per_file:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        arrays = {name: np.concatenate([getattr(b, name) for b in self._pending]) for name in _ARRAYS}
        comments = np.concatenate([b.radiation_comment for b in self._pending])
        arrays["radiation_comment"] = np.asarray(comments, dtype=str)
        np.savez(self.directory / f"{self.chunks:06d}.npz", **arrays)
        self.chunks += 1
        self._pending, self._pending_events = [], 0

    def __iter__(self) -> Iterator[EventBatch]:
        self._flush()
        for k in range(self.chunks):
            with np.load(self.directory / f"{k:06d}.npz", allow_pickle=False) as stored:
                fields = {name: stored[name] for name in _ARRAYS}
                comments = stored["radiation_comment"].astype(object)
            yield EventBatch(**fields, extras=extras_array([[] for _ in range(len(comments))]),
                             radiation_comment=comments)  # fmt: skip

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
