"""Rates beyond the plotted range of a validate report, alone or pooled over several reports.

The plotted range ends at truth's 0.1% / 99.9% quantiles (pT: 99.9%), so the underflow and overflow bins of
``histograms.json`` hold the far tails: forward b quarks beyond |eta| ~ 5.1, tops and W bosons beyond ~1 TeV.
Each such bin is scored by the tolerance verdict, but one bin of ~2500 truth events per 2.5M has a 3-4% error
and is judged at 10% + z_n sigma; pooling equivalent bins (the four forward-b bins) and independent reports
resolves a 10-15% deficit that no single bin shows.

    python -m lhe_didi.validation.far_tails REPORT_DIR [REPORT_DIR ...]

prints the ratio to truth of each sample, pooled over the reports given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

UNDERFLOW, OVERFLOW = 0, -1
# b and b~ beyond the plotted rapidity range on either side: single-top-like and W+W-bb~ events whose b comes
# from an initial-state g -> b b~ splitting
FORWARD_B_BINS = (("eta_b", UNDERFLOW), ("eta_b", OVERFLOW), ("eta_bbar", UNDERFLOW), ("eta_bbar", OVERFLOW))
SAMPLES = ("onshell", "generated", "reweighted")
USAGE = "usage: python -m lhe_didi.validation.far_tails REPORT_DIR [REPORT_DIR ...]"


def pooled_ratio(histograms: list[dict], key: str, bins: tuple[tuple[str, int], ...]) -> dict:
    """Sum of sample ``key``'s normalised contents over ``bins`` ((observable, index) pairs) of every report in
    ``histograms`` (``histograms.json`` contents, equal-sized samples) divided by truth's sum, with the error
    expected if the sample followed truth (the bins' ``ratio_error_expected`` added in quadrature; the bins are
    treated as independent, which slightly understates it where one event fills two of them)."""
    truth = sample = variance = 0.0
    events = 0
    for table in histograms:
        for name, index in bins:
            t = table[name]["truth"][index]
            error = table[name][key]["ratio_error_expected"][index]
            if not t or error is None or not np.isfinite(error):  # an empty truth bin carries no rate to compare
                continue
            truth += t
            sample += table[name][key]["content"][index]
            variance += (error * t) ** 2
            events += table[name]["truth_events"][index]
    if truth == 0:
        return {"ratio": None, "error": None, "truth_events": events}
    return {"ratio": sample / truth, "error": float(np.sqrt(variance)) / truth, "truth_events": events}


def far_tail_ratios(histograms: list[dict], key: str) -> dict:
    """Forward b quarks (the four bins of :data:`FORWARD_B_BINS` pooled) and the overflow of every pT observable,
    for sample ``key`` pooled over the reports in ``histograms``."""
    names = [name for name in histograms[0] if name.startswith("pt_")]
    return {
        "forward_b": pooled_ratio(histograms, key, FORWARD_B_BINS),
        "pt_overflow": {name: pooled_ratio(histograms, key, ((name, OVERFLOW),)) for name in names},
    }


def far_tails_by_sample(histograms: list[dict]) -> dict:
    """:func:`far_tail_ratios` of every sample present in all the reports (on-shell, DiDi, reweighted DiDi)."""
    return {
        key: far_tail_ratios(histograms, key)
        for key in SAMPLES
        if all(key in table[name] for table in histograms for name, _ in FORWARD_B_BINS)
    }


def far_tail_lines(by_sample: dict) -> list[str]:
    """One line per sample of :func:`far_tails_by_sample`: forward b and the pT overflows, ratio to truth +- error."""

    def show(entry: dict) -> str:
        return "–" if entry["ratio"] is None else f"{entry['ratio']:.3f} ± {entry['error']:.3f}"

    return [
        f"{key}: forward b (beyond the plotted η range, 4 bins) {show(ratios['forward_b'])}; pT overflows: "
        + ", ".join(f"{name[3:]} {show(entry)}" for name, entry in ratios["pt_overflow"].items())
        for key, ratios in by_sample.items()
    ]


def main(argv: list[str]) -> int:
    """Print the far-tail ratios of the reports named in ``argv``, pooled."""
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    tables = []
    for directory in argv:
        path = Path(directory) / "histograms.json"
        if not path.is_file():
            print(f"Error: {path}: no such file (not a validate report)", file=sys.stderr)
            return 1
        tables.append(json.loads(path.read_text()))
    print(f"pooled over {len(tables)} report(s): " + ", ".join(argv))
    for line in far_tail_lines(far_tails_by_sample(tables)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
