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


# Events per network call on CPU: the activations (events x 256 floats per layer) stay in the cache; 2 000 was
# 5-8% faster than 5 000 for the flow and 15-20% faster than 65 536 for the classifier (docs/benchmarks.md).
CPU_CHUNK = 2_000


def events_per_call(device: torch.device) -> int | None:
    """How many events a network evaluates at a time on ``device`` (None: all of a chunk at once)."""
    return CPU_CHUNK if device.type == "cpu" else None
