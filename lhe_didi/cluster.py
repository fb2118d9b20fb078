"""Transform files on a Dask cluster (the ``cluster`` extra): one task per input file or per range of a large one.

``lhe-didi transform IN [IN ...] -o OUTDIR --workers N`` starts a local ``dask.distributed`` cluster of N worker
processes with one thread each (forked from this process on Linux: :func:`local_start_method`); ``--scheduler
ADDRESS`` uses a running cluster instead (dask-jobqueue on HTCondor or Slurm, see the README). With at least two
inputs per worker every input is one task. Otherwise each input is cut into ranges of one batch: the first is read
from the input itself at once, while this process cuts out the later ones as plain-text pieces
(:func:`lhe_didi.io.split.split_events`) and submits each as soon as it is complete, so no worker passes over the
events before its range and nobody counts them first. Every task is :func:`lhe_didi.transform.transform_file`, and
the ranges of a file are joined byte for byte (:func:`join_ranges`: each batch is a gzip member of its own), so each
output is the file a serial run with the same settings and thread count writes, byte for byte, and it appears only
when complete (a retried task rewrites its part from scratch). Each worker process loads and verifies the models once
(:class:`lhe_didi.transform.LoadedModels`). A file that fails gets no output; the others are written, and the
failure of the first failing input (in the order given) is raised at the end.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from .errors import LheDidiError, LheFormatError
from .extras import require
from .io.files import copy_range, publish
from .io.merge import WrittenEvents
from .io.reader import check_input_file
from .io.split import split_events
from .io.writer import member_bytes
from .runtime import events_per_chunk, resolve_device
from .transform import LoadedModels, TransformReport, TransformSettings, transform_file

RETRIES = 2  # a task lost with its worker (killed, evicted) is run again elsewhere
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_worker = threading.local()


def output_paths(inputs: list[Path], output_dir: Path) -> list[Path]:
    """OUTDIR/<input file name> for every input; two inputs of the same name are refused."""
    names = [Path(i).name for i in inputs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise LheDidiError(f"inputs share a file name, their outputs would collide in {output_dir}: {duplicated[0]}")
    if output_dir.exists() and not output_dir.is_dir():
        raise LheDidiError(f"{output_dir}: with several inputs -o must be a directory")
    return [output_dir / n for n in names]


@contextmanager
def dask_client(workers: int, scheduler: str | None):
    """A ``distributed`` client of the cluster at ``scheduler``, else of a local cluster of ``workers`` processes with
    one thread each, closed on exit."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with dask.config.set({"distributed.worker.multiprocessing-method": local_start_method()}):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()


def local_start_method() -> str:
    """How a local cluster starts its worker processes: forked from this one on Linux, which has imported torch and
    lhe-didi already (a spawned worker spends ~2.5 s importing them, docs/benchmarks.md); spawned where this process
    has started CUDA (a forked child cannot use it) and off Linux (macOS cannot fork safely once system frameworks
    are loaded)."""
    return "fork" if sys.platform.startswith("linux") and not torch.cuda.is_initialized() else "spawn"


