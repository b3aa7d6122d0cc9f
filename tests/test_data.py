"""Datamodules read the real on-disk formats and fail clearly on bad or missing files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from mlpresets.data.cifar import CIFARDataModule
from mlpresets.data.digits import DigitsDataModule
from mlpresets.data.fashion_mnist import FashionMNISTDataModule, read_idx
from mlpresets.data.folder import ImageFolderDataModule
from mlpresets.errors import ConfigError
from tests.conftest import FASHION, write_cifar, write_image_tree

COMMON = {"batch_size": 8, "num_workers": 0}


def cifar_dm(root: str, variant: str, **kwargs: object) -> CIFARDataModule:
    classes = 10 if variant == "cifar10" else 100
    return CIFARDataModule(
        root=root,
        variant=variant,
        num_classes=classes,
        in_channels=3,
        image_size=32,
        mean=[0.5] * 3,
        std=[0.25] * 3,
        **COMMON,
        **kwargs,
    )


def test_digits_split_is_fixed_stratified_and_normalised() -> None:
    dm = DigitsDataModule(num_classes=10, in_channels=1, image_size=16, **COMMON)
    dm.setup()
    sizes = {k: len(v) for k, v in dm.splits.items()}
    assert sizes == {"train": 1257, "val": 270, "test": 270}
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 16, 16) and x.dtype == torch.float32
    train = torch.stack([dm.splits["train"][i][0] for i in range(len(dm.splits["train"]))])
    assert (
        abs(train.mean().item()) < 1e-4 and abs(train.std().item() - 1) < 1e-3
    )  # stats from train
    again = DigitsDataModule(num_classes=10, in_channels=1, image_size=16, **COMMON)
    again.setup()
    assert torch.equal(again.splits["test"].base.labels, dm.splits["test"].base.labels)
    counts = torch.bincount(dm.splits["test"].base.labels, minlength=10)
    assert counts.min() >= 26 and counts.max() <= 28  # stratified: ~27 per class


@pytest.mark.skipif(
    not FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist (CI installs it)"
)
def test_fashion_mnist_from_the_debian_idx_files() -> None:
    dm = FashionMNISTDataModule(
        root=str(FASHION), num_classes=10, in_channels=1, image_size=28, **COMMON
    )
    dm.setup()
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 55000, "val": 5000, "test": 10000}
    assert dm.mean == pytest.approx([0.2860], abs=2e-3) and dm.std == pytest.approx(
        [0.3530], abs=2e-3
    )
    labels = dm.splits["test"].base.labels
    assert torch.equal(torch.bincount(labels), torch.full((10,), 1000))


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path: Path) -> None:
    good = tmp_path / "good-idx3-ubyte.gz"
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") * 2
    good.write_bytes(gzip.compress(header + bytes(range(18))))
    assert read_idx(good).shape == (2, 3, 3)
    short = tmp_path / "short-idx3-ubyte.gz"
    short.write_bytes(gzip.compress(header + bytes(5)))
    with pytest.raises(
        ConfigError, match=rf"^{short}: size does not match its header \(2, 3, 3\) \(truncated\?\)$"
    ):
        read_idx(short)
    png = tmp_path / "x.gz"
    png.write_bytes(gzip.compress(b"\x89PNG...."))
    with pytest.raises(
        ConfigError, match=rf"^{png}: not an unsigned-byte IDX file \(bad magic number\)$"
    ):
        read_idx(png)


def test_fashion_mnist_missing_file_names_the_package(tmp_path: Path) -> None:
    dm = FashionMNISTDataModule(
        root=str(tmp_path), num_classes=10, in_channels=1, image_size=28, **COMMON
    )
    with pytest.raises(
        ConfigError,
        match=rf"^data.root={tmp_path}: no train-images-idx3-ubyte.gz \(Fashion-MNIST IDX files; on Debian/Ubuntu: apt-get install dataset-fashion-mnist\)$",
    ):
        dm.setup()


@pytest.mark.parametrize(("variant", "classes"), [("cifar10", 10), ("cifar100", 100)])
def test_cifar_python_format(tmp_path: Path, variant: str, classes: int) -> None:
    write_cifar(tmp_path, variant, n_train=100, n_test=30)
    dm = cifar_dm(root=str(tmp_path), variant=variant, val_size=20)
    dm.setup()
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 80, "val": 20, "test": 30}
    x, _ = dm.splits["test"][0]
    raw = dm.splits["test"].base.images[0].float() / 255
    assert torch.allclose(x, (raw - 0.5) / 0.25, atol=1e-5)  # eval: only normalisation


def test_cifar_refuses_a_pickle_that_runs_code(tmp_path: Path) -> None:
    import os
    import pickle

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.mkdir, (str(tmp_path / "PWNED"),))

    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").write_bytes(pickle.dumps({"data": Evil(), "fine_labels": [0]}))
    dm = cifar_dm(root=str(tmp_path), variant="cifar100")
    with pytest.raises(
        ConfigError,
        match=rf"^{folder / 'train'}: not a CIFAR batch \(refused global posix.mkdir\)$",
    ):
        dm.setup()
    assert not (tmp_path / "PWNED").exists()


def test_imagefolder_tree_and_class_count(tmp_path: Path) -> None:
    write_image_tree(tmp_path, {"train": 2, "val": 1, "test": 1}, classes=3, size=40)
    kwargs = dict(
        root=str(tmp_path),
        in_channels=3,
        image_size=32,
        resize_size=36,
        mean=[0.5] * 3,
        std=[0.5] * 3,
        train_transforms=[],
        **COMMON,
    )
    dm = ImageFolderDataModule(num_classes=3, **kwargs)
    dm.setup()
    x, y = dm.splits["val"][0]
    assert x.shape == (3, 32, 32) and y == 0
    with pytest.raises(
        ConfigError, match=rf"^data.num_classes=5: {tmp_path / 'train'} has 3 class folders$"
    ):
        ImageFolderDataModule(num_classes=5, **kwargs).setup()


def test_imagefolder_missing_split_and_corrupt_image(tmp_path: Path) -> None:
    write_image_tree(tmp_path, {"train": 2, "val": 1}, classes=2)
    kwargs = dict(
        root=str(tmp_path),
        num_classes=2,
        in_channels=3,
        image_size=32,
        mean=[0.5] * 3,
        std=[0.5] * 3,
        **COMMON,
    )
    with pytest.raises(
        ConfigError,
        match=rf"^data.root={tmp_path}: no test/ folder \(expected root/\{{train,val,test\}}/<class>/<image>\)$",
    ):
        ImageFolderDataModule(**kwargs).setup()
    bad = tmp_path / "val" / "class_0" / "0.jpg"
    bad.write_bytes(b"not a jpeg at all")
    dm = ImageFolderDataModule(splits={"train": "train", "val": "val", "test": "val"}, **kwargs)
    dm.setup()
    with pytest.raises(ConfigError, match=rf"^{bad}: unreadable image \(UnidentifiedImageError\)$"):
        dm.splits["val"][0]


def test_digits_and_stats_config_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^data.val_fraction/test_fraction: each > 0, together < 1$"
    ):
        DigitsDataModule(
            num_classes=10,
            in_channels=1,
            image_size=16,
            val_fraction=0.6,
            test_fraction=0.5,
            **COMMON,
        )
    with pytest.raises(
        ConfigError,
        match=r"^data: digits are 1-channel with 10 classes \(in_channels=1, num_classes=10\)$",
    ):
        DigitsDataModule(num_classes=10, in_channels=3, image_size=16, **COMMON)
    dm = DigitsDataModule(
        num_classes=10, in_channels=1, image_size=16, mean=[0.5, 0.5], std=[0.2, 0.2], **COMMON
    )
    with pytest.raises(ConfigError, match=r"^data.mean/data.std: 2 values for data.in_channels=1$"):
        dm.setup()


def test_cifar_missing_folder_says_what_to_get(tmp_path: Path) -> None:
    dm = cifar_dm(root=str(tmp_path), variant="cifar10")
    with pytest.raises(
        ConfigError,
        match=rf"^data.root={tmp_path}: no cifar-10-batches-py/ folder \(the python version of CIFAR10 from www.cs.toronto.edu/~kriz/cifar.html, untarred\)$",
    ):
        dm.setup()


def test_val_size_and_label_counts_are_checked(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar10", n_train=100, n_test=30)
    with pytest.raises(ConfigError, match=r"^data.val_size=100: must be in \(0, 100\)$"):
        cifar_dm(str(tmp_path), "cifar10", val_size=100).setup()
    header = bytes([0, 0, 8, 3]) + (3).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    for split, n_images, n_labels in (("train", 3, 2), ("t10k", 1, 1)):
        (tmp_path / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(
                header[:4] + n_images.to_bytes(4, "big") + header[8:] + bytes(n_images * 784)
            )
        )
        (tmp_path / f"{split}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(bytes([0, 0, 8, 1]) + n_labels.to_bytes(4, "big") + bytes(n_labels))
        )
    dm = FashionMNISTDataModule(
        root=str(tmp_path), num_classes=10, in_channels=1, image_size=28, val_size=1, **COMMON
    )
    with pytest.raises(ConfigError, match=rf"^data.root={tmp_path}: train has 3 images, 2 labels$"):
        dm.setup()
