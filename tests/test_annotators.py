"""Annotators on real content: scikit-image's photographs; MediaPipe's pose model ships inside its wheel."""

import numpy as np
import pytest
from skimage import data

from annotators import DepthEstimator, MediaPipePoseEstimator, OpenPoseEstimator, canny
from annotators.pose import OPENPOSE_FROM_BLAZEPOSE, blazepose_to_openpose
from errors import InputError


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()[None]  # (1, 512, 512, 3), a person from the waist up


def test_canny_finds_the_edges_of_a_photo():
    frames = np.stack([data.coffee()[:384, :512]] * 2)
    edges = canny(frames, 100, 200)
    assert edges.shape == frames.shape and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    assert 0.01 < (edges[0, ..., 0] > 0).mean() < 0.3
    # A lower threshold finds more edges.
    assert (canny(frames, 20, 60) > 0).sum() > (edges > 0).sum()


@pytest.mark.parametrize("low, high", [(200, 100), (100, 100), (0, 50), (10, 300), (1.5, 50)])
def test_canny_thresholds_are_checked(low, high):
    with pytest.raises(InputError, match="threshold"):
        canny(np.zeros((1, 16, 16, 3), np.uint8), low, high)


def test_blazepose_maps_onto_the_openpose_skeleton():
    class Landmark:
        def __init__(self, i, visible=True):
            self.x, self.y, self.visibility = i / 100, i / 50, 0.9 if visible else 0.1

    landmarks = [Landmark(i, visible=i != 16) for i in range(33)]
    points = blazepose_to_openpose(landmarks)
    assert len(points) == len(OPENPOSE_FROM_BLAZEPOSE) == 18
    assert points[0] == (0.0, 0.0)  # nose
    assert points[1] == pytest.approx((0.115, 0.23))  # neck between the shoulders (11, 12)
    assert points[2] == (0.12, 0.24)  # right shoulder is BlazePose 12
    assert points[4] is None  # right wrist (16) not visible


def test_mediapipe_finds_the_astronaut_and_draws_her_skeleton(astronaut):
    drawing = MediaPipePoseEstimator()(np.repeat(astronaut, 2, axis=0))
    assert drawing.shape == (2, 512, 512, 3) and drawing.dtype == np.uint8
    drawn = np.argwhere(drawing[0].sum(-1) > 0)
    assert len(drawn) > 500
    # The skeleton lies on the person: her face is around x=225, y=100; her shoulders span the lower half.
    ys, xs = drawn[:, 0], drawn[:, 1]
    assert 40 < xs.min() < 200 < 250 < xs.max() < 450
    assert ys.min() < 150 and ys.max() > 220
    # OpenPose colours: the neck-to-nose limb is drawn in pure blue-ish (0, 0, 255) scaled by 0.6.
    colours = {tuple(c) for c in drawing[0][drawing[0].sum(-1) > 0].reshape(-1, 3)}
    assert len(colours) > 5


def test_mediapipe_draws_nothing_on_an_empty_scene():
    drawing = MediaPipePoseEstimator()(np.full((1, 256, 256, 3), 127, np.uint8))
    assert drawing.max() == 0


def test_midas_network_runs_at_the_frames_size(astronaut):
    depth = DepthEstimator.random()(np.repeat(astronaut[:, :384, :256], 2, axis=0))
    assert depth.shape == (2, 384, 256, 3) and depth.dtype == np.uint8
    assert depth.max() > depth.min()  # a normalised map, not a constant


def test_openpose_network_runs_at_the_frames_size(astronaut):
    drawing = OpenPoseEstimator.random()(astronaut[:, :256, :384])
    assert drawing.shape == (1, 256, 384, 3) and drawing.dtype == np.uint8
