"""Reference LO generator: independent cross-checks of PDF, matrix elements, phase space and samples."""

import gzip

import numpy as np
import pylhe
import pytest

from lhe_didi.constants import TOP_MASS, TOP_WIDTH, W_MASS, W_WIDTH
from lhe_didi.io.checks import check_event
from lhe_didi.io.reader import LheReader
from lhe_didi.kinematics.observables import invariant_mass, system_masses, system_momenta
from lhe_didi.reference import analytic, parameters
from lhe_didi.reference.generator import ReferenceGenerator
from lhe_didi.reference.matrix_elements import final_state_pdg, process_string
from lhe_didi.reference.output import write_sample
from lhe_didi.reference.pdf import FixedScalePdf
from lhe_didi.reference.phase_space import UNIFORM, Channels, PhaseSpace

EDGE = np.sqrt(TOP_MASS**2 - W_MASS**2)  # on-shell m_bl endpoint, 152.6 GeV
QUICK_ADAPT = dict(points_per_iteration=10_000, iterations=4, max_weight_points=100_000)


@pytest.fixture(scope="module")
def pdf():
    return FixedScalePdf(parameters.PDF_SET, parameters.SCALE)


@pytest.fixture(scope="module")
def samples():
    """3000 doubly-resonant and 3000 off-shell events with their generators (hvq's own on-shell: test_hvq.py)."""
    result = {}
    for kind in ("doubly-resonant", "offshell"):
        generator = ReferenceGenerator(kind, seed=11)
        generator.adapt(**QUICK_ADAPT)
        result[kind] = (generator, generator.generate(3000))
    return result


def test_alpha_s_and_pdf_against_independent_interpolation(pdf):
    assert pdf.alpha_s == pytest.approx(0.10767, abs=1e-5)  # value quoted with the grid (2-loop running)
    parton = pytest.importorskip("parton")
    reference = parton.mkPDF(parameters.PDF_SET, 0, pdfdir=str(pdf_dir()))
    x = np.geomspace(1e-4, 0.3, 200)
    for flavour in (21, 1, 2, 3, 4, -1, -2, -3, -4):
        ours = pdf.xfx(flavour, x)
        theirs = reference.xfxQ(flavour, x, parameters.SCALE, grid=False)
        assert np.max(np.abs(ours / theirs - 1.0)) < 0.01, flavour  # scipy spline vs LHAPDF Hermite
    assert pdf.xfx(21, np.array([1.0, 1.5])).tolist() == [0.0, 0.0]


def pdf_dir():
    from lhe_didi.reference.pdf import find_set

    return find_set(parameters.PDF_SET).parent


def test_partonic_cross_sections_limits():
    alpha_s, m = 0.1, TOP_MASS
    s = np.array([1e6, 1e8, 1e10]) * m**2
    # high-energy limits: pi a^2/(3 s) (ln(s/m^2) - 7/4) and 8 pi a^2 / (27 s)
    gg_limit = np.pi * alpha_s**2 / (3 * s) * (np.log(s / m**2) - 7 / 4)
    np.testing.assert_allclose(analytic.sigma_gg(s, m, alpha_s) / gg_limit, 1.0, atol=1e-4)
    np.testing.assert_allclose(analytic.sigma_qqbar(s, m, alpha_s) * 27 * s / (8 * np.pi * alpha_s**2), 1.0, atol=1e-5)
    # S-wave threshold: sigma proportional to beta
    s_beta = 4 * m**2 / (1 - np.array([1e-4, 2e-4]) ** 2)
    for sigma in (analytic.sigma_gg, analytic.sigma_qqbar):
        values = sigma(s_beta, m, alpha_s)
        assert values[0] / values[1] == pytest.approx(0.5, rel=1e-3)


def test_hadronic_integral_converged(pdf):
    coarse = analytic.hadronic_ttbar(pdf, parameters.SQRT_S, TOP_MASS, nodes=200)["total"]
    fine = analytic.hadronic_ttbar(pdf, parameters.SQRT_S, TOP_MASS, nodes=600)["total"]
    assert abs(coarse / fine - 1) < 1e-5 and 400 < fine < 600


