"""The ``validate`` report: on-shell start, off-shell truth, DiDi and reweighted DiDi side by side.

Writes into REPORT_DIR:

    observables/<name>.png|pdf   27 observables, main panel + ratio to truth (paper Fig. 3)
    migration/<name>.png|pdf     DiDi value against the on-shell start of the same event (Fig. 4)
    weights/weights.png|pdf      classifier weights, linear and log (Fig. 5)        [--weights]
    weights/tail_clustering.*    where the largest / smallest weights sit (Fig. 6)  [--weights]
    metrics.json                 per observable: largest |ratio - 1| in bulk and tails, the excess
                                 beyond 2 sigma, the deviation significant at 95% confidence over the
                                 region's bins and whether it is within tolerance (2% bulk, 10% tails),
                                 chi^2/ndf; the rates beyond the plotted range (forward b quarks, pT
                                 overflows; far_tails.py); AUC of fresh two-sample classifiers; the
                                 figure files, relative to REPORT_DIR
    histograms.json              per observable and bin: contents, errors, ratios to truth (first and last
                                 entries: underflow and overflow of the plotted range)
    index.md, index.html         summary table linking the figures

The report is assembled in a temporary directory beside REPORT_DIR and renamed to it when complete,
so an interrupted or failed run leaves no partial report; an earlier report at REPORT_DIR is replaced,
any other non-empty directory there is refused.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import LheDidiError
from ..io.files import staged_directory
from ..kinematics import histories
from ..reweight import WEIGHT_ID
from ..training.classifier import ClassifierSettings, fit_classifier
from ..training.data import ObservableSample, load_observable_sample
from . import plots
from .far_tails import far_tail_lines, far_tails_by_sample
from .metrics import (
    MIN_TRUTH_EVENTS,
    TOLERANCE,
    TOLERANCE_ALPHA,
    binning,
    histogram_table,
    look_elsewhere_sigmas,
    score,
    weighted_histogram,
)

MIGRATION_OBSERVABLES = ("m_t", "m_tbar", "m_Wp", "m_Wm", "m_blp", "m_bbarlm")
TAIL_OBSERVABLES = ("m_t", "m_tbar", "m_Wp", "m_blp", "pt_t", "eta_b")
CONFIDENCE = f"{100 * (1 - TOLERANCE_ALPHA):.0f}%"
TOLERANCE_TEXT = (
    f"Tolerance ({100 * TOLERANCE['bulk']:.0f}% bulk, {100 * TOLERANCE['tails']:.0f}% tails): an observable "
    "misses it where some bin's |x/truth − 1| − zσ exceeds it, z = Φ⁻¹(1 − α/n) for the region's n bins "
    f"(α = {TOLERANCE_ALPHA}; z = {look_elsewhere_sigmas(40):.2f} for 40 bins), so an observable within tolerance "
    f"in every bin is flagged in at most {100 * TOLERANCE_ALPHA:.0f}% of samples; that lower bound on the "
    "deviation is the significant deviation."
)
FAR_TAILS_TEXT = (
    "Beyond the plotted range (truth's 0.1% / 99.9% quantiles), ratio to truth ± the error expected "
    "if the sample followed truth; pool several reports with `python -m lhe_didi.validation.far_tails`:"
)
HISTORIES_TEXT = (
    "Resonance histories written in the records (t t~, t W-, t~ W+; lhe_didi.kinematics.histories), fraction ± "
    "statistical error, and the pull (sample − truth) / combined error:"
)
# fresh two-sample classifiers: small and quick, the numbers compare samples, not architectures
AUC_SETTINGS = ClassifierSettings(width=128, depth=3, epochs=30, patience=5, lr_patience=3, validation_fraction=0.5)


def load_sample(
    path: str | Path, max_events: int | None = None, classifier_weights: bool = False, progress=None
) -> ObservableSample:
    """Read a file's observables; with ``classifier_weights`` also its ``didi_classifier`` named weight
    (nominal weights are divided by it when the file says it was multiplied in)."""
    sample = load_observable_sample(path, max_events, WEIGHT_ID if classifier_weights else None, progress)
    cw = sample.classifier_weights
    if cw is not None and (_weight_settings(sample) or {}).get("multiply_nominal"):
        sample.weights = np.divide(sample.weights, cw, out=np.zeros_like(sample.weights), where=cw > 0)
    return sample


def _weight_settings(sample: ObservableSample) -> dict | None:
    """How the file's classifier weights were attached (latest lhe-didi step that attached them), if any."""
    blocks = [b["classifier"] for b in sample.header.lhe_didi_provenance if b.get("classifier")]
    return blocks[-1] if blocks else None


