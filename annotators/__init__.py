"""Annotators turn video frames into condition frames (pose, edges, depth) for the guided-video modes.

Empty until the guided-video work lands; nothing here loads at import.
"""