def test_narrow_width_cross_section_matches_textbook_ttbar(pdf):
    """Generator sigma / (LO branching ratios) -> sigma(pp -> t t~) from the analytic formulae, to 1%."""
    scale = 100.0
    generator = ReferenceGenerator("doubly-resonant", seed=3, top_width=TOP_WIDTH / scale, w_width=W_WIDTH / scale)
    sigma, error = generator.integrate(200_000)
    branching = (parameters.lo_top_width() / (TOP_WIDTH / scale)) ** 2 * (
        parameters.lo_w_leptonic_width() / (W_WIDTH / scale)
    ) ** 2
    expected = analytic.hadronic_ttbar(pdf, parameters.SQRT_S, TOP_MASS)["total"]
    ratio, ratio_error = sigma / branching / expected, error / branching / expected
    assert abs(ratio - 1.0) < 0.01 and abs(ratio - 1.0) < 3.5 * ratio_error, (ratio, ratio_error)


def test_full_over_doubly_resonant_matrix_elements(samples):
    """At t t~ peak kinematics the full |M|^2 equals the doubly-resonant one; away from it they differ."""
    onshell_generator, events = samples["doubly-resonant"]
    offshell_generator, _ = samples["offshell"]
    incoming = events.incoming_momenta.copy()
    gluons = events.incoming_pdg[:, 0] == 21
    final, incoming = events.momenta[gluons], incoming[gluons]
    full = offshell_generator.matrix_elements.evaluate("gg", incoming, final)
    resonant = onshell_generator.matrix_elements.evaluate("gg", incoming, final)
    masses = system_masses(final)
    peak = (np.abs(masses["t"] - TOP_MASS) < TOP_WIDTH) & (np.abs(masses["tbar"] - TOP_MASS) < TOP_WIDTH)
    far = (np.abs(masses["t"] - TOP_MASS) > 20) | (np.abs(masses["tbar"] - TOP_MASS) > 20)
    ratio = full / resonant
    assert peak.sum() > 200 and far.sum() > 10
    assert abs(np.median(ratio[peak]) - 1.0) < 0.02
    assert np.median(np.abs(ratio[far] - 1.0)) > 0.2


def test_offshell_cross_section_exceeds_onshell(samples):
    on_sigma, on_error = (
        samples["doubly-resonant"][0].stats.cross_section,
        samples["doubly-resonant"][0].stats.cross_section_error,
    )
    off_sigma, off_error = samples["offshell"][0].stats.cross_section, samples["offshell"][0].stats.cross_section_error
    ratio = off_sigma / on_sigma
    assert 1.0 < ratio < 1.2 and (off_sigma - on_sigma) > 5 * np.hypot(on_error, off_error)


def test_generated_samples_invariants_and_windows(samples, tmp_path):
    for kind, (generator, events) in samples.items():
        path = write_sample(generator, events, tmp_path / f"{kind}.lhe.gz")
        records = list(pylhe.LHEFile.fromfile(path).events)
        assert len(records) == 3000
        assert [p for e in records[:500] for p in check_event(e.particles)] == []
        batch = LheReader(path).read_all()
        assert batch.pdg[0].tolist() == final_state_pdg(("e+", "mu-"))
        np.testing.assert_allclose(invariant_mass(batch.momenta[:, [0, 3]]), 4.75, rtol=1e-6)
        assert np.isclose(batch.weight.mean(), generator.stats.cross_section, rtol=1e-9)
        masses = system_masses(batch.momenta)
        in_window = (
            (masses["t"] > W_MASS)
            & (masses["t"] < np.sqrt(2) * TOP_MASS)
            & (masses["tbar"] > W_MASS)
            & (masses["tbar"] < np.sqrt(2) * TOP_MASS)
        )
        if kind == "doubly-resonant":
            assert in_window.all()
            assert np.all(masses["W+"] < masses["t"]) and np.all(masses["W-"] < masses["tbar"])
        else:
            assert (~in_window).mean() > 0.004  # tops outside hvq's window exist off-shell


def _top_pt_max(momenta):
    systems = system_momenta(momenta)
    return np.maximum(*(np.hypot(systems[top][:, 1], systems[top][:, 2]) for top in ("t", "tbar")))


def _weighted_fraction(weights, selected):
    """Share of the total weight in ``selected`` and its binomial error for weighted events."""
    fraction = weights[selected].sum() / weights.sum()
    error = (
        np.sqrt(np.sum(weights[selected] ** 2) * (1 - fraction) ** 2 + np.sum(weights[~selected] ** 2) * fraction**2)
        / weights.sum()
    )
    return fraction, error


