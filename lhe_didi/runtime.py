"""Where the networks run: device choice shared by inference (transform, reweight) and training."""

from __future__ import annotations

import torch

from .errors import LheDidiError


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without a CUDA device is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LheDidiError("--device cuda requested but no CUDA device is available")
    return torch.device(name)
