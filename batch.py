"""Many clips from a JSON-lines file of (partial) generation cards, resumable and idempotent.

Each job's clip is named by a hash of its card (mode and parameters): `DIR/<mode>-<hash>.mp4`, its card beside it.
A job whose clip and card exist, the card matching the job, is skipped; a clip is only ever complete or absent (the
writer renames it into place when done), so a crash or Ctrl-C loses at most the clip in progress. A job that fails
(bad input, a missing model) is recorded with its message in `DIR/results.jsonl` and the batch goes on. Jobs are
run grouped by model, so each model loads once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from cards import Card, decode
from clip_files import file_hash, is_reference, resolve_inputs, sidecar
from errors import CardError, StudioError
from registry import MODES
from utils.validation import shorten
from utils.video import INPUTS_FOLDER

logger = logging.getLogger(__name__)


@dataclass
class Job:
    index: int
    card: Card
    key: str
    inputs: str = "."  # the folder of the jobs file: the input files its cards name by content are looked up there

    @property
    def group(self) -> tuple:
        """What a worker must hold to run it: the models it names."""
        p = self.card.parameters
        return (self.card.mode, str(p.get("model_name")), str(p.get("controlnet_name")), str(p.get("lora")))

    def output(self, folder: Path) -> Path:
        from utils.video import VIDEO_FORMATS

        suffix = self.card.parameters.get("output_format")
        return folder / f"{self.card.mode}-{self.key}.{suffix if suffix in VIDEO_FORMATS else 'mp4'}"


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0


def job_key(card: Card) -> str:
    """A hash of what makes the clip: the mode and the parameters as given."""
    canonical = json.dumps({"mode": card.mode, "parameters": card.parameters}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_jobs(path: Path) -> tuple[list[Job], list[dict]]:
    """The jobs of a JSON-lines file, and a result row for each line that is not a valid card (a line that is not
    UTF-8, not JSON or not a card fails alone: the others run)."""
    jobs, bad = [], []
    for index, raw in enumerate(jobs_file(path).read_bytes().splitlines()):
        if not raw.strip():
            continue
        try:
            card = Card.read(decode(raw, f"Line {index + 1}"))
        except CardError as error:
            bad.append({"job": index, "status": "failed", "error": str(error)})
            continue
        jobs.append(Job(index, card, job_key(card), str(Path(path).parent)))
    return jobs, bad


def jobs_file(path: Path) -> Path:
    """The jobs file, checked: a missing file or a folder is an input error naming it."""
    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not there"
        raise CardError(f"The jobs file '{path}' is {what}: give a JSON-lines file, one card per line.")
    return path


def finished(job: Job, folder: Path) -> bool:
    """Whether the job's clip is there with a card that matches the job (a random seed matches any seed; an input
    file matches by its content)."""
    output = job.output(folder)
    if not output.is_file() or not sidecar(output).is_file():
        return False
    try:
        made = Card.read(sidecar(output))
    except CardError:
        return False
    call = MODES.for_card(job.card.mode).call
    wanted = {k: v for k, v in call.own_parameters(job.card.parameters).items() if not (k == "seed" and v == -1)}
    done = call.own_parameters(made.parameters)
    return made.mode == job.card.mode and all(same_value(done.get(k), v) for k, v in wanted.items())


def same_value(made, wanted) -> bool:
    """A made clip's parameter against a job's: equal, or the same input file (a path in the job, its content in
    the card)."""
    if made == wanted:
        return True
    if is_reference(made) and isinstance(wanted, str) and Path(wanted).is_file():
        return file_hash(Path(wanted)) == made["sha256"]
    return False


def run_job(model, job: Job, folder: Path, name: str | None = None) -> dict:
    """Make one job's clip (in `folder`, named `name` or by the job); a result row (failures with their message)."""
    output = folder / name if name else job.output(folder)
    try:
        make = getattr(model, MODES.for_card(job.card.mode).method)  # the mode's public method
        result = make(**resolve_inputs(job.card, [Path(job.inputs)]), path=str(output))
    except StudioError as error:
        return {"job": job.index, "key": job.key, "status": "failed", "error": str(error)}
    except Exception as error:  # a bug: recorded and logged, and the batch goes on with the other jobs
        logger.exception("Job %d failed", job.index)
        error_text = f"Internal error ({type(error).__name__}): {shorten(str(error))}; the log has the details."
        return {"job": job.index, "key": job.key, "status": "failed", "error": error_text}
    return {"job": job.index, "key": job.key, "status": "done", "output": result.path, "seed": result.seed}