def test_tail_biased_sample_is_enriched_and_its_weights_unbias_it(tmp_path):
    """--tail-bias: the raw events over-populate the high-pT tail, weights ~ 1/b, and the weighted tail fraction
    equals the one of independent weighted phase-space points (no unweighting involved)."""
    pt0, cut = 300.0, 250.0
    generator = ReferenceGenerator("doubly-resonant", seed=21, tail_bias=pt0)
    generator.adapt(**QUICK_ADAPT)
    events = LheReader(write_sample(generator, generator.generate(6000), tmp_path / "biased.lhe")).read_all()
    pt_max = _top_pt_max(events.momenta)
    bias = 1.0 + (pt_max / pt0) ** 2
    assert np.isclose(events.weight.mean(), generator.stats.cross_section, rtol=1e-9)
    unit = events.weight * bias
    regular = np.isclose(unit, np.median(unit), rtol=1e-6)  # all but the counted overweight events
    assert (~regular).sum() <= generator.stats.overweight_events and regular.mean() > 0.99
    tail = pt_max > cut
    weighted_fraction, error = _weighted_fraction(events.weight, tail)

    reference = ReferenceGenerator("doubly-resonant", seed=22)
    points = reference.phase_space.sample(200_000, np.random.default_rng(23))
    w = reference.initial_state_weights(points).sum(axis=1)
    reference_tail = np.zeros(len(w), dtype=bool)
    reference_tail[points.valid] = _top_pt_max(points.final[points.valid]) > cut
    reference_fraction, reference_error = _weighted_fraction(w, reference_tail)
    assert 0.03 < reference_fraction < 0.2
    assert abs(weighted_fraction - reference_fraction) < 4 * np.hypot(error, reference_error)
    assert tail.mean() > 1.5 * reference_fraction  # the raw events are enriched
    header = (tmp_path / "biased.lhe").read_text()[:20_000]
    assert "Tail-biased sampling" in header and '"pt0_GeV": 300.0' in header


def test_offshell_features_of_paper_figure_1(samples):
    on = system_masses(samples["doubly-resonant"][1].momenta)
    off = system_masses(samples["offshell"][1].momenta)
    beyond_on = np.mean(on["b l+"] > EDGE + 5)
    beyond_off = np.mean(off["b l+"] > EDGE + 5)
    assert beyond_off > 0.005 and beyond_off > 3 * beyond_on  # m_bl beyond the on-shell edge
    shoulder = lambda m: np.mean((m["t"] > W_MASS + 5) & (m["t"] < W_MASS + 40))  # noqa: E731
    assert shoulder(off) > 2 * shoulder(on)  # shoulder of m(b l nu) just above m_W


def test_onshell_shapes_agree_with_real_hvq(samples, hvq_lo_path):
    """Same process, different PDF (CTEQ6M in hvq): bulk shapes agree to a few per cent."""
    ours = samples["doubly-resonant"][1]
    hvq = next(LheReader(hvq_lo_path).batches(20_000))
    pt = lambda b, i: np.hypot(b.momenta[:, i, 1], b.momenta[:, i, 2])  # noqa: E731
    assert np.mean(pt(ours, 1)) == pytest.approx(np.mean(pt(hvq, 1)), rel=0.05)
    assert np.mean(pt(ours, 4)) == pytest.approx(np.mean(pt(hvq, 4)), rel=0.05)
    m_ours, m_hvq = system_masses(ours.momenta), system_masses(hvq.momenta)
    assert np.median(m_ours["b l+"]) == pytest.approx(np.median(m_hvq["b l+"]), rel=0.03)
    assert np.median(m_ours["t"]) == pytest.approx(np.median(m_hvq["t"]), abs=0.15)
    assert np.mean(m_ours["b l+"] > EDGE + 5) < 0.01 and np.mean(m_hvq["b l+"] > EDGE + 5) < 0.01


