"""Packaging: the lean core, the extras' one-line messages, the shipped models as package resources."""

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from lhe_didi import extras
from lhe_didi.cli import main
from lhe_didi.errors import LheDidiError
from lhe_didi.shipped import CLASSIFIER_DEFAULT, DIDI_DEFAULT, shipped_model

# A process in which the optional dependencies cannot be imported, as after a plain `pip install lhe-didi`.
# (scipy is not blocked: torchdiffeq, a core dependency, requires and imports it.)
BLOCK_OPTIONAL = textwrap.dedent(
    """
    import sys

    class Block:
        OPTIONAL = ("matplotlib", "mplhep", "pyamplicol", "symbolica", "dask", "distributed")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.OPTIONAL:
                raise ImportError(f"{name} blocked by the test")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def run_blocked(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_OPTIONAL + textwrap.dedent(code), *args], capture_output=True, text=True
    )


def test_core_imports_no_optional_dependency_and_no_training():
    result = run_blocked(
        """
        import lhe_didi.cli, lhe_didi.inspect, lhe_didi.io.merge, lhe_didi.reweight, lhe_didi.transform
        layers = ("lhe_didi.training", "lhe_didi.validation", "lhe_didi.reference.generator")
        loaded = sorted(name for name in sys.modules if name.startswith(layers))
        print("loaded:", loaded)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout  # inference does not import training, validation or the generator


def test_transform_runs_without_the_extras(tmp_path, example_lo_path):
    out = tmp_path / "out.lhe"
    result = run_blocked(
        """
        from lhe_didi.cli import main
        main(["transform", sys.argv[1], "-o", sys.argv[2], "--device", "cpu", "--threads", "1"])
        """,
        str(example_lo_path),
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and out.read_text().count("<event>") > 980


@pytest.mark.parametrize(
    "arguments, extra",
    [
        (["generate", "onshell", "-n", "10", "-o", "{tmp}/x.lhe"], "generate"),
        (["validate", "--onshell", "a", "--offshell", "b", "--generated", "c", "-o", "{tmp}/report"], "validate"),
        (["transform", "a.lhe", "b.lhe", "-o", "{tmp}/out", "--workers", "2"], "cluster"),
    ],
)
def test_command_without_its_extra_names_the_install(tmp_path, monkeypatch, arguments, extra):
    monkeypatch.setattr(extras, "find_spec", lambda name: None)
    result = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in arguments])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'lhe-didi[{extra}]'" in lines[0], result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_ot_coupling_without_scipy_is_refused_before_reading(monkeypatch):
    from lhe_didi.training.didi import DidiSettings, train_didi

    monkeypatch.setattr(extras, "find_spec", lambda name: None)
    with pytest.raises(LheDidiError, match=r"pip install 'lhe-didi\[train\]'"):
        train_didi("missing-on.lhe", "missing-off.lhe", "unused", DidiSettings(coupling="ot"), progress=False)


def test_every_extra_is_declared_in_pyproject():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    declared = project["optional-dependencies"]
    core = " ".join(project["dependencies"])
    for extra, modules in extras.EXTRAS.items():
        assert extra in declared and extra in declared["all"][0]
        for module in modules:
            assert any(req.startswith(module) for req in declared[extra]), (extra, module)
            assert module not in core
    assert "scipy" not in core  # pulled in by torchdiffeq only
    assert "shower" in declared["all"][0] and "pythia8mc" not in core


def test_shipped_models_are_package_resources():
    for name in (DIDI_DEFAULT, CLASSIFIER_DEFAULT):
        directory = shipped_model(name)
        assert {"config.json", "weights.safetensors", "MODEL_CARD.md"} <= {p.name for p in directory.iterdir()}
