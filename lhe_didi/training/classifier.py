"""Training of the truth-vs-generated classifier (method paper Sec. 4) and its model directory.

Binary cross entropy with event weights, normalised so that both classes carry
the same total weight (then C/(1 - C) estimates p_truth / p_generated); Adam from
``lr`` with ReduceLROnPlateau on the validation loss (``lr_patience``); early
stopping after ``patience`` epochs without improvement, keeping the best epoch.

Beam-exchange augmentation (``beam_augment``): off-shell truth is invariant under
exchanging the beams, R (:mod:`lhe_didi.kinematics.symmetry`), and so is beam-symmetrised
DiDi output; then the exact ratio p_truth/p_generated is R-invariant too, and R x is
as good a training event as x. Each training event then enters every batch as x or
R x with probability 1/2 (drawn anew each epoch), and the validation loss averages
both. An event and its mirror always share one split. Plain DiDi output is not
R-invariant, so the augmentation is refused for it.

Ensembles (``members`` K > 1): K networks trained one after another on the same split,
member k initialised and shuffled with seed ``seed + k``; the model's weight is the mean
of the members' weights (:class:`lhe_didi.models.classifier.ClassifierEnsemble`), and its
validation AUC is that of the ensemble on the shared validation split.

Tail emphasis (``tail_emphasis`` E > 1): every event of both classes, training and
validation split alike, has its loss weight multiplied by g(x) = min(E, max(1, q / s(x))),
s(x) the fraction of truth training events at least as hard as x (hardness: the largest
transverse momentum among the observables), q = TAIL_EMPHASIS_QUANTILE: the hardest 1% of
truth counts up to E times more. A factor common to both classes leaves the optimum
C = p_truth / (p_truth + p_generated) unchanged pointwise (so w = C/(1 - C) still estimates
p_truth / p_generated); it moves the network's capacity and the early-stopping criterion
towards the sparse high-pT tails, which an unweighted loss barely sees. The validation AUC
is taken without it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from .. import __version__
from ..conditions import MassCondition, grouped_masses
from ..errors import LheDidiError
from ..input_check import header_parameters
from ..io.reader import LheReader
from ..kinematics.observables import transverse_momentum_columns
from ..models.classifier import ClassifierEnsemble, EventClassifier, InputScaler
from ..models.store import save_model_dir
from ..runtime import resolve_device
from .data import load_observables, reading_progress
from .didi import log_epoch

TAIL_EMPHASIS_QUANTILE = 0.01  # tail emphasis starts at truth's 99% hardness quantile


@dataclass
class ClassifierSettings:
    """Architecture and training options (paper: 5 x 512; default narrower for CPUs, see the model card)."""

    width: int = 256
    depth: int = 5
    dropout: float = 0.1
    epochs: int = 100
    batch_size: int = 4096
    lr: float = 1e-3
    lr_patience: int = 10
    lr_factor: float = 0.1
    patience: int = 20
    validation_fraction: float = 0.2
    max_events: int | None = None
    beam_augment: bool | None = None  # None: on when the generated file is beam-symmetrised DiDi output
    members: int = 1
    tail_emphasis: float = 1.0  # E: loss-weight cap in the far tails (1: off), see the module docstring
    seed: int = 0
    device: str = "auto"


@dataclass
class FittedClassifier:
    """A trained network with its input scaling, per-epoch history, validation AUC and validation-split logits."""

    network: EventClassifier
    scaler: InputScaler
    history: list[dict]
    best_epoch: int
    validation_auc: float
    device: torch.device
    validation_logits: np.ndarray
    validation_labels: np.ndarray
    validation_weights: np.ndarray


def _balanced(
    weights_truth: np.ndarray,
    weights_generated: np.ndarray,
    mass_truth: np.ndarray | None = None,
    mass_generated: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rescale event weights so that each class sums to half the number of events (mean weight 1 overall):
    then the optimal C/(1 - C) is p_truth / p_generated with no prior-ratio factor. With masses (a conditional
    classifier) the balance holds at each mass, so that C/(1 - C) = p_truth(x | m) / p_generated(x | m)."""
    if mass_truth is None:
        half = 0.5 * (len(weights_truth) + len(weights_generated))
        return weights_truth * half / weights_truth.sum(), weights_generated * half / weights_generated.sum()
    truth, generated = np.array(weights_truth, dtype=np.float64), np.array(weights_generated, dtype=np.float64)
    for mass in np.unique(np.concatenate([mass_truth, mass_generated])):
        t, g = mass_truth == mass, mass_generated == mass
        if not (t.any() and g.any()):
            raise LheDidiError(f"top mass {mass:g} GeV has events in only one classifier sample")
        truth[t], generated[g] = _balanced(truth[t], generated[g])
    return truth, generated


