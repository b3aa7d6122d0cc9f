"""Pictures for TensorBoard from tensors: grids, captioned tiles, heat overlays, a confusion matrix.

Everything here returns (H, W, 3) uint8 RGB arrays (TensorBoard's add_image with
dataformats="HWC" and PIL both take them as they are); drawing uses PIL's default font.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

PAD = 2  # px between grid tiles and around the grid
PAD_RGB = (128, 128, 128)  # mid grey: visible next to black digits and white backgrounds
LINE = 12  # px per caption line (the default font is 10 px, its bounding boxes 12 px high)
BORDER = 2  # px of the correct/incorrect frame drawn over a captioned image's edge
GOOD = (40, 200, 40)  # correct: green frame and text
BAD = (230, 40, 40)  # incorrect: red
TEXT = (255, 255, 255)  # neutral caption text, on the black caption strip
CELL_HIGH = np.array([8, 48, 107])  # a confusion cell holding its whole row: dark blue
WHITE = np.array([255, 255, 255])  # ... and none of it


@cache
def font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default()


def text_width(text: str) -> int:
    return int(np.ceil(font().getlength(text)))


def normalize_each(x: torch.Tensor) -> torch.Tensor:
    """Min-max scale each x[i] to [0, 1] on its own (a constant one becomes 0)."""
    flat = x.detach().float().flatten(1)  # (N, D)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    return ((flat - low) / span.where(span > 0, torch.ones_like(span))).view_as(x)


def to_rgb(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W, 3) uint8: 1 or 3 channels as is, others averaged."""
    x = images.detach().float().cpu().clamp(0, 1)
    if x.shape[1] not in (1, 3):
        x = x.mean(dim=1, keepdim=True)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def upscale_factor(height: int, width: int, min_px: int) -> int:
    """The integer nearest-neighbour factor that brings the longer side to at least min_px."""
    return max(1, -(-min_px // max(height, width)))


def upscale(tiles: np.ndarray, min_px: int) -> np.ndarray:
    """(N, h, w, 3) -> (N, h*f, w*f, 3), nearest neighbour: small kernels stay crisp."""
    f = upscale_factor(tiles.shape[1], tiles.shape[2], min_px)
    return tiles.repeat(f, axis=1).repeat(f, axis=2) if f > 1 else tiles


def grid(tiles: np.ndarray | Sequence[np.ndarray], ncol: int) -> np.ndarray:
    """Equal-size (h, w, 3) tiles row by row, `ncol` per row, PAD grey px around each.

    The result is (rows*h + (rows+1)*PAD, cols*w + (cols+1)*PAD, 3) with
    cols = min(n, ncol) and rows = ceil(n / ncol).
    """
    if len(tiles) == 0:
        raise ValueError("grid: no tiles")
    h, w = tiles[0].shape[:2]
    cols = min(len(tiles), ncol)
    rows = -(-len(tiles) // ncol)
    out = np.empty((rows * h + (rows + 1) * PAD, cols * w + (cols + 1) * PAD, 3), np.uint8)
    out[:] = PAD_RGB
    for k, tile in enumerate(tiles):
        if tile.shape[:2] != (h, w):
            raise ValueError(f"grid: tile {k} is {tile.shape[:2]}, the first is {(h, w)}")
        y = PAD + (k // ncol) * (h + PAD)
        x = PAD + (k % ncol) * (w + PAD)
        out[y : y + h, x : x + w] = tile
    return out


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w, 3) -> (size, size, 3): nearest when enlarging (pixels stay visible), else area."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    method = Image.Resampling.NEAREST if size >= max(h, w) else Image.Resampling.BOX
    return np.asarray(Image.fromarray(image).resize((size, size), method))


def captioned(
    image: np.ndarray,
    lines: Sequence[tuple[str, tuple[int, int, int]]],
    size: int,
    num_lines: int,
    frame: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """`image` resized to size x size over a black strip of `num_lines` text lines.

    `lines` are (text, colour) pairs (those past num_lines are dropped); `frame` draws a
    BORDER px frame of that colour over the image's edge. The tile is
    (size + num_lines*LINE, size, 3).
    """
    tile = Image.new("RGB", (size, size + num_lines * LINE), (0, 0, 0))
    tile.paste(Image.fromarray(resize(image, size)), (0, 0))
    draw = ImageDraw.Draw(tile)
    if frame is not None:
        draw.rectangle((0, 0, size - 1, size - 1), outline=frame, width=BORDER)
    for k, (text, colour) in enumerate(list(lines)[:num_lines]):
        draw.text((2, size + k * LINE), text, fill=colour, font=font())
    return np.asarray(tile)


def heat_overlay(image: np.ndarray, heat: torch.Tensor, alpha: float = 0.6) -> np.ndarray:
    """Blend (H, W) `heat` in [-1, 1] over (H, W, 3) `image`: red where positive, blue below 0."""
    h = heat.detach().float().cpu().clamp(-1, 1).numpy()[..., None]  # (H, W, 1)
    colour = np.where(h >= 0, np.array([255, 0, 0]), np.array([0, 0, 255]))  # (H, W, 3)
    weight = alpha * np.abs(h)
    return (image * (1 - weight) + colour * weight).round().astype(np.uint8)


def cell_colour(fraction: float) -> tuple[int, int, int]:
    """White (0) to dark blue (1): a confusion cell's share of its true-class row."""
    rgb = WHITE + (CELL_HIGH - WHITE) * min(max(fraction, 0.0), 1.0)
    return tuple(int(round(c)) for c in rgb)  # type: ignore[return-value]


def confusion_margin(class_names: Sequence[str]) -> int:
    """px left of and above the cells: room for the longest name, and the corner's two words."""
    return max(max(text_width(n) for n in [*class_names, "true", "pred"]), 2 * LINE) + 2 * PAD


def confusion_image(matrix: torch.Tensor, class_names: Sequence[str], cell: int) -> np.ndarray:
    """The (C, C) confusion matrix (rows: true class, columns: predicted) as a picture.

    Each cell is coloured by its share of the row (white 0 -> dark blue 1) and holds its
    count where that fits; class names run down the left and up the top (rotated). The
    image is (m + C*cell + PAD) px square, m = confusion_margin(class_names).
    """
    counts = matrix.detach().long().cpu()
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"confusion_image: a {tuple(counts.shape)} matrix for {n} class names")
    totals = counts.sum(dim=1, keepdim=True).clamp(min=1)  # (C, 1)
    shares = (counts.double() / totals).tolist()  # (C, C) fraction of each true-class row
    margin = confusion_margin(class_names)
    side = margin + n * cell + PAD
    image = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for r in range(n):
        for c in range(n):
            x, y = margin + c * cell, margin + r * cell
            fill = cell_colour(shares[r][c])
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=fill)
            text = str(int(counts[r, c]))
            if text_width(text) <= cell - 2:
                ink = (0, 0, 0) if shares[r][c] < 0.5 else (255, 255, 255)
                draw.text((x + cell / 2, y + cell / 2), text, fill=ink, font=font(), anchor="mm")
        name_at = (PAD, margin + r * cell + cell / 2)
        draw.text(name_at, class_names[r], fill=(0, 0, 0), font=font(), anchor="lm")
    # the corner names the axes: "pred" over the columns, "true" beside the rows
    draw.text((margin - PAD, PAD), "pred", fill=(0, 0, 0), font=font(), anchor="ra")
    draw.text((PAD, margin - PAD), "true", fill=(0, 0, 0), font=font(), anchor="ld")
    # column names: written across a strip, which a quarter turn stands up to read bottom-up
    strip = Image.new("RGB", (margin, n * cell), (255, 255, 255))
    strip_draw = ImageDraw.Draw(strip)
    for c, name in enumerate(class_names):
        strip_draw.text((PAD, c * cell + cell / 2), name, fill=(0, 0, 0), font=font(), anchor="lm")
    image.paste(strip.rotate(90, expand=True), (margin, 0))  # (margin, C*cell) -> (C*cell, margin)
    return np.asarray(image)
