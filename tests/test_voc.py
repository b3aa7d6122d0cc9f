"""The VOC2012 reader on a small tree in the real on-disk layout (JPEGs + ImageSets)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from mlpresets.data.base import TransformedDataset
from mlpresets.data.voc import VOC_CLASSES, VOC2012DataModule, VOCMultiLabel, voc_dir
from mlpresets.errors import ConfigError


def make_voc(
    root: Path, n: int = 12, seed: int = 0, positive: float = 0.25, size: int = 32
) -> dict[str, np.ndarray]:
    """A VOC2012 tree: JPEGs, Annotations/<id>.xml, <class>_{train,val,trainval}.txt.

    Flags per image id and class: 1 (present), -1 (absent) or 0 (present but difficult), 1
    with probability `positive`. Present classes get a coloured box (their XML bndbox) so a
    model has something to learn; two thirds of the ids are train, the rest val.
    """
    rng = np.random.default_rng(seed)
    base = voc_dir(root)
    for folder in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / folder).mkdir(parents=True)
    flags: dict[str, np.ndarray] = {}
    for k in range(n):
        image_id = f"2008_{k:06d}"
        height, width = size - 8 + k % 9, size
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        p_difficult = min(positive, 0.25) / 2
        flags[image_id] = rng.choice(
            [1, 0, -1], size=len(VOC_CLASSES), p=[positive, p_difficult, 1 - positive - p_difficult]
        )
        objects = []
        for c in np.flatnonzero(flags[image_id] >= 0):
            x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
            x1, y1 = x0 + width // 3, y0 + height // 3
            pixels[y0:y1, x0:x1] = [(37 * c) % 256, (91 * c) % 256, (151 * c) % 256]
            objects.append(
                f"<object><name>{VOC_CLASSES[c]}</name><pose>Unspecified</pose>"
                f"<truncated>0</truncated><difficult>{int(flags[image_id][c] == 0)}</difficult>"
                f"<bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax>"
                f"<ymax>{y1}</ymax></bndbox></object>"
            )
        Image.fromarray(pixels).save(base / "JPEGImages" / f"{image_id}.jpg", quality=90)
        (base / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><folder>VOC2012</folder><filename>{image_id}.jpg</filename>"
            f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
            f"<segmented>0</segmented>{''.join(objects)}</annotation>\n"
        )
    ids = sorted(flags)
    members = {"train": ids[: n * 2 // 3], "val": ids[n * 2 // 3 :], "trainval": ids}
    for split, chosen in members.items():
        for c, name in enumerate(VOC_CLASSES):
            lines = [f"{i} {flags[i][c]:2d}" for i in chosen]
            (base / "ImageSets" / "Main" / f"{name}_{split}.txt").write_text(
                "\n".join(lines) + "\n"
            )
    return flags


def test_labels_are_multi_hot_with_the_difficult_policy(tmp_path: Path) -> None:
    flags = make_voc(tmp_path)
    ignore = VOCMultiLabel(tmp_path, "train", difficult="ignore")
    positive = VOCMultiLabel(tmp_path, "train", difficult="positive")
    assert ignore.ids == sorted(flags)[:8] and len(positive) == 8
    for k, image_id in enumerate(ignore.ids):
        assert ignore.labels[k].tolist() == (flags[image_id] == 1).astype(float).tolist()
        assert positive.labels[k].tolist() == (flags[image_id] >= 0).astype(float).tolist()
    image, label = ignore[3]
    assert image.size == (32, 24 + 3) and label.dtype == torch.float32 and label.shape == (20,)


def test_labels_reach_the_batch_as_float_vectors(tmp_path: Path) -> None:
    make_voc(tmp_path)
    tf = v2.Compose(
        [v2.ToImage(), v2.Resize((16, 16), antialias=True), v2.ToDtype(torch.float32, scale=True)]
    )
    x, y = TransformedDataset(VOCMultiLabel(tmp_path, "val"), tf)[0]
    assert x.shape == (3, 16, 16) and isinstance(y, torch.Tensor) and y.shape == (20,)


def test_a_corrupt_jpeg_names_its_path(tmp_path: Path) -> None:
    make_voc(tmp_path)
    bad = voc_dir(tmp_path) / "JPEGImages" / "2008_000002.jpg"
    bad.write_bytes(b"not a jpeg at all")
    ds = VOCMultiLabel(tmp_path, "train")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(bad))}: unreadable image \(UnidentifiedImageError\)$"
    ):
        ds[2]


def test_skip_leaves_unreadable_images_out_and_counts_them(tmp_path: Path) -> None:
    make_voc(tmp_path)
    images = voc_dir(tmp_path) / "JPEGImages"
    (images / "2008_000001.jpg").write_bytes(b"garbage")
    truncated = (images / "2008_000004.jpg").read_bytes()
    (images / "2008_000004.jpg").write_bytes(truncated[: len(truncated) // 2])
    (images / "2008_000005.jpg").unlink()
    ds = VOCMultiLabel(tmp_path, "train", on_corrupt="skip", max_skipped=3)
    assert ds.skipped == ["2008_000001", "2008_000004", "2008_000005"]
    assert len(ds) == 5 and "2008_000004" not in ds.ids
    assert all(ds[k][0].size[0] == 32 for k in range(len(ds)))  # every one left loads
    with pytest.raises(
        ConfigError,
        match=r"^data\.max_skipped=2: 3 unreadable images in .*JPEGImages for split train \(first: .*2008_000001\.jpg\)$",
    ):
        VOCMultiLabel(tmp_path, "train", on_corrupt="skip", max_skipped=2)


def test_bad_trees_and_options_are_one_line_errors(tmp_path: Path) -> None:
    make_voc(tmp_path)
    main = voc_dir(tmp_path) / "ImageSets" / "Main"
    with pytest.raises(
        ConfigError, match=r"^data\.difficult='hard': must be one of \['ignore', 'positive'\]$"
    ):
        VOCMultiLabel(tmp_path, "train", difficult="hard")
    with pytest.raises(ConfigError, match=r"^data\.on_corrupt='drop': must be 'error' or 'skip'$"):
        VOCMultiLabel(tmp_path, "train", on_corrupt="drop")
    (main / "cat_train.txt").write_text("2008_000000 1\n2008_000001 yes\n")
    with pytest.raises(
        ConfigError,
        match=r"^.*cat_train\.txt:2: expected '<image id> 1\|-1\|0', got '2008_000001 yes'$",
    ):
        VOCMultiLabel(tmp_path, "train")
    (main / "cat_train.txt").unlink()
    with pytest.raises(
        ConfigError,
        match=r"^data\.root=.*: missing .*cat_train\.txt \(expected the VOC2012 tree\)$",
    ):
        VOCMultiLabel(tmp_path, "train")


def test_voc2012_datamodule_batches(tmp_path: Path) -> None:
    flags = make_voc(tmp_path / "voc", n=12)
    dm = VOC2012DataModule(
        root=str(tmp_path / "voc"),
        num_classes=20,
        in_channels=3,
        image_size=64,
        resize_size=72,
        batch_size=16,
        mean=[0.485, 0.456, 0.406],
        std=[0.229, 0.224, 0.225],
        train_transforms=[v2.RandomResizedCrop(64, antialias=True), v2.RandomHorizontalFlip()],
    )
    dm.setup()
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 64, 64) and y.shape == (8, 20) and y.dtype == torch.float32
    x, y = next(iter(dm.test_dataloader()))  # test reads val: VOC2012 test labels are private
    assert x.shape == (4, 3, 64, 64)
    expected = [(flags[i] == 1).astype(float).tolist() for i in sorted(flags)[8:]]
    assert y.tolist() == expected
    assert dm.skipped == {"train": 0, "val": 0, "test": 0}


def test_data_voc2012_refuses_other_class_counts(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^data: VOC2012 is 3-channel with 20 classes \(in_channels=3, num_classes=10\)$",
    ):
        VOC2012DataModule(
            root=str(tmp_path), num_classes=10, in_channels=3, image_size=64, batch_size=4
        )
