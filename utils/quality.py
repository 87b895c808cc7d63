"""Quality of generated clips, as the paper measures it and beyond: CLIP text alignment (the mean over frames of the
cosine between frame and prompt embeddings, x100: the paper's CLIP score), consecutive-frame CLIP consistency (x100)
and the warp error against optical flow (OpenCV's Farneback flow from each frame to the next; the next frame warped
back; mean absolute error in [0, 1]: lower is steadier). `bench/quality.py` runs them on a folder of clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_CLIP = "openai/clip-vit-large-patch14"


@dataclass
class ClipScores:
    text_alignment: float  # mean over frames of cos(frame, prompt) x 100
    frame_consistency: float  # mean over consecutive frames of cos(frame k, frame k + 1) x 100 (100 for one frame)


class ClipScorer:
    """CLIP embeddings of frames and prompts (`model_id`: a hub id or a local folder of a CLIP model)."""

    def __init__(self, model_id: str = DEFAULT_CLIP, device: str | torch.device = "cpu"):
        from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

        self.device = torch.device(device)
        self.model = CLIPModel.from_pretrained(model_id).to(self.device).eval()
        self.tokenizer = CLIPTokenizer.from_pretrained(model_id)
        self.images = CLIPImageProcessor.from_pretrained(model_id)

    @torch.no_grad()
    def embed_frames(self, frames: np.ndarray) -> torch.Tensor:
        """(F, H, W, 3) uint8 frames -> (F, D) unit embeddings."""
        pixels = self.images(images=list(frames), return_tensors="pt")["pixel_values"].to(self.device)
        features = self.model.get_image_features(pixel_values=pixels)
        features = getattr(features, "pooler_output", features)
        return torch.nn.functional.normalize(features.float(), dim=-1)

    @torch.no_grad()
    def embed_text(self, prompt: str) -> torch.Tensor:
        """A prompt -> (D,) unit embedding (CLIP reads its first 77 tokens)."""
        tokens = self.tokenizer(prompt, padding="max_length", truncation=True, return_tensors="pt").to(self.device)
        features = self.model.get_text_features(input_ids=tokens["input_ids"])
        features = getattr(features, "pooler_output", features)
        return torch.nn.functional.normalize(features.float(), dim=-1)[0]

    def scores(self, frames: np.ndarray, prompt: str) -> ClipScores:
        images, text = self.embed_frames(frames), self.embed_text(prompt)
        alignment = (images @ text).mean().item() * 100
        consistency = (images[:-1] * images[1:]).sum(-1).mean().item() * 100 if len(images) > 1 else 100.0
        return ClipScores(text_alignment=alignment, frame_consistency=consistency)


def warp_error(frames: np.ndarray) -> float:
    """Mean absolute error, in [0, 1], between each frame and the next frame warped back onto it along the optical
    flow (Farneback) between them; 0 for a single frame. A steady clip (even a moving one) scores low."""
    import cv2

    if len(frames) < 2:
        return 0.0
    errors = []
    height, width = frames.shape[1:3]
    grid_x: np.ndarray = np.tile(np.arange(width, dtype=np.float32), (height, 1))
    grid_y: np.ndarray = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    for current, following in zip(frames[:-1], frames[1:], strict=True):
        gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (current, following)]
        flow = cv2.calcOpticalFlowFarneback(gray[0], gray[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        warped = cv2.remap(
            np.ascontiguousarray(following),
            grid_x + flow[..., 0],
            grid_y + flow[..., 1],
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        errors.append(np.abs(warped.astype(np.float32) - current.astype(np.float32)).mean() / 255.0)
    return float(np.mean(errors))


def masked_warp_error(frames: np.ndarray, source: np.ndarray | None = None) -> float:
    """The published warping error (Lai et al., 2018, as VidToMe and ControlVideo report it): for each pair of
    frames, frame k warped onto frame k+1 along the optical flow, the squared error (frames in [0, 1]) averaged over
    the pixels the flow sees in both (occlusions found by the forward-backward check left out), then averaged over
    the clip. The flow is the `source` video's where there is one (the input of a video mode: uint8, any size,
    resized to the clip's), else the clip's own; OpenCV's DIS flow stands in for RAFT. 0 for a single frame."""
    import cv2

    from utils.optical_flow import consistent, pair_flow

    if len(frames) < 2:
        return 0.0
    height, width = frames.shape[1:3]
    guide = frames if source is None else np.stack([cv2.resize(f, (width, height)) for f in source[: len(frames)]])
    if len(guide) < len(frames):
        raise ValueError(f"The source has {len(guide)} frames, the clip {len(frames)}: they must match.")
    rows, cols = np.indices((height, width), dtype=np.float32)
    values = frames.astype(np.float32) / 255.0
    errors = []
    for k in range(len(frames) - 1):
        back, forth = pair_flow(guide[k + 1], guide[k]), pair_flow(guide[k], guide[k + 1])
        seen = consistent(back, forth)  # frame k+1's pixels that frame k shows too
        moved = cv2.remap(values[k], cols + back[..., 0], rows + back[..., 1], cv2.INTER_LINEAR)
        squared = ((values[k + 1] - moved) ** 2).sum(-1)
        errors.append(float(squared[seen].mean()) if seen.any() else 0.0)
    return float(np.mean(errors))
