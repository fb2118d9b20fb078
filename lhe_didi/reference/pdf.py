"""Parton densities from an LHAPDF ``lhagrid1`` set, interpolated as LHAPDF does, at a fixed scale.

LHAPDF's log-bicubic interpolator is a cubic Hermite spline in log x and in
log Q^2 whose knot derivatives are finite differences (central inside, one-sided
at the edges). That is linear in the grid values, so interpolating first in
Q^2 for every x knot and then in x gives the same numbers; with the scale fixed
(mu_F = m_t) the Q^2 step is done once at load time and each call is a
vectorised 1-D spline in log x.

The set is found in ``$LHAPDF_DATA_PATH`` (colon-separated, as LHAPDF), then in
the copy shipped with the package (``lhe_didi/data/pdf``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..errors import LheDidiError

PACKAGED_PDF_PATH = Path(__file__).resolve().parents[1] / "data" / "pdf"


def find_set(name: str) -> Path:
    """Directory of the PDF set ``name``."""
    search = [Path(p) for p in os.environ.get("LHAPDF_DATA_PATH", "").split(":") if p] + [PACKAGED_PDF_PATH]
    for directory in search:
        if (directory / name / f"{name}.info").exists():
            return directory / name
    raise LheDidiError(f"PDF set {name} not found in LHAPDF_DATA_PATH or {PACKAGED_PDF_PATH}")


def _derivatives(knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """LHAPDF knot derivatives along the last axis: central differences, one-sided at the ends."""
    slopes = np.diff(values, axis=-1) / np.diff(knots)
    derivative = np.empty_like(values)
    derivative[..., 0] = slopes[..., 0]
    derivative[..., -1] = slopes[..., -1]
    derivative[..., 1:-1] = 0.5 * (slopes[..., 1:] + slopes[..., :-1])
    return derivative


def hermite(knots: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Cubic Hermite spline with LHAPDF derivatives, along the last axis of ``values``."""
    points = np.asarray(points, dtype=np.float64)
    derivative = _derivatives(knots, values)
    i = np.clip(np.searchsorted(knots, points, side="right") - 1, 0, len(knots) - 2)
    width = knots[i + 1] - knots[i]
    t = (points - knots[i]) / width
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * values[..., i]
        + (t3 - 2 * t2 + t) * width * derivative[..., i]
        + (-2 * t3 + 3 * t2) * values[..., i + 1]
        + (t3 - t2) * width * derivative[..., i + 1]
    )


def _info_list(text: str, key: str) -> np.ndarray:
    match = re.search(rf"^{key}:\s*\[([^\]]*)\]", text, re.M)
    if match is None:
        raise LheDidiError(f"PDF .info file has no {key}")
    return np.array([float(v) for v in match.group(1).split(",")])


class FixedScalePdf:
    """x f(x, Q) of one PDF member at one fixed scale Q, plus alpha_s(Q) from the set's table."""

    def __init__(self, name: str, scale: float, member: int = 0):
        directory = find_set(name)
        self.name, self.scale, self.member = name, scale, member
        self.alpha_s = self._alpha_s(directory / f"{name}.info", scale)
        grid_file = directory / f"{name}_{member:04d}.dat"
        if not grid_file.exists():
            raise LheDidiError(f"PDF member file {grid_file} not found")
        blocks = grid_file.read_text().split("---")[1:]
        for block in blocks:
            lines = [line for line in block.strip().splitlines() if line.strip()]
            if len(lines) < 4:
                continue
            x = np.array(lines[0].split(), dtype=float)
            q = np.array(lines[1].split(), dtype=float)
            if not q[0] <= scale <= q[-1]:
                continue
            flavours = [int(f) for f in lines[2].split()]
            values = np.array(" ".join(lines[3:]).split(), dtype=float).reshape(len(x), len(q), len(flavours))
            # Q^2 step once: (flavour, x) at the fixed scale
            at_scale = hermite(np.log(q**2), np.moveaxis(values, 1, -1), np.log(scale**2))
            self._log_x = np.log(x)
            self._x_max = x[-1]
            self._table = {f: at_scale[:, k] for k, f in enumerate(flavours)}
            return
        raise LheDidiError(f"scale {scale} GeV outside the grid of {name}")

    @staticmethod
    def _alpha_s(info_file: Path, scale: float) -> float:
        text = info_file.read_text()
        q, values = _info_list(text, "AlphaS_Qs"), _info_list(text, "AlphaS_Vals")
        # subgrids between flavour thresholds (repeated knots); interpolate in log Q^2 within one
        log_q2 = np.log(q**2)
        inside = (q[:-1] <= scale) & (scale <= q[1:])
        start = int(np.flatnonzero(inside)[-1]) if inside.any() else None
        if start is None:
            raise LheDidiError(f"scale {scale} GeV outside the alpha_s table of {info_file.name}")
        low, high = start, start + 1
        while low > 0 and q[low - 1] < q[low]:
            low -= 1
        while high < len(q) - 1 and q[high + 1] > q[high]:
            high += 1
        return float(hermite(log_q2[low : high + 1], values[low : high + 1], np.log(scale**2)))

    def xfx(self, flavour: int, x: np.ndarray) -> np.ndarray:
        """x f(x) for PDG ``flavour`` (21 gluon); zero for x >= 1."""
        x = np.asarray(x, dtype=np.float64)
        values = hermite(self._log_x, self._table[flavour], np.log(np.clip(x, 1e-300, None)))
        return np.where(x < self._x_max, values, 0.0)
