"""Where the networks run: device choice shared by inference (transform, reweight) and training."""

from __future__ import annotations

import functools
from pathlib import Path

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


# Events read, transformed and written at a time. On CPU the networks work in calls of CPU_CHUNK anyway, and small
# chunks start the overlap of reading and writing sooner and cut a file into more ranges for a cluster; on a GPU a
# chunk is one ODE solve, which wants it large (docs/benchmarks.md).
CPU_EVENTS_PER_CHUNK, GPU_EVENTS_PER_CHUNK = 10_000, 50_000


def events_per_chunk(device: torch.device) -> int:
    """Default events per chunk of a transform on ``device``."""
    return CPU_EVENTS_PER_CHUNK if device.type == "cpu" else GPU_EVENTS_PER_CHUNK


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CUDA GPU of compute capability 8.0 or later,
    or a CPU with AMX or AVX512-BF16 (read from /proc/cpuinfo; False where it cannot be read)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    return device.type == "cpu" and bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    flags = next((line.split(":", 1)[1] for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(flags.split())