def tail_emphasis_factors(
    names: list[str], reference: np.ndarray, values: np.ndarray, cap: float, reference_weights: np.ndarray | None = None
) -> np.ndarray:
    """Loss-weight factor g(x) = min(cap, max(1, q / s(x))) per row of ``values`` (observables in ``names``
    order), q = TAIL_EMPHASIS_QUANTILE, s(x) the fraction of ``reference`` (truth; of its weight, for weighted
    events such as a tail-biased sample) at least as hard as x; hardness: the largest transverse momentum among
    the observables. All ones for cap 1."""
    if cap <= 1.0:
        return np.ones(len(values))
    columns = transverse_momentum_columns(names)
    hardness = reference[:, columns].max(axis=1)
    order = np.argsort(hardness)
    weights = np.ones(len(hardness)) if reference_weights is None else np.asarray(reference_weights)[order]
    weight_at_least = np.concatenate([np.cumsum(weights[::-1])[::-1], [0.0]])  # weight of rows k.. in hardness order
    first_as_hard = np.searchsorted(hardness[order], values[:, columns].max(axis=1))
    with np.errstate(divide="ignore"):
        return np.clip(TAIL_EMPHASIS_QUANTILE * weights.sum() / weight_at_least[first_as_hard], 1.0, cap)


def fit_classifier(
    names: list[str],
    truth: np.ndarray,
    generated: np.ndarray,
    settings: ClassifierSettings,
    truth_weights: np.ndarray | None = None,
    generated_weights: np.ndarray | None = None,
    progress: bool = True,
    description: str = "training classifier",
    truth_mirrored: np.ndarray | None = None,
    generated_mirrored: np.ndarray | None = None,
    member: int = 0,
    truth_mass: np.ndarray | None = None,
    generated_mass: np.ndarray | None = None,
) -> FittedClassifier:
    """Train C(x) on observables (N, 27): truth label 1, generated label 0; see the module docstring.

    ``truth_mass``, ``generated_mass`` (both or neither): each event's top mass, a mass-conditional classifier
    C(x, m) (:mod:`lhe_didi.conditions`), the classes balanced at each mass.

    The split is drawn with ``settings.seed``; initialisation and batch order with ``settings.seed + member``
    (ensemble members share one split).

    ``truth_mirrored``, ``generated_mirrored``: observables of the beam-exchanged events, row by row; given
    (both or neither), every training event is used as x or R x at random (beam-exchange augmentation).
    """
    if min(len(truth), len(generated)) < 10:
        raise LheDidiError("need at least 10 events in each classifier sample")
    if (truth_mirrored is None) != (generated_mirrored is None):
        raise ValueError("beam-exchange augmentation needs the mirrored observables of both samples")
    augment = truth_mirrored is not None
    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed + member)
    rng = np.random.default_rng(settings.seed)
    truth_weights = np.ones(len(truth)) if truth_weights is None else truth_weights
    generated_weights = np.ones(len(generated)) if generated_weights is None else generated_weights
    if (truth_mass is None) != (generated_mass is None):
        raise ValueError("a conditional classifier needs the masses of both samples")
    condition = None if truth_mass is None else MassCondition(tuple(np.unique(truth_mass).tolist()))

    def split(values, weights, mirrored, mass):  # per class, so that both splits hold both classes in proportion
        order = rng.permutation(len(values))
        n_val = max(1, int(round(settings.validation_fraction * len(values))))

        def part(rows):
            return (
                values[rows],
                weights[rows],
                None if mirrored is None else mirrored[rows],
                None if mass is None else mass[rows],
            )

        return part(order[n_val:]), part(order[:n_val])

    truth_train, truth_val = split(truth, truth_weights, truth_mirrored, truth_mass)
    generated_train, generated_val = split(generated, generated_weights, generated_mirrored, generated_mass)
    scaler = InputScaler.fit(
        names,
        np.concatenate(
            [truth_train[0], generated_train[0]] + ([truth_train[2], generated_train[2]] if augment else [])
        ),
    )

    def as_tensor(values):
        return torch.as_tensor(values, dtype=torch.float32, device=device)

    def tensors(truth_part, generated_part):
        """Inputs, labels, balanced weights, loss weights (balanced x tail emphasis) and (augmenting) the
        mirrored inputs of one split."""
        tw, gw = _balanced(truth_part[1], generated_part[1], truth_part[3], generated_part[3])
        x = np.concatenate([truth_part[0], generated_part[0]])
        y = np.concatenate([np.ones(len(tw)), np.zeros(len(gw))])
        w = np.concatenate([tw, gw])
        emphasis = tail_emphasis_factors(names, truth_train[0], x, settings.tail_emphasis, truth_train[1])

        def inputs(values):  # scaled observables, then the condition columns
            if condition is None:
                return as_tensor(scaler(values))
            mass = np.concatenate([truth_part[3], generated_part[3]])
            return as_tensor(np.concatenate([scaler(values), condition.network_input(mass)], axis=1))

        mirrored = inputs(np.concatenate([truth_part[2], generated_part[2]])) if augment else None
        return inputs(x), as_tensor(y), as_tensor(w), as_tensor(w * emphasis), mirrored

    x_train, y_train, _, loss_w_train, x_train_mirrored = tensors(truth_train, generated_train)
    x_val, y_val, w_val, loss_w_val, x_val_mirrored = tensors(truth_val, generated_val)
    if augment:  # the validation loss averages each event and its mirror
        x_val, y_val = torch.cat([x_val, x_val_mirrored]), y_val.repeat(2)
        w_val, loss_w_val = w_val.repeat(2), loss_w_val.repeat(2)
    network = EventClassifier(
        len(names), settings.width, settings.depth, settings.dropout, 0 if condition is None else 1
    ).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=settings.lr_factor, patience=settings.lr_patience
    )
    batch_size = min(settings.batch_size, len(x_train))
    generator = torch.Generator(device=device).manual_seed(settings.seed + member)

    def validation_logits() -> torch.Tensor:
        network.eval()
        with torch.no_grad():
            return torch.cat([network(x_val[i : i + 65536]) for i in range(0, len(x_val), 65536)])

    def validation_loss() -> float:
        return F.binary_cross_entropy_with_logits(validation_logits(), y_val, weight=loss_w_val).item()

    history = [
        {"epoch": 0, "train_loss": None, "validation_loss": validation_loss(), "lr": settings.lr, "seconds": 0.0}
    ]
    best = (history[0]["validation_loss"], 0, copy.deepcopy(network.state_dict()))
    epochs = tqdm(range(settings.epochs), desc=description, unit="epoch", disable=not progress or None)
    for epoch in epochs:
        network.train()
        started = time.perf_counter()
        permutation = torch.randperm(len(x_train), device=device, generator=generator)
        running, steps = 0.0, 0
        for start in range(0, len(x_train) - batch_size + 1, batch_size):
            batch = permutation[start : start + batch_size]
            inputs = x_train[batch]
            if augment:
                flip = torch.rand(len(batch), device=device, generator=generator) < 0.5
                inputs = torch.where(flip[:, None], x_train_mirrored[batch], inputs)
            loss = F.binary_cross_entropy_with_logits(network(inputs), y_train[batch], weight=loss_w_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running, steps = running + loss.item(), steps + 1
        val_loss = validation_loss()
        scheduler.step(val_loss)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": running / max(steps, 1),
                "validation_loss": val_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - started,
            }
        )
        epochs.set_postfix(train=f"{running / max(steps, 1):.5f}", val=f"{val_loss:.5f}")
        if progress:
            log_epoch(
                description,
                epoch + 1,
                settings.epochs,
                train_loss=running / max(steps, 1),
                validation_loss=val_loss,
                lr=history[-1]["lr"],
                seconds=history[-1]["seconds"],
            )
        if val_loss < best[0]:
            best = (val_loss, epoch + 1, copy.deepcopy(network.state_dict()))
        elif epoch + 1 - best[1] >= settings.patience:
            break
    network.load_state_dict(best[2])
    logits, labels, weights = (t.double().cpu().numpy() for t in (validation_logits(), y_val, w_val))
    return FittedClassifier(
        network.eval(), scaler, history, best[1], weighted_auc(logits, labels, weights), device, logits, labels, weights
    )