def test_same_seed_same_file(tmp_path):
    """Same seed, same bytes, compressed too (no time stamp or file name in the gzip header)."""
    paths = {".lhe": [], ".lhe.gz": []}
    for name in ("a", "b"):
        generator = ReferenceGenerator("doubly-resonant", seed=5)
        generator.adapt(points_per_iteration=2_000, iterations=1, max_weight_points=20_000)
        events = generator.generate(200, batch=5_000)
        for suffix, written in paths.items():
            written.append(write_sample(generator, events, tmp_path / f"{name}{suffix}"))
    for first, second in paths.values():
        assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(paths[".lhe.gz"][0].read_bytes()) == paths[".lhe"][0].read_bytes()


def test_process_strings():
    assert process_string("gg", ("e+", "mu-")) == "g g > e+ ve b mu- vm~ b~"
    assert process_string("uu~", ("mu+", "e-")) == "u u~ > mu+ vm b e- ve~ b~"
    assert final_state_pdg(("mu+", "e-")) == [5, -13, 14, -5, 11, -12]


def test_phase_space_channel_densities_are_normalised_and_sampled():
    """E_c[g_NN / g_c] = 1 over points drawn from channel c alone: each collinear channel samples the density it
    reports (a mismatch between the drawn b directions and their density, or a wrong normalisation, shifts it)."""
    channels = Channels.offshell()
    uniform_nn = 3  # both tops non-resonant, b directions uniform: the same top densities as the channels below
    rng = np.random.default_rng(7)
    for c, references in enumerate(channels.collinear):
        if channels.top[c] != channels.top[uniform_nn] or references == (UNIFORM, UNIFORM):
            continue
        channels.alpha = np.eye(len(channels.alpha))[c]
        points = PhaseSpace(parameters.SQRT_S, channels).sample(200_000, rng)
        densities = points.channel_densities[points.valid]
        ratio = np.zeros(len(points.valid))
        ratio[points.valid] = densities[:, uniform_nn] / densities[:, c]
        mean, error = ratio.mean(), ratio.std() / np.sqrt(len(ratio))
        assert error < 0.02 and abs(mean - 1.0) < 4 * error + 1e-3, (c, references, mean, error)


def test_offshell_events_carry_resonance_histories_drawn_from_their_tops(samples, tmp_path):
    from lhe_didi.kinematics.histories import TTBAR, assign_histories, history_probabilities

    generator, events = samples["offshell"]
    expected = assign_histories(events.momenta, generator.top_mass, generator.top_width, events.index, seed=11)
    np.testing.assert_array_equal(events.history, expected)
    counts = np.bincount(events.history, minlength=3)
    mean = history_probabilities(events.momenta, generator.top_mass, generator.top_width).sum(axis=0)
    assert np.all(np.abs(counts - mean) < 5 * np.sqrt(mean)) and counts[1] > 20 and counts[2] > 20, (counts, mean)
    back = LheReader(write_sample(generator, events, tmp_path / "offshell.lhe")).read_all()
    np.testing.assert_array_equal(back.history, events.history)
    assert np.all(samples["doubly-resonant"][1].history == TTBAR)


def test_matrix_elements_run_without_symbolica_in_many_processes_at_once(samples, tmp_path):
    """Symbolica's licence admits one process per user; the runtime does not load it, so generate runs in parallel.
    Three processes at once (one more than the licence could hold) each write a correct file."""
    import subprocess
    import sys

    assert "symbolica" not in sys.modules  # this process evaluated matrix elements for `samples`
    command = [sys.executable, "-m", "lhe_didi", "generate", "offshell", "-n", "150"]
    runs = [
        subprocess.Popen([*command, "--seed", str(seed), "-o", str(tmp_path / f"{seed}.lhe")], stderr=subprocess.PIPE)
        for seed in (1, 2, 3)
    ]
    for seed, run in zip((1, 2, 3), runs, strict=True):
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr.decode()[-2000:]
        events = LheReader(tmp_path / f"{seed}.lhe").read_all()
        assert len(events) == 150 and np.all(np.isfinite(events.momenta))
        assert np.allclose(events.final_state_momentum[:, 1:3], 0.0, atol=1e-6)  # LO: no recoil