def _keep_freed_memory() -> None:
    """Undo dask's MALLOC_TRIM_THRESHOLD_=65536 for worker processes: with it every tensor of the network is mapped
    and unmapped afresh and a transform runs 1.5x slower (docs/benchmarks.md). glibc only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)


def _transform_on_worker(
    source: str,
    target: str,
    settings: TransformSettings,
    threads: int,
    events: tuple[int, int | None] | None = None,
    first_index: int = 0,
    name: str | None = None,
) -> TransformReport:
    """One task: the worker thread's cached models, ``threads`` torch threads; ``events``, ``first_index``, ``name``:
    as for :func:`lhe_didi.transform.transform_file`."""
    if not getattr(_worker, "malloc_tuned", False):
        _keep_freed_memory()
        _worker.malloc_tuned = True
    torch.set_num_threads(threads)
    # denormal floats flushed to zero, as in the main thread of a plain run: without it the network runs ~1.5x
    # slower in a worker thread (docs/benchmarks.md)
    torch.set_flush_denormal(True)
    if not hasattr(_worker, "models"):
        _worker.models = LoadedModels()
    try:
        return transform_file(
            source, target, settings, models=_worker.models, events=events, first_index=first_index, name=name
        )
    except LheDidiError as exc:  # the input's fault: handed back as the result, not retried and not logged
        return exc


def join_ranges(parts: list[TransformReport], output: Path) -> TransformReport:
    """The output of a whole input from the outputs of its consecutive ranges: the first range's header, every
    range's events byte for byte (batches are whole gzip members), the end with the combined counts. The same bytes
    as one run over the input."""
    report = parts[0]
    for later in parts[1:]:
        report.extend(later)
    ending = member_bytes(report.footer() + "</LesHouchesEvents>\n", output.name.endswith(".gz"))
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    try:
        with os.fdopen(handle, "wb") as joined:
            with open(parts[0].written.path, "rb") as first:
                joined.write(first.read(parts[0].written.event_bytes[0]))
            events_start = joined.tell()
            for part in parts:
                copy_range(part.written.path, *part.written.event_bytes, joined.write)
            events_end = joined.tell()
            joined.write(ending)
        publish(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    report.written = WrittenEvents(output, (events_start, events_end), report.events_out)
    return report


def transform_files(
    inputs: list[Path],
    output_dir: Path,
    settings: TransformSettings,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[TransformReport]:
    """Transform ``inputs`` into ``output_dir`` (one output per input, same name); reports in input order.

    ``workers == 1`` without a scheduler runs the files one after the other in this process.
    ``progress``: called with the number of input events of each finished file or range.
    """
    if workers > 1 or scheduler is not None:  # before anything is written
        require("cluster", "lhe-didi transform --workers/--scheduler")
    targets = output_paths(inputs, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return transform_to(inputs, targets, settings, workers=workers, scheduler=scheduler, threads=threads,
                        progress=progress)  # fmt: skip


def transform_to(
    inputs: list[Path],
    targets: list[Path],
    settings: TransformSettings,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[TransformReport]:
    """Transform each input into its target; on a cluster, large inputs in ranges of whole batches
    (:func:`lhe_didi.io.split.split_events`, joined by :func:`join_ranges`). Reports in input order."""
    serial = workers == 1 and scheduler is None
    if serial:
        models, reports = LoadedModels(), []
        for source, target in zip(inputs, targets, strict=True):
            reports.append(transform_file(source, target, settings, progress=progress, models=models))
        return reports
    require("cluster", "lhe-didi transform --workers/--scheduler")
    with dask_client(workers, scheduler) as client:
        size = workers if scheduler is None else max(len(client.scheduler_info()["workers"]), 1)
        ranged = len(inputs) < 2 * size  # too few files to keep every worker busy: cut them into ranges
        if settings.batch_size is None:  # the ranges and every worker's chunks alike
            settings = replace(settings, batch_size=events_per_chunk(resolve_device(settings.device)))
        staging = Path(tempfile.mkdtemp(prefix=".lhe-didi-ranges.", dir=targets[0].parent))
        try:
            run = _ClusterRun(client, settings, threads, progress, staging, pending_limit=2 * size + 1)
            return run.all(inputs, targets, ranged)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class _ClusterRun:
    """The tasks of one transform on a cluster: submitted as the inputs are cut, collected in any order, each
    input's ranges joined when they are all done; at most ``pending_limit`` tasks are waiting, so that pieces of
    large inputs do not pile up on disk."""

    def __init__(self, client, settings, threads, progress, staging: Path, pending_limit: int):
        from distributed import as_completed

        self.client, self.settings, self.threads, self.progress = client, settings, threads, progress
        self.staging, self.pending_limit = staging, pending_limit
        self.running = as_completed()
        self.pending = 0
        self.where: dict[str, tuple[int, int, Path | None]] = {}

    def all(self, inputs: list[Path], targets: list[Path], ranged: bool) -> list[TransformReport]:
        """Transform every input into its target; the first failure (in input order) is raised after the others
        finish, and its input gets no output."""
        self.inputs, self.targets = inputs, targets
        self.done: list[dict[int, TransformReport]] = [{} for _ in inputs]
        self.expected: list[int | None] = [None] * len(inputs)
        self.reports: list[TransformReport | None] = [None] * len(inputs)
        self.failures: dict[int, BaseException] = {}
        self.started = time.perf_counter()
        for k, source in enumerate(inputs):
            try:
                check_input_file(Path(source))
            except LheFormatError as exc:
                self.failures[k] = exc
                continue
            if not ranged:
                self._submit(k, 0, source, targets[k])
                self.expected[k] = 1
                continue
            self.expected[k] = self._submit_ranges(k, source)
            self._finish(k)
        for future in self.running:
            self._collect(future)
        if self.failures:
            raise self.failures[min(self.failures)]
        return self.reports

    def _submit_ranges(self, k: int, source: Path) -> int:
        """Submit the first batch of ``source`` as read from the file itself, then every later batch as soon as
        :func:`split_events` has cut it out; the number of ranges."""
        batch = self.settings.batch_size
        self._submit(k, 0, source, self._part(k, 0), events=(0, batch))
        pieces = self.staging / f"{k:05d}"
        pieces.mkdir()
        j = 1
        try:
            for piece in split_events(source, batch, pieces, keep_first=False):
                while self.pending >= self.pending_limit:
                    self._collect(next(self.running))
                self._submit(k, j, piece.path, self._part(k, j), first_index=piece.first, name=str(source), piece=True)
                j += 1
        except LheDidiError as exc:
            self.failures.setdefault(k, exc)
        except OSError as exc:
            self.failures.setdefault(k, LheFormatError(f"{source}: {exc.strerror or exc}"))
        return j

    def _part(self, k: int, j: int) -> Path:
        return self.staging / f"{k:05d}-{j:05d}-{self.targets[k].name}"

    def _submit(self, k, j, source, part, events=None, first_index=0, name=None, piece=False) -> None:
        """One task; ``piece``: ``source`` is a piece of the input, removed when the task is over."""
        future = self.client.submit(
            _transform_on_worker, str(source), str(part), self.settings, self.threads, events, first_index, name,
            pure=False, retries=RETRIES,
        )  # fmt: skip
        self.where[future.key] = (k, j, Path(source) if piece else None)
        self.running.add(future)
        self.pending += 1

    def _collect(self, future) -> None:
        self.pending -= 1
        k, j, piece = self.where.pop(future.key)
        if piece is not None:
            piece.unlink(missing_ok=True)
        result = future.exception() if future.status == "error" else future.result()
        if isinstance(result, BaseException):
            self.failures.setdefault(k, _naming(result, self.inputs[k]))
            return
        self.done[k][j] = result
        if self.progress is not None:
            self.progress(self.done[k][j].events_in)
        self._finish(k)

    def _finish(self, k: int) -> None:
        """Join input ``k``'s ranges once they are all in."""
        if k in self.failures or self.expected[k] is None or len(self.done[k]) < self.expected[k]:
            return
        parts = [self.done[k][j] for j in range(self.expected[k])]
        if self.targets[k] == parts[0].written.path:  # a whole file, written in place
            self.reports[k] = parts[0]
            return
        self.reports[k] = join_ranges(parts, self.targets[k])
        self.reports[k].seconds = time.perf_counter() - self.started  # side by side: the wall time, not their sum


def _naming(error: BaseException, source: Path) -> BaseException:
    """An input's error with the input's name in it (a run of several files says which one failed)."""
    if not isinstance(error, LheDidiError) or str(source) in str(error):
        return error
    return LheDidiError(f"{source}: {error}")