def train_classifier(
    truth,
    generated,
    output: str | Path,
    settings: ClassifierSettings,
    progress: bool = True,
    condition_on_mass: bool = False,
) -> dict:
    """Train the truth-vs-generated classifier on LHE files and write it to ``output``.

    ``truth``, ``generated``: one file each, or (``condition_on_mass``) lists at two or more top masses: truth's mass
    from its header, the generated file's from the conditional DiDi model's transform record.
    ``settings.beam_augment`` None means: augment when the generated files are beam-symmetrised DiDi output.
    """
    truth_paths = [truth] if isinstance(truth, (str, Path)) else list(truth)
    generated_paths = [generated] if isinstance(generated, (str, Path)) else list(generated)
    if not condition_on_mass and (len(truth_paths) != 1 or len(generated_paths) != 1):
        raise LheDidiError("several files per class need a mass-conditional classifier (--condition-on-mass)")
    headers = [LheReader(path).header for path in generated_paths]
    symmetrised = all(h.didi_beam_symmetrised for h in headers)
    if len({h.didi_model_hash for h in headers}) > 1 or len({h.didi_beam_symmetrised for h in headers}) > 1:
        raise LheDidiError(
            "the generated files come from different DiDi models or transform settings; a classifier "
            "learns the output of one"
        )
    augment = symmetrised if settings.beam_augment is None else settings.beam_augment
    if augment and not symmetrised:
        raise LheDidiError(
            f"{generated_paths[0]}: beam-exchange augmentation needs beam-symmetrised DiDi output "
            "(transform --beam-symmetrise); plain output is not symmetric under the beam exchange"
        )
    settings = replace(settings, beam_augment=augment)
    masses = None
    if condition_on_mass:
        masses = {
            "truth": [_truth_mass(p) for p in truth_paths],
            "generated": [_generated_mass(p, h) for p, h in zip(generated_paths, headers, strict=False)],
        }
        if sorted(set(masses["truth"])) != sorted(set(masses["generated"])):
            raise LheDidiError(
                f"truth at {sorted(set(masses['truth']))} GeV, generated at "
                f"{sorted(set(masses['generated']))} GeV: every mass needs both"
            )
        grouped_masses(dict(zip(map(str, truth_paths), masses["truth"], strict=False)))
    samples = {}
    for label, paths in (("truth", truth_paths), ("generated", generated_paths)):
        parts = []
        for path in paths:
            with reading_progress(path, progress) as update:
                parts.append(load_observables(path, settings.max_events, augment, update))
        names = parts[0][0]
        samples[label] = {
            "values": np.concatenate([p[1] for p in parts]),
            "weights": np.concatenate([p[2] for p in parts]),
            "info": parts[0][3] if not condition_on_mass else [p[3] for p in parts],
            "mirrored": np.concatenate([p[4] for p in parts]) if augment else None,
            "mass": None
            if masses is None
            else np.concatenate([np.full(len(p[1]), m) for p, m in zip(parts, masses[label], strict=False)]),
        }
    truth_sample, generated_sample = samples["truth"], samples["generated"]
    members = []
    for member in range(settings.members):
        description = (
            "training classifier" if settings.members == 1 else f"classifier member {member + 1}/{settings.members}"
        )
        members.append(
            fit_classifier(
                names,
                truth_sample["values"],
                generated_sample["values"],
                settings,
                truth_sample["weights"],
                generated_sample["weights"],
                progress,
                description,
                truth_sample["mirrored"],
                generated_sample["mirrored"],
                member,
                truth_sample["mass"],
                generated_sample["mass"],
            )
        )
    network, auc = _combined(members)
    config = {
        "kind": "classifier",
        "architecture": network.config,
        "preprocessing": members[0].scaler.to_dict(),
        "training": {
            **asdict(settings),
            "device_used": str(members[0].device),
            "validation_auc": auc,
            "members": [
                {
                    "seed": settings.seed + k,
                    "history": m.history,
                    "best_epoch": m.best_epoch,
                    "validation_auc": m.validation_auc,
                }
                for k, m in enumerate(members)
            ],
            "torch_version": torch.__version__,
        },
        "data": {"truth": truth_sample["info"], "generated": generated_sample["info"]},
        "output": "logit of C(x), C = P(truth | x); weight w = C / (1 - C) = exp(logit)"
        + ("" if settings.members == 1 else f"; the mean of the weights of {settings.members} members"),
    }
    if masses is not None:
        config["conditions"] = MassCondition(tuple(sorted(set(masses["truth"])))).to_dict()
    content_hash = save_model_dir(output, network.state_dict(), config, model_card(config))
    return {
        "content_hash": content_hash,
        "members": config["training"]["members"],
        "validation_auc": auc,
        "output": str(output),
    }


