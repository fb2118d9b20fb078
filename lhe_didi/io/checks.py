"""Physics invariants of an LHE event record: momentum conservation, resonance consistency, colour flow."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pylhe

from ..kinematics.observables import invariant_mass


def _four(p: pylhe.LHEParticle) -> np.ndarray:
    return np.array([p.e, p.px, p.py, p.pz])


def check_event(particles: list[pylhe.LHEParticle], tolerance: float = 1e-6) -> list[str]:
    """Return the invariants the event violates (empty list if none).

    Checked: incoming = outgoing four-momentum (relative to the total energy);
    every status-2 entry equals the sum of its daughters in momentum and its
    mass column equals their invariant mass (relative to its energy); every
    colour tag is balanced between incoming partons and final-state particles.
    """
    problems = []
    incoming = sum((_four(p) for p in particles if p.status == -1), np.zeros(4))
    outgoing = sum((_four(p) for p in particles if p.status == 1), np.zeros(4))
    scale = max(incoming[0], outgoing[0], 1e-300)
    if np.abs(incoming - outgoing).max() > tolerance * scale:
        problems.append(f"momentum not conserved: in - out = {incoming - outgoing}")
    for index, resonance in enumerate(particles, 1):
        if resonance.status != 2:
            continue
        daughters = [p for p in particles if p.mother1 == index]
        if not daughters:
            problems.append(f"resonance {resonance.id} (line {index}) has no daughters")
            continue
        total = sum((_four(p) for p in daughters), np.zeros(4))
        if np.abs(total - _four(resonance)).max() > tolerance * max(resonance.e, 1e-300):
            problems.append(f"resonance {resonance.id} (line {index}) differs from the sum of its daughters")
        if abs(invariant_mass(total) - resonance.m) > tolerance * max(resonance.e, 1e-300):
            problems.append(
                f"resonance {resonance.id} (line {index}) mass {resonance.m} != daughters' {invariant_mass(total)}"
            )
    colours, anticolours = Counter(), Counter()
    for p in particles:
        if p.status == 1:
            colours[p.color1] += 1
            anticolours[p.color2] += 1
        elif p.status == -1:  # an incoming colour flows out as an anticolour line
            colours[p.color2] += 1
            anticolours[p.color1] += 1
    colours.pop(0, None)
    anticolours.pop(0, None)
    if colours != anticolours or any(n != 1 for n in colours.values()):
        problems.append(f"colour flow unbalanced: colours {dict(colours)} anticolours {dict(anticolours)}")
    return problems
