"""Shared fixtures: the real POWHEG hvq files in ../shared/data/hvq and the bundled example."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_HVQ = ROOT.parent / "shared" / "data" / "hvq"
EXAMPLE_LO = ROOT / "examples" / "hvq_lo_emu_1k.lhe.gz"


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
    return _shared("hvq_nlo_emu_5k.lhe.gz")


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