def _truth_mass(path) -> float:
    stated = header_parameters(LheReader(path).header)
    if "top_mass" not in stated:
        raise LheDidiError(f"{path}: the header states no top mass; a mass-conditional classifier needs it")
    return round(float(stated["top_mass"]), 3)


def _generated_mass(path, header) -> float:
    mass = header.didi_top_mass
    if mass is None:
        raise LheDidiError(
            f"{path}: not the output of a mass-conditional DiDi model (no top mass in its transform record)"
        )
    return round(mass, 3)


def _combined(members: list[FittedClassifier]) -> tuple[torch.nn.Module, float]:
    """One member as itself, several as a :class:`ClassifierEnsemble`; with the validation AUC of the result."""
    if len(members) == 1:
        return members[0].network, members[0].validation_auc
    ensemble = ClassifierEnsemble(len(members), **members[0].network.config).to(members[0].device)
    for slot, member in zip(ensemble.members, members, strict=False):
        slot.load_state_dict(member.network.state_dict())
    logits = ClassifierEnsemble.combine(torch.as_tensor(np.stack([m.validation_logits for m in members]))).numpy()
    return ensemble.eval(), weighted_auc(logits, members[0].validation_labels, members[0].validation_weights)


def model_card(config: dict) -> str:
    """Markdown summary of a classifier model directory."""
    arch, train = config["architecture"], config["training"]
    members = train["members"]
    ensemble = f"ensemble of {len(members)} members (w = mean of the members' w), each " if len(members) > 1 else ""
    runs = "\n".join(f"  - {_member_summary(m, len(members) > 1)}" for m in members)
    augmentation = (
        "beam-exchange augmentation (each event used as x or R x at random)"
        if train.get("beam_augment")
        else "no beam-exchange augmentation"
    )
    return f"""# lhe-didi classifier (truth vs generated)

- **Task**: C(x) = P(off-shell truth | x) against DiDi output; event weight w = C/(1 - C) = exp(logit)
  reweights generated events onto the truth (method paper Sec. 4), clipped at 15 by default in `transform`.
- **Content hash**: `{{content_hash}}` (checked at load) — lhe-didi {__version__}
- **Architecture**: {ensemble}MLP {arch["depth"]} x {arch["width"]}
  (Linear, BatchNorm, SiLU, dropout {arch["dropout"]}),
  inputs: {arch["inputs"]} observables (15 physical dimensions, m and pT of t, t~, W+, W-, b l+, b~ l-),
  transverse momenta as pT^(-1/3), standardised.
{_data_summary(config)};
  event weights used, classes balanced; {100 * train["validation_fraction"]:.0f}% held out for validation;
  {augmentation};
  {_emphasis_summary(train.get("tail_emphasis", 1.0))}.
- **Training**: Adam from {train["lr"]},
  ReduceLROnPlateau (factor {train["lr_factor"]}, patience {train["lr_patience"]}),
  early stopping patience {train["patience"]}, batch {train["batch_size"]}, device {train["device_used"]}:
{runs}
- **Validation AUC**: {train["validation_auc"]:.4f} (0.5 = generated indistinguishable from truth).
"""


