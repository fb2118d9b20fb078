"""One line per `lhe-didi validate` report: observables beyond the 2% / 10% tolerance and summed chi2/ndf.

    python benchmarks/validation_summary.py LABEL=REPORT_DIR [LABEL=REPORT_DIR ...]

Reads each report's metrics.json; prints a Markdown table with, for the on-shell input, DiDi alone and DiDi
reweighted, the observables that miss the tolerance (for the input: how many; for DiDi: bulk / tails, with the
significant deviation) and the sum of
chi2/ndf over the 27 observables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SAMPLES = ("onshell", "generated", "reweighted")


def verdict(beyond: dict) -> str:
    parts = [
        f"{region} {item['observable']} {100 * item['significant_deviation']:.1f}%"
        for region in ("bulk", "tails")
        for item in beyond.get(region, [])
    ]
    return "within" if not parts else ", ".join(parts)


def summed_chi2(metrics: dict, sample: str) -> float:
    return sum(v[sample]["chi2_ndf"] for v in metrics["observables"].values() if sample in v)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    print(
        "| sample | events (truth / DiDi) | input | DiDi alone | DiDi reweighted | summed χ²/ndf input / DiDi / "
        "reweighted |"
    )
    print("|---|---|---|---|---|---|")
    for item in argv:
        label, directory = item.split("=", 1)
        metrics = json.loads((Path(directory) / "metrics.json").read_text())
        beyond = metrics["beyond_tolerance"]
        events = metrics["events"]
        cells = [verdict(beyond.get(s, {})) if s in beyond else "–" for s in SAMPLES]
        missed = {i["observable"] for region in ("bulk", "tails") for i in beyond.get("onshell", {}).get(region, [])}
        cells[0] = f"{len(missed)} of {len(metrics['observables'])} miss"
        chi2 = " / ".join(f"{summed_chi2(metrics, s):.1f}" if s in beyond else "–" for s in SAMPLES)
        print(f"| {label} | {events['offshell']} / {events['generated']} | {' | '.join(cells)} | {chi2} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
