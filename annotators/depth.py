"""Depth maps with MiDaS (DPT-Hybrid) through controlnet-aux."""

from __future__ import annotations

import numpy as np
import torch

from utils.jobs import check_cancelled

ANNOTATORS_REPO = "lllyasviel/Annotators"


class _Network(torch.nn.Module):
    """What controlnet-aux's MidasDetector calls: `model(image) -> depth`."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.model = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


class DepthEstimator:
    def __init__(self, detector, detect_resolution: int = 384):
        self.detector = detector
        self.detect_resolution = detect_resolution

    @classmethod
    def from_pretrained(cls, repo: str = ANNOTATORS_REPO, device: str | torch.device = "cpu") -> DepthEstimator:
        from controlnet_aux import MidasDetector

        return cls(MidasDetector.from_pretrained(repo).to(device))

    @classmethod
    def random(cls, device: str | torch.device = "cpu", seed: int = 0) -> DepthEstimator:
        """The same network with random weights: for tests and the offline mode (no hub)."""
        from controlnet_aux import MidasDetector
        from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel

        torch.manual_seed(seed)
        net = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True).eval()
        return cls(MidasDetector(_Network(net).to(device)), detect_resolution=128)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Depth as grey levels (near = bright), at the frames' own size."""
        import cv2

        height, width = frames.shape[1:3]
        resolution = min(self.detect_resolution, max(height, width))
        maps = []
        for frame in frames:
            check_cancelled()  # a stopped request ends here too: annotating a long video takes a while
            depth = self.detector(frame, detect_resolution=resolution, image_resolution=resolution, output_type="np")
            maps.append(cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR))
        return np.stack(maps)