@pytest.mark.parametrize("kind", ["onshell", "offshell"])
def test_streamed_generation_writes_the_in_memory_file(tmp_path, kind):
    """generate_to_file parks chunks on disk until the weights are known: the same bytes as generate + write_sample,
    and its spool folder is gone afterwards."""
    from lhe_didi.reference.hvq import HvqGenerator
    from lhe_didi.reference.output import generate_to_file

    def fresh():
        generator = HvqGenerator(seed=3) if kind == "onshell" else ReferenceGenerator(kind, seed=3)
        if kind == "onshell":
            generator.adapt()
        else:
            generator.adapt(points_per_iteration=2_000, iterations=1, max_weight_points=20_000)
        return generator

    generator = fresh()
    write_sample(generator, generator.generate(700), tmp_path / "memory.lhe")
    generator = fresh()
    generate_to_file(generator, 700, tmp_path / "streamed.lhe")
    assert (tmp_path / "memory.lhe").read_bytes() == (tmp_path / "streamed.lhe").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.lhe", "streamed.lhe"]
    weights = LheReader(tmp_path / "streamed.lhe").read_all().weight
    assert np.mean(weights) == pytest.approx(generator.stats.cross_section, rel=1e-10)  # XWGTUP: 11 digits


def test_verbatim_merge_of_generated_runs_equals_the_parsed_merge(tmp_path, example_lo_path):
    """generate --shards merges its shards by copying their events' gzip members: the shards' records exactly (the
    parsing merge rebuilds the resonances from the printed daughters, last digits apart), the header of the parsing
    merge; the same text as copying the event text line by line."""
    from lhe_didi.errors import LheDidiError
    from lhe_didi.io.merge import merge_files
    from lhe_didi.reference.output import generate_to_file

    runs, written = [], []
    for seed in (5, 6):
        generator = ReferenceGenerator("doubly-resonant", seed=seed)
        generator.adapt(points_per_iteration=2_000, iterations=1, max_weight_points=20_000)
        written.append(generate_to_file(generator, 150, tmp_path / f"{seed}.lhe.gz"))
        runs.append(written[-1].path)
    raw = [open(path, "rb").read() for path in runs]
    for data, part in zip(raw, written, strict=True):  # header, events, end: three gzip members
        first, end = part.event_bytes
        events = gzip.decompress(data[first:end]).decode()
        assert events.startswith("<event>\n") and events.endswith("</event>\n") and events.count("<event>") == 150
        assert gzip.decompress(data[end:]).decode() == "</LesHouchesEvents>\n"
    parsed = merge_files(runs, tmp_path / "parsed.lhe.gz", labels=["a", "b"])
    copied = merge_files(runs, tmp_path / "copied.lhe.gz", labels=["a", "b"], verbatim=True)
    members = merge_files(runs, tmp_path / "members.lhe.gz", labels=["a", "b"], written=written)
    assert parsed.events == copied.events == members.events == [150, 150]
    text = {name: gzip.open(tmp_path / f"{name}.lhe.gz", "rt").read() for name in ("parsed", "copied", "5", "6")}
    assert gzip.open(tmp_path / "members.lhe.gz", "rt").read() == text["copied"]
    assert sum(1 for _ in pylhe.LHEFile.fromfile(str(tmp_path / "members.lhe.gz")).events) == 300  # pylhe: one stream
    with pytest.raises(LheDidiError, match="compressed differently"):
        merge_files(runs, tmp_path / "plain.lhe", written=written)
    assert not (tmp_path / "plain.lhe").exists()

    def split(whole):
        head, _, body = whole.partition("<event>")
        return head, "<event>" + body.removesuffix("</LesHouchesEvents>\n")

    assert split(text["copied"])[0] == split(text["parsed"])[0]
    assert split(text["copied"])[1] == split(text["5"])[1] + split(text["6"])[1]
    parsed, copied = (LheReader(tmp_path / f"{name}.lhe.gz").read_all() for name in ("parsed", "copied"))
    np.testing.assert_allclose(copied.momenta, parsed.momenta, rtol=1e-10)
    np.testing.assert_array_equal(copied.weight, parsed.weight)
    transformed = tmp_path / "t.lhe"
    from click.testing import CliRunner

    from lhe_didi.cli import main

    assert CliRunner().invoke(main, ["transform", str(example_lo_path), "-o", str(transformed)]).exit_code == 0
    with pytest.raises(LheDidiError, match="source-event lines cannot be merged verbatim"):
        merge_files([transformed, transformed], tmp_path / "x.lhe", verbatim=True)
    assert not (tmp_path / "x.lhe").exists()
