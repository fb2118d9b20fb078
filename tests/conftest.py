"""Shared fixtures: real POWHEG hvq events, as slices in tests/data (always there) and as the full
samples in ../shared/data/hvq (tests that need them skip without; LHE_DIDI_SHARED_HVQ points elsewhere)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_HVQ = Path(os.environ.get("LHE_DIDI_SHARED_HVQ", ROOT.parent / "shared" / "data" / "hvq"))
EXAMPLE_LO = ROOT / "examples" / "hvq_lo_emu_1k.lhe.gz"
TEST_DATA = ROOT / "tests" / "data"


def _shared(name: str) -> Path:
    path = SHARED_HVQ / name
    if not path.exists():
        pytest.skip(f"real hvq sample {path} not available (expected ../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def hvq_lo_path() -> Path:
    return _shared("hvq_lo_emu_100k.lhe.gz")


@pytest.fixture(scope="session")
def hvq_nlo_path() -> Path:
    """The first 2000 events of the real hvq NLO sample (CTEQ6M, m_t = 172.5 GeV)."""
    return TEST_DATA / "hvq_nlo_emu_2k.lhe.gz"


@pytest.fixture(scope="session")
def hvq_nlo_full_path() -> Path:
    return _shared("hvq_nlo_emu_5k.lhe.gz")


@pytest.fixture(scope="session")
def hvq_nnpdf_slice_path() -> Path:
    """The first 300 events of the real hvq LO sample with the project's PDF set at m_t = 172.5 GeV."""
    return TEST_DATA / "hvq_lo_emu_nnpdf31_mt172.5_300.lhe.gz"


@pytest.fixture(scope="session")
def example_lo_path() -> Path:
    return EXAMPLE_LO


@pytest.fixture(scope="session")
def nlo_batch(hvq_nlo_path):
    from lhe_didi.io.reader import LheReader

    return LheReader(hvq_nlo_path).read_all()


@pytest.fixture(scope="session")
def example_text(example_lo_path) -> str:
    import gzip

    return gzip.open(example_lo_path, "rt").read()


@pytest.fixture(scope="session")
def hvq_nnpdf_path() -> Path:
    """Real hvq LO at m_t = 172.5 GeV with the project's PDF set and fixed scale (150k events)."""
    return _shared("hvq_lo_emu_nnpdf31_mt172.5_150k_seed520001.lhe.gz")
