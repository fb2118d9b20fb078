"""Unpaired conditional flow matching between off-shell (t = 0) and on-shell (t = 1) events.

Method paper Eq. (8): x0 ~ p_off, x1 ~ p_on drawn independently (or paired by mini-batch optimal
transport, ``coupling="ot"``, see :mod:`.coupling`), x(t) = (1 - t) x0 + t x1,
target velocity x1 - x0, t ~ U(0, 1), batch-wise noise of scale 1e-4 on x0 and x1;
Bayesian loss Eq. (9) with the KL term normalised per training event. AdamW with a
OneCycle schedule from ``lr`` up to ``max_lr``. Checkpoints after every epoch allow
``resume``; the finished model is written with :func:`lhe_didi.models.store.save_model_dir`.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .. import __version__
from ..conditions import MassCondition, grouped_masses, top_width
from ..errors import LheDidiError
from ..input_check import training_physics
from ..kinematics import representation as representations
from ..kinematics.representation import Preprocessor
from ..models.store import save_model_dir
from ..models.velocity import VelocityField
from ..runtime import resolve_device
from .coupling import check_coupling, pair
from .data import load_features, reading_progress


@dataclass
class DidiSettings:
    """Architecture and training options (the ``train didi`` command's); models/README.md gives the shipped recipe.
    ``breit_wigner_scale`` None follows the representation (:func:`.representation.default_breit_wigner_scale`)."""

    width: int = 256
    depth: int = 4
    embedding: int = 64
    bayesian: bool = False
    prior_width: float = 1.0
    kl_scale: float = 1e-3
    epochs: int = 150
    batch_size: int = 4096
    lr: float = 2e-4
    max_lr: float = 2e-3
    weight_decay: float = 1e-5
    noise: float = 1e-4
    representation: str = "decay-chain-beams"
    breit_wigner_scale: str | None = None
    coupling: str = "independent"
    ot_block: int = 256
    validation_fraction: float = 0.1
    max_events: int | None = None
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        if self.breit_wigner_scale is None:
            self.breit_wigner_scale = representations.default_breit_wigner_scale(self.representation)


def log_epoch(description: str, epoch: int, total: int, **values: float) -> None:
    """One stderr line per epoch for batch jobs, where the tqdm bar is off (stderr not a terminal)."""
    if not sys.stderr.isatty():
        text = ", ".join(f"{k} {v:.5g}" for k, v in values.items())
        print(f"{description}: epoch {epoch}/{total}, {text}", file=sys.stderr, flush=True)


def feature_ranges(*samples: np.ndarray) -> dict:
    """Per-feature min and max over the training samples (used to flag unphysical outputs)."""
    joined = np.concatenate(samples)
    return {"min": joined.min(axis=0).tolist(), "max": joined.max(axis=0).tolist()}


def cfm_loss(
    model: VelocityField,
    x0: torch.Tensor,
    x1: torch.Tensor,
    generator: torch.Generator | None = None,
    noise: float = 0.0,
    c: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error between v(x_t, t[, c]) and x1 - x0 on linear paths (``c``: the pairs' conditions)."""
    t = torch.rand(len(x0), device=x0.device, generator=generator)
    if noise > 0:
        x0 = x0 + noise * torch.randn(x0.shape, device=x0.device, generator=generator)
        x1 = x1 + noise * torch.randn(x1.shape, device=x1.device, generator=generator)
    xt = (1.0 - t[:, None]) * x0 + t[:, None] * x1
    return torch.mean((model(xt, t, c) - (x1 - x0)) ** 2)


class ConditionalPartners:
    """Draws, for off-shell events of given mass groups, on-shell partners uniformly from the same group: flow
    matching between p_off(x | m) and p_on(x | m) at every trained mass m (independent coupling within a group)."""

    def __init__(self, onshell_groups: torch.Tensor, groups: int):
        order = torch.argsort(onshell_groups, stable=True)
        counts = torch.bincount(onshell_groups, minlength=groups)
        if bool((counts == 0).any()):
            raise LheDidiError("every trained mass needs on-shell events in each split")
        self.order, self.counts = order, counts
        self.starts = torch.cumsum(counts, 0) - counts

    def draw(self, offshell_groups: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """On-shell row indices, one per off-shell event, from the same group."""
        u = torch.rand(len(offshell_groups), device=offshell_groups.device, generator=generator)
        within = torch.minimum((u * self.counts[offshell_groups]).long(), self.counts[offshell_groups] - 1)
        return self.order[self.starts[offshell_groups] + within]


class _Checkpoint:
    """Training state (model, optimiser, scheduler, RNG, history) in safetensors + JSON; no pickle."""

    def __init__(self, directory: Path):
        self.directory = directory

    def save(self, model, optimizer, scheduler, epoch, history, generator):
        self.directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        state = optimizer.state_dict()
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.generator"] = generator.get_state()
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, self.directory / "state.safetensors")
        meta = {
            "epoch": epoch,
            "history": history,
            "scheduler": scheduler.state_dict(),
            "optimizer_param_groups": state["param_groups"],
        }
        (self.directory / "state.json").write_text(json.dumps(meta, default=float))

    def load(self, model, optimizer, scheduler, generator, device):
        if not (self.directory / "state.safetensors").exists():
            raise LheDidiError(f"{self.directory}: no checkpoint to resume from")
        tensors = load_file(self.directory / "state.safetensors")
        meta = json.loads((self.directory / "state.json").read_text())
        model.load_state_dict({k[6:]: v.to(device) for k, v in tensors.items() if k.startswith("model.")})
        state = {"state": {}, "param_groups": meta["optimizer_param_groups"]}
        for key, value in tensors.items():
            if key.startswith("optimizer."):
                _, index, name = key.split(".", 2)
                state["state"].setdefault(int(index), {})[name] = value.to(device) if name != "step" else value
        optimizer.load_state_dict(state)
        scheduler.load_state_dict(meta["scheduler"])
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.generator"])
        return meta["epoch"], meta["history"]


@dataclass
class DidiTrainingData:
    """Both training samples in standardised coordinates (float32, shuffled), their preprocessing and provenance."""

    onshell: np.ndarray
    offshell: np.ndarray
    preprocessor: Preprocessor
    ranges: dict
    data: dict  # {"onshell": provenance, "offshell": provenance} of the files (lists for conditional models)
    onshell_mass: np.ndarray | None = None  # (N,) top mass of each event's sample: a mass-conditional model
    offshell_mass: np.ndarray | None = None

    @property
    def condition(self) -> MassCondition | None:
        if self.onshell_mass is None:
            return None
        return MassCondition(tuple(float(m) for m in np.unique(self.onshell_mass)))

    def save(self, path: str | Path, quantise: bool = False) -> None:
        """Write to an ``.npz`` + ``.json`` pair (no pickle). ``quantise`` stores the coordinates as int16 in steps
        of the smallest power of two that keeps the largest |z| in range (2^-12 standard deviations for |z| < 8):
        half the size, for moving the data to a training machine."""
        path = Path(path)
        arrays = {"onshell": self.onshell, "offshell": self.offshell}
        quantum = None
        if quantise:
            largest = max(float(np.abs(v).max()) for v in arrays.values())
            quantum = 2.0 ** math.ceil(math.log2(max(largest, 1e-30) / 32767))
            arrays = {k: np.round(v / quantum).astype(np.int16) for k, v in arrays.items()}
        if self.onshell_mass is not None:
            arrays.update(onshell_mass=self.onshell_mass, offshell_mass=self.offshell_mass)
        np.savez(path.with_suffix(".npz"), **arrays)
        meta = {
            "preprocessing": self.preprocessor.to_dict(),
            "feature_ranges": self.ranges,
            "data": self.data,
            "quantum": quantum,
        }
        path.with_suffix(".json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: str | Path) -> DidiTrainingData:
        path = Path(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz"), allow_pickle=False) as arrays:
            on, off = arrays["onshell"], arrays["offshell"]
            masses = (arrays["onshell_mass"], arrays["offshell_mass"]) if "onshell_mass" in arrays else (None, None)
        scale = meta["quantum"] or 1.0
        return cls(
            on.astype(np.float32) * np.float32(scale),
            off.astype(np.float32) * np.float32(scale),
            Preprocessor.from_dict(meta["preprocessing"]),
            meta["feature_ranges"],
            meta["data"],
            *masses,
        )


def prepare_didi_data(
    onshell, offshell, settings: DidiSettings, progress: bool = True, condition_on_mass: bool = False
) -> DidiTrainingData:
    """Read the files, shuffle, fit the preprocessing on their union and standardise.

    ``onshell``, ``offshell``: one file each, or (``condition_on_mass``) lists of files at two or more top masses,
    each mass with an on-shell and an off-shell file; the mass of each file is read from its header, and each
    event's top mass coordinate is flattened around its own sample's pole (:mod:`lhe_didi.conditions`).
    """
    try:  # checked before the (long) reading of the training files
        representations.get(settings.representation, settings.breit_wigner_scale)
    except ValueError as exc:
        raise LheDidiError(str(exc)) from None
    on_paths = [onshell] if isinstance(onshell, (str, Path)) else list(onshell)
    off_paths = [offshell] if isinstance(offshell, (str, Path)) else list(offshell)
    if not condition_on_mass and (len(on_paths) != 1 or len(off_paths) != 1):
        raise LheDidiError("several training files per side need a mass-conditional model (--condition-on-mass)")
    if condition_on_mass and settings.representation == "particles":
        raise LheDidiError(
            "a mass-conditional model needs decay-chain coordinates (the top mass is centred on the "
            "condition); the particles representation has none"
        )

    def read(paths, seed):
        samples = []
        for path in paths:
            with reading_progress(path, progress) as update:
                samples.append(load_features(path, settings.max_events, seed, settings.representation, update))
        return samples

    on_samples, off_samples = read(on_paths, settings.seed), read(off_paths, settings.seed + 1)
    on = np.concatenate([f for f, _ in on_samples])
    off = np.concatenate([f for f, _ in off_samples])
    if min(len(on), len(off)) < 10:
        raise LheDidiError("need at least 10 events in each training file")
    rng = np.random.default_rng(settings.seed)
    on_order, off_order = rng.permutation(len(on)), rng.permutation(len(off))
    if not condition_on_mass:  # the samples are used in random order; shuffled once for an unbiased validation tail
        on, off = on[on_order], off[off_order]
        preprocessor = Preprocessor.fit(np.concatenate([on, off]), settings.representation, settings.breit_wigner_scale)
        return DidiTrainingData(
            preprocessor.forward(on).astype(np.float32),
            preprocessor.forward(off).astype(np.float32),
            preprocessor,
            feature_ranges(on, off),
            {"onshell": on_samples[0][1], "offshell": off_samples[0][1]},
        )
    on_mass = _sample_masses(on_samples, "on-shell")[on_order]
    off_mass = _sample_masses(off_samples, "off-shell")[off_order]
    on, off = on[on_order], off[off_order]
    if set(np.unique(on_mass)) != set(np.unique(off_mass)):
        raise LheDidiError(
            f"on-shell files at {sorted(set(np.unique(on_mass).tolist()))} GeV and off-shell files at "
            f"{sorted(set(np.unique(off_mass).tolist()))} GeV: every mass needs both"
        )
    grouped_masses({str(m): float(m) for m in np.unique(on_mass)})
    on_top, off_top = (on_mass, top_width(on_mass)), (off_mass, top_width(off_mass))
    both_mass = np.concatenate([on_mass, off_mass])
    preprocessor = Preprocessor.fit(
        np.concatenate([on, off]),
        settings.representation,
        settings.breit_wigner_scale,
        (both_mass, top_width(both_mass)),
    )
    return DidiTrainingData(
        preprocessor.forward(on, on_top).astype(np.float32),
        preprocessor.forward(off, off_top).astype(np.float32),
        preprocessor,
        feature_ranges(on, off),
        {"onshell": [p for _, p in on_samples], "offshell": [p for _, p in off_samples]},
        on_mass.astype(np.float64),
        off_mass.astype(np.float64),
    )


def _sample_masses(samples: list, side: str) -> np.ndarray:
    """Each event's top mass, from its file's header; the width must follow the conditional models' rule."""
    masses = {}
    for _, info in samples:
        stated = info["parameters"]
        if "top_mass" not in stated:
            raise LheDidiError(f"{info['path']}: the header states no top mass; a mass-conditional model needs it")
        MassCondition((stated["top_mass"],)).check(
            stated["top_mass"], stated.get("top_width"), f"{side} training file {info['path']}"
        )
        masses[info["path"]] = round(float(stated["top_mass"]), 3)
    return np.concatenate([np.full(info["events_after_unit_weighting"], masses[info["path"]]) for _, info in samples])


def train_didi(
    onshell,
    offshell,
    output: str | Path,
    settings: DidiSettings,
    resume: bool = False,
    progress: bool = True,
    condition_on_mass: bool = False,
) -> dict:
    """Train a Direct Diffusion model and write it to ``output``; returns the training summary.
    ``onshell``/``offshell``: see :func:`prepare_didi_data`."""
    check_coupling(settings.coupling)
    if condition_on_mass and settings.coupling != "independent":
        raise LheDidiError("a mass-conditional model pairs events within each mass: use --coupling independent")
    resolve_device(settings.device)
    check_coupling(settings.coupling)
    torch.manual_seed(settings.seed)
    np.random.seed(settings.seed)
    prepared = prepare_didi_data(onshell, offshell, settings, progress, condition_on_mass)
    return fit_didi(prepared, output, settings, resume, progress)


def fit_didi(
    prepared: DidiTrainingData,
    output: str | Path,
    settings: DidiSettings,
    resume: bool = False,
    progress: bool = True,
    initial_state: dict[str, torch.Tensor] | None = None,
    extra_config: dict | None = None,
) -> dict:
    """Train the velocity field on prepared data and write the model directory ``output``.

    ``settings.coupling == "reflow"``: row i of ``prepared.offshell`` is the partner of row i of ``prepared.onshell``
    (deterministic pairs, :mod:`.reflow`). ``initial_state``: weights to start from (e.g. a teacher's);
    ``extra_config``: entries added to the model's config.
    """
    device = resolve_device(settings.device)
    paired = settings.coupling == "reflow"
    if not paired:
        check_coupling(settings.coupling)
    torch.manual_seed(settings.seed)
    output = Path(output)
    checkpoint = _Checkpoint(output.with_name(output.name + ".checkpoint"))
    preprocessor, ranges = prepared.preprocessor, prepared.ranges

    def split(z):
        z = torch.as_tensor(z, dtype=torch.float32)
        n_val = max(1, int(round(settings.validation_fraction * len(z))))
        return z[:-n_val].to(device), z[-n_val:].to(device)

    def split_groups(g):
        n_val = max(1, int(round(settings.validation_fraction * len(g))))
        return g[:-n_val], g[-n_val:]

    on_train, on_val = split(prepared.onshell)
    off_train, off_val = split(prepared.offshell)
    condition = prepared.condition
    if paired and len(prepared.onshell) != len(prepared.offshell):
        raise LheDidiError("reflow pairs need as many on-shell as off-shell rows")
    if condition is not None:
        if settings.coupling not in ("independent", "reflow"):
            raise LheDidiError("a mass-conditional model pairs events within each mass: use --coupling independent")
        masses = torch.as_tensor(condition.trained_masses, dtype=torch.float64)

        def groups(mass):  # index of each event's trained mass
            return torch.argmin(torch.abs(torch.as_tensor(mass)[:, None] - masses[None, :]), dim=1)

        on_groups_train, on_groups_val = (g.to(device) for g in split_groups(groups(prepared.onshell_mass)))
        off_groups_train, off_groups_val = (g.to(device) for g in split_groups(groups(prepared.offshell_mass)))
        inputs = torch.as_tensor(condition.network_input(np.asarray(condition.trained_masses)), device=device)
        partners_train = ConditionalPartners(on_groups_train, len(masses))
        partners_val = ConditionalPartners(on_groups_val, len(masses))
    model = VelocityField(
        dim=prepared.onshell.shape[1],
        width=settings.width,
        depth=settings.depth,
        embedding=settings.embedding,
        bayesian=settings.bayesian,
        prior_width=settings.prior_width,
        conditions=0 if condition is None else 1,
    ).to(device)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    batch_size = min(settings.batch_size, len(off_train))
    steps_per_epoch = max(1, len(off_train) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=settings.max_lr,
        total_steps=settings.epochs * steps_per_epoch,
        div_factor=settings.max_lr / settings.lr,
    )
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    start_epoch, history = 0, []
    if resume:
        start_epoch, history = checkpoint.load(model, optimizer, scheduler, generator, device)
    n_train = len(off_train)

    if paired:
        validation_pairs = (off_val, on_val)
        validation_conditions = None if condition is None else inputs[off_groups_val]
    elif condition is None:
        n_val = min(len(off_val), len(on_val))
        validation_pairs = pair(off_val[:n_val], on_val[:n_val], settings.coupling, settings.ot_block)  # fixed
        validation_conditions = None
    else:  # fixed partners from the same mass
        fixed = torch.Generator(device=device).manual_seed(settings.seed + 7)
        validation_pairs = (off_val, on_val[partners_val.draw(off_groups_val, fixed)])
        validation_conditions = inputs[off_groups_val]

    def validation_loss() -> float:
        model.eval()
        with torch.no_grad():
            check = torch.Generator(device=device).manual_seed(12345)
            return cfm_loss(model, *validation_pairs, check, c=validation_conditions).item()

    if not history:  # epoch 0: the untrained (zero) field, i.e. the mean squared displacement
        history.append({"epoch": 0, "train_loss": None, "validation_loss": validation_loss(), "seconds": 0.0})
    epochs = tqdm(
        range(start_epoch, settings.epochs),
        desc="training DiDi",
        unit="epoch",
        disable=not progress or None,
        initial=start_epoch,
        total=settings.epochs,
    )
    for epoch in epochs:
        model.train()
        started = time.perf_counter()
        off_order = torch.randperm(len(off_train), device=device, generator=generator)
        if paired:
            on_order = off_order[: steps_per_epoch * batch_size]
        elif condition is None:
            on_order = torch.randint(len(on_train), (steps_per_epoch * batch_size,), device=device, generator=generator)
        else:
            on_order = partners_train.draw(off_groups_train[off_order[: steps_per_epoch * batch_size]], generator)
        running = 0.0
        for step in range(steps_per_epoch):
            batch = slice(step * batch_size, (step + 1) * batch_size)
            x0, x1 = off_train[off_order[batch]], on_train[on_order[batch]]
            if not paired:
                x0, x1 = pair(x0, x1, settings.coupling, settings.ot_block)
            c = None if condition is None else inputs[off_groups_train[off_order[batch]]]
            loss = cfm_loss(model, x0, x1, generator, settings.noise, c)
            total = loss + settings.kl_scale * model.kl() / n_train if settings.bayesian else loss
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()
        val_loss = validation_loss()
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": running / steps_per_epoch,
                "validation_loss": val_loss,
                "seconds": time.perf_counter() - started,
            }
        )
        epochs.set_postfix(train=f"{running / steps_per_epoch:.4f}", val=f"{val_loss:.4f}")
        if progress:
            log_epoch(
                "training DiDi",
                epoch + 1,
                settings.epochs,
                train_loss=running / steps_per_epoch,
                validation_loss=val_loss,
                seconds=history[-1]["seconds"],
            )
        checkpoint.save(model, optimizer, scheduler, epoch + 1, history, generator)

    config = {
        "kind": "didi",
        "architecture": model.config,
        "features": preprocessor.representation.features,
        "preprocessing": preprocessor.to_dict(),
        "feature_ranges": ranges,
        "training": {
            **asdict(settings),
            "device_used": str(device),
            "steps_per_epoch": steps_per_epoch,
            "batch_size_used": batch_size,
            "history": history,
            "torch_version": torch.__version__,
        },
        "data": prepared.data,
        "physics": training_physics(prepared.data),
        "direction": "t = 1 on-shell -> t = 0 off-shell",
    }
    if condition is not None:
        config["conditions"] = condition.to_dict()
    config.update(extra_config or {})
    content_hash = save_model_dir(output, model.state_dict(), config, model_card(config))
    shutil.rmtree(checkpoint.directory, ignore_errors=True)
    return {"content_hash": content_hash, "history": history, "output": str(output)}


_INPUTS = {
    "particles": "17-D (pT^(1/3), eta, arctanh(phi/pi)) of b, l+, nu, b~, l-, nu~ rotated so that l+ has phi = 0,",
    "decay-chain": "15-D decay chain: top pT^(1/3) and rapidities, m_t and m_W per side as asinh((m - M)/Gamma)\n"
    "  with the"
    "  two-body thresholds sent to -infinity, arctanh of the W and lepton decay angles (cos theta, phi/pi) in the\n"
    "  top and W rest frames,",
    "decay-chain-beams": "15-D decay chain as decay-chain, but the b direction in the top rest frame as bipolar\n"
    "  coordinates about"
    "  the two beams (rho_b = log(sin(theta+/2)/sin(theta-/2)), arctanh(psi_b/pi)),",
}


def _scale_note(preprocessing: dict) -> str:
    scale = preprocessing.get("breit_wigner_scale", "width")
    return (
        "" if scale == "width" else "\n  masses flattened on the Breit-Wigner half width (Gamma/2 in place of Gamma),"
    )


def _data_lines(config: dict) -> str:
    data, fraction = config["data"], config["training"]["validation_fraction"]
    if "conditions" not in config:
        on, off = data["onshell"], data["offshell"]
        return f"""- **Training data**: on-shell `{on["path"]}` ({on["events_used"]} events, \
sha256 `{on["sha256"][:16]}…`),
  off-shell `{off["path"]}` ({off["events_used"]} events, sha256 `{off["sha256"][:16]}…`);
  {100 * fraction:.0f}% held out for validation. Events above unit weight expanded / negative-weight
  events dropped: on-shell {on["weighted_events_expanded"]} / {on["negative_weight_events_dropped"]},
  off-shell {off["weighted_events_expanded"]} / {off["negative_weight_events_dropped"]}."""
    conditions = config["conditions"]
    rows = [
        f"  | {side} | {info['parameters']['top_mass']:g} | `{Path(info['path']).name}` | {info['events_used']} | "
        f"`{info['sha256'][:16]}…` |"
        for side in ("onshell", "offshell")
        for info in data[side]
    ]
    centre, scale = conditions["centre"][0], conditions["scale"][0]
    trained = ", ".join(f"{m:g}" for m in conditions["trained_masses"])
    low, high = conditions["range"]
    return f"""- **Condition**: the top mass, network input (m_t - {centre:g} GeV) / {scale:g} GeV;
  m(b l nu) flattened around each event's own pole; width {conditions["width_rule"]}.
  Trained at {trained} GeV; accepted range {low:g}-{high:g} GeV.
- **Training data** ({100 * fraction:.0f}% held out for validation; pairs drawn within each mass):

  | side | m_t (GeV) | file | events | sha256 |
  |---|---|---|---|---|
""" + "\n".join(rows)


def _reflow_lines(config: dict) -> str:
    if "reflow" not in config:
        return ""
    reflow = config["reflow"]
    events = sum(info["events_used"] for info in reflow["pairs"])
    solver = ", ".join(f"{k} {v}" for k, v in reflow["teacher_solver"].items())
    rk4_steps = config.get("transform", {}).get("rk4_steps")
    steps = f"\n- **Transform default**: rk4 with {rk4_steps} steps." if rk4_steps else ""
    return f"""
- **Reflow** (rectified flow, arXiv:2209.03003): started from and trained on the pairs of the teacher
  `{reflow["teacher_directory"]}` (`{reflow["teacher"][:16]}…`): {events} on-shell events from {len(reflow["pairs"])}
  file(s) and their images under the teacher ({solver}); the training data above are the teacher's.{steps}"""


def model_card(config: dict) -> str:
    """Markdown summary of a DiDi model directory."""
    arch, train = config["architecture"], config["training"]
    last = train["history"][-1] if train["history"] else {}
    trained = [h for h in train["history"] if h["epoch"] > 0]
    per_epoch = np.median([h["seconds"] for h in trained]) if trained else float("nan")
    initial = train["history"][0]["validation_loss"] if train["history"] else float("nan")
    final = last.get("validation_loss", float("nan"))
    inputs = _INPUTS[config["preprocessing"].get("representation", "particles")] + _scale_note(config["preprocessing"])
    bayes_note = f", prior width {arch['prior_width']}, c = {train['kl_scale']}" if arch["bayesian"] else ""
    pairing_note = {
        "ot": f" (exact optimal transport in blocks of {train['ot_block']})",
        "reflow": " (the teacher's deterministic pairs, below)",
    }.get(train.get("coupling"), " (paper Eq. 8)")
    loss_note = (
        "pairs are deterministic, so a perfect student would reach zero"
        if "reflow" in config
        else "the unpaired CFM loss has a large irreducible part"
    )
    return f"""# lhe-didi Direct Diffusion model

- **Task**: map on-shell (POWHEG hvq-like) dileptonic t t~ events to full off-shell (bb4l-like) events;
  velocity field integrated from t = 1 (on-shell) to t = 0 (off-shell) by `lhe-didi transform` (its `--solver`).
- **Content hash**: `{{content_hash}}` (checked at load) — lhe-didi {__version__}
- **Architecture**: {"Bayesian " if arch["bayesian"] else ""}MLP, {arch["depth"]} x {arch["width"]}, SiLU,
  time embedding {arch["embedding"]},
  last layer zero-initialised{bayes_note}.
- **Inputs**: {inputs}
  standardised; decay products taken in the frame where their system has zero pT.
- **Training pairs**: {train.get("coupling", "independent")} coupling{pairing_note}.
{_data_lines(config)}{_reflow_lines(config)}
- **Training**: {train["epochs"]} epochs, batch {train["batch_size"]},
  AdamW + OneCycle ({train["lr"]} -> {train["max_lr"]}),
  noise {train["noise"]}, seed {train["seed"]}, device {train["device_used"]}, median {per_epoch:.1f} s/epoch.
- **Loss**: validation {initial:.5f} untrained (zero field) -> {final:.5f} after training
  (train {last.get("train_loss") or float("nan"):.5f}); {loss_note}.
"""
