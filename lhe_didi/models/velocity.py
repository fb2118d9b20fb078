"""Velocity field v_theta(x, t) for Direct Diffusion (method paper Sec. 3).

A dense network with SiLU activations; t is embedded with sinusoidal features
in ``embedding`` dimensions and concatenated to x. The last layer starts at
zero, so the untrained field is zero and the flow is the identity map.

Bayesian variant (``bayesian=True``): every linear layer has mean-field
Gaussian weights q(theta) = N(mu, sigma^2) with a Gaussian prior of width
``prior_width``; the training loss adds c * KL[q, p] / N_train. In
deterministic mode (default for inference) the weight means are used; in
sampling mode each forward pass draws fresh weights (posterior samples).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BayesianLinear(nn.Module):
    """Linear layer with mean-field Gaussian weights and biases."""

    def __init__(self, n_in: int, n_out: int, prior_width: float = 1.0, initial_log_variance: float = -18.0):
        super().__init__()
        self.mean = nn.Linear(n_in, n_out)
        self.weight_log_variance = nn.Parameter(torch.full((n_out, n_in), initial_log_variance))
        self.bias_log_variance = nn.Parameter(torch.full((n_out,), initial_log_variance))
        self.prior_width = prior_width
        self.sampling = False
        self.frozen: tuple[torch.Tensor, torch.Tensor] | None = None

    def draw(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One sample of (weight, bias) from q(theta)."""
        noise_w = torch.randn(self.mean.weight.shape, generator=generator, device=self.mean.weight.device)
        noise_b = torch.randn(self.mean.bias.shape, generator=generator, device=self.mean.bias.device)
        return (
            self.mean.weight + torch.exp(0.5 * self.weight_log_variance) * noise_w,
            self.mean.bias + torch.exp(0.5 * self.bias_log_variance) * noise_b,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen is not None:
            return nn.functional.linear(x, *self.frozen)
        if not (self.training or self.sampling):
            return self.mean(x)
        return nn.functional.linear(x, *self.draw())

    def kl(self) -> torch.Tensor:
        """KL[N(mu, sigma^2) || N(0, prior_width^2)] summed over weights and biases."""
        total = 0.0
        for mean, log_variance in (
            (self.mean.weight, self.weight_log_variance),
            (self.mean.bias, self.bias_log_variance),
        ):
            variance_ratio = torch.exp(log_variance) / self.prior_width**2
            total = total + 0.5 * torch.sum(
                variance_ratio + mean**2 / self.prior_width**2 - 1.0 - torch.log(variance_ratio)
            )
        return total


def fixed_weights(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(weight, bias) a linear layer uses in every call, or None when it draws fresh weights per call."""
    if isinstance(layer, nn.Linear):
        return layer.weight, layer.bias
    if layer.frozen is not None:
        return layer.frozen
    if not (layer.training or layer.sampling):
        return layer.mean.weight, layer.mean.bias
    return None


class SinusoidalEmbedding(nn.Module):
    """t in [0, 1] -> (sin(w_k t), cos(w_k t)), ``dimension`` outputs, w_k geometric in [1, 100].

    At most ~16 oscillations over [0, 1]: enough resolution for a velocity field that
    varies smoothly along straight paths, without making the ODE solve stiff in t.
    """

    def __init__(self, dimension: int):
        super().__init__()
        if dimension % 2:
            raise ValueError("embedding dimension must be even")
        frequencies = torch.exp(torch.linspace(0.0, math.log(100.0), dimension // 2))
        self.register_buffer("frequencies", frequencies)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t[:, None] * self.frequencies[None, :]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class VelocityField(nn.Module):
    """v_theta(x, t[, c]): (N, dim) x (N,) [x (N, conditions)] -> (N, dim); the conditions (e.g. the scaled top
    mass, :mod:`lhe_didi.conditions`) enter the first layer with x and the time embedding."""

    def __init__(
        self,
        dim: int = 17,
        width: int = 256,
        depth: int = 4,
        embedding: int = 64,
        bayesian: bool = False,
        prior_width: float = 1.0,
        conditions: int = 0,
    ):
        super().__init__()
        self.config = {
            "dim": dim,
            "width": width,
            "depth": depth,
            "embedding": embedding,
            "bayesian": bayesian,
            "prior_width": prior_width,
        }
        if conditions:  # only when present, so that unconditional models keep their content hashes
            self.config["conditions"] = conditions
        self.conditions = conditions
        self.embed = SinusoidalEmbedding(embedding)

        def linear(n_in, n_out):
            return BayesianLinear(n_in, n_out, prior_width) if bayesian else nn.Linear(n_in, n_out)

        layers, n_in = [], dim + embedding + conditions
        for _ in range(depth):
            layers += [linear(n_in, width), nn.SiLU()]
            n_in = width
        last = linear(n_in, dim)
        for parameter in (last.mean if bayesian else last).parameters():
            nn.init.zeros_(parameter)
        self.net = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """``t``: one time for all events (0-dim, as in an ODE solve) or one per event (N,); ``c``: (N, conditions)
        or one row (1, conditions) shared by all events."""
        if (c is None) != (self.conditions == 0) or (c is not None and c.shape[-1] != self.conditions):
            raise ValueError(f"this velocity field takes {self.conditions} condition(s) per event")
        if t.dim() == 0 and (c is None or len(c) == 1):
            shared = self._shared_first_layer(t, c, x.dtype)
            if shared is not None:
                weight_x, row = shared
                return self.net[1:](torch.addmm(row, x, weight_x.t()))
        if t.dim() == 0:
            t = t.expand(len(x))
        if c is not None and len(c) == 1:
            c = c.expand(len(x), -1)
        inputs = [x, self.embed(t.to(x.dtype))] + ([] if c is None else [c.to(x.dtype)])
        return self.net(torch.cat(inputs, dim=1))

    def _shared_first_layer(self, t: torch.Tensor, c: torch.Tensor | None, dtype):
        """For one time and one condition row: the first layer's x weights and the row W_t emb(t) + W_c c + b that
        every event shares (computed once per solver stage instead of per event); None for weights drawn per call."""
        fixed = fixed_weights(self.net[0])
        if fixed is None:
            return None
        weight, bias = fixed
        dim = self.config["dim"]
        rest = [self.embed(t.reshape(1).to(dtype))] + ([] if c is None else [c.to(dtype)])
        row = torch.addmm(bias[None], torch.cat(rest, dim=1), weight[:, dim:].t())
        return weight[:, :dim], row

    def bayesian_layers(self) -> list[BayesianLinear]:
        return [m for m in self.modules() if isinstance(m, BayesianLinear)]

    def kl(self) -> torch.Tensor:
        """Total KL divergence of the Bayesian layers (0 for a deterministic network)."""
        device = next(self.parameters()).device
        return sum((layer.kl() for layer in self.bayesian_layers()), torch.zeros((), device=device))

    def sample_weights(self, enabled: bool) -> None:
        """Draw fresh weights in every forward pass (for training-like noise) or use the means."""
        for layer in self.bayesian_layers():
            layer.sampling = enabled

    def freeze_posterior_draw(self, seed: int | None) -> None:
        """Fix one posterior draw of all weights (seeded) for a whole ODE solve; ``None`` returns to the means."""
        device = next(self.parameters()).device
        generator = None if seed is None else torch.Generator(device=device).manual_seed(seed)
        with torch.no_grad():
            for layer in self.bayesian_layers():
                layer.frozen = None if seed is None else layer.draw(generator)


class BFloat16Field:
    """Inference-only v(x, t[, c]) of a :class:`VelocityField` with its hidden and last layers in bfloat16.

    The first layer (x and the shared time/condition row) stays in float32; the activations after it and the
    weights of the other layers are bfloat16 (products accumulated in float32 by the matrix kernels), and the
    velocity is returned as float32, so the ODE state keeps float32. For one time and one condition row per
    call, as in an ODE solve. On CPUs with AMX (or GPUs with bfloat16 tensor cores) the 256-wide layers run
    several times faster than in float32; the accuracy is measured like a solver's (docs/benchmarks.md).
    """

    def __init__(self, field: VelocityField):
        linear = [module for module in field.net if not isinstance(module, nn.SiLU)]
        weights = [fixed_weights(layer) for layer in linear]
        if any(w is None for w in weights):
            raise ValueError("bfloat16 evaluation needs fixed weights (the means or one frozen posterior draw)")
        self.field = field
        self.layers = [(w.t().contiguous().to(torch.bfloat16), b.to(torch.bfloat16)) for w, b in weights[1:]]

    def __call__(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if t.dim() != 0 or (c is not None and len(c) != 1):
            raise ValueError("bfloat16 evaluation takes one time and one condition row per call")
        weight_x, row = self.field._shared_first_layer(t, c, x.dtype)
        hidden = torch.addmm(row, x, weight_x.t()).to(torch.bfloat16)
        for weight, bias in self.layers:
            hidden = torch.addmm(bias, nn.functional.silu(hidden, inplace=True), weight)
        return hidden.to(x.dtype)