class Results:
    """A batch's results file (`DIR/results.jsonl`, a row per job, flushed as it comes) and its tally."""

    def __init__(self, folder: Path):
        self.summary = Summary()
        self._file = open(folder / "results.jsonl", "w")

    def add(self, row: dict) -> None:
        status = row["status"]
        self.summary.done += status == "done"
        self.summary.skipped += status == "skipped"
        self.summary.failed += status == "failed"
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def start_batch(jobs_file: Path, folder: Path) -> tuple[list[Job], Results]:
    """The jobs still to run, and the results with the bad lines and the jobs already done recorded."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs, bad = read_jobs(jobs_file)
    results = Results(folder)
    for row in bad:
        results.add(row)
    pending = []
    for job in jobs:
        if finished(job, folder):
            results.add(skipped_row(job, folder))
        else:
            pending.append(job)
    return pending, results


def run_batch(jobs_file: Path, folder: Path, model) -> Summary:
    """Run every job of `jobs_file` not already done into `folder`, one at a time in this process."""
    from tqdm.auto import tqdm

    pending, results = start_batch(jobs_file, folder)
    try:
        jobs = sorted(pending, key=lambda j: (j.group, j.index))
        for job in tqdm(jobs, desc="Batch", unit="clips", disable=not model.settings.progress_bars):
            results.add(run_job(model, job, folder))
    finally:
        results.close()
    return results.summary


# ------------------------------------------------------------------------------------------------------------- Ray
PASSED_ENVIRONMENT = ("T2VZ_", "HF_")  # what the workers must see as the driver does (offline models, caches)


def ray_runtime_env(address: str | None) -> dict:
    """Workers on this machine import the project from its folder; on a cluster it travels as the working directory
    (the virtual environment, tests and outputs left out)."""
    import os

    root = Path(__file__).resolve().parent
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENVIRONMENT)}
    if address in (None, "", "local"):
        return {"env_vars": {**env, "PYTHONPATH": str(root)}}
    excludes = [".venv", ".git", "tests", "*.mp4", "*.gif", "*.webm"]
    return {"env_vars": env, "working_dir": str(root), "excludes": excludes}


def make_worker_class():
    import ray

    @ray.remote(max_restarts=0)
    class Worker:
        """One long-lived worker holding a Model (its loaded models stay between jobs); it returns each clip's bytes
        and card, and the driver writes them, so workers on other machines need no shared disk."""

        def __init__(self, settings, threads: int):
            import tempfile

            import torch

            from model import Model

            if threads:
                torch.set_num_threads(threads)
            self.model = Model(settings=settings)
            self.scratch = Path(tempfile.mkdtemp(prefix="t2vz-worker-"))

        def run(self, index: int, card: dict, key: str, name: str, inputs: str) -> tuple[dict, dict[str, bytes]]:
            """The job's result row and its files by their names relative to the output folder: the input files
            its card names, the card and the video."""
            job = Job(index, Card.read(card), key, inputs)
            row = run_job(self.model, job, self.scratch, name=name)
            if row["status"] != "done":
                return row, {}
            video = Path(row["output"])
            made = {f"{INPUTS_FOLDER}/{path.name}": path for path in sorted((self.scratch / INPUTS_FOLDER).glob("*"))}
            made.update(card=sidecar(video), video=video)
            files = {name: path.read_bytes() for name, path in made.items()}
            for path in made.values():
                path.unlink()
            return row, files

    return Worker


def write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def run_batch_on_ray(
    jobs_file: Path,
    folder: Path,
    settings,
    address: str | None = None,
    workers: int | None = None,
    on_started=None,
) -> Summary:
    """The batch on Ray: one worker per GPU (or, without GPUs, per CPU: `workers`), each job sent to a worker that
    already holds its models where one is free, the files written here. A worker that dies has its job retried on
    another. `settings`: the workers' (`Settings`); `address`: a cluster's (None or "local": a cluster on this
    machine, started if need be)."""
    import ray
    from tqdm.auto import tqdm

    if not ray.is_initialized():
        local = address in (None, "", "local")
        ray.init(address=None if local else address, runtime_env=ray_runtime_env(address), log_to_driver=False)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    count = workers or gpus or max(1, int(resources.get("CPU", 1)))
    worker_class = make_worker_class()
    options = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    threads = 0 if gpus else max(1, int(resources.get("CPU", 1)) // count)
    pool = [worker_class.options(**options).remote(settings, threads) for _ in range(count)]
    if on_started is not None:
        on_started(pool)

    pending, results = start_batch(jobs_file, folder)
    try:
        held: dict = {}  # worker -> the group of models it holds
        running: dict = {}  # future -> (worker, job)
        idle = list(pool)
        bar = tqdm(total=len(pending), desc="Batch (Ray)", unit="clips", disable=not settings.progress_bars)
        while pending or running:
            while idle and pending:
                worker = idle.pop()
                job = next((j for j in pending if j.group == held.get(worker)), None) or largest_group(pending)
                pending.remove(job)
                held[worker] = job.group
                future = worker.run.remote(
                    job.index, job.card.model_dump(), job.key, job.output(folder).name, job.inputs
                )
                running[future] = (worker, job)
            done, _ = ray.wait(list(running), num_returns=1)
            worker, job = running.pop(done[0])
            try:
                row, files = ray.get(done[0])
            except ray.exceptions.RayActorError:  # the worker died: its job goes to another
                pending.append(job)
                held.pop(worker, None)
                if not idle and not running:
                    raise RuntimeError("Every Ray worker died; the finished clips are kept.") from None
                continue
            if files:
                output = job.output(folder)
                targets = {"card": sidecar(output), "video": output}
                for name, data in files.items():  # the input files, the card, then the video
                    target = targets.get(name) or folder / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(target, data)
                row = {**row, "output": str(output)}
            results.add(row)
            bar.update()
            idle.append(worker)
        bar.close()
    finally:
        results.close()
        for worker in pool:
            ray.kill(worker)
    return results.summary


def largest_group(jobs: list[Job]) -> Job:
    """The first job of the group with the most jobs left: a worker loads a new model for the most work."""
    counts: dict = {}
    for job in jobs:
        counts[job.group] = counts.get(job.group, 0) + 1
    group = max(counts, key=lambda g: counts[g])
    return next(job for job in jobs if job.group == group)


def skipped_row(job: Job, folder: Path) -> dict:
    return {"job": job.index, "key": job.key, "status": "skipped", "output": str(job.output(folder))}