def _two_sample_auc(
    truth: ObservableSample, generated: ObservableSample, weights: np.ndarray, max_events: int, seed: int
) -> tuple[float, int]:
    """Held-out AUC of a fresh classifier trained on truth vs generated (with ``weights``), and its best epoch
    (0: it never improved on the untrained constant output, whose AUC is 0.5 by construction)."""
    settings = replace(AUC_SETTINGS, seed=seed)
    n_t, n_g = min(len(truth.values), max_events), min(len(generated.values), max_events)
    fitted = fit_classifier(
        truth.names,
        truth.values[:n_t],
        generated.values[:n_g],
        settings,
        truth.weights[:n_t],
        weights[:n_g],
        progress=False,
    )
    return fitted.validation_auc, fitted.best_epoch


def _posterior_band(
    name: str, edges: np.ndarray, draws: list[ObservableSample]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean +- standard deviation of the normalised histograms of K >= 2 posterior draws."""
    if len(draws) < 2:
        return None
    contents = np.stack([weighted_histogram(d.column(name), edges, d.weights)[0] for d in draws])
    mean, std = contents.mean(axis=0), contents.std(axis=0, ddof=1)
    return mean - std, mean + std


def build_report(
    onshell: str | Path,
    offshell: str | Path,
    generated: str | Path,
    output_dir: str | Path,
    use_weights: bool = False,
    posterior: tuple[str | Path, ...] = (),
    max_events: int | None = None,
    auc: bool = True,
    auc_events: int = 200_000,
    seed: int = 0,
    progress=None,
) -> dict:
    """Write the report (see the module docstring) and return the metrics."""
    output_dir = Path(output_dir)
    _check_replaceable(output_dir)
    start = load_sample(onshell, max_events, progress=progress)
    truth = load_sample(offshell, max_events, progress=progress)
    gen = load_sample(generated, max_events, classifier_weights=use_weights, progress=progress)
    draws = [load_sample(p, max_events, progress=progress) for p in posterior]
    files = {
        "onshell": str(onshell),
        "offshell": str(offshell),
        "generated": str(generated),
        "posterior": [str(p) for p in posterior],
    }
    with staged_directory(output_dir) as staging:
        metrics = _write_report(staging, files, start, truth, gen, draws, use_weights, auc, auc_events, seed)
        _check_replaceable(output_dir)  # again: something may have appeared there while the report was made
    return metrics


def _check_replaceable(output_dir: Path) -> None:
    """Refuse a REPORT_DIR that is a file or a non-empty directory other than an earlier report."""
    if output_dir.exists() and not output_dir.is_dir():
        raise LheDidiError(f"{output_dir}: exists and is not a directory")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / "metrics.json").is_file():
        raise LheDidiError(f"{output_dir}: a non-empty directory that is not an lhe-didi report; choose another -o")


def _write_report(
    output_dir: Path,
    files: dict,
    start: ObservableSample,
    truth: ObservableSample,
    gen: ObservableSample,
    draws: list[ObservableSample],
    use_weights: bool,
    auc: bool,
    auc_events: int,
    seed: int,
) -> dict:
    """Figures, metrics.json, histograms.json and the index files into ``output_dir``; returns the metrics."""
    reweighted = gen.weights * gen.classifier_weights if use_weights else None

    figures: dict[str, list[str]] = {"observables": [], "migration": [], "weights": []}
    metrics: dict = {
        "files": files,
        "events": {"onshell": len(start.values), "offshell": len(truth.values), "generated": len(gen.values)},
        "generated_with": {
            "didi_model_hash": gen.header.didi_model_hash,
            "beam_symmetrised": gen.header.didi_beam_symmetrised,
            "classifier": _weight_settings(gen),
        },
        "scoring": {
            "min_effective_truth_events_per_bin": MIN_TRUTH_EVENTS,
            "effective_events": "(sum w)^2 / sum w^2 of the truth events in the bin",
            "bulk": "bins overlapping the central 90% of truth",
            "tails": "the other scored bins, the underflow and overflow (outside the plotted range) included",
            "deviation": "|sample/truth - 1| of normalised histograms",
            "stat_error": "error of the ratio expected if the sample followed truth: each histogram's variance "
            "per unit content kept from the bin, evaluated at the content both share",
            "excess": "max(0, deviation - 2 x stat_error), largest over bins",
            "chi2_ndf": "sum of ((ratio - 1) / stat_error)^2 over the scored bins / their number",
            "max_excess_perfect_p95": "95% quantile of that largest excess for a sample distributed "
            "exactly as truth with the same bin errors (pseudo-experiments)",
            "median_stat_error": "median statistical error of the ratio over the region's bins",
            "significant_deviation": "max(0, deviation - look_elsewhere_sigmas x stat_error), largest "
            f"over the region's bins: the deviation shown at {CONFIDENCE} confidence",
            "look_elsewhere_sigmas": f"z = Phi^-1(1 - {TOLERANCE_ALPHA} / n) for the region's n bins: a "
            "sample deviating by exactly the tolerance in every bin exceeds "
            f"it somewhere with probability <= {TOLERANCE_ALPHA}",
            "within_tolerance": "significant_deviation <= tolerance",
            "tolerance": TOLERANCE,
        },
        "observables": {},
    }
    edges_of, histograms = {}, {}
    for name in gen.names:
        edges = edges_of[name] = binning(name, truth.column(name))
        comparisons = {"onshell": (start.column(name), start.weights), "generated": (gen.column(name), gen.weights)}
        if reweighted is not None:
            comparisons["reweighted"] = (gen.column(name), reweighted)
        table = histogram_table(edges, truth.column(name), truth.weights, comparisons)
        metrics["observables"][name] = {key: score(table, key) for key in comparisons}
        histograms[name] = _json_table(table)
        figure = plots.observable_figure(name, table, _posterior_band(name, edges, draws))
        figures["observables"] += plots.save(figure, output_dir / "observables" / name)

    position = {int(i): row for row, i in enumerate(start.index)}
    rows = np.array([position.get(int(i), -1) for i in gen.source_index])
    paired = rows >= 0
    metrics["migration_pairs"] = int(paired.sum())
    if paired.any():
        for name in MIGRATION_OBSERVABLES:
            figure = plots.migration_figure(
                name, edges_of[name], start.column(name)[rows[paired]], gen.column(name)[paired]
            )
            figures["migration"] += plots.save(figure, output_dir / "migration" / name)

    if use_weights:
        w = gen.classifier_weights
        clip = (_weight_settings(gen) or {}).get("weight_clip")
        metrics["weights"] = {
            "mean": float(w.mean()),
            "quantiles_1_50_99": np.quantile(w, [0.01, 0.5, 0.99]).tolist(),
            "max": float(w.max()),
            "at_clip": int((w >= clip).sum()) if clip else 0,
            "clip": clip,
            "effective_sample_fraction": float(reweighted.sum() ** 2 / (reweighted**2).sum() / len(w)),
        }
        figures["weights"] += plots.save(plots.weight_figure(w, clip), output_dir / "weights" / "weights")
        figure = plots.tail_clustering_figure(
            list(TAIL_OBSERVABLES),
            edges_of,
            {n: gen.column(n) for n in TAIL_OBSERVABLES},
            w,
            {n: truth.column(n) for n in TAIL_OBSERVABLES},
        )
        figures["weights"] += plots.save(figure, output_dir / "weights" / "tail_clustering")

    if auc:
        pairs = {"truth_vs_onshell": (start, start.weights), "truth_vs_generated": (gen, gen.weights)}
        if reweighted is not None:
            pairs["truth_vs_reweighted"] = (gen, reweighted)
        fits = {key: _two_sample_auc(truth, sample, w, auc_events, seed) for key, (sample, w) in pairs.items()}
        metrics["auc"] = {key: value for key, (value, _) in fits.items()}
        metrics["auc"]["note"] = "fresh classifier, 50% of the events held out; 0.5 = indistinguishable"
        metrics["auc_best_epoch"] = {key: epoch for key, (_, epoch) in fits.items()}

    truth_histories = histories.fractions(truth.history, truth.weights)
    samples = {"onshell": (start.history, start.weights), "generated": (gen.history, gen.weights)}
    if reweighted is not None:
        samples["reweighted"] = (gen.history, reweighted)
    metrics["resonance_histories"] = {
        key: histories.compare_fractions(truth_histories, histories.fractions(h, w)) for key, (h, w) in samples.items()
    }
    metrics["far_tails"] = far_tails_by_sample([histograms])
    metrics["summary"] = _summary(metrics["observables"])
    metrics["beyond_tolerance"] = beyond_tolerance(metrics["observables"])
    metrics["figures"] = {
        group: [str(Path(f).relative_to(output_dir)) for f in paths] for group, paths in figures.items()
    }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False) + "\n")
    (output_dir / "histograms.json").write_text(json.dumps(histograms, allow_nan=False) + "\n")
    (output_dir / "index.md").write_text(_markdown(metrics))
    (output_dir / "index.html").write_text(_html(metrics))
    return metrics


def _json_table(table: dict) -> dict:
    """A :func:`histogram_table` as JSON: lists, with null where a ratio is undefined (empty truth bin)."""

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [None if isinstance(x, float) and np.isnan(x) else x for x in np.asarray(value).tolist()]

    return {key: plain(value) for key, value in table.items() if key != "bulk"}


def _summary(observables: dict) -> dict:
    """Per sample: the worst observable in the bulk and in the tails, by deviation, by excess beyond 2 sigma and
    by significant deviation, and the largest median statistical error (the coarsest resolution)."""
    summary = {}
    for key in next(iter(observables.values())):
        for region in ("bulk", "tails"):
            for metric in ("max_deviation", "max_excess", "significant_deviation", "median_stat_error"):
                scored = [
                    (m[key][f"{region}_{metric}"], name)
                    for name, m in observables.items()
                    if m[key].get(f"{region}_{metric}") is not None
                ]
                if scored:
                    worst, name = max(scored)
                    summary[f"{key}_{region}_{metric}"] = {"value": worst, "observable": name}
    return summary


def beyond_tolerance(observables: dict) -> dict:
    """Per sample and region, the observables whose significant deviation exceeds the tolerance, worst first,
    with that deviation (an empty list: within tolerance everywhere it is scored)."""
    result = {}
    for key in next(iter(observables.values())):
        result[key] = {}
        for region in ("bulk", "tails"):
            beyond = sorted(
                (
                    (m[key][f"{region}_significant_deviation"], name)
                    for name, m in observables.items()
                    if m[key][f"{region}_within_tolerance"] is False
                ),
                reverse=True,
            )
            result[key][region] = [{"observable": name, "significant_deviation": value} for value, name in beyond]
    return result


def tolerance_lines(metrics: dict) -> list[str]:
    """One line per sample and region: which observables miss the tolerance (or none), and the resolution: the
    deviation from which a typical bin is flagged, T + z x median bin error (median over the observables)."""
    lines = []
    for key, regions in metrics["beyond_tolerance"].items():
        for region, beyond in regions.items():
            flagged_from = [
                TOLERANCE[region] + m[key][f"{region}_look_elsewhere_sigmas"] * m[key][f"{region}_median_stat_error"]
                for m in metrics["observables"].values()
                if m[key][f"{region}_significant_deviation"] is not None
            ]
            if not flagged_from:
                verdict = f"not scored (no bin with {MIN_TRUTH_EVENTS} effective truth events)"
            else:
                verdict = (
                    ", ".join(f"{b['observable']} {100 * b['significant_deviation']:.1f}%" for b in beyond) or "none"
                )
                verdict += f" (a typical bin is flagged from {100 * np.median(flagged_from):.0f}%)"
            lines.append(
                f"{key} {region}: beyond the {100 * TOLERANCE[region]:.0f}% tolerance at "
                f"{CONFIDENCE} confidence: {verdict}"
            )
    return lines


def auc_lines(metrics: dict) -> list[str]:
    """One line per two-sample AUC, saying when the fresh classifier found no separation at all."""
    lines = []
    for key, value in metrics.get("auc", {}).items():
        if key != "note":
            none_found = metrics.get("auc_best_epoch", {}).get(key) == 0
            lines.append(
                f"AUC {key.replace('_', ' ')}: {value:.4f}"
                + (" (no separation found: the fresh classifier never beat a constant output)" if none_found else "")
            )
    return lines


def _summary_lines(metrics: dict) -> list[str]:
    """Per sample and region: a line with the worst deviation, worst excess beyond 2 sigma and coarsest resolution,
    then a line naming the observables whose excess is larger than a perfect sample's in 95% of pseudo-experiments."""
    summary, lines = metrics["summary"], []
    for key in next(iter(metrics["observables"].values())):
        for region in ("bulk", "tails"):
            parts = [
                f"{label} {100 * summary[f'{key}_{region}_{metric}']['value']:.1f}% "
                f"({summary[f'{key}_{region}_{metric}']['observable']})"
                for metric, label in (
                    ("max_deviation", "largest |x/truth − 1|"),
                    ("max_excess", "largest excess beyond 2σ"),
                    ("significant_deviation", "largest significant deviation"),
                    ("median_stat_error", "coarsest median bin error"),
                )
                if f"{key}_{region}_{metric}" in summary
            ]
            if parts:
                lines.append(f"{key} {region}: " + ", ".join(parts))
            beyond = [
                f"{name} {100 * excess:.1f}% > {100 * m[key][f'{region}_max_excess_perfect_p95']:.1f}%"
                for name, m in metrics["observables"].items()
                if (excess := m[key][f"{region}_max_excess"] or 0) > (m[key][f"{region}_max_excess_perfect_p95"] or 0)
            ]
            lines.append(
                f"{key} {region}: excess above what a perfect sample reaches in 95% of pseudo-experiments: "
                + (", ".join(beyond) if beyond else "none")
            )
    return lines


def _fmt(metric: dict, region: str) -> str:
    value = metric[f"{region}_max_deviation"]
    if value is None:
        return "–"
    return f"{100 * value:.1f}% ± {100 * metric[f'{region}_max_deviation_stat_error']:.1f}"


def history_lines(metrics: dict) -> list[str]:
    """One line per compared sample: each history's fraction and its pull against truth."""
    lines = []
    for key, table in metrics.get("resonance_histories", {}).items():
        truth = ", ".join(f"{name} {100 * m['truth']:.2f} ± {100 * m['truth_error']:.2f}%" for name, m in table.items())
        cells = ", ".join(
            f"{name} {100 * m['fraction']:.2f} ± {100 * m['error']:.2f}% (pull {m['pull']:+.1f})"
            for name, m in table.items()
        )
        lines.append(f"{key}: {cells}; truth {truth}")
    return lines


def _markdown(metrics: dict) -> str:
    keys = list(next(iter(metrics["observables"].values())))
    lines = [
        "# lhe-didi validation report",
        "",
        f"Files: on-shell `{metrics['files']['onshell']}` ({metrics['events']['onshell']} events), "
        f"truth `{metrics['files']['offshell']}` ({metrics['events']['offshell']}), "
        f"generated `{metrics['files']['generated']}` ({metrics['events']['generated']}"
        + ("; beam-symmetrised" if metrics["generated_with"]["beam_symmetrised"] else "")
        + ").",
        "",
        "Largest |x/truth − 1| over bins with ≥ 100 effective truth events ((Σw)²/Σw²) (± the statistical error "
        "of that bin expected if the sample followed truth), bulk = bins overlapping the central 90% of truth, "
        "tails = the other bins with the underflow and overflow of the plotted range; χ²/ndf over the same bins.",
        "",
    ]
    if "auc" in metrics:
        lines += ["Two-sample AUC (fresh classifier, half the events held out, 0.5 = indistinguishable):", ""]
        lines += [f"- {line}" for line in auc_lines(metrics)] + [""]
    lines += [TOLERANCE_TEXT, ""] + [f"- {line}" for line in tolerance_lines(metrics)] + [""]
    lines += [FAR_TAILS_TEXT, ""] + [f"- {line}" for line in far_tail_lines(metrics["far_tails"])] + [""]
    lines += [HISTORIES_TEXT, ""] + [f"- {line}" for line in history_lines(metrics)] + [""]
    lines += ["Over all observables (excess: |x/truth − 1| − 2σ of the bin, the part statistics cannot explain):", ""]
    lines += [f"- {line}" for line in _summary_lines(metrics)] + [""]
    header = "| observable | " + " | ".join(f"{k} bulk | {k} tails | {k} χ²/ndf" for k in keys) + " |"
    lines += [header, "|" + "---|" * (1 + 3 * len(keys))]
    for name, m in metrics["observables"].items():
        cells = " | ".join(f"{_fmt(m[k], 'bulk')} | {_fmt(m[k], 'tails')} | {m[k]['chi2_ndf']:.2f}" for k in keys)
        lines.append(f"| [{name}](observables/{name}.png) | {cells} |")
    lines += [
        "",
        "Figures: "
        + ", ".join(
            f"[{Path(f).stem}]({f})"
            for group in ("migration", "weights")
            for f in metrics["figures"][group]
            if f.endswith(".png")
        ),
        "",
    ]
    return "\n".join(lines)


def _html(metrics: dict) -> str:
    keys = list(next(iter(metrics["observables"].values())))
    rows = "".join(
        f"<tr><td><a href='observables/{name}.png'>{html.escape(name)}</a></td>"
        + "".join(
            f"<td>{_fmt(m[k], 'bulk')}</td><td>{_fmt(m[k], 'tails')}</td><td>{m[k]['chi2_ndf']:.2f}</td>" for k in keys
        )
        + "</tr>\n"
        for name, m in metrics["observables"].items()
    )
    head = "".join(f"<th>{k} bulk</th><th>{k} tails</th><th>{k} χ²/ndf</th>" for k in keys)
    images = "".join(
        f"<a href='{f}'><img src='{f}' width='380'></a>\n"
        for group in ("observables", "migration", "weights")
        for f in metrics["figures"][group]
        if f.endswith(".png")
    )
    auc = ""
    if "auc" in metrics:
        auc = (
            "<p>Two-sample AUC (0.5 = indistinguishable):</p><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in auc_lines(metrics))
            + "</ul>"
        )
    summary = (
        f"<p>{html.escape(TOLERANCE_TEXT)}</p><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in tolerance_lines(metrics))
        + "</ul>"
        + f"<p>{html.escape(FAR_TAILS_TEXT)}</p><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in far_tail_lines(metrics["far_tails"]))
        + "</ul><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in _summary_lines(metrics))
        + "</ul>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>lhe-didi validation</title></head><body>"
        f"<h1>lhe-didi validation report</h1><p>largest |x/truth − 1| over bins with ≥ 100 effective truth events "
        f"(bulk: central 90% of truth; tails include the under- and overflow); excess: |x/truth − 1| − 2σ of the bin"
        f"</p>{auc}{summary}<table border='1' cellspacing='0'><tr><th>observable</th>{head}</tr>\n"
        f"{rows}</table>\n{images}</body></html>\n"
    )
