"""Many input files: one after the other and on a local Dask cluster, with the serial run's bytes."""

import gzip
import importlib.util
import pickle
from dataclasses import replace

import pytest
from click.testing import CliRunner

from lhe_didi import cluster
from lhe_didi import transform as transform_module
from lhe_didi.cli import main
from lhe_didi.cluster import transform_files
from lhe_didi.errors import EventContentError, LheDidiError
from lhe_didi.transform import LoadedModels, TransformSettings, transform_file


@pytest.fixture
def inputs(tmp_path, example_lo_path, hvq_nnpdf_slice_path):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [folder / "a.lhe.gz", folder / "b.lhe.gz"]
    paths[0].write_bytes(example_lo_path.read_bytes())
    paths[1].write_bytes(hvq_nnpdf_slice_path.read_bytes())
    return paths


SETTINGS = TransformSettings(device="cpu", batch_size=400)


def serial_outputs(inputs, folder):
    folder.mkdir()
    for source in inputs:
        transform_file(source, folder / source.name, SETTINGS)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_files_one_after_the_other_load_the_models_once(tmp_path, inputs, monkeypatch):
    loads = []
    real = transform_module.DidiModel
    monkeypatch.setattr(transform_module, "DidiModel", lambda *a: loads.append(a) or real(*a))
    reports = transform_files(inputs, tmp_path / "out", SETTINGS)
    assert len(loads) == 1 and [r.events_in for r in reports] == [1000, 300]
    monkeypatch.undo()
    expected = serial_outputs(inputs, tmp_path / "serial")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == expected


