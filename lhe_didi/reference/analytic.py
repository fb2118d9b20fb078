"""Textbook LO cross sections for q q~ -> t t~ and g g -> t t~, and their hadronic convolution.

Partonic cross sections (Gluck, Owens, Reya 1978; Combridge 1979), rho = 4 m^2 / s, beta = sqrt(1 - rho):

    sigma(q q~ -> Q Q~) = 8 pi alpha_s^2 / (27 s) * beta * (1 + rho / 2)
    sigma(g g  -> Q Q~) = pi alpha_s^2 / (48 s)
                          * [ (rho^2 + 16 rho + 16) ln((1 + beta)/(1 - beta)) - beta (28 + 31 rho) ]

These give an independent check of the generator's matrix elements, PDF
convolution and phase-space weights.
"""

from __future__ import annotations

import numpy as np

from .parameters import GEV2_TO_PB
from .pdf import FixedScalePdf


def sigma_qqbar(s: np.ndarray, mass: float, alpha_s: float) -> np.ndarray:
    """sigma(q q~ -> t t~) in GeV^-2."""
    rho = 4.0 * mass**2 / s
    beta = np.sqrt(np.clip(1.0 - rho, 0.0, None))
    return 8.0 * np.pi * alpha_s**2 / (27.0 * s) * beta * (1.0 + 0.5 * rho)


def sigma_gg(s: np.ndarray, mass: float, alpha_s: float) -> np.ndarray:
    """sigma(g g -> t t~) in GeV^-2."""
    rho = 4.0 * mass**2 / s
    beta = np.sqrt(np.clip(1.0 - rho, 0.0, None))
    log = np.log((1.0 + beta) / np.maximum(1.0 - beta, 1e-300))
    return np.pi * alpha_s**2 / (48.0 * s) * ((rho**2 + 16.0 * rho + 16.0) * log - beta * (28.0 + 31.0 * rho))


def hadronic_ttbar(
    pdf: FixedScalePdf, sqrt_s: float, mass: float, nodes: int = 400, quarks: tuple[int, ...] = (1, 2, 3, 4)
) -> dict[str, float]:
    """sigma(p p -> t t~) in pb at LO, split into gg and q q~ (+ q~ q) over ``quarks``, by Gauss-Legendre quadrature.

    Integrates over v = ln(tau) from ln(4 m^2/S) to 0 and y in [ln(tau)/2, -ln(tau)/2].
    """
    s_total = sqrt_s**2
    v_nodes, v_weights = np.polynomial.legendre.leggauss(nodes)
    y_nodes, y_weights = np.polynomial.legendre.leggauss(nodes)
    v_low = np.log(4.0 * mass**2 / s_total)
    v = 0.5 * v_low * (1.0 - v_nodes)  # maps [-1, 1] -> [v_low, 0]
    wv = -0.5 * v_low * v_weights
    tau = np.exp(v)[:, None]
    y_max = -0.5 * v[:, None]
    y = y_max * y_nodes[None, :]
    wy = y_max * y_weights[None, :]
    x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
    s_hat = tau * s_total
    # d sigma = dtau dy f1 f2 sigma_hat = dv dy tau f1 f2 sigma_hat; xf1 xf2 / (x1 x2) * tau = xf1 xf2
    gg = pdf.xfx(21, x1) * pdf.xfx(21, x2)
    qq = sum(pdf.xfx(q, x1) * pdf.xfx(-q, x2) + pdf.xfx(-q, x1) * pdf.xfx(q, x2) for q in quarks)
    alpha_s = pdf.alpha_s
    weight = wv[:, None] * wy * GEV2_TO_PB
    result = {
        "gg": float(np.sum(weight * gg * sigma_gg(s_hat, mass, alpha_s))),
        "qq": float(np.sum(weight * qq * sigma_qqbar(s_hat, mass, alpha_s))),
    }
    result["total"] = result["gg"] + result["qq"]
    return result
