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
from dataclasses import dataclass
from pathlib import Path

from cards import MODES, Card, CardError, sidecar


@dataclass
class Job:
    index: int
    card: Card
    key: str

    @property
    def group(self) -> tuple:
        """What a worker must hold to run it: the models it names."""
        p = self.card.parameters
        return (self.card.mode, str(p.get("model_name")), str(p.get("controlnet_name")), str(p.get("lora")))

    def output(self, folder: Path) -> Path:
        suffix = self.card.parameters.get("output_format") or "mp4"
        return folder / f"{self.card.mode}-{self.key}.{suffix}"


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
    """The jobs of a JSON-lines file, and a result row for each line that is not a valid card."""
    jobs, bad = [], []
    for index, line in enumerate(Path(path).read_text().splitlines()):
        if not line.strip():
            continue
        try:
            card = Card.read(line)
        except CardError as error:
            bad.append({"job": index, "status": "failed", "error": str(error)})
            continue
        jobs.append(Job(index, card, job_key(card)))
    return jobs, bad


def finished(job: Job, folder: Path) -> bool:
    """Whether the job's clip is there with a card that matches the job (a random seed matches any seed)."""
    output = job.output(folder)
    if not output.is_file() or not sidecar(output).is_file():
        return False
    try:
        made = Card.read(sidecar(output))
    except CardError:
        return False
    wanted = {k: v for k, v in job.card.parameters.items() if not (k == "seed" and v == -1)}
    return made.mode == job.card.mode and all(made.parameters.get(k) == v for k, v in wanted.items())


def run_job(model, job: Job, folder: Path) -> dict:
    """Make one job's clip; a result row (failures included, with their message)."""
    from model import ModelLoadError, OutOfMemory
    from utils.validation import InputError
    from utils.video import OutputError

    output = job.output(folder)
    try:
        result = getattr(model, MODES[job.card.mode])(**job.card.parameters, path=str(output))
    except (InputError, ModelLoadError, OutOfMemory, OutputError) as error:
        return {"job": job.index, "key": job.key, "status": "failed", "error": str(error)}
    return {"job": job.index, "key": job.key, "status": "done", "output": result.path, "seed": result.seed}


def run_batch(jobs_file: Path, folder: Path, model) -> Summary:
    """Run every job of `jobs_file` not already done into `folder`, one at a time in this process."""
    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    jobs, bad = read_jobs(jobs_file)
    summary = Summary(failed=len(bad))
    with open(folder / "results.jsonl", "w") as results:
        for row in bad:
            results.write(json.dumps(row) + "\n")
        for job in tqdm(sorted(jobs, key=lambda j: (j.group, j.index)), desc="Batch", unit="clips"):
            if finished(job, folder):
                row = {"job": job.index, "key": job.key, "status": "skipped", "output": str(job.output(folder))}
                summary.skipped += 1
            else:
                row = run_job(model, job, folder)
                summary.done += row["status"] == "done"
                summary.failed += row["status"] == "failed"
            results.write(json.dumps(row) + "\n")
            results.flush()
    return summary
