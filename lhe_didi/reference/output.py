"""Write reference-generator samples as LHE files in the style of hvq (on-shell) and bb4l (off-shell)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from ..io.events import EventBatch
from ..io.merge import WrittenEvents
from ..io.reader import LheHeader
from ..io.writer import LheWriter
from . import parameters
from .generator import ReferenceGenerator
from .hvq import HVQ_W_LEPTONIC_BR, HvqGenerator
from .spool import EventSpool

DESCRIPTION = {
    "onshell": "on-shell as POWHEG hvq makes it at LO: on-shell t t~ Born at the pole mass, then hvq's decay "
    "generator (Breit-Wigner virtualities in hvq's window m_W^2 < m(b l nu)^2 < 2 m_t^2, reshuffling, "
    "spin correlations by hit and miss on the doubly-resonant |M|^2); sigma = sigma(t t~) x BR(W -> l nu)^2",
    "doubly-resonant": "doubly resonant: the exact |M|^2 of the t t~ diagrams only (Breit-Wigner tops and Ws, "
    "spin correlations) inside hvq's virtuality window m_W^2 < m(b l nu)^2 < 2 m_t^2; not hvq's line shape",
    "offshell": "full off-shell (bb4l-like): all O(alpha_s^2 alpha^4) diagrams, doubly/singly/non-resonant "
    "and interference; each event with the resonance history t t~, t W- or t~ W+ drawn with POWHEG-BOX-RES's "
    "projectors (lhe_didi.kinematics.histories)",
}


def sample_header(generator: ReferenceGenerator | HvqGenerator, weights: np.ndarray) -> LheHeader:
    """Header and ``<init>`` block of a generated sample of event weights ``weights`` (cross section and error from
    the run)."""
    stats = generator.stats
    unit = bool(np.allclose(weights, weights[0])) if len(weights) else True
    idwtup = 3 if unit else 4
    beam = generator.sqrt_s / 2.0
    init = (
        "<init>\n"
        f" 2212 2212 {beam:.6e} {beam:.6e} -1 -1 -1 -1 {idwtup} 1\n"
        f" {stats.cross_section:.8e} {stats.cross_section_error:.8e}"
        f" {float(weights.max()) if len(weights) else 0.0:.8e}"
        f" {generator.process_id}\n"
        "</init>"
    )
    comment = (
        f"\n<!--\nlhe-didi LO reference generator, {DESCRIPTION[generator.kind]}.\n"
        f"p p -> b {generator.leptons[0]} nu b~ {generator.leptons[1]} nu~ at sqrt(s) = {generator.sqrt_s:g} GeV,"
        f" mu_R = mu_F = {generator.scale:g} GeV, m_t = {generator.top_mass:g} GeV,"
        f" Gamma_t = {generator.top_width:.6g} GeV, PDF {parameters.PDF_SET} member 0,"
        f" alpha_s(mu) = {generator.pdf.alpha_s:.6f}.{_bias_sentence(generator)} Settings in <lhe_didi> below.\n-->\n"
    )
    return LheHeader(
        root_tag='<LesHouchesEvents version="3.0">',
        preamble=comment,
        init_block=init,
        beam_energies=(beam, beam),
        beam_ids=(2212, 2212),
        cross_sections=[(stats.cross_section, stats.cross_section_error, generator.process_id)],
    )


def _bias_sentence(generator: ReferenceGenerator) -> str:
    if generator.tail_bias is None:
        return ""
    return (
        f"\nTail-biased sampling: events drawn with density ~ dsigma x b,"
        f" b = 1 + (pT_max / {generator.tail_bias:g} GeV)^2,"
        " pT_max = max(pT(b l+ nu), pT(b~ l- nu~)); XWGTUP ~ 1/b, so weighted distributions are unbiased"
        " (use the event weights)."
    )


def provenance(generator: ReferenceGenerator | HvqGenerator, n_events: int) -> dict:
    """Generation settings and run statistics for the ``<lhe_didi>`` header block."""
    stats = generator.stats
    record = {
        "command": "generate",
        "sample": generator.kind,
        "description": DESCRIPTION[generator.kind],
        "events": n_events,
        "seed": generator.seed,
        "leptons": list(generator.leptons),
        "sqrt_s_GeV": generator.sqrt_s,
        "scale_GeV": generator.scale,
        "top_mass_GeV": generator.top_mass,
        "top_width_GeV": generator.top_width,
        "w_mass_GeV": parameters.W_MASS,
        "w_width_GeV": generator.w_width,
        "b_mass_GeV": parameters.B_MASS,
        "pdf": {"set": parameters.PDF_SET, "member": 0, "alpha_s": generator.pdf.alpha_s},
        "ufo_parameters": generator.ufo,
        "matrix_elements": {
            "library": "pyamplicol",
            "version": metadata.version("pyamplicol"),
            "colour": "full",
            "orders": "QCD=2 QED=4",
            "model": f"UFO SM ({generator.kind} variant)",
        },
        "cross_section_pb": stats.cross_section,
        "cross_section_error_pb": stats.cross_section_error,
        "phase_space_points": stats.points,
        "unweighting_efficiency": stats.efficiency,
        "max_weight_pb": stats.max_weight,
        "overweight_events": stats.overweight_events,
        "overweight_cross_section_share": stats.overweight_fraction,
        "channel_weights": stats.alpha,
        "tail_bias": None
        if generator.tail_bias is None
        else {
            "pt0_GeV": generator.tail_bias,
            "bias": "b = 1 + (max(pT(b l+ nu), pT(b~ l- nu~)) / pt0)^2; events sampled ~ dsigma x b, XWGTUP ~ 1 / b",
        },
    }
    if isinstance(generator, HvqGenerator):
        decays = generator.decays.stats
        record["hvq"] = {
            "algorithm": "POWHEG-BOX-V2 hvq LO: on-shell t t~ Born, decays as hvq/ttdec.f (lhe_didi.reference.hvq)",
            "top_mass_GeV": generator.top_mass,
            "top_width_GeV": generator.top_width,
            "w_mass_GeV": parameters.W_MASS,
            "w_width_GeV": generator.w_width,
            "b_mass_GeV": parameters.B_MASS,
            "branching_ratio_w_to_l_nu": HVQ_W_LEPTONIC_BR,
            "ttbar_cross_section_pb": stats.ttbar_cross_section,
            "decay_attempts": decays.attempts,
            "outside_window": decays.outside_window,
            "reshuffle_rejected": decays.reshuffle_rejected,
            "spin_rejected": decays.spin_rejected,
            "spin_ratio_above_8": decays.spin_ratio_above_bound,
            "spin_ratio_mean": decays.spin_ratio_sum / max(decays.spin_ratio_evaluations, 1),
        }
    return record


def write_sample(generator: ReferenceGenerator | HvqGenerator, events: EventBatch, path: str | Path) -> Path:
    """Write ``events`` (from ``generator.generate``) as an LHE file; atomic."""
    with LheWriter(path, sample_header(generator, events.weight), provenance(generator, len(events))) as writer:
        writer.write(events)
    return Path(path)


def generate_to_file(
    generator: ReferenceGenerator | HvqGenerator, n_events: int, path: str | Path, progress=None
) -> WrittenEvents:
    """Generate ``n_events`` and write them to ``path`` (atomic) with memory independent of ``n_events``: the
    events wait in an :class:`.spool.EventSpool` until the run's cross section fixes their weights. The file is
    the one :func:`write_sample` writes for ``generator.generate(n_events)``; returned with where its events lie."""
    relative = []
    with EventSpool(path) as spool:
        for events, weights in generator.generate_chunks(n_events, progress=progress):
            spool.append(events)
            relative.append(weights)
        weights = generator.stats.event_weights(np.concatenate(relative))
        with LheWriter(path, sample_header(generator, weights), provenance(generator, n_events)) as writer:
            first = 0
            for events in spool:
                events.weight = weights[first : first + len(events)]
                first += len(events)
                writer.write(events)
    return WrittenEvents(Path(path), writer.event_bytes, n_events)
