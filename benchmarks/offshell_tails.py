"""Top line-shape tails of a transformed sample against off-shell truth (issue 28's done-when figures).

    python benchmarks/offshell_tails.py TRUTH.lhe.gz GENERATED.lhe.gz [--weights]

Per sample, for m(b l+ nu) and m(b~ l- nu~) pooled: the weighted fraction below 160 GeV and above 187.5 GeV,
beyond truth's 0.1% and 99.9% quantiles, and m(b l) beyond the on-shell edge; generated / truth with the
statistical error (binomial, effective counts for weights). ``--weights`` uses the classifier weights.
"""

from __future__ import annotations

import sys

import numpy as np

from lhe_didi.validation.report import load_sample

EDGE = 152.6  # on-shell m_bl endpoint sqrt(m_t^2 - m_W^2), GeV


def fraction(selected: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    total = weights.sum()
    f = weights[selected].sum() / total
    error = np.sqrt(np.sum(weights[selected] ** 2) * (1 - f) ** 2 + np.sum(weights[~selected] ** 2) * f**2) / total
    return float(f), float(error)


def pooled(sample, names: tuple[str, str], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([sample.column(n) for n in names]), np.concatenate([weights, weights])


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    use_weights = "--weights" in argv
    truth_path, generated_path = [a for a in argv if not a.startswith("--")][:2]
    truth = load_sample(truth_path)
    generated = load_sample(generated_path, classifier_weights=use_weights)
    gen_weights = generated.weights * (generated.classifier_weights if use_weights else 1.0)
    t_top, t_w = pooled(truth, ("m_t", "m_tbar"), truth.weights)
    g_top, g_w = pooled(generated, ("m_t", "m_tbar"), gen_weights)
    t_bl, _ = pooled(truth, ("m_blp", "m_bbarlm"), truth.weights)
    g_bl, _ = pooled(generated, ("m_blp", "m_bbarlm"), gen_weights)
    low, high = np.quantile(t_top, [0.001, 0.999])
    rows = [
        ("m(b l nu) < 160 GeV", lambda m: m < 160.0, "top"),
        ("m(b l nu) > 187.5 GeV", lambda m: m > 187.5, "top"),
        (f"m(b l nu) < truth q0.1% = {low:.1f} GeV", lambda m: m < low, "top"),
        (f"m(b l nu) > truth q99.9% = {high:.1f} GeV", lambda m: m > high, "top"),
        (f"m(b l) > {EDGE + 5:.1f} GeV", lambda m: m > EDGE + 5, "bl"),
    ]
    print(
        f"truth {truth_path} ({len(truth.weights)} events), generated {generated_path} ({len(generated.weights)}"
        f" events{', classifier weights' if use_weights else ''})"
    )
    for label, select, kind in rows:
        (tv, tw), (gv, gw) = ((t_top, t_w), (g_top, g_w)) if kind == "top" else ((t_bl, t_w), (g_bl, g_w))
        ft, et = fraction(select(tv), tw)
        fg, eg = fraction(select(gv), gw)
        ratio = fg / ft
        print(
            f"  {label:38s} truth {100 * ft:7.3f}%  generated {100 * fg:7.3f}%  ratio {ratio:.3f} +- "
            f"{ratio * np.hypot(et / ft, eg / max(fg, 1e-300)):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