def _data_summary(config: dict) -> str:
    """The model card's training-data lines (a table per mass for a conditional classifier)."""
    data = config["data"]
    if "conditions" not in config:
        truth, generated = data["truth"], data["generated"]
        return (
            f"- **Training data**: truth `{truth['path']}` ({truth['events_used']} events, sha256 "
            f"`{truth['sha256'][:16]}…`),\n  generated `{generated['path']}` ({generated['events_used']} events, "
            f"sha256 `{generated['sha256'][:16]}…`)"
        )
    conditions = config["conditions"]
    rows = "\n".join(
        f"  | {label} | `{Path(info['path']).name}` | {info['events_used']} | `{info['sha256'][:16]}…` |"
        for label in ("truth", "generated")
        for info in data[label]
    )
    return (
        f"- **Condition**: the top mass, input (m_t - {conditions['centre'][0]:g} GeV) / {conditions['scale'][0]:g} GeV"
        f" after the observables; trained at {', '.join(f'{m:g}' for m in conditions['trained_masses'])} GeV, "
        "classes balanced at each mass.\n- **Training data**:\n\n  | class | file | events | sha256 |\n"
        f"  |---|---|---|---|\n{rows}\n\n  All files"
    )


def _emphasis_summary(cap: float) -> str:
    """The model card's words for the tail emphasis setting."""
    if cap <= 1.0:
        return "no tail emphasis"
    return (
        f"tail emphasis {cap:g} (loss weight of both classes x min({cap:g}, max(1, {TAIL_EMPHASIS_QUANTILE:g} / s)), "
        "s = fraction of truth at least as hard, hardness = largest pT)"
    )


