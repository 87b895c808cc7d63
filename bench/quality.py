"""Quality evaluation (not a test) of a folder of generated clips: CLIP text alignment (the paper's CLIP score),
consecutive-frame CLIP consistency and the optical-flow warp error (see `utils/quality.py`).

    .venv/bin/python -m bench.quality CLIPS_FOLDER [--prompts prompts.json] [--clip openai/clip-vit-large-patch14]

Each clip's prompt comes from `--prompts` (a JSON object: file name -> prompt), else from a text file beside the
clip with the same name (`clip.txt`), else from the file name (underscores as spaces). Prints one line per clip and
the means; `--json` writes them to a file.

The published coherence protocol (VidToMe, ControlVideo): `masked_warp_error`, the squared error of each frame
warped onto the next along the input video's flow (`--sources`: the input videos, by the same file stem), over the
pixels the forward-backward check sees in both, x10^-2 as their tables print it.

The paper's protocol (Text2Video-Zero, section 5): 25 prompts, one clip each, CLIP score of every frame against its
prompt, averaged: generate the clips with `Model.process_text2video(prompt, path=f"clips/{i:02d}.mp4")` and the
prompts in `prompts.json`, then run this on `clips/`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from utils.quality import DEFAULT_CLIP, ClipScorer, masked_warp_error, warp_error
from utils.video import read_video

CLIP_SUFFIXES = (".mp4", ".webm", ".gif", ".mov", ".mkv")


def prompt_for(clip: Path, prompts: dict[str, str]) -> str:
    if clip.name in prompts:
        return prompts[clip.name]
    beside = clip.with_suffix(".txt")
    if beside.is_file():
        return beside.read_text().strip()
    return clip.stem.replace("_", " ")


def source_for(clip: Path, sources: Path | None):
    """The input video a clip was made from (same file stem in `sources`), read as uint8 frames; None without."""
    if sources is None:
        return None
    found = [p for p in sources.iterdir() if p.stem == clip.stem and p.suffix.lower() in CLIP_SUFFIXES]
    return read_video(str(found[0]))[0] if found else None


def evaluate(folder: Path, scorer: ClipScorer, prompts: dict[str, str], sources: Path | None = None) -> list[dict]:
    results = []
    for clip in sorted(p for p in folder.iterdir() if p.suffix.lower() in CLIP_SUFFIXES):
        frames, _ = read_video(str(clip))
        prompt = prompt_for(clip, prompts)
        scores = scorer.scores(frames, prompt)
        source = source_for(clip, sources)
        results.append(
            {
                "clip": clip.name,
                "prompt": prompt,
                "frames": len(frames),
                "clip_text_alignment": scores.text_alignment,
                "clip_frame_consistency": scores.frame_consistency,
                "warp_error": warp_error(frames),
                "masked_warp_error": masked_warp_error(frames, source),
                "flow_from": "source" if source is not None else "clip",
            }
        )
    return results


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--prompts", type=Path, default=None, help="JSON object: clip file name -> prompt")
    parser.add_argument("--clip", default=DEFAULT_CLIP, help=f"CLIP model id or folder (default {DEFAULT_CLIP})")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--sources", type=Path, default=None, help="the input videos of the clips, by the same file stem: their flow"
    )
    args = parser.parse_args(argv)
    prompts = json.loads(args.prompts.read_text()) if args.prompts else {}
    results = evaluate(args.folder, ClipScorer(args.clip, args.device), prompts, args.sources)
    if not results:
        parser.error(f"no clips ({', '.join(CLIP_SUFFIXES)}) in {args.folder}")
    for row in results:
        print(
            f"{row['clip']:30s} CLIP score {row['clip_text_alignment']:6.2f}  frame consistency "
            f"{row['clip_frame_consistency']:6.2f}  warp error {row['warp_error']:.4f}  masked warp error "
            f"{row['masked_warp_error'] * 100:.3f}e-2 ({row['flow_from']} flow)   {row['prompt']}"
        )
    names = ("clip_text_alignment", "clip_frame_consistency", "warp_error", "masked_warp_error")
    means = {name: statistics.fmean(row[name] for row in results) for name in names}
    print(
        f"mean over {len(results)} clips: CLIP score {means['clip_text_alignment']:.2f}, frame consistency "
        f"{means['clip_frame_consistency']:.2f}, warp error {means['warp_error']:.4f}, masked warp error "
        f"{means['masked_warp_error'] * 100:.3f}e-2"
    )
    if args.json:
        args.json.write_text(json.dumps({"clips": results, "means": means}, indent=2))
    return results


if __name__ == "__main__":
    main()
