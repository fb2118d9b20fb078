"""Physics check of a DiDi model on held-out reference samples (issue-4 figures).

    python benchmarks/didi_validation.py --onshell ON.lhe.gz --offshell OFF.lhe.gz [--model DIR]

Transforms the held-out on-shell sample and compares histograms of m(b l+),
m(b~ l-), m_t and m_t~ with the off-shell truth: per-bin ratios in the bulk
(peak region) and in the tails (bins with >= 100 truth events), printed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import classifier_observables, system_masses
from lhe_didi.transform import DEFAULT_MODEL, transform_file

BINS = {
    "b l+": np.linspace(0, 300, 31),
    "b~ l-": np.linspace(0, 300, 31),
    "t": np.concatenate([np.linspace(80, 160, 9), np.linspace(165, 180, 7), np.linspace(190, 350, 9)]),
    "tbar": np.concatenate([np.linspace(80, 160, 9), np.linspace(165, 180, 7), np.linspace(190, 350, 9)]),
}


def observable_summary(generated_momenta, truth_momenta, start_momenta, bins=40):
    """Per observable: max |ratio - 1| to truth in the bulk (bins overlapping the central 90% of truth) and
    in the tails, over bins with >= 100 truth events (statistical error ~10% at 100 events)."""
    names, truth = classifier_observables(truth_momenta)
    generated = classifier_observables(generated_momenta)[1]
    start = classifier_observables(start_momenta)[1]
    print("\nobservable   DiDi bulk  DiDi tails   on-shell bulk  on-shell tails   (max |x/truth - 1|, bins >= 100 truth)")
    for i, name in enumerate(names):
        low, high = np.quantile(truth[:, i], [0.001, 0.999])
        edges = np.linspace(low, high, bins + 1)
        q05, q95 = np.quantile(truth[:, i], [0.05, 0.95])
        bulk = (edges[1:] > q05) & (edges[:-1] < q95)  # bins overlapping the central 90%
        t, _ = np.histogram(truth[:, i], edges)
        row = []
        for sample in (generated, start):
            g, _ = np.histogram(sample[:, i], edges)
            ratio = (g / len(sample)) / np.where(t > 0, t / len(truth), np.inf)
            ok = t >= 100
            row += [np.max(np.abs(ratio[ok & bulk] - 1), initial=0), np.max(np.abs(ratio[ok & ~bulk] - 1), initial=0)]
        print(f"{name:12s} {row[0]:9.3f} {row[1]:10.3f} {row[2]:14.3f} {row[3]:14.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--onshell", type=Path, required=True)
    parser.add_argument("--offshell", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "didi.lhe.gz"
        report = transform_file(args.onshell, out, args.model)
        generated_momenta = LheReader(out).read_all().momenta
        truth_momenta = LheReader(args.offshell).read_all().momenta
        start_momenta = LheReader(args.onshell).read_all().momenta
        generated, truth, start = (system_masses(m) for m in (generated_momenta, truth_momenta, start_momenta))
    print(f"transformed {report.events_in} events, {len(report.unphysical)} unphysical outputs, {report.seconds:.0f} s")
    for name, bins in BINS.items():
        g, _ = np.histogram(generated[name], bins)
        t, _ = np.histogram(truth[name], bins)
        s, _ = np.histogram(start[name], bins)
        g, t, s = g / g.sum(), t / t.sum(), s / s.sum()
        counts, _ = np.histogram(truth[name], bins)
        print(f"\n{name}: bin [GeV]  on-shell/truth  DiDi/truth  (truth events)")
        for i in range(len(bins) - 1):
            if counts[i] == 0:
                continue
            mark = "" if counts[i] >= 100 else "  (<100 truth events)"
            print(f"  {bins[i]:6.0f}-{bins[i + 1]:<6.0f} {s[i] / t[i]:8.3f} {g[i] / t[i]:8.3f}  ({counts[i]}){mark}")
        ok = counts >= 100
        print(f"  max |DiDi/truth - 1| over bins with >= 100 truth events: {np.max(np.abs(g[ok] / t[ok] - 1)):.3f};"
              f" on-shell start: {np.max(np.abs(s[ok] / t[ok] - 1)):.3f}")
    observable_summary(generated_momenta, truth_momenta, start_momenta)


if __name__ == "__main__":
    main()
