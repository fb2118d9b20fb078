"""Summary of a top-pair LHE file: content, cross section and resonance mass peaks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from .constants import LEPTON_NAMES
from .io.reader import LheReader
from .kinematics.histories import history_line
from .kinematics.observables import system_masses
from .normalisation import normalisation_line

PEAK_SYSTEMS = ("t", "tbar", "W+", "W-")


def peak_position(values: np.ndarray, bin_width: float = 0.25) -> tuple[float, float]:
    """Peak position and full width at half maximum of a resonance distribution.

    The mode is located on 1 GeV bins, then refined with ``bin_width`` bins in
    +-15 GeV around it; the peak is the midpoint of the half-maximum crossings.
    """
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    coarse, edges = np.histogram(values, bins=np.arange(np.floor(values.min()), np.ceil(values.max()) + 1.0))
    mode = 0.5 * (edges[coarse.argmax()] + edges[coarse.argmax() + 1])
    counts, edges = np.histogram(values, bins=np.arange(mode - 15.0, mode + 15.0 + bin_width / 2, bin_width))
    above = np.flatnonzero(counts >= 0.5 * counts.max())
    low, high = edges[above[0]], edges[above[-1] + 1]
    return 0.5 * (low + high), high - low


@dataclass
class FileSummary:
    """Accumulated statistics of one LHE file."""

    path: str
    n_events: int = 0
    sum_weights: float = 0.0
    sum_weights_squared: float = 0.0
    n_negative: int = 0
    lepton_pairs: Counter = field(default_factory=Counter)
    initial_states: Counter = field(default_factory=Counter)
    extra_partons: Counter = field(default_factory=Counter)
    n_with_extras: int = 0
    b_masses: set = field(default_factory=set)
    masses: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in PEAK_SYSTEMS})
    cross_section: tuple[float, float] = (float("nan"), float("nan"))
    skipped: Counter = field(default_factory=Counter)
    named_weights: dict[str, list[np.ndarray]] = field(default_factory=dict)
    radiation_types: Counter = field(default_factory=Counter)  # first number of the '#rwgt' line ('none': no line)
    histories: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))  # events per resonance history
    normalisation: str = ""  # which cross section a transformed file carries
    made_by: str = (
        ""  # the lhe-didi steps recorded in the header, e.g. "generate, transform (DiDi ..., beam-symmetrised)"
    )


def summarize(reader: LheReader, progress=None) -> FileSummary:
    """Stream the file once and collect a :class:`FileSummary`; ``progress`` is called with each batch size."""
    summary = FileSummary(
        path=str(reader.path),
        cross_section=reader.header.total_cross_section,
        made_by=_made_by(reader.header.lhe_didi_provenance),
        normalisation=_normalisation(reader.header.lhe_didi_provenance),
    )
    for batch in reader.batches():
        summary.n_events += len(batch)
        summary.sum_weights += float(batch.weight.sum())
        summary.sum_weights_squared += float((batch.weight**2).sum())
        summary.n_negative += int((batch.weight < 0).sum())
        for lplus, lminus in zip(-batch.pdg[:, 1], batch.pdg[:, 4], strict=False):
            summary.lepton_pairs[f"{LEPTON_NAMES[lplus]}+ {LEPTON_NAMES[lminus]}-"] += 1
        for a, b in batch.incoming_pdg:
            summary.initial_states["gg" if a == b == 21 else "qq~" if a == -b else "qg"] += 1
        n_extras = batch.n_extras
        summary.n_with_extras += int((n_extras > 0).sum())
        summary.extra_partons.update(ak.to_numpy(ak.flatten(batch.extras.pdg)).tolist())
        summary.radiation_types.update(c.split()[1] if len(c.split()) > 1 else "none" for c in batch.radiation_comment)
        summary.histories += np.bincount(batch.history, minlength=3)
        summary.b_masses.update(np.unique(batch.masses[:, [0, 3]]).round(6).tolist())
        for wid, values in batch.named_weights.items():
            summary.named_weights.setdefault(wid, []).append(values)
        masses = system_masses(batch.momenta)
        for name in PEAK_SYSTEMS:
            summary.masses[name].append(masses[name])
        if progress is not None:
            progress(len(batch))
    summary.skipped = reader.skipped_reasons
    return summary


def _made_by(blocks: list[dict]) -> str:
    """The lhe-didi steps of a file's provenance blocks, oldest first, with the DiDi model and symmetrisation."""
    steps = []
    for block in blocks:
        step = str(block.get("command", "?"))
        if step == "generate" and block.get("tail_bias"):
            step += f" (tail bias, pT0 {block['tail_bias'].get('pt0_GeV'):g} GeV: use the event weights)"
        if step == "transform" and "model" in block:
            details = [f"DiDi {str(block['model'].get('content_hash'))[:12]}"]
            if block.get("beam_symmetrised"):
                details.append(f"beam-symmetrised, seed {block.get('seed')}")
            step += f" ({', '.join(details)})"
        steps.append(step)
    return ", ".join(steps)


