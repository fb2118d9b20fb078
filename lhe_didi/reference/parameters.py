"""Physics parameters of the reference generator (method paper, Table 1) and derived LO quantities.

Electroweak scheme: G_F, m_W and m_Z are inputs; alpha and sin^2(theta_W) follow,
    alpha = sqrt(2) G_F m_W^2 (1 - m_W^2/m_Z^2) / pi.
Widths in the propagators are the Table-1 inputs; decay vertices are LO, so the
effective branching ratios are Gamma_LO(partial) / Gamma(input) (see
:func:`lo_top_width` and :func:`lo_w_leptonic_width`).
"""

from __future__ import annotations

import math

from ..constants import B_MASS, TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH

Z_MASS = 91.188
Z_WIDTH = 2.441
HIGGS_MASS = 125.0
HIGGS_WIDTH = 0.0403
FERMI_CONSTANT = 1.16585e-5
SQRT_S = 13_000.0
SCALE = TOP_MASS  # fixed renormalisation and factorisation scale
PDF_SET = "NNPDF31_nlo_as_0118_luxqed"
GEV2_TO_PB = 0.38937937217186e9  # (hbar c)^2 in GeV^2 pb


def alpha_gmu() -> float:
    """Electromagnetic coupling in the G_mu scheme."""
    return math.sqrt(2.0) * FERMI_CONSTANT * W_MASS**2 * (1.0 - W_MASS**2 / Z_MASS**2) / math.pi


def ufo_parameters(
    alpha_s: float, top_width: float = TOP_WIDTH, w_width: float = W_WIDTH, top_mass: float = TOP_MASS
) -> dict[str, float]:
    """External parameters of the UFO Standard Model for the reference setup."""
    return {
        "MT": top_mass,
        "ymt": top_mass,
        "WT": top_width,
        "MB": B_MASS,
        "ymb": B_MASS,
        "MZ": Z_MASS,
        "WZ": Z_WIDTH,
        "WW": w_width,
        "MH": HIGGS_MASS,
        "WH": HIGGS_WIDTH,
        "Gf": FERMI_CONSTANT,
        "aEWM1": 1.0 / alpha_gmu(),
        "aS": alpha_s,
    }


def lo_w_leptonic_width() -> float:
    """Gamma(W -> l nu) at LO for a massless lepton."""
    return FERMI_CONSTANT * W_MASS**3 / (6.0 * math.sqrt(2.0) * math.pi)


def lo_top_width(top_mass: float = TOP_MASS) -> float:
    """Gamma(t -> b W) at LO with a massive b quark and an on-shell W."""
    xb, xw = (B_MASS / top_mass) ** 2, (W_MASS / top_mass) ** 2
    kallen = (1.0 - xb - xw) ** 2 - 4.0 * xb * xw
    shape = (1.0 - xb) ** 2 + xw * (1.0 + xb) - 2.0 * xw**2
    return FERMI_CONSTANT * top_mass**3 / (8.0 * math.sqrt(2.0) * math.pi) * math.sqrt(kallen) * shape


TOP_MASS_RANGE = (160.0, 185.0)  # masses generate accepts, GeV


def default_top_width(top_mass: float) -> float:
    """Gamma_t at ``top_mass``: the input width 1.453 GeV at 172.5 scaled with the LO width, as the shared
    real hvq samples at other masses were made (169.5: 1.3657, 175.5: 1.5433)."""
    return TOP_WIDTH * lo_top_width(top_mass) / lo_top_width(TOP_MASS)
