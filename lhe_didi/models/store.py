"""Model directories: weights in safetensors, a JSON config and a Markdown model card; no pickle.

    MODEL_DIR/
      weights.safetensors   tensors only
      config.json           kind, architecture, preprocessing statistics, training settings,
                            data provenance, package version, content_hash
      MODEL_CARD.md         human-readable summary

``content_hash`` is the SHA-256 of the weights file followed by the canonical
JSON of the config without the hash; :func:`load_model_dir` refuses a directory
whose files do not match it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import LheDidiError
from ..io.files import staged_directory

FORMAT = "lhe-didi-model"
FORMAT_VERSION = 1
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
CARD = "MODEL_CARD.md"


def _content_hash(weights_bytes: bytes, config: dict) -> str:
    body = {k: v for k, v in config.items() if k != "content_hash"}
    digest = hashlib.sha256(weights_bytes)
    digest.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (data provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_dir(directory: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict, card: str) -> str:
    """Write a model directory atomically (temporary directory, then rename); returns the content hash."""
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "package_version": __version__, **config}
    with staged_directory(directory) as staging:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, staging / WEIGHTS)
        config["content_hash"] = _content_hash((staging / WEIGHTS).read_bytes(), config)
        (staging / CONFIG).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
        (staging / CARD).write_text(card.replace("{content_hash}", config["content_hash"]))
    return config["content_hash"]


def load_model_dir(directory: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and verify a model directory of the given ``kind``; returns (tensors, config)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LheDidiError(f"{directory}: model directory does not exist")
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise LheDidiError(f"{directory}: not a model directory (missing {name})")
    try:
        config = json.loads((directory / CONFIG).read_text())
    except json.JSONDecodeError as exc:
        raise LheDidiError(f"{directory}/{CONFIG}: invalid JSON ({exc})") from None
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise LheDidiError(
            f"{directory}: unsupported model format {config.get('format')} v{config.get('format_version')}"
        )
    if config.get("kind") != kind:
        raise LheDidiError(f"{directory}: holds a {config.get('kind')} model, expected {kind}")
    weights_bytes = (directory / WEIGHTS).read_bytes()
    if _content_hash(weights_bytes, config) != config.get("content_hash"):
        raise LheDidiError(f"{directory}: content hash mismatch (weights or config modified or corrupt)")
    try:
        tensors = load_file(directory / WEIGHTS)
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise LheDidiError(f"{directory}/{WEIGHTS}: unreadable ({exc})") from None
    return tensors, config


def load_network(directory: str | os.PathLike, kind: str, build, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """A verified model directory as a network: ``build(**config["architecture"])`` with the stored weights,
    on ``device`` in evaluation mode; returns (network, config)."""
    tensors, config = load_model_dir(directory, kind)
    network = build(**config["architecture"])
    try:
        network.load_state_dict(tensors)
    except RuntimeError as exc:
        raise LheDidiError(f"{directory}: weights do not match the architecture ({str(exc).splitlines()[0]})") from None
    return network.to(device).eval(), config