def _member_summary(member: dict, several: bool) -> str:
    """One line of the model card per trained network."""
    trained = [h for h in member["history"] if h["epoch"] > 0]
    per_epoch = np.median([h["seconds"] for h in trained]) if trained else float("nan")
    best = member["history"][member["best_epoch"]]
    auc = f", AUC {member['validation_auc']:.4f}" if several else ""
    return (
        f"seed {member['seed']}: {len(trained)} epochs run (median {per_epoch:.1f} s/epoch), best epoch"
        f" {member['best_epoch']}, weighted BCE {member['history'][0]['validation_loss']:.5f} untrained ->"
        f" {best['validation_loss']:.5f}{auc}."
    )


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve of ``scores`` separating labels 1 from 0, with event weights;
    ties count one half. 0.5: indistinguishable."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(scores, kind="mergesort")
    scores, labels, weights = scores[order], labels[order], weights[order]
    unique, starts = np.unique(scores, return_index=True)
    positive = np.add.reduceat(np.where(labels, weights, 0.0), starts)
    negative = np.add.reduceat(np.where(labels, 0.0, weights), starts)
    negatives_below = np.cumsum(negative) - negative
    total_pos, total_neg = positive.sum(), negative.sum()
    if total_pos <= 0 or total_neg <= 0:
        raise ValueError("AUC needs both classes with positive total weight")
    return float(np.sum(positive * (negatives_below + 0.5 * negative)) / (total_pos * total_neg))
