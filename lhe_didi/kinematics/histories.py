"""Resonance histories of b l+ nu b~ l- nu~ events, chosen as POWHEG-BOX-RES (bb4l) chooses them.

A resonance-aware generator writes each event with one resonance history, and a parton shower then
preserves the masses of exactly the resonances of that history. For this final state the top histories are
t t~ (t -> b W+, t~ -> b~ W-), t W- (only t is a resonance; W- and b~ come from the hard process) and
t~ W+. Following Ježo and Nason, "On the treatment of resonances in NLO calculations matched to a parton
shower", JHEP 12 (2015) 065, arXiv:1509.09071, Sec. 3 (used by bb4l, Ježo et al., EPJC 76 (2016) 691,
arXiv:1607.04538), the cross section is split among histories f with the projectors

    Pi_f = P_f / sum_f' P_f',   P_f = prod over the resonances r of f of  M_r^4 / ((s_r - M_r^2)^2 + M_r^2 Gamma_r^2),

s_r the virtuality of resonance r. At Born level an event at phase-space point Phi therefore carries history f
with probability Pi_f(Phi), which is how histories are drawn here. Both W bosons are resonances of every top
history, so their factors cancel and only the top factors remain: P_tt~ = F_t F_t~, P_tW- = F_t, P_t~W+ = F_t~.
"""

from __future__ import annotations

import numpy as np

from .event_random import event_uniform
from .observables import system_masses

TTBAR, T_WMINUS, TBAR_WPLUS = 0, 1, 2
NAMES = ("t t~", "t W-", "t~ W+")
_STREAM = 2  # event_random stream of the history draw (0: the beam-exchange half)


def resonance_factor(mass: np.ndarray, pole: float, width: float) -> np.ndarray:
    """M^4 / ((s - M^2)^2 + M^2 Gamma^2) with s = mass^2: 1 far off the pole, M^2/Gamma^2 on it."""
    s = np.asarray(mass, dtype=np.float64) ** 2
    m2 = pole * pole
    return m2 * m2 / ((s - m2) ** 2 + m2 * width * width)


def history_probabilities(momenta: np.ndarray, top_mass: float, top_width: float) -> np.ndarray:
    """Pi_f per event for f = t t~, t W-, t~ W+ (columns in that order), shape (N, 3), rows summing to 1.

    ``momenta``: (N, 6, 4) decay products b, l+, nu, b~, l-, nu~; the top virtualities are m(b l+ nu) and
    m(b~ l- nu~).
    """
    masses = system_masses(momenta)
    f_top = resonance_factor(masses["t"], top_mass, top_width)
    f_topbar = resonance_factor(masses["tbar"], top_mass, top_width)
    # P_f / (F_t F_t~): at most 1/F ~ 1e3 (a 1 TeV top), never an overflow or 0/0
    weights = np.stack([np.ones_like(f_top), 1.0 / f_topbar, 1.0 / f_top], axis=1)
    return weights / weights.sum(axis=1, keepdims=True)


def assign_histories(
    momenta: np.ndarray, top_mass: float, top_width: float, index: np.ndarray, seed: int
) -> np.ndarray:
    """Draw each event's history with probability Pi_f; int8 array of :data:`TTBAR`, :data:`T_WMINUS`,
    :data:`TBAR_WPLUS`. The draw uses a uniform number of (seed, event ``index``) only, so the same seed gives
    the same histories for any chunking."""
    probabilities = history_probabilities(momenta, top_mass, top_width)
    u = event_uniform(index, seed, _STREAM)
    cumulative = np.cumsum(probabilities, axis=1)
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), TBAR_WPLUS).astype(np.int8)


def fractions(histories: np.ndarray, weights: np.ndarray | None = None) -> dict[str, tuple[float, float]]:
    """Weighted share of each history and its statistical error, keyed by :data:`NAMES`:
    f = sum w 1[h] / sum w, var f = sum w^2 (1[h] - f)^2 / (sum w)^2 (binomial for unit weights)."""
    histories = np.asarray(histories)
    weights = np.ones(len(histories)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    out = {}
    for k, name in enumerate(NAMES):
        share = (histories == k).astype(np.float64)
        f = float((weights * share).sum() / total)
        out[name] = (f, float(np.sqrt((weights**2 * (share - f) ** 2).sum()) / abs(total)))
    return out


def compare_fractions(truth: dict, sample: dict) -> dict[str, dict[str, float]]:
    """Per history: the sample's fraction and error, truth's, and the pull (difference / combined error)."""
    out = {}
    for name in NAMES:
        (f, e), (ft, et) = sample[name], truth[name]
        error = float(np.hypot(e, et))
        out[name] = {
            "fraction": f,
            "error": e,
            "truth": ft,
            "truth_error": et,
            "pull": (f - ft) / error if error else 0.0,
        }
    return out


def history_line(counts) -> str:
    """'t t~ 97.1%, t W- 1.4%, t~ W+ 1.5% of 10000 events' from the events per history."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    shares = ", ".join(f"{name} {100 * c / max(total, 1):.2f}%" for name, c in zip(NAMES, counts, strict=True))
    return f"{shares} of {total} events"
