"""Mass calibration of transformed samples: does the output's top peak, m(b l) edge and line-shape tails follow
the input's top mass as the off-shell truth does? (issue 29)

    python benchmarks/mass_calibration.py [--weights] [--json OUT] MASS TRUTH GENERATED [MASS TRUTH GENERATED ...]

Per mass, for m(b l+ nu) and m(b~ l- nu~) pooled (both samples alike; ``--weights`` uses the generated files'
classifier weights):

* peak: the median of m(b l nu) within MASS +- 5 GeV, with its error 1.2533 sigma / sqrt(N_eff);
* edge: the 95% quantile of m(b l), which sits a few GeV below the on-shell endpoint sqrt(m_t^2 - m_W^2) and moves
  with it (d/dm_t ~ m_t / sqrt(m_t^2 - m_W^2) ~ 1.13); error from 50 bootstrap replicas (Poisson weights);
* tails: the fractions of m(b l nu) below MASS - 15 GeV and above MASS + 15 GeV.

Then a straight-line fit of each quantity against MASS for truth and output: slope, and the output - truth
offset at each mass. Issue 29's criteria: slope of the output's peak 1 within 1%, |offset| < 0.05 GeV at every mass.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from lhe_didi.validation.report import load_sample

PEAK_WINDOW = 5.0
TAIL_WINDOW = 15.0
EDGE_QUANTILE = 0.95


def _pooled(sample, names, weights):
    return np.concatenate([sample.column(n) for n in names]), np.concatenate([weights, weights])


def effective(weights: np.ndarray) -> float:
    return float(weights.sum() ** 2 / np.sum(weights**2))


def peak(masses: np.ndarray, weights: np.ndarray, pole: float) -> tuple[float, float]:
    inside = np.abs(masses - pole) < PEAK_WINDOW
    values, w = masses[inside], weights[inside]
    centre = weighted_quantile(values, w, 0.5)
    spread = np.sqrt(np.average((values - np.average(values, weights=w)) ** 2, weights=w))
    return centre, float(1.2533 * spread / np.sqrt(effective(w)))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def edge(values: np.ndarray, weights: np.ndarray, replicas: int = 50) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    boot = [weighted_quantile(values, weights * rng.poisson(1.0, len(values)), EDGE_QUANTILE) for _ in range(replicas)]
    return weighted_quantile(values, weights, EDGE_QUANTILE), float(np.std(boot))


def tails(masses: np.ndarray, weights: np.ndarray, pole: float) -> dict:
    total = weights.sum()
    out = {}
    for side, selected in (("below", masses < pole - TAIL_WINDOW), ("above", masses > pole + TAIL_WINDOW)):
        f = weights[selected].sum() / total
        out[side] = (float(f), float(np.sqrt(f * (1 - f) / effective(weights))))
    return out


def measure(path: str, pole: float, use_weights: bool) -> dict | tuple[dict, dict]:
    """The three quantities of one file; with ``use_weights`` for DiDi alone and reweighted (one reading)."""
    sample = load_sample(path, classifier_weights=use_weights)

    def quantities(weights):
        tops, top_weights = _pooled(sample, ("m_t", "m_tbar"), weights)
        bls, bl_weights = _pooled(sample, ("m_blp", "m_bbarlm"), weights)
        return {
            "peak": peak(tops, top_weights, pole),
            "edge": edge(bls, bl_weights),
            "tails": tails(tops, top_weights, pole),
            "events": int(len(weights)),
        }

    if not use_weights:
        return quantities(sample.weights)
    return quantities(sample.weights), quantities(sample.weights * sample.classifier_weights)


def line(masses: np.ndarray, values: np.ndarray, errors: np.ndarray) -> tuple[float, float, float, float]:
    """Weighted straight-line fit: slope, its error, and the intercept at 172.5 GeV with its error."""
    x = masses - 172.5
    weight = 1.0 / np.maximum(errors, 1e-9) ** 2
    design = np.stack([np.ones_like(x), x], axis=1)
    covariance = np.linalg.inv(design.T @ (design * weight[:, None]))
    intercept, slope = covariance @ design.T @ (weight * values)
    return float(slope), float(np.sqrt(covariance[1, 1])), float(intercept), float(np.sqrt(covariance[0, 0]))


def main(argv: list[str]) -> int:
    json_path = argv[argv.index("--json") + 1] if "--json" in argv else None
    positional = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] != "--json")]
    if not argv or argv[0] in ("-h", "--help") or not positional or len(positional) % 3:
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    use_weights = "--weights" in argv
    rows = []
    for mass, truth_path, generated_path in zip(positional[0::3], positional[1::3], positional[2::3], strict=False):
        pole = float(mass)
        row = {
            "mass": pole,
            "truth": measure(truth_path, pole, False),
            "files": {"truth": truth_path, "generated": generated_path},
        }
        if use_weights:
            row["generated"], row["reweighted"] = measure(generated_path, pole, True)
        else:
            row["generated"] = measure(generated_path, pole, False)
        rows.append(row)
    fits = {}
    for label in ("generated", "reweighted") if use_weights else ("generated",):
        print(f"\n{'DiDi alone' if label == 'generated' else 'DiDi reweighted'}:")
        fits[label] = report(rows, label)
    if json_path:
        with open(json_path, "w") as stream:
            json.dump({"rows": rows, "fits": fits, "weights": use_weights}, stream, indent=1)
    return 0


def report(rows: list[dict], label: str) -> dict:
    """Print the per-mass table and the straight-line fits of ``label`` (generated or reweighted) against truth."""
    print(
        f"{'m_t':>6} | {'peak truth':>15} {'peak output':>15} {'offset':>14} | {'edge truth':>15} "
        f"{'edge output':>15} {'offset':>14} | tails below/above m_t -+ 15 GeV, output / truth"
    )
    for row in rows:
        t, g = row["truth"], row[label]
        cells = []
        for key in ("peak", "edge"):
            (tv, te), (gv, ge) = t[key], g[key]
            cells.append(f"{tv:8.3f}±{te:5.3f} {gv:8.3f}±{ge:5.3f} {gv - tv:+7.3f}±{np.hypot(te, ge):5.3f}")
        ratios = []
        for side in ("below", "above"):
            (gf, ge), (tf, te) = g["tails"][side], t["tails"][side]
            ratios.append(f"{gf / tf:.3f}±{gf / tf * np.hypot(ge / gf, te / tf):.3f}")
        ratios = " ".join(ratios)
        print(f"{row['mass']:6.1f} | {cells[0]} | {cells[1]} | {ratios}")
    fits = {}
    if len(rows) >= 2:
        masses = np.array([r["mass"] for r in rows])
        for key in ("peak", "edge"):
            for which in ("truth", label):
                values = np.array([r[which][key][0] for r in rows])
                errors = np.array([r[which][key][1] for r in rows])
                names = ("slope", "slope_error", "at_172.5", "at_172.5_error")
                fits[f"{key}_{which}"] = dict(zip(names, line(masses, values, errors), strict=True))
                f = fits[f"{key}_{which}"]
                print(
                    f"{key} {which:>10}: slope {f['slope']:.4f} ± {f['slope_error']:.4f}, "
                    f"at 172.5 GeV {f['at_172.5']:.3f} ± {f['at_172.5_error']:.3f}"
                )
        for side in ("below", "above"):
            for which in ("truth", label):
                values = np.array([r[which]["tails"][side][0] for r in rows])
                errors = np.array([r[which]["tails"][side][1] for r in rows])
                slope, slope_error, at, at_error = line(masses, values, errors)
                fits[f"tail_{side}_{which}"] = {"slope": slope, "slope_error": slope_error, "at_172.5": at}
                print(
                    f"tail {side} {which:>10}: {100 * at:.3f}% at 172.5 GeV, slope {100 * slope:+.4f} ± "
                    f"{100 * slope_error:.4f} %/GeV"
                )
    return fits


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
