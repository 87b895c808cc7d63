"""Benchmark (not a test): batch throughput, one process vs a local Ray cluster, in clips per minute.

    .venv/bin/python -m bench.bench_batch [--jobs 8] [--steps 10] [--resolution 128]

On the offline tiny models (text-to-video, 8 frames): the batch in this process, then on Ray with 1 and 2 workers
(`ray.init(num_cpus=2)` on this machine). Model loading is counted (each worker loads its models once).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--resolution", type=int, default=128)
    args = parser.parse_args()
    import ray

    from batch import ray_runtime_env, run_batch, run_batch_on_ray
    from model import Model
    from settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="t2vz-bench-batch-"))
    jobs = folder / "jobs.jsonl"
    parameters = dict(video_length=8, resolution=args.resolution, num_inference_steps=args.steps)
    lines = [
        {"mode": "text2video", "parameters": {"prompt": f"a cat, take {i}", **parameters}} for i in range(args.jobs)
    ]
    jobs.write_text("\n".join(json.dumps(line) for line in lines))
    rates = {}
    start = time.perf_counter()
    run_batch(jobs, folder / "local", Model(settings=Settings.from_env().with_tiny_models()))
    rates["one process"] = args.jobs / (time.perf_counter() - start) * 60
    ray.init(num_cpus=2, runtime_env=ray_runtime_env(None), log_to_driver=False, include_dashboard=False)
    for workers in (1, 2):
        start = time.perf_counter()
        run_batch_on_ray(
            jobs, folder / f"ray{workers}", workers=workers, settings=Settings.from_env().with_tiny_models()
        )
        rates[f"Ray, {workers} worker{'s' if workers > 1 else ''}"] = args.jobs / (time.perf_counter() - start) * 60
    ray.shutdown()
    print(f"{args.jobs} text-to-video clips, 8 frames, {args.resolution} px, {args.steps} steps, tiny models:")
    for name, rate in rates.items():
        print(f"  {name:18s} {rate:6.1f} clips per minute")
    print(f"  Ray 2 workers vs 1: x{rates['Ray, 2 workers'] / rates['Ray, 1 worker']:.2f}")


if __name__ == "__main__":
    main()
