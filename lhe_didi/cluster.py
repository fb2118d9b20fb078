"""Transform files on a Dask cluster (the ``cluster`` extra): one task per input file or per range of a large one.

``lhe-didi transform IN [IN ...] -o OUTDIR --workers N`` starts a local ``dask.distributed`` cluster of N worker
processes with one thread each; ``--scheduler ADDRESS`` uses a running cluster instead (dask-jobqueue on HTCondor
or Slurm, see the README). The workers first count each input's events; inputs are then cut into ranges of whole
batches, about two per worker in all (:func:`event_ranges`: a file of fewer events than that is one task). Every
task is :func:`lhe_didi.transform.transform_file` on one file or range, and the ranges of a file are joined byte for
byte (:func:`join_ranges`: each batch is a gzip member of its own), so each output is the file a serial run with the
same settings and thread count writes, byte for byte, and it appears only when complete (a retried task rewrites
its part from scratch). Each worker process loads and verifies the models once
(:class:`lhe_didi.transform.LoadedModels`). A file that fails gets no output; the others are written, and the
failure of the first failing input (in the order given) is raised at the end.
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

from .errors import LheDidiError
from .extras import require
from .io.files import copy_range, publish
from .io.merge import WrittenEvents
from .io.reader import count_events
from .io.writer import member_bytes
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
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    try:
        with Client(scheduler or cluster) as client:
            yield client
    finally:
        if cluster is not None:
            cluster.close()


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
    source: str, target: str, settings: TransformSettings, threads: int, events: tuple[int, int | None] | None = None
) -> TransformReport:
    """One task: the worker thread's cached models, ``threads`` torch threads; ``events``: one range of the input."""
    if not getattr(_worker, "malloc_tuned", False):
        _keep_freed_memory()
        _worker.malloc_tuned = True
    torch.set_num_threads(threads)
    # denormal floats flushed to zero, as in the main thread of a plain run: without it the network runs ~1.5x
    # slower in a worker thread (docs/benchmarks.md)
    torch.set_flush_denormal(True)
    if not hasattr(_worker, "models"):
        _worker.models = LoadedModels()
    return transform_file(source, target, settings, models=_worker.models, events=events)


def event_ranges(counts: list[int], batch_size: int, workers: int) -> list[list[tuple[int, int | None]]]:
    """Per input, its event ranges (first, count; the last one None: to the end): whole batches, about two per
    worker over all inputs, so that one large file keeps every worker busy and many files are not cut up."""
    per_range = max(batch_size, math.ceil(sum(counts) / (2 * workers) / batch_size) * batch_size)
    ranges = []
    for n in counts:
        firsts = list(range(0, max(n, 1), per_range))
        ranges.append([(first, per_range) for first in firsts[:-1]] + [(firsts[-1], None)])
    return ranges


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
    (:func:`event_ranges`, joined by :func:`join_ranges`). Reports in input order."""
    serial = workers == 1 and scheduler is None
    if serial:
        models, reports = LoadedModels(), []
        for source, target in zip(inputs, targets, strict=True):
            reports.append(transform_file(source, target, settings, progress=progress, models=models))
        return reports
    require("cluster", "lhe-didi transform --workers/--scheduler")
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        size = workers if scheduler is None else max(len(client.scheduler_info()["workers"]), 1)
        if len(inputs) >= 2 * size:  # enough files to keep every worker busy: no ranges, nothing to count
            plan = [[(0, None)] for _ in inputs]
        else:
            counts = client.gather([client.submit(count_events, str(s), pure=False) for s in inputs])
            plan = event_ranges(counts, settings.batch_size, size)
        staging = Path(tempfile.mkdtemp(prefix=".lhe-didi-ranges.", dir=targets[0].parent))
        try:
            return _run_ranges(client, as_completed, inputs, targets, plan, staging, settings, threads, progress)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _run_ranges(client, as_completed, inputs, targets, plan, staging, settings, threads, progress):
    """Submit every range, join each input's ranges when they are all done; the first failure (in input order) is
    raised after the others finish, and its input gets no output."""
    futures, where, submitted = [], {}, time.perf_counter()
    for k, (source, target, ranges) in enumerate(zip(inputs, targets, plan, strict=True)):
        for j, events in enumerate(ranges):
            part = target if len(ranges) == 1 else staging / f"{k:05d}-{j:05d}-{target.name}"
            future = client.submit(
                _transform_on_worker, str(source), str(part), settings, threads, events if len(ranges) > 1 else None,
                pure=False, retries=RETRIES,
            )  # fmt: skip
            futures.append(future)
            where[future.key] = (k, j)
    done: list[dict[int, TransformReport]] = [{} for _ in inputs]
    reports: list[TransformReport | None] = [None] * len(inputs)
    failures: dict[int, BaseException] = {}
    for future in as_completed(futures):
        k, j = where[future.key]
        if future.status == "error":
            failures.setdefault(k, future.exception())
            continue
        done[k][j] = future.result()
        if progress is not None:
            progress(done[k][j].events_in)
        if len(done[k]) == len(plan[k]) and k not in failures:
            parts = [done[k][j] for j in range(len(plan[k]))]
            reports[k] = parts[0] if len(parts) == 1 else join_ranges(parts, targets[k])
            if len(parts) > 1:  # the ranges ran side by side: the wall time from submission, not their sum
                reports[k].seconds = time.perf_counter() - submitted
    if failures:
        raise failures[min(failures)]
    return reports