def test_two_dask_workers_write_the_serial_bytes(tmp_path, inputs):
    pytest.importorskip("distributed")
    result = CliRunner().invoke(
        main,
        [
            "transform",
            *map(str, inputs),
            "-o",
            str(tmp_path / "out"),
            "--workers",
            "2",
            "--batch-size",
            "400",
            "--device",
            "cpu",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("wrote ") == 2
    expected = serial_outputs(inputs, tmp_path / "serial")  # the test process runs with one torch thread too
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == expected


@pytest.mark.parametrize("suffix", [".lhe.gz", ".lhe"])
def test_one_input_in_ranges_on_two_workers_is_the_serial_file(tmp_path, inputs, suffix):
    """1 000 events in batches of 100 on 2 workers: the first range read from the file, 9 pieces cut out while the
    first ranges run (at most 5 tasks wait), each written by a worker and joined byte for byte (each batch a gzip
    member of its own), the counts, weights and line shape at the end combined."""
    pytest.importorskip("distributed")
    out, serial = tmp_path / f"ranged{suffix}", tmp_path / f"serial{suffix}"
    options = ["--batch-size", "100", "--device", "cpu", "--threads", "1"]
    result = CliRunner().invoke(main, ["transform", str(inputs[0]), "-o", str(out), "--workers", "2", *options])
    assert result.exit_code == 0, result.output
    report = transform_file(inputs[0], serial, replace(SETTINGS, batch_size=100))
    assert out.read_bytes() == serial.read_bytes()
    assert f"wrote {report.events_out} of 1000 events" in result.output
    assert report.weights.line() in result.output
    assert "velocity evaluations per ODE solve" in result.output  # the summary line of a joined run
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", out.name, serial.name])  # no parts left


def test_a_bad_input_fails_alone_with_one_line(tmp_path, inputs):
    pytest.importorskip("distributed")
    broken = inputs[0].parent / "c.lhe"
    text = gzip.open(inputs[0], "rt").read()
    broken.write_text(text[: len(text) // 2])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["transform", str(inputs[1]), str(broken), "-o", str(out), "--workers", "2", "--device", "cpu"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: ") and "c.lhe" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["b.lhe.gz"]  # the good file is written, the bad one is not


def test_a_missing_input_fails_alone_before_any_task(tmp_path, inputs):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    missing = tmp_path / "missing.lhe.gz"
    result = CliRunner().invoke(
        main, ["transform", str(missing), str(inputs[1]), "-o", str(out), "--workers", "2", "--device", "cpu"]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"Error: {missing}: no such file"
    assert sorted(p.name for p in out.iterdir()) == ["b.lhe.gz"]


def test_an_event_error_comes_back_from_a_worker_whole():
    """A worker hands an input's error back pickled; the event's index and reason survive the trip."""
    error = pickle.loads(pickle.dumps(EventContentError(17, "no charged lepton")))
    assert (error.event_index, error.reason, str(error)) == (17, "no charged lepton", "event 17: no charged lepton")
    named = cluster._naming(error, "in/a.lhe.gz")
    assert str(named) == "in/a.lhe.gz: event 17: no charged lepton" and isinstance(named, LheDidiError)


def test_outputs_that_would_collide_are_refused(tmp_path, inputs):
    other = tmp_path / "other"
    other.mkdir()
    twin = other / inputs[0].name
    twin.write_bytes(inputs[0].read_bytes())
    with pytest.raises(LheDidiError, match="share a file name"):
        transform_files([inputs[0], twin], tmp_path / "out", SETTINGS)
    target = tmp_path / "file"
    target.write_text("")
    with pytest.raises(LheDidiError, match="must be a directory"):
        transform_files(inputs, target, SETTINGS)


def test_loaded_models_follow_the_settings():
    models = LoadedModels()
    first = models.get(SETTINGS)
    assert models.get(SETTINGS) is first
    assert models.get(TransformSettings(device="cpu", use_classifier=False))[1] is None


def test_sharded_generate_on_two_workers_writes_the_serial_file(tmp_path):
    """Shards with seeds from (seed, shard), merged in order: the same bytes on one process or two workers; one
    shard is the plain run. Needs the 'generate' extra (pyamplicol)."""
    pytest.importorskip("distributed")
    if importlib.util.find_spec("pyamplicol") is None:
        pytest.skip("needs the 'generate' extra")
    from lhe_didi.io.reader import LheReader
    from lhe_didi.reference.run import shard_seed, shard_sizes

    common = ["generate", "onshell", "-n", "301", "--seed", "4", "--shards", "2"]
    serial = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "serial.lhe.gz")])
    assert serial.exit_code == 0, serial.output
    parallel = CliRunner().invoke(main, [*common, "--workers", "2", "-o", str(tmp_path / "parallel.lhe.gz")])
    assert parallel.exit_code == 0, parallel.output
    assert (tmp_path / "serial.lhe.gz").read_bytes() == (tmp_path / "parallel.lhe.gz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parallel.lhe.gz", "serial.lhe.gz"]  # shards removed
    header = LheReader(tmp_path / "serial.lhe.gz").header
    merged = [b for b in header.lhe_didi_provenance if b.get("command") == "merge"][0]
    runs = [b for b in header.lhe_didi_provenance if b.get("command") == "generate"]
    assert len(LheReader(tmp_path / "serial.lhe.gz").read_all()) == 301 and shard_sizes(301, 2) == [151, 150]
    assert len(merged["inputs"]) == 2 and runs[0]["seed"] == shard_seed(4, 0, 2) != shard_seed(4, 1, 2)
    assert shard_seed(4, 0, 1) == 4
    refused = CliRunner().invoke(main, ["generate", "onshell", "-n", "3", "--shards", "4", "-o", str(tmp_path / "x")])
    assert refused.exit_code == 1 and "--shards must be between 1 and the number of events (3)" in refused.output


def test_local_workers_are_forked_unless_this_process_started_cuda(monkeypatch):
    monkeypatch.setattr(cluster.sys, "platform", "linux")
    monkeypatch.setattr(cluster.torch.cuda, "is_initialized", lambda: False)
    assert cluster.local_start_method() == "fork"
    monkeypatch.setattr(cluster.torch.cuda, "is_initialized", lambda: True)
    assert cluster.local_start_method() == "spawn"
    monkeypatch.setattr(cluster.torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(cluster.sys, "platform", "darwin")
    assert cluster.local_start_method() == "spawn"
