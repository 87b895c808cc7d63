"""Annotators turn video frames into condition frames for the guided modes: uint8 (F, H, W, 3) in, the same out.

canny: OpenCV edges. depth: MiDaS (controlnet-aux). pose: OpenPose (controlnet-aux) or MediaPipe BlazePose
(weights ship inside the pip package, so it works offline) drawn as the 18-point OpenPose skeleton.
Networks load lazily, on first use, and nothing loads at import.
"""

from .canny import canny
from .depth import DepthEstimator
from .pose import MediaPipePoseEstimator, OpenPoseEstimator

__all__ = ["DepthEstimator", "MediaPipePoseEstimator", "OpenPoseEstimator", "canny"]
