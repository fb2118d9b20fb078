"""Classifier between off-shell truth and DiDi output, and its reweighting function.

Method paper Sec. 4, Eqs. (10)-(11): a classifier C(x) trained to tell truth
(label 1) from generated events (label 0) with class-balanced weights gives
w(x) = C/(1 - C) = p_truth(x) / p_generated(x), which moves the generated
distribution onto the truth. Since C = sigmoid(logit), w = exp(logit).
Inputs are the 27 observables of :func:`lhe_didi.kinematics.observables.classifier_observables`
with pT^(-1/3) preprocessing, standardised with statistics stored in the model config.

A model may hold K independently trained members (:class:`ClassifierEnsemble`, a deep
ensemble): its weight is the arithmetic mean of the members' weights, which averages
out the seed-to-seed scatter of single networks. (The mean of the logits, a geometric
mean of weights, is biased low where the members' estimates scatter independently.)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..kinematics.observables import classifier_observables, classifier_preprocessing


class EventClassifier(nn.Module):
    """MLP (Linear -> BatchNorm -> SiLU -> Dropout) x depth -> Linear (zero-initialised), one logit per event.
    A mass-conditional classifier takes ``conditions`` more inputs after the observables
    (:mod:`lhe_didi.conditions`)."""

    def __init__(self, inputs: int = 27, width: int = 256, depth: int = 5, dropout: float = 0.1, conditions: int = 0):
        super().__init__()
        self.config = {"inputs": inputs, "width": width, "depth": depth, "dropout": dropout}
        if conditions:  # only when present, so that unconditional models keep their content hashes
            self.config["conditions"] = conditions
        layers: list[nn.Module] = []
        size = inputs + conditions
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.BatchNorm1d(width), nn.SiLU(), nn.Dropout(dropout)]
            size = width
        last = nn.Linear(size, 1)
        nn.init.zeros_(last.weight)  # starts at C = 1/2 everywhere, i.e. w = 1: "no difference found"
        nn.init.zeros_(last.bias)
        self.layers = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).squeeze(-1)


class ClassifierEnsemble(nn.Module):
    """K :class:`EventClassifier` members; logit = log of the mean member weight, log((1/K) sum_k exp(logit_k))."""

    def __init__(
        self,
        members: int,
        inputs: int = 27,
        width: int = 256,
        depth: int = 5,
        dropout: float = 0.1,
        conditions: int = 0,
    ):
        super().__init__()
        if members < 2:
            raise ValueError("an ensemble needs at least 2 members")
        self.members = nn.ModuleList(EventClassifier(inputs, width, depth, dropout, conditions) for _ in range(members))
        self.config = {**self.members[0].config, "members": members}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(torch.stack([member(x) for member in self.members]))

    @staticmethod
    def combine(member_logits: torch.Tensor) -> torch.Tensor:
        """Ensemble logits from the members' (K, N): the log of the mean member weight."""
        return torch.logsumexp(member_logits, dim=0) - np.log(len(member_logits))


def build_classifier(members: int = 1, **architecture) -> nn.Module:
    """The network a classifier model directory's ``architecture`` describes (one network, or an ensemble)."""
    return EventClassifier(**architecture) if members == 1 else ClassifierEnsemble(members, **architecture)


class InputScaler:
    """Observables -> classifier inputs: pT^(-1/3), then standardised with fixed statistics."""

    def __init__(self, names: list[str], mean: np.ndarray, std: np.ndarray):
        self.names, self.mean, self.std = list(names), np.asarray(mean), np.asarray(std)

    @classmethod
    def fit(cls, names: list[str], values: np.ndarray) -> InputScaler:
        pre = classifier_preprocessing(names, values)
        return cls(names, pre.mean(axis=0), np.maximum(pre.std(axis=0), 1e-12))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (classifier_preprocessing(self.names, values) - self.mean) / self.std

    def to_dict(self) -> dict:
        return {
            "observables": self.names,
            "transform": "pT^(-1/3) then standardise",
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> InputScaler:
        return cls(data["observables"], np.asarray(data["mean"]), np.asarray(data["std"]))


def logits_of(
    network: nn.Module,
    scaler: InputScaler,
    momenta: np.ndarray,
    device: torch.device,
    batch_size: int = 65_536,
    conditions: np.ndarray | None = None,
) -> np.ndarray:
    """Classifier logits (N,) for decay-product momenta (N, 6, 4), evaluated in inference mode; ``conditions``
    (N, k): the network inputs of a conditional classifier, appended to the scaled observables."""
    names, values = classifier_observables(momenta)
    if names != scaler.names:
        raise ValueError(f"observable list changed since training: {names} != {scaler.names}")
    inputs = scaler(values)
    if conditions is not None:
        inputs = np.concatenate([inputs, conditions], axis=1)
    network.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            x = torch.as_tensor(inputs[start : start + batch_size], dtype=torch.float32, device=device)
            out.append(network(x).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def weights_from_logits(logits: np.ndarray, clip: float | None = 15.0) -> np.ndarray:
    """w = C / (1 - C) = exp(logit), capped at ``clip`` (None: no cap)."""
    w = np.exp(np.minimum(logits, 700.0))
    return w if clip is None else np.minimum(w, clip)