def _normalisation(blocks: list[dict]) -> str:
    """The normalisation line of the latest transform that recorded one, '' if none did."""
    for block in reversed(blocks):
        if block.get("command") == "transform" and "normalisation" in block:
            return normalisation_line(block["normalisation"]).removeprefix("normalisation: ")
    return ""


def _effective_fraction(summary: FileSummary) -> float:
    """Kish effective sample size as a fraction of the events (1 for equal weights)."""
    if summary.sum_weights_squared <= 0 or summary.n_events == 0:
        return float("nan")
    return summary.sum_weights**2 / summary.sum_weights_squared / summary.n_events


def format_summary(summary: FileSummary) -> str:
    """Human-readable report of a :class:`FileSummary`."""
    n = max(summary.n_events, 1)
    xsec, xerr = summary.cross_section
    lines = [
        f"file              {summary.path}",
        *([f"made by lhe-didi  {summary.made_by}"] if summary.made_by else []),
        f"events            {summary.n_events}"
        + (f" (skipped {sum(summary.skipped.values())})" if summary.skipped else ""),
        f"cross section     {xsec:.6g} +- {xerr:.3g} pb (<init>)",
        *([f"normalisation     {summary.normalisation}"] if summary.normalisation else []),
        f"sum of weights    {summary.sum_weights:.6g};"
        f" negative weights {summary.n_negative} ({100 * summary.n_negative / n:.2f}%);"
        f" effective events {100 * _effective_fraction(summary):.1f}% ((sum w)^2 / sum w^2 / N)",
        "final state       b l+ nu b~ l- nu~"
        + (f"; b mass {', '.join(f'{m:g}' for m in sorted(summary.b_masses))} GeV" if summary.b_masses else ""),
        "lepton flavours   " + ", ".join(f"{k}: {100 * v / n:.1f}%" for k, v in sorted(summary.lepton_pairs.items())),
        "initial states    " + ", ".join(f"{k}: {100 * v / n:.1f}%" for k, v in sorted(summary.initial_states.items())),
        f"extra partons     {100 * summary.n_with_extras / n:.1f}% of events"
        + (
            " (" + ", ".join(f"pdg {k}: {v}" for k, v in sorted(summary.extra_partons.items())) + ")"
            if summary.extra_partons
            else ""
        ),
        "radiation types   "
        + ", ".join(f"{k}: {100 * v / n:.1f}%" for k, v in sorted(summary.radiation_types.items()))
        + " (POWHEG '#rwgt' line)",
        f"resonance history {history_line(summary.histories).rsplit(' of ', 1)[0]} (from the record's tops)",
    ]
    for name in PEAK_SYSTEMS:
        values = np.concatenate(summary.masses[name]) if summary.masses[name] else np.zeros(0)
        if len(values) == 0:
            continue
        peak, fwhm = peak_position(values)
        lines.append(
            f"m({name:4s})         peak {peak:7.2f} GeV, FWHM {fwhm:5.2f} GeV, median {np.median(values):7.2f},"
            f" range {values.min():.1f}-{values.max():.1f} GeV"
        )
    for wid, chunks in summary.named_weights.items():
        values = np.concatenate(chunks)
        q1, q50, q99 = np.quantile(values, [0.01, 0.5, 0.99])
        lines.append(
            f"weight {wid:10s} mean {values.mean():.4g}, 1/50/99% {q1:.3g}/{q50:.3g}/{q99:.3g},"
            f" range {values.min():.3g}-{values.max():.3g}"
        )
    for reason, count in sorted(summary.skipped.items()):
        lines.append(f"skipped           {count} x {reason}")
    return "\n".join(lines)
