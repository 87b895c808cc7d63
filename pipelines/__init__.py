"""The zero-shot video method: cross-frame attention, motion fields, lockstep chunking, over diffusers' models."""

from .base import VideoPipelineOutput, ZeroShotVideoPipeline
from .controlnet_video import ControlNetVideoPipeline
from .instruct_pix2pix_video import InstructPix2PixVideoPipeline
from .motion_module import (
    MotionControlNetPipeline,
    MotionModulePipeline,
    MotionSDXLPipeline,
    MotionSparseCtrlPipeline,
)
from .text_to_video_zero import TextToVideoZeroPipeline
from .text_to_video_zero_sdxl import TextToVideoZeroSDXLPipeline

__all__ = [
    "ControlNetVideoPipeline",
    "InstructPix2PixVideoPipeline",
    "MotionControlNetPipeline",
    "MotionModulePipeline",
    "MotionSDXLPipeline",
    "MotionSparseCtrlPipeline",
    "TextToVideoZeroPipeline",
    "TextToVideoZeroSDXLPipeline",
    "VideoPipelineOutput",
    "ZeroShotVideoPipeline",
]
