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


def make_voc(root: Path, n: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """JPEGs and <class>_{train,val}.txt files; flags per image id: 1, -1 or 0 (difficult)."""
    rng = np.random.default_rng(seed)
    base = voc_dir(root)
    (base / "JPEGImages").mkdir(parents=True)
    (base / "ImageSets" / "Main").mkdir(parents=True)
    flags: dict[str, np.ndarray] = {}
    for k in range(n):
        image_id = f"2008_{k:06d}"
        pixels = rng.integers(0, 256, (24 + k, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(base / "JPEGImages" / f"{image_id}.jpg", quality=90)
        flags[image_id] = rng.choice([1, -1, -1, 0], size=len(VOC_CLASSES))
    ids = sorted(flags)
    for split, members in {"train": ids[: n * 2 // 3], "val": ids[n * 2 // 3 :]}.items():
        for c, name in enumerate(VOC_CLASSES):
            lines = [f"{i} {flags[i][c]:2d}" for i in members]
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
