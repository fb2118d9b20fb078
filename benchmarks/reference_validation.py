"""Validation figures of the LO reference generator (issue note / README numbers).

    python benchmarks/reference_validation.py [--events N] [--nwa-points P]

1. narrow-width sigma(pp -> t t~) from the generator vs the textbook formulae;
2. sigma(off-shell) / sigma(on-shell) with MC errors;
3. on-shell sample vs real POWHEG hvq LO (lepton pT, m_bl, m_t);
4. off-shell features (m_bl beyond the edge, tops outside hvq's window, W shoulder);
5. unweighted events/s and the time for 1M events.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lhe_didi.constants import TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import system_masses
from lhe_didi.reference import analytic, parameters
from lhe_didi.reference.generator import ReferenceGenerator
from lhe_didi.reference.hvq import HvqGenerator

HVQ = Path(__file__).resolve().parents[2] / "shared" / "data" / "hvq" / "hvq_lo_emu_100k.lhe.gz"
EDGE = np.sqrt(TOP_MASS**2 - W_MASS**2)


def observables(batch):
    masses = system_masses(batch.momenta)
    pt = np.hypot(batch.momenta[..., 1], batch.momenta[..., 2])
    return {"pT(l+)": pt[:, 1], "pT(b)": pt[:, 0], "m(b l+)": masses["b l+"], "m(t)": masses["t"]}, masses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--nwa-points", type=int, default=1_000_000)
    args = parser.parse_args()

    scale = 100.0
    nwa = ReferenceGenerator("doubly-resonant", seed=1, top_width=TOP_WIDTH / scale, w_width=W_WIDTH / scale)
    sigma, error = nwa.integrate(args.nwa_points)
    br = (parameters.lo_top_width() / (TOP_WIDTH / scale)) ** 2 * (
        parameters.lo_w_leptonic_width() / (W_WIDTH / scale)
    ) ** 2
    textbook = analytic.hadronic_ttbar(nwa.pdf, parameters.SQRT_S, TOP_MASS)
    print(
        f"[1] textbook LO sigma(pp->tt~) = {textbook['total']:.2f} pb"
        f" (gg {textbook['gg']:.2f}, qq~ {textbook['qq']:.2f});"
        f" generator (widths/100, / LO BRs) = {sigma / br:.2f} +- {error / br:.2f} pb;"
        f" ratio {sigma / br / textbook['total']:.4f} +- {error / br / textbook['total']:.4f}"
    )

    samples = {}
    for kind in ("onshell", "offshell"):
        generator = HvqGenerator(seed=2) if kind == "onshell" else ReferenceGenerator(kind, seed=2)
        start = time.perf_counter()
        generator.adapt()
        adapt_seconds = time.perf_counter() - start
        events = generator.generate(args.events)
        s = generator.stats
        rate = args.events / s.seconds
        samples[kind] = (generator, events)
        print(
            f"[5] {kind}: sigma = {s.cross_section:.4f} +- {s.cross_section_error:.4f} pb,"
            f" efficiency {100 * s.efficiency:.2f}%,"
            f" {rate:.0f} unweighted events/s (2 cores), adaptation {adapt_seconds:.1f} s,"
            f" 1M events ~ {1e6 / rate / 60:.0f} min,"
            f" overweight events {s.overweight_events} ({100 * s.overweight_fraction:.2f}% of sigma), channel weights"
            f" {np.round(s.alpha, 3).tolist()}"
        )
    on, off = samples["onshell"][0].stats, samples["offshell"][0].stats
    ratio = off.cross_section / on.cross_section
    ratio_error = ratio * np.hypot(
        on.cross_section_error / on.cross_section, off.cross_section_error / off.cross_section
    )
    print(f"[2] sigma(off)/sigma(on) = {ratio:.4f} +- {ratio_error:.4f}")

    hvq = next(LheReader(HVQ).batches(args.events))
    obs_hvq, _ = observables(hvq)
    obs_on, m_on = observables(samples["onshell"][1])
    obs_off, m_off = observables(samples["offshell"][1])
    print("[3] on-shell vs real hvq LO (mean / median; hvq uses CTEQ6M):")
    for name in obs_hvq:
        ours, real = obs_on[name], obs_hvq[name]
        mean_diff = 100 * (ours.mean() / real.mean() - 1)
        median_diff = 100 * (np.median(ours) / np.median(real) - 1)
        print(
            f"    {name:8s} mean {ours.mean():8.2f} vs {real.mean():8.2f} ({mean_diff:+.1f}%),"
            f" median {np.median(ours):8.2f} vs {np.median(real):8.2f} ({median_diff:+.1f}%)"
        )

    def percent(mask):
        return 100 * np.mean(mask)

    def outside_window(m):
        return percent((m["t"] < W_MASS) | (m["t"] > np.sqrt(2) * TOP_MASS))

    def near_threshold(m):
        return percent((m["t"] > W_MASS) & (m["t"] < W_MASS + 40))

    def far(m):
        return percent(np.abs(m - TOP_MASS) > 15)

    print(
        f"[4] m(b l+) > edge {EDGE:.1f} GeV: on {percent(m_on['b l+'] > EDGE):.2f}%,"
        f" hvq {percent(obs_hvq['m(b l+)'] > EDGE):.2f}%, off {percent(m_off['b l+'] > EDGE):.2f}%;"
        f" m(t) outside hvq window: on {outside_window(m_on):.2f}%, off {outside_window(m_off):.2f}%;"
        f" m(t) in [m_W, m_W+40]: on {near_threshold(m_on):.2f}%, off {near_threshold(m_off):.2f}%;"
        f" |m(t)-172.5| > 15 GeV: on {far(m_on['t']):.2f}%, hvq {far(obs_hvq['m(t)']):.2f}%, off {far(m_off['t']):.2f}%"
    )


if __name__ == "__main__":
    main()
