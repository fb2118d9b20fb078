"""Per-event random numbers that depend only on (seed, event index, stream): the same for any chunking or
order of processing, so that a file split into ranges and processed in parallel gives the serial result."""

from __future__ import annotations

import numpy as np

_GOLDEN = 0x9E3779B97F4A7C15
_STREAM = 0xD1B54A32D192ED03  # separates the independent uses of one seed


def event_hash(index: np.ndarray, seed: int, stream: int = 0) -> np.ndarray:
    """splitmix64 of (seed, stream, index): 64 well-mixed bits per event, uint64 array of ``index``'s shape."""
    offset = np.uint64(((seed + 1) * _GOLDEN + stream * _STREAM) % 2**64)  # Python integers: no overflow warning
    z = np.asarray(index, dtype=np.int64).astype(np.uint64) + offset  # array arithmetic wraps modulo 2^64
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def event_uniform(index: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """A uniform number in [0, 1) per event (53 random bits), float64 array of ``index``'s shape."""
    return (event_hash(index, seed, stream) >> np.uint64(11)).astype(np.float64) * 2.0**-53
