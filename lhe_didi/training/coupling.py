"""How training pairs (x0 off-shell, x1 on-shell) are drawn for conditional flow matching.

``independent`` is the method paper's Eq. (8): x0 and x1 drawn independently. ``ot`` is mini-batch
optimal-transport coupling (Tong et al., arXiv:2302.00482; Pooladian et al., arXiv:2304.14772): inside
blocks of a training batch the on-shell events are permuted so that the summed squared distance to
their off-shell partners (in the standardised network space) is minimal. Both couplings have the two
samples as marginals, so the learned flow still maps one distribution onto the other; the OT pairs are
about three times closer (mean squared distance 11.7 vs 34.3 for blocks of 256), so the velocity field
is smoother and the ODE paths straighter.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import LheDidiError
from ..extras import require

COUPLINGS = ("independent", "ot")


def optimal_transport_order(x0: torch.Tensor, x1: torch.Tensor, block: int) -> torch.Tensor:
    """Indices into ``x1`` pairing each row of ``x0`` with an ``x1`` row by exact OT within blocks of ``block``."""
    if len(x0) != len(x1):
        raise ValueError("optimal-transport pairing needs batches of equal size")
    from scipy.optimize import linear_sum_assignment  # the 'train' extra (check_coupling)

    order = np.empty(len(x0), dtype=np.int64)
    for start in range(0, len(x0), block):
        stop = min(start + block, len(x0))
        cost = torch.cdist(x0[start:stop].double(), x1[start:stop].double()).pow_(2).cpu().numpy()
        rows, columns = linear_sum_assignment(cost)
        order[start + rows] = start + columns
    return torch.as_tensor(order, device=x1.device)


def check_coupling(coupling: str) -> None:
    """Refuse an unknown coupling, or ``ot`` without the 'train' extra, before any data is read."""
    if coupling not in COUPLINGS:
        raise LheDidiError(f"unknown coupling {coupling!r}; choose from {', '.join(COUPLINGS)}")
    if coupling == "ot":
        require("train", "optimal-transport pairing (--coupling ot)")


def pair(x0: torch.Tensor, x1: torch.Tensor, coupling: str, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the training pairs (x0, x1) for ``coupling`` (``independent`` leaves them as drawn)."""
    if coupling == "independent":
        return x0, x1
    if coupling == "ot":
        return x0, x1[optimal_transport_order(x0, x1, block)]
    raise ValueError(f"unknown coupling {coupling!r}; choose from {', '.join(COUPLINGS)}")
