"""Top line shape of on-shell samples against real POWHEG hvq: per-bin ratios of m(b l+ nu) and m(b l+).

    python benchmarks/hvq_line_shape.py REAL_HVQ.lhe.gz SAMPLE.lhe.gz [SAMPLE2 ...]

Prints, per sample, sample / real hvq in the bins of issue 28's table (m(b l+ nu) 84-244 GeV), in the
m(b l+) bins beyond the on-shell edge, and the chi^2 per bin of m(b l+ nu) from 100 to 244 GeV.
"""

from __future__ import annotations

import sys

import numpy as np

from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses

TOP_EDGES = [84, 120, 140, 150, 160, 165, 170, 175, 180, 185, 190, 200, 220, 244]
BL_EDGES = [156, 160, 170, 200]
CHI2_EDGES = np.linspace(100.0, 244.0, 73)


def masses(path: str) -> dict[str, np.ndarray]:
    m = system_masses(LheReader(path).read_all().momenta)
    return {"top": np.concatenate([m["t"], m["tbar"]]), "bl": np.concatenate([m["b l+"], m["b~ l-"]])}


def ratio_line(sample: np.ndarray, real: np.ndarray, edges) -> list[str]:
    a, _ = np.histogram(sample, edges)
    b, _ = np.histogram(real, edges)
    pa, pb = a / len(sample), b / len(real)
    ratio = pa / pb
    error = ratio * np.sqrt(1 / np.maximum(a, 1) + 1 / np.maximum(b, 1))
    rows = zip(edges[:-1], edges[1:], ratio, error, strict=True)
    return [f"{lo:g}-{hi:g}: {r:.3f} +- {e:.3f}" for lo, hi, r, e in rows]


def chi2_per_bin(sample: np.ndarray, real: np.ndarray) -> float:
    a, _ = np.histogram(sample, CHI2_EDGES)
    b, _ = np.histogram(real, CHI2_EDGES)
    pa, pb = a / len(sample), b / len(real)
    variance = pa / len(sample) + pb / len(real)
    used = variance > 0
    return float(np.sum((pa - pb)[used] ** 2 / variance[used]) / used.sum())


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    real = masses(argv[0])
    for path in argv[1:]:
        sample = masses(path)
        print(f"{path} / {argv[0]}")
        print("  m(b l nu) [GeV]: " + "; ".join(ratio_line(sample["top"], real["top"], TOP_EDGES)))
        print("  m(b l) [GeV]:    " + "; ".join(ratio_line(sample["bl"], real["bl"], BL_EDGES)))
        print(f"  chi2/bin of m(b l nu), 100-244 GeV in 2 GeV bins: {chi2_per_bin(sample['top'], real['top']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
