"""Compare ODE solvers on the held-out validation: reports of ``lhe-didi validate`` and their DiDi outputs.

    python benchmarks/solver_choice.py [--truth=TRUTH.lhe.gz] REPORT_DIR:OUTPUT.lhe.gz [REPORT_DIR:OUTPUT.lhe.gz ...]

The first pair is the reference (the adaptive dopri5 default before). Per solver: the tolerance verdict, the summed
chi^2/ndf of DiDi and of reweighted DiDi over the 27 observables, and the top peak of the written events (t and t~
together): median and interquartile range of m(b l nu) within 10 GeV of the pole, and the FWHM on 0.1 GeV bins.
The same input events go through every solver, so the differences are paired (no independent noise).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from lhe_didi.inspect import peak_position
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses

POLE, WINDOW = float(os.environ.get("POLE", 172.5)), 10.0


def peak(path: str) -> tuple[float, float, float]:
    masses = []
    for batch in LheReader(path).batches(50_000):
        m = system_masses(batch.momenta)
        masses += [m["t"], m["tbar"]]
    m = np.concatenate(masses)
    near = m[np.abs(m - POLE) < WINDOW]
    q1, median, q3 = np.quantile(near, [0.25, 0.5, 0.75])
    return median, q3 - q1, peak_position(m, bin_width=0.1)[1]


def main(pairs: list[str]) -> None:
    if pairs[0].startswith("--truth="):
        median, iqr, fwhm = peak(pairs.pop(0).removeprefix("--truth="))
        print(f"truth: peak median {median:.4f}, IQR {iqr:.4f}, FWHM {fwhm:.2f} GeV")
    rows = []
    for pair in pairs:
        report, output = pair.split(":")
        metrics = json.loads((Path(report) / "metrics.json").read_text())
        chi2 = {k: sum(o[k]["chi2_ndf"] for o in metrics["observables"].values()) for k in ("generated", "reweighted")}
        within = {
            k: all(
                o[k][f"{r}_within_tolerance"] is not False
                for o in metrics["observables"].values()
                for r in ("bulk", "tails")
            )
            for k in ("generated", "reweighted")
        }
        rows.append((report, chi2, within, *peak(output)))
    reference = rows[0]
    print("report | within tolerance DiDi/rew | summed chi2/ndf DiDi / rew (ratio to ref) | peak median | IQR | FWHM")
    for report, chi2, within, median, iqr, fwhm in rows:
        ratio = {k: chi2[k] / reference[1][k] for k in chi2}
        print(
            f"{Path(report).name} | {within['generated']}/{within['reweighted']}"
            f" | {chi2['generated']:.1f} / {chi2['reweighted']:.1f}"
            f" ({ratio['generated']:.3f} / {ratio['reweighted']:.3f}) | {median:.4f} ({median - reference[3]:+.4f})"
            f" | {iqr:.4f} ({iqr - reference[4]:+.4f}) | {fwhm:.2f} ({fwhm - reference[5]:+.2f})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
