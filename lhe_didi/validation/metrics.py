"""Histogram comparisons against truth and the weighted ROC AUC (shared by validate and training)."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

# bins with fewer effective truth events (sum w)^2 / sum w^2 (the event count for unit weights) are shown but
# not scored: their statistical error exceeds 10%, and a bin carried by a few heavy events has no Gaussian error
MIN_TRUTH_EVENTS = 100
BULK_QUANTILES = (0.05, 0.95)  # bins overlapping the central 90% of truth are "bulk", the rest "tails"
EXCESS_SIGMAS = 2.0  # "excess": |ratio - 1| minus this many statistical errors of the ratio, floored at 0
PSEUDO_EXPERIMENTS = 4000  # for the excess a perfect sample reaches by chance (look-elsewhere reference)
# the precision asked of reweighted DiDi (the paper: <1% bulk, <=10% tails) and the confidence at which a region is
# said to miss it: family-wise over the region's bins, so a sample within tolerance is flagged in <= 5% of samples
TOLERANCE = {"bulk": 0.02, "tails": 0.10}
TOLERANCE_ALPHA = 0.05


def binning(name: str, truth: np.ndarray) -> np.ndarray:
    """Bin edges for an observable: fixed physics ranges for resonance masses (peak resolved,
    off-shell tails included), truth quantiles otherwise."""
    if name in ("m_t", "m_tbar"):
        return np.linspace(140.0, 210.0, 71)
    if name in ("m_Wp", "m_Wm"):
        return np.linspace(65.0, 95.0, 61)
    if name in ("m_blp", "m_bbarlm"):
        return np.linspace(0.0, 250.0, 51)
    if name.startswith("phi_"):
        return np.linspace(-np.pi, np.pi, 41)
    finite = truth[np.isfinite(truth)]
    if name.startswith("pt_"):
        return np.linspace(0.0, float(np.quantile(finite, 0.999)), 51)
    low, high = np.quantile(finite, [0.001, 0.999])
    return np.linspace(float(low), float(high), 51)


def _bin_sums(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None):
    """Per bin sum w and sum w^2, and the total weight (overflow included)."""
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    counts, _ = np.histogram(values, edges, weights=weights)
    squares, _ = np.histogram(values, edges, weights=weights**2)
    return counts, squares, weights.sum()


def weighted_histogram(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None):
    """Normalised bin contents (fraction of the total weight, overflow included in the total)
    and their statistical errors sqrt(sum w^2) / sum w."""
    counts, squares, total = _bin_sums(values, edges, weights)
    return counts / total, np.sqrt(squares) / total


def histogram_table(
    edges: np.ndarray,
    truth: np.ndarray,
    truth_weights: np.ndarray | None,
    samples: dict[str, tuple[np.ndarray, np.ndarray | None]],
) -> dict:
    """Per-bin numbers of one observable, computed once. Every array has ``len(edges) + 1`` entries: the
    underflow (below the first edge), the ``len(edges) - 1`` bins, the overflow (above the last edge) --
    :func:`inside` drops the two for plotting; nothing outside the plotted range goes unscored.

    Truth: normalised contents, errors, raw counts and Kish effective event counts (sum w)^2 / sum w^2 (the count
    for unit weights, about 1 for a bin carried by one heavy event), which bins are bulk (overlapping the central
    90% of truth). Each sample (name -> values, weights): normalised contents and errors, the ratio to truth with
    its error (NaN where truth is empty), and the error of the ratio expected if the sample followed truth
    (:func:`expected_difference_error`)."""
    outer = _with_outside(edges)
    counts, squares, total = _bin_sums(truth, outer, truth_weights)
    t, t_err = counts / total, np.sqrt(squares) / total
    low, high = np.quantile(truth, BULK_QUANTILES)
    table = {
        "edges": edges,
        "truth": t,
        "truth_error": t_err,
        "truth_events": np.histogram(truth, outer)[0],
        "truth_effective_events": np.divide(counts**2, squares, out=np.zeros_like(counts), where=squares > 0),
        "bulk": np.concatenate([[False], (edges[1:] > low) & (edges[:-1] < high), [False]]),
    }
    for key, (values, weights) in samples.items():
        s, s_err = weighted_histogram(values, outer, weights)
        ratio = np.divide(s, t, out=np.full_like(s, np.nan), where=t > 0)
        ratio_err = np.divide(np.hypot(s_err, ratio * t_err), t, out=np.full_like(s, np.nan), where=t > 0)
        expected = np.divide(expected_difference_error(t, t_err, s, s_err), t, out=np.full_like(s, np.nan), where=t > 0)
        table[key] = {
            "content": s,
            "error": s_err,
            "ratio": ratio,
            "ratio_error": ratio_err,
            "ratio_error_expected": expected,
        }
    return table


def _with_outside(edges: np.ndarray) -> np.ndarray:
    """``edges`` with -inf and +inf added: the bins of a :func:`histogram_table`, underflow and overflow included."""
    return np.concatenate([[-np.inf], edges, [np.inf]])


def inside(values: np.ndarray) -> np.ndarray:
    """The plotted bins of a :func:`histogram_table` array (under- and overflow dropped)."""
    return values[1:-1]


def expected_difference_error(t: np.ndarray, t_err: np.ndarray, s: np.ndarray, s_err: np.ndarray) -> np.ndarray:
    """Statistical error of s - t per bin if both histograms follow one common content p (the hypothesis a
    comparison tests). Each histogram's variance per unit content, sigma^2 / content (its mean squared weight
    per mean weight, 1/N for unit weights), is kept from the bin (from the whole histogram where the bin is
    empty) and evaluated at the p minimising (t - p)^2 / (p a) + (s - p)^2 / (p b), i.e.
    p = sqrt((t^2/a + s^2/b) / (1/a + 1/b)); the error is sqrt(p (a + b)). Equal to sqrt(t_err^2 + s_err^2)
    where s = t. Errors taken at the observed contents instead shrink with a downward fluctuation of a weighted
    sample and inflate the pulls of deficits (Gagunashvili's point for weighted vs unweighted histograms)."""

    def per_content(content, error):
        overall = np.sum(error**2) / np.sum(content) if np.sum(content) > 0 else 0.0
        return np.divide(error**2, content, out=np.full_like(content, overall), where=content > 0)

    a, b = per_content(t, t_err), per_content(s, s_err)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.sqrt((t**2 / a + s**2 / b) / (1 / a + 1 / b))
    return np.sqrt(np.nan_to_num(p) * (a + b))


def score(table: dict, key: str) -> dict:
    """Shape comparison of sample ``key`` of a :func:`histogram_table` with truth over bins holding
    >= MIN_TRUTH_EVENTS effective truth events (under- and overflow included, as tail bins), per region (bulk,
    tails): the largest |ratio - 1| (with that bin's expected statistical error), the largest excess
    max(0, |ratio - 1| - 2 sigma) (a deviation the statistics cannot explain bin by bin), the 95% quantile of that
    largest excess for a sample distributed exactly as truth with the same bin errors (the look-elsewhere
    reference: over many bins some 3 sigma fluctuation is expected), the median statistical error of the ratio
    (the resolution), the significant deviation max(0, |ratio - 1| - z_n sigma) with z_n from
    :func:`look_elsewhere_sigmas` (the deviation the region shows at 95% confidence over its n bins) and whether it
    is within TOLERANCE; and chi^2/ndf. sigma is the error expected if the sample followed truth
    (:func:`expected_difference_error`), so a deficit is not judged against its own shrunken error."""
    outer = _with_outside(table["edges"])
    ratio, ratio_err = table[key]["ratio"], table[key]["ratio_error_expected"]
    scored = table["truth_effective_events"] >= MIN_TRUTH_EVENTS
    result = {"bins_scored": int(scored.sum())}
    for region, mask in (("bulk", scored & table["bulk"]), ("tails", scored & ~table["bulk"])):
        if mask.any():
            deviation = np.abs(ratio[mask] - 1)
            worst = np.flatnonzero(mask)[np.argmax(deviation)]
            result[f"{region}_max_deviation"] = float(abs(ratio[worst] - 1))
            result[f"{region}_max_deviation_stat_error"] = float(ratio_err[worst])
            result[f"{region}_worst_bin"] = [float(x) if np.isfinite(x) else None for x in outer[worst : worst + 2]]
            # what survives the statistics: the largest lower bound |ratio - 1| - 2 sigma over the bins
            result[f"{region}_max_excess"] = _largest_excess(deviation, ratio_err[mask], EXCESS_SIGMAS)
            result[f"{region}_max_excess_perfect_p95"] = perfect_sample_excess(ratio_err[mask])
            result[f"{region}_median_stat_error"] = float(np.median(ratio_err[mask]))
            sigmas = look_elsewhere_sigmas(int(mask.sum()))
            significant = _largest_excess(deviation, ratio_err[mask], sigmas)
            result[f"{region}_look_elsewhere_sigmas"] = sigmas
            result[f"{region}_significant_deviation"] = significant
            result[f"{region}_within_tolerance"] = significant <= TOLERANCE[region]
        else:
            result[f"{region}_max_deviation"] = None
            result[f"{region}_max_excess"] = None
            result[f"{region}_max_excess_perfect_p95"] = None
            result[f"{region}_significant_deviation"] = None
            result[f"{region}_within_tolerance"] = None
        result[f"{region}_bins"] = int(mask.sum())
    result["chi2_ndf"] = float(np.sum(((ratio[scored] - 1) / ratio_err[scored]) ** 2) / max(int(scored.sum()), 1))
    return result


def _largest_excess(deviation: np.ndarray, ratio_errors: np.ndarray, sigmas: float) -> float:
    """max(0, largest |ratio - 1| - sigmas x error) over the bins: the largest deviation the statistics cannot
    explain at that many standard deviations."""
    return float(max(0.0, np.max(deviation - sigmas * ratio_errors)))


def look_elsewhere_sigmas(bins: int, alpha: float = TOLERANCE_ALPHA) -> float:
    """z such that a region of ``bins`` bins, each deviating from truth by exactly a tolerance T, has some bin with
    |ratio - 1| > T + z sigma with probability <= ``alpha`` (Bonferroni: one-sided probability alpha / bins per bin,
    the side beyond the tolerance; Gaussian bin errors)."""
    return NormalDist().inv_cdf(1.0 - alpha / bins)


def perfect_sample_excess(ratio_errors: np.ndarray, quantile: float = 0.95) -> float:
    """The ``quantile`` of the largest excess max(0, |ratio - 1| - 2 sigma) over bins with these ratio errors when
    the sample follows truth exactly: Gaussian pseudo-experiments (fixed seed, so reports are reproducible)."""
    sigma = np.asarray(ratio_errors, dtype=np.float64)
    pulls = np.random.default_rng(0).standard_normal((PSEUDO_EXPERIMENTS, sigma.size))
    largest = np.max(sigma * (np.abs(pulls) - EXCESS_SIGMAS), axis=1)
    return float(max(0.0, np.quantile(largest, quantile)))


def compare_to_truth(
    name: str,
    truth: np.ndarray,
    sample: np.ndarray,
    weights: np.ndarray | None = None,
    truth_weights: np.ndarray | None = None,
    edges: np.ndarray | None = None,
) -> dict:
    """:func:`score` of one sample against truth in the binning of ``name`` (or the given ``edges``)."""
    edges = binning(name, truth) if edges is None else edges
    return score(histogram_table(edges, truth, truth_weights, {"sample": (sample, weights)}), "sample")
