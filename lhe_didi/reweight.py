"""Classifier weights for generated (DiDi) events: w = C/(1 - C), clipped, written as a named LHEF-3 weight.

Used by ``transform`` (weights attached as events are generated) and by
``reweight`` (weights attached to an existing DiDi output file). The weight is
always written in each event's ``<rwgt>`` block under :data:`WEIGHT_ID`; with
``multiply_nominal`` XWGTUP and every carried-over named weight are multiplied
by it as well, and the ``<initrwgt>`` description says which convention a file uses.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .conditions import MassCondition
from .errors import LheDidiError
from .io.events import EventBatch
from .io.reader import LheReader
from .io.writer import LheWriter
from .kinematics.symmetry import beam_exchange, mirrored_events
from .models.classifier import InputScaler, build_classifier, logits_of, weights_from_logits
from .models.store import load_network
from .runtime import events_per_call, resolve_device
from .shipped import CLASSIFIER_DEFAULT, shipped_model

DEFAULT_CLASSIFIER = shipped_model(CLASSIFIER_DEFAULT)
WEIGHT_ID = "didi_classifier"


class ClassifierModel:
    """A loaded, verified truth-vs-generated classifier."""

    def __init__(self, directory: str | Path, device: str = "auto"):
        self.directory = Path(directory)
        self.device = resolve_device(device)
        self.network, self.config = load_network(directory, "classifier", build_classifier, self.device)
        self.scaler = InputScaler.from_dict(self.config["preprocessing"])
        self.content_hash = self.config["content_hash"]
        self.condition = MassCondition.from_dict(self.config.get("conditions"))

    @property
    def didi_model_hash(self) -> str | None:
        """Content hash of the DiDi model whose output the classifier was trained against (None if unknown)."""
        return self._generated[0].get("didi_model_hash")

    @property
    def trained_on_beam_symmetrised(self) -> bool:
        """Whether the generated training sample was made with ``transform --beam-symmetrise``."""
        return bool(self._generated[0].get("beam_symmetrised", False))

    @property
    def _generated(self) -> list[dict]:
        """Provenance of the generated training files (one per mass for a conditional classifier, which training
        makes sure come from one DiDi model, all beam-symmetrised or none)."""
        generated = self.config["data"]["generated"]
        return generated if isinstance(generated, list) else [generated]

    def weights(
        self,
        momenta: np.ndarray,
        clip: float | None = 15.0,
        mirrored: np.ndarray | None = None,
        top_mass: float | None = None,
    ) -> np.ndarray:
        """w = C/(1 - C) for decay-product momenta (N, 6, 4), capped at ``clip`` (None: uncapped).

        ``mirrored``: for ``transform --beam-symmetrise`` output, the mask of events mapped as R Phi R; a classifier
        trained on plain output weights them at the network's own output R x (:mod:`lhe_didi.kinematics.symmetry`).
        ``top_mass``: the condition of a mass-conditional classifier (the DiDi model's input mass).
        """
        self.check_applies(mirrored is not None)
        if mirrored is not None and not self.trained_on_beam_symmetrised:
            momenta = momenta.copy()
            momenta[mirrored] = beam_exchange(momenta[mirrored])
        conditions = None
        if self.condition is not None:
            if top_mass is None:
                raise LheDidiError(f"{self.directory}: a mass-conditional classifier needs the events' top mass")
            self.condition.check(top_mass, None, "the DiDi model's input")
            conditions = self.condition.network_input(np.full(len(momenta), top_mass))
        per_call = events_per_call(self.device) or 65_536
        return weights_from_logits(
            logits_of(self.network, self.scaler, momenta, self.device, per_call, conditions), clip
        )

    def check_applies(self, beam_symmetrised: bool) -> None:
        """Refuse plain DiDi output when trained on beam-symmetrised output (its w estimates a different ratio)."""
        if self.trained_on_beam_symmetrised and not beam_symmetrised:
            raise LheDidiError(
                f"classifier {self.directory} was trained on beam-symmetrised DiDi output; "
                "it weights only beam-symmetrised events (transform --beam-symmetrise)"
            )


@dataclass
class WeightSettings:
    """How classifier weights are attached."""

    clip: float | None = 15.0
    multiply_nominal: bool = False

    def provenance(self, classifier: ClassifierModel) -> dict:
        """The ``classifier`` entry of the output's ``<lhe_didi>`` header block."""
        return {
            "directory": str(classifier.directory),
            "content_hash": classifier.content_hash,
            "weight_id": WEIGHT_ID,
            "weight_clip": self.clip,
            "multiply_nominal": self.multiply_nominal,
        }

    def description(self, classifier: ClassifierModel, beam_symmetrised: bool = False) -> str:
        """The ``<initrwgt>`` text for :data:`WEIGHT_ID`."""
        clip = f"clipped at {self.clip:g}" if self.clip is not None else "not clipped"
        how = (
            "already multiplied into XWGTUP and into every other named weight"
            if self.multiply_nominal
            else "not applied to XWGTUP: multiply XWGTUP by it for the reweighted prediction"
        )
        what = "w = C/(1-C)"
        if beam_symmetrised and not classifier.trained_on_beam_symmetrised:
            what += (
                " at the network's own output (for the beam-exchanged half of this beam-symmetrised DiDi output:"
                " before the exchange)"
            )
        return (
            f"classifier weight {what} of lhe-didi classifier {classifier.content_hash[:16]} "
            f"(truth vs DiDi), {clip}; {how}"
        )


@dataclass
class WeightSummary:
    """Running statistics of the attached weights. The quantiles come from counts in fine logarithmic bins, so they
    are the same whatever the chunks and ranges the events came in, and the memory does not grow with the events."""

    count: int = 0
    clipped: int = 0
    maximum: float = 0.0
    quantiles: list[float] = field(default_factory=list)
    seconds: float = 0.0
    _sums: list[float] = field(default_factory=list, repr=False)  # per batch, summed exactly: any order agrees
    _counts: np.ndarray = field(default_factory=lambda: np.zeros(len(QUANTILE_EDGES) + 1, np.int64), repr=False)

    @property
    def total(self) -> float:
        return math.fsum(self._sums)

    def add(self, weights: np.ndarray, clip: float | None) -> None:
        self.count += len(weights)
        self._sums.append(float(weights.sum()))
        self.maximum = max(self.maximum, float(weights.max(initial=0.0)))
        if clip is not None:
            self.clipped += int((weights >= clip).sum())
        self._counts += np.bincount(np.searchsorted(QUANTILE_EDGES, weights, side="right"), minlength=len(self._counts))

    def extend(self, later: WeightSummary) -> None:
        """Add the batches of ``later`` (the summary of the events that follow, e.g. the next range of a file)."""
        self.count += later.count
        self.clipped += later.clipped
        self.maximum = max(self.maximum, later.maximum)
        self._sums += later._sums
        self._counts += later._counts

    def finish(self) -> None:
        self.quantiles = [binned_quantile(self._counts, q) for q in (0.01, 0.5, 0.99)]

    def line(self) -> str:
        """One-line summary for logs and file footers."""
        mean = self.total / max(self.count, 1)
        q = ", ".join(f"{v:.3g}" for v in self.quantiles) if self.quantiles else "n/a"
        return (
            f"classifier weights on {self.count} events: mean {mean:.4f}, 1/50/99% quantiles {q},"
            f" max {self.maximum:.3g}, {self.clipped} at the clip"
        )


# Bin edges for the weight quantiles: 24 000 logarithmic bins from 1e-6 to 1e6, each 0.115% wide; a quantile is
# interpolated within its bin (the footer shows 3 significant digits). Below and above: one bin each.
QUANTILE_EDGES = np.geomspace(1e-6, 1e6, 24_001)


def binned_quantile(counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile (rank q (n - 1), as numpy's default) of weights counted in the bins of
    :data:`QUANTILE_EDGES`, log-linear within its bin; 0 below the first edge and without weights, the last edge
    above it."""
    total = int(counts.sum())
    if total == 0:
        return 0.0
    cumulative = np.cumsum(counts)
    rank = q * (total - 1)
    k = int(np.searchsorted(cumulative, rank, side="right"))
    if k == 0:
        return 0.0
    if k >= len(QUANTILE_EDGES):
        return float(QUANTILE_EDGES[-1])
    inside = (rank - (cumulative[k] - counts[k]) + 0.5) / counts[k]  # the bin's events spread evenly over it
    low, high = QUANTILE_EDGES[k - 1], QUANTILE_EDGES[k]
    return float(low * (high / low) ** min(max(inside, 0.0), 1.0))


def apply_weights(batch: EventBatch, weights: np.ndarray, multiply_nominal: bool) -> EventBatch:
    """A copy of ``batch`` whose XWGTUP and named weights are multiplied by ``weights`` if ``multiply_nominal``."""
    if not multiply_nominal:
        return batch
    return replace(
        batch, weight=batch.weight * weights, named_weights={k: v * weights for k, v in batch.named_weights.items()}
    )


def resolve_classifier(
    classifier_dir: str | Path | None, didi_lineage: Sequence[str], device: str
) -> ClassifierModel | None:
    """The classifier to use: an explicit directory, else the shipped default when it was trained against
    the DiDi model of ``didi_lineage`` (its content hash, then those of the teachers it was reflowed from, which it
    reproduces); a mismatch is reported on stderr (explicit) or skips the default."""
    didi_hash = didi_lineage[0] if didi_lineage else None
    if classifier_dir is not None:
        classifier = ClassifierModel(classifier_dir, device)
        if didi_hash and classifier.didi_model_hash and classifier.didi_model_hash not in didi_lineage:
            print(
                f"warning: classifier {classifier_dir} was trained against DiDi model "
                f"{classifier.didi_model_hash[:16]}, not {didi_hash[:16]}; its weights may not apply",
                file=sys.stderr,
            )
        return classifier
    if not (DEFAULT_CLASSIFIER / "config.json").is_file():
        return None
    classifier = ClassifierModel(DEFAULT_CLASSIFIER, device)
    if didi_hash and classifier.didi_model_hash not in didi_lineage:
        print(
            f"note: the shipped classifier belongs to DiDi model {str(classifier.didi_model_hash)[:16]},"
            f" not {didi_hash[:16]}; no classifier weights attached (give --classifier to force one)",
            file=sys.stderr,
        )
        return None
    return classifier


def reweight_file(
    input_path: str | Path,
    output_path: str | Path,
    classifier_dir: str | Path | None = None,
    settings: WeightSettings | None = None,
    device: str = "auto",
    batch_size: int = 50_000,
    progress=None,
) -> WeightSummary:
    """Attach classifier weights to every event of an existing generated file (kinematics unchanged)."""
    settings = settings or WeightSettings()
    reader = LheReader(input_path)
    classifier = resolve_classifier(classifier_dir, reader.header.didi_model_lineage, device)
    if classifier is None:
        raise LheDidiError(
            "no classifier: give --classifier DIR (no shipped classifier belongs to the DiDi model that made this file)"
        )
    if WEIGHT_ID in reader.header.weight_ids:
        raise LheDidiError(f"{input_path}: already carries the named weight '{WEIGHT_ID}'")
    mirror_seed = reader.header.didi_mirror_seed
    symmetrised = mirror_seed is not None
    classifier.check_applies(symmetrised)
    top_mass = reader.header.didi_top_mass
    if classifier.condition is not None:
        if top_mass is None:
            raise LheDidiError(
                f"{input_path}: no top mass of a mass-conditional DiDi model in the header; a "
                "mass-conditional classifier reweights only the output of one"
            )
        classifier.condition.check(top_mass, None, f"{input_path}'s transform")
    provenance = {
        "command": "reweight",
        "input": str(input_path),
        "classifier": settings.provenance(classifier),
        "beam_symmetrised": symmetrised,
    }
    summary = WeightSummary()
    started = time.perf_counter()
    description = {WEIGHT_ID: settings.description(classifier, symmetrised)}
    with LheWriter(output_path, reader.header, provenance, description) as writer:
        for batch in reader.batches(batch_size):
            mirrored = None
            if symmetrised:
                if (batch.source_index < 0).any():
                    raise LheDidiError(
                        f"{input_path}: beam-symmetrised events without their '#lhe-didi source-event'"
                        " line; the mirrored half cannot be recovered"
                    )
                mirrored = mirrored_events(batch.source_index, mirror_seed)
            weights = classifier.weights(batch.momenta, settings.clip, mirrored, top_mass)
            summary.add(weights, settings.clip)
            writer.write(apply_weights(batch, weights, settings.multiply_nominal), {WEIGHT_ID: weights})
            if progress is not None:
                progress(len(batch))
        summary.finish()
        writer.footer = f"<!-- lhe-didi reweight: {summary.line()} -->\n"
    summary.seconds = time.perf_counter() - started
    return summary
