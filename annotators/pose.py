"""Human pose as an OpenPose skeleton drawing: OpenPose through controlnet-aux, or MediaPipe BlazePose offline."""

from __future__ import annotations

import numpy as np
import torch

from utils.jobs import check_cancelled

from .depth import ANNOTATORS_REPO

# OpenPose's 18 body points (COCO order) as BlazePose landmarks; the neck is the midpoint of the shoulders.
OPENPOSE_FROM_BLAZEPOSE = (
    0,  # nose
    (11, 12),  # neck
    12,
    14,
    16,  # right shoulder, elbow, wrist
    11,
    13,
    15,  # left shoulder, elbow, wrist
    24,
    26,
    28,  # right hip, knee, ankle
    23,
    25,
    27,  # left hip, knee, ankle
    5,
    2,  # right eye, left eye
    8,
    7,  # right ear, left ear
)
MIN_VISIBILITY = 0.5


def draw_skeleton(keypoints: list, height: int, width: int) -> np.ndarray:
    """Draw 18 OpenPose keypoints (normalised (x, y) or None) in OpenPose's colours on a black frame."""
    from controlnet_aux.open_pose.body import Keypoint
    from controlnet_aux.open_pose.util import draw_bodypose

    points = [None if p is None else Keypoint(float(p[0]), float(p[1])) for p in keypoints]
    return draw_bodypose(np.zeros((height, width, 3), np.uint8), points)


def blazepose_to_openpose(landmarks) -> list:
    """33 BlazePose landmarks (with .x, .y, .visibility) -> 18 OpenPose keypoints, None where not visible."""

    def point(index):
        if isinstance(index, tuple):
            pair = [point(i) for i in index]
            return None if None in pair else tuple(np.mean(pair, axis=0))
        landmark = landmarks[index]
        return (landmark.x, landmark.y) if landmark.visibility >= MIN_VISIBILITY else None

    return [point(index) for index in OPENPOSE_FROM_BLAZEPOSE]


class MediaPipePoseEstimator:
    """BlazePose from the mediapipe wheel (no download), tracking one person through the video."""

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import mediapipe as mp

        height, width = frames.shape[1:3]
        drawings = []
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
            for frame in frames:
                check_cancelled()  # a stopped request ends here too: annotating a long video takes a while
                result = pose.process(np.ascontiguousarray(frame))
                keypoints = blazepose_to_openpose(result.pose_landmarks.landmark) if result.pose_landmarks else []
                drawings.append(draw_skeleton(keypoints or [None] * 18, height, width))
        return np.stack(drawings)


class OpenPoseEstimator:
    """The OpenPose body network of ControlNet's annotators (controlnet-aux), bodies only."""

    def __init__(self, detector, detect_resolution: int = 512):
        self.detector = detector
        self.detect_resolution = detect_resolution

    @classmethod
    def from_pretrained(cls, repo: str = ANNOTATORS_REPO, device: str | torch.device = "cpu") -> OpenPoseEstimator:
        from controlnet_aux import OpenposeDetector

        return cls(OpenposeDetector.from_pretrained(repo).to(device))

    @classmethod
    def random(cls, device: str | torch.device = "cpu", seed: int = 0) -> OpenPoseEstimator:
        """The same network with random weights, for tests."""
        from controlnet_aux import OpenposeDetector
        from controlnet_aux.open_pose.body import Body
        from controlnet_aux.open_pose.model import bodypose_model

        torch.manual_seed(seed)
        body = Body.__new__(Body)  # Body() insists on a weights file
        body.model = bodypose_model().eval().to(device)
        return cls(OpenposeDetector(body), detect_resolution=128)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        height, width = frames.shape[1:3]
        resolution = min(self.detect_resolution, max(height, width))
        drawings = []
        for frame in frames:
            check_cancelled()  # a stopped request ends here too: annotating a long video takes a while
            drawing = self.detector(
                frame,
                detect_resolution=resolution,
                image_resolution=resolution,
                include_hand=False,
                include_face=False,
                output_type="np",
            )
            drawings.append(cv2.resize(drawing, (width, height), interpolation=cv2.INTER_NEAREST))
        return np.stack(drawings)
