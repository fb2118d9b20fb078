"""Figures of the validate report (method paper Figs. 3-6 layouts), written as PNG and PDF."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from .metrics import MIN_TRUTH_EVENTS, inside, weighted_histogram  # noqa: E402

LABELS = {
    "pt": r"$p_T$",
    "eta": r"$\eta$",
    "phi": r"$\phi$",
    "m": r"$m$",
    "b": "b",
    "bbar": r"$\bar b$",
    "lp": r"$\ell^+$",
    "lm": r"$\ell^-$",
    "nu": r"$\nu$",
    "nubar": r"$\bar\nu$",
    "t": "t",
    "tbar": r"$\bar t$",
    "Wp": r"$W^+$",
    "Wm": r"$W^-$",
    "blp": r"$b\ell^+$",
    "bbarlm": r"$\bar b\ell^-$",
}
STYLE = {  # sample key -> (legend label, colour, line style)
    "onshell": ("on-shell (hvq-like)", "0.55", "--"),
    "truth": ("off-shell truth", "black", "-"),
    "generated": ("DiDi", "tab:blue", "-"),
    "reweighted": ("DiDi reweighted", "tab:red", "-"),
}


def axis_label(name: str) -> str:
    """'pt_b' -> '$p_T$ [b] (GeV)'; phi relative to l+ (the event map's rotation)."""
    kind, particle = name.split("_", 1)
    unit = " [GeV]" if kind in ("pt", "m") else ""
    return f"{LABELS.get(kind, kind)}$_{{{LABELS.get(particle, particle).strip('$')}}}${unit}"


def save(figure, path: Path) -> list[str]:
    """Write ``path``.png and ``path``.pdf; returns the file names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files = []
    for suffix in (".png", ".pdf"):
        figure.savefig(path.with_suffix(suffix), dpi=110, bbox_inches="tight")
        files.append(str(path.with_suffix(suffix)))
    plt.close(figure)
    return files


def observable_figure(name: str, table: dict, band: tuple[np.ndarray, np.ndarray] | None = None):
    """Main panel (normalised distributions) and ratio to truth with statistical bands, drawn from a
    :func:`~.metrics.histogram_table` (truth and every sample of :data:`STYLE` it holds).

    ``band``: (low, high) of the generated distribution over Bayesian posterior draws, drawn as a shaded band."""
    figure, (main, ratio) = plt.subplots(2, 1, sharex=True, figsize=(6, 5.2), gridspec_kw={"height_ratios": [3, 1.2]})
    edges, truth, truth_error = table["edges"], inside(table["truth"]), inside(table["truth_error"])
    width = np.diff(edges)
    scored = inside(table["truth_effective_events"]) >= MIN_TRUTH_EVENTS  # the plotted bins metrics.score judges
    largest = 0.0
    for key, (label, colour, line) in STYLE.items():
        if key == "truth":
            mplhep.histplot(truth / width, edges, ax=main, label=label, color=colour, linestyle=line, yerr=False)
            r_err = np.divide(truth_error, truth, out=np.full_like(truth, np.nan), where=truth > 0)
            ratio.stairs(1 + r_err, edges, baseline=1 - r_err, fill=True, color="0.85", label="truth stat.")
            continue
        if key not in table:
            continue
        content, error, r = (inside(table[key][field]) for field in ("content", "error", "ratio"))
        mplhep.histplot(content / width, edges, ax=main, label=label, color=colour, linestyle=line, yerr=False)
        mplhep.histplot(r, edges, ax=ratio, color=colour, linestyle=line, yerr=False)
        largest = max(largest, float(np.max(np.abs(r[scored] - 1), initial=0.0)))
        if key in ("generated", "reweighted"):
            main.stairs(
                (content + error) / width, edges, baseline=(content - error) / width, fill=True, color=colour, alpha=0.2
            )
    if band is not None:
        low, high = band
        main.stairs(
            high / width,
            edges,
            baseline=low / width,
            fill=True,
            color="tab:blue",
            alpha=0.35,
            label="DiDi posterior band",
        )
        ratio.stairs(
            np.divide(high, truth, out=np.ones_like(high), where=truth > 0),
            edges,
            baseline=np.divide(low, truth, out=np.ones_like(low), where=truth > 0),
            fill=True,
            color="tab:blue",
            alpha=0.35,
        )
    main.set_ylabel("normalised density")
    if name.startswith(("m_", "pt_")):
        main.set_yscale("log")
        positive = truth[truth > 0] / width[truth > 0]
        if len(positive):
            main.set_ylim(0.3 * positive.min(), 3.0 * positive.max())
    main.legend(frameon=False, fontsize=8)
    ratio.axhline(1.0, color="black", lw=0.8)
    span = 0.2 if largest <= 0.2 else 0.5 if largest <= 0.5 else 1.0  # paper's +-20% unless that hides a bin
    ratio.set_ylim(1 - span, 1 + span)
    ratio.set_ylabel("/ truth")
    ratio.set_xlabel(axis_label(name))
    ratio.set_xlim(edges[0], edges[-1])
    figure.subplots_adjust(hspace=0.05)
    return figure


def migration_figure(name: str, edges: np.ndarray, start: np.ndarray, generated: np.ndarray):
    """Generated value against the on-shell starting value of the same event (paper Fig. 4), log colour scale."""
    figure, axis = plt.subplots(figsize=(5.4, 4.6))
    counts, _, _ = np.histogram2d(start, generated, bins=[edges, edges])
    mesh = axis.pcolormesh(
        edges, edges, np.where(counts > 0, counts, np.nan).T, norm=matplotlib.colors.LogNorm(), cmap="viridis"
    )
    figure.colorbar(mesh, ax=axis, label="events")
    axis.plot(edges[[0, -1]], edges[[0, -1]], color="white", lw=0.8, ls="--")
    axis.set_xlabel(f"on-shell start {axis_label(name)}")
    axis.set_ylabel(f"DiDi {axis_label(name)}")
    return figure


def weight_figure(weights: np.ndarray, clip: float | None):
    """Classifier weights on linear and logarithmic axes (paper Fig. 5)."""
    figure, (linear, logarithmic) = plt.subplots(1, 2, figsize=(10, 4))
    top = clip if clip is not None else max(float(np.quantile(weights, 0.999)), 2.0)
    linear.hist(weights, bins=np.linspace(0, min(top, 3.0), 61), histtype="step", color="tab:red")
    linear.set_xlabel("w = C/(1-C)")
    linear.set_ylabel("events")
    positive = weights[weights > 0]
    low = max(float(positive.min()), 1e-4) if len(positive) else 1e-4
    logarithmic.hist(
        positive,
        bins=np.geomspace(low, max(top, 1.1 * float(positive.max(initial=1.0))), 61),
        histtype="step",
        color="tab:red",
    )
    logarithmic.set_xscale("log")
    logarithmic.set_yscale("log")
    logarithmic.set_xlabel("w = C/(1-C)")
    linear.set_xlim(0, min(top, 3.0))
    if clip is not None:
        logarithmic.axvline(clip, color="0.4", ls=":", label=f"clip {clip:g}")
        logarithmic.legend(frameon=False)
    return figure


def tail_clustering_figure(
    names: list[str],
    edges: dict[str, np.ndarray],
    generated: dict[str, np.ndarray],
    weights: np.ndarray,
    truth: dict[str, np.ndarray],
    fraction: float = 0.01,
):
    """Where the largest weights sit (paper Fig. 6): six observables ``names`` of all DiDi events, of the
    events with the largest ``fraction`` of weights and of those with the smallest, against truth."""
    figure, axes = plt.subplots(2, 3, figsize=(13, 7))
    high = weights >= np.quantile(weights, 1 - fraction)
    low = weights <= np.quantile(weights, fraction)
    for axis, name in zip(axes.flat, names, strict=False):
        e = edges[name]
        for values, label, colour in (
            (truth[name], "truth", "black"),
            (generated[name], "DiDi, all", "tab:blue"),
            (generated[name][high], f"DiDi, top {100 * fraction:g}% w", "tab:red"),
            (generated[name][low], f"DiDi, bottom {100 * fraction:g}% w", "tab:green"),
        ):
            if len(values) == 0:
                continue
            content, _ = weighted_histogram(values, e)
            axis.stairs(content / np.diff(e), e, color=colour, label=label)
        axis.set_xlabel(axis_label(name))
        axis.set_yscale("log")
    axes.flat[0].legend(frameon=False, fontsize=8)
    axes.flat[0].set_ylabel("normalised density")
    figure.tight_layout()
    return figure
