# Types of the C++ module built from native/src/bindings.cpp.
import numpy as np
from numpy.typing import NDArray

def nms_float32(
    boxes: NDArray[np.float32], scores: NDArray[np.float64], iou_threshold: float
) -> NDArray[np.int64]: ...
def nms_float64(
    boxes: NDArray[np.float64], scores: NDArray[np.float64], iou_threshold: float
) -> NDArray[np.int64]: ...
def batched_nms_float32(
    boxes: NDArray[np.float32],
    scores: NDArray[np.float64],
    classes: NDArray[np.int64],
    iou_threshold: float,
) -> NDArray[np.int64]: ...
def batched_nms_float64(
    boxes: NDArray[np.float64],
    scores: NDArray[np.float64],
    classes: NDArray[np.int64],
    iou_threshold: float,
) -> NDArray[np.int64]: ...
def polygon_iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]: ...
def locality_aware_nms(
    quads: NDArray[np.float64], scores: NDArray[np.float64], iou_threshold: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def restore_rbox(
    origins: NDArray[np.float64], geometry: NDArray[np.float64]
) -> NDArray[np.float64]: ...
