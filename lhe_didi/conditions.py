"""The top mass as a condition of a model: its network input, its coordinates' pole and its trained range.

A conditional model (DiDi or classifier) takes the top pole mass m_t of the sample an event belongs to as an extra
network input, c = (m_t - CENTRE) / SCALE, and its decay-chain coordinates flatten each event's m(b l nu) around
that event's own pole: asinh((m - m_t) / (Gamma_t / 2)). The width is not a free condition: it follows the mass as
the rule of every POWHEG hvq mass point (:func:`lhe_didi.reference.parameters.default_top_width`), and input with
another width is refused. Models without conditions work at the one mass they record (``config["physics"]``).

A model's ``config["conditions"]`` holds :meth:`MassCondition.to_dict`: the normalisation, the masses it was
trained at and the range it accepts (those masses' span).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import LheDidiError
from .input_check import refuse_or_warn
from .reference.parameters import default_top_width

CENTRE, SCALE = 172.5, 3.0  # GeV: c = (m_t - CENTRE) / SCALE is of order one over the mass range of productions
WIDTH_RULE = "Gamma_t = 1.453 GeV x Gamma_LO(m_t) / Gamma_LO(172.5)"
WIDTH_TOLERANCE = 2e-3  # relative: a header's width printed with 4-5 digits matches the rule to ~1e-4


def top_width(top_mass) -> np.ndarray | float:
    """The width a conditional model assumes at ``top_mass`` (array or scalar)."""
    if np.ndim(top_mass) == 0:
        return default_top_width(float(top_mass))
    masses = np.asarray(top_mass, dtype=np.float64)
    unique, inverse = np.unique(masses, return_inverse=True)
    return np.array([default_top_width(float(m)) for m in unique])[inverse].reshape(masses.shape)


@dataclass(frozen=True)
class MassCondition:
    """The top-mass condition of a model: the masses trained at and the accepted range."""

    trained_masses: tuple[float, ...]

    @property
    def range(self) -> tuple[float, float]:
        return min(self.trained_masses), max(self.trained_masses)

    def network_input(self, top_mass: np.ndarray) -> np.ndarray:
        """(N,) masses -> (N, 1) float32 network inputs."""
        return ((np.asarray(top_mass, dtype=np.float64) - CENTRE) / SCALE).astype(np.float32)[:, None]

    def check(
        self, top_mass: float, top_width_stated: float | None, source: str, allow_width: bool = False
    ) -> list[str]:
        """Refuse a mass outside the trained range, or a width off the rule (a warning with ``allow_width``)."""
        low, high = self.range
        if not low - 1e-9 <= top_mass <= high + 1e-9:
            raise LheDidiError(
                f"top mass {top_mass:g} GeV ({source}) is outside the model's trained range {low:g}-{high:g} GeV"
            )
        if top_width_stated is None:
            return []
        expected = top_width(top_mass)
        if math.isclose(top_width_stated, expected, rel_tol=WIDTH_TOLERANCE):
            return []
        return refuse_or_warn(
            f"top width {top_width_stated:g} GeV ({source}) is not the width the model was trained "
            f"with at m_t = {top_mass:g} GeV ({expected:.5g} GeV, {WIDTH_RULE})",
            allow_width,
        )

    def to_dict(self) -> dict:
        return {
            "names": ["top_mass"],
            "centre": [CENTRE],
            "scale": [SCALE],
            "trained_masses": sorted(self.trained_masses),
            "range": list(self.range),
            "width_rule": WIDTH_RULE,
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> MassCondition | None:
        if not data:
            return None
        if data.get("names") != ["top_mass"] or data.get("centre") != [CENTRE] or data.get("scale") != [SCALE]:
            raise LheDidiError(
                f"model conditions {data.get('names')} with this normalisation are not supported by "
                "this lhe-didi version"
            )
        return cls(tuple(float(m) for m in data["trained_masses"]))


def grouped_masses(masses: dict[str, float]) -> tuple[float, ...]:
    """Distinct masses (rounded to 1 MeV) of a set of training files; a conditional model needs two or more."""
    distinct = tuple(sorted({round(m, 3) for m in masses.values()}))
    if len(distinct) < 2:
        raise LheDidiError(
            "a mass-conditional model needs training files at two or more top masses "
            f"(found {', '.join(f'{m:g}' for m in distinct) or 'none'} GeV)"
        )
    return distinct
