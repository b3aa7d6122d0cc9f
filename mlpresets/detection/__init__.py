"""Text detection: turning score and geometry maps into boxes."""

from mlpresets.detection.decode import decode_text_boxes, mean_score_in_quads

__all__ = ["decode_text_boxes", "mean_score_in_quads"]
