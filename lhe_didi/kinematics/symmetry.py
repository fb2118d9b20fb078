"""Beam exchange: the rotation by pi about the x axis, (E, px, py, pz) -> (E, px, -py, -pz).

Both LHC beams are protons of equal energy, so every event distribution (on-shell
input, off-shell truth) is invariant under exchanging them; with azimuthal
symmetry this is the proper rotation R above (no parity involved). A learned map
Phi need not respect it. ``transform --beam-symmetrise`` sends a fixed, seeded half
of the events through R Phi R instead of Phi: since the input is R-invariant, the
output density becomes g_s(x) = (g(x) + g(Rx)) / 2, invariant by construction.
A classifier trained against plain output estimates w = t/g; with t(Rx) = t(x) the
weight for the symmetrised output is t/g_s = 2 / (1/w(x) + 1/w(Rx)), the harmonic
mean of the weights of x and Rx (:func:`symmetrised_log_weight`), and it is also
right for a classifier trained on symmetrised output (then w(x) = w(Rx)).
"""

from __future__ import annotations

import numpy as np

_BEAM_EXCHANGE = np.array([1.0, 1.0, -1.0, -1.0])
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def beam_exchange(momenta: np.ndarray) -> np.ndarray:
    """Rotate four-momenta (..., 4) by pi about the x axis (exchanges the beams)."""
    return momenta * _BEAM_EXCHANGE


def mirrored_events(index: np.ndarray, seed: int) -> np.ndarray:
    """Boolean mask of the events (by input index) that go through R Phi R: a splitmix64 hash of
    (seed, index), so about half of them, independent of chunking and identical for the same seed."""
    z = np.asarray(index, dtype=np.int64).astype(np.uint64) + np.uint64(seed % 2**64) * _GOLDEN + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(63)).astype(bool)


def symmetrised_log_weight(log_w: np.ndarray, log_w_exchanged: np.ndarray) -> np.ndarray:
    """log of 2 / (1/w + 1/w'), from log w and log w' (numerically stable)."""
    return np.log(2.0) + log_w + log_w_exchanged - np.logaddexp(log_w, log_w_exchanged)
