"""Training data: Fashion-MNIST (Debian's dataset-fashion-mnist, read by torchvision) and Animal-MNIST."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np

from genlab.core.weights import cache_dir

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def fashion_root(data: str | os.PathLike | None = None) -> Path:
    """A torchvision root whose FashionMNIST/raw holds the four idx files, extracted from `data`.

    `data` (or $GENLAB_FASHION_MNIST, else the Debian folder) holds the *-ubyte or *-ubyte.gz files.
    Nothing is downloaded.
    """
    src = Path(data or os.environ.get("GENLAB_FASHION_MNIST") or FASHION_DIR)
    root = cache_dir() / "data"
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        dst = raw / name
        if dst.is_file():
            continue
        if (src / name).is_file():
            shutil.copyfile(src / name, dst)
        elif (src / f"{name}.gz").is_file():
            with gzip.open(src / f"{name}.gz", "rb") as f, open(dst.with_suffix(".part"), "wb") as g:
                shutil.copyfileobj(f, g)
            dst.with_suffix(".part").rename(dst)
        else:
            raise ValueError(
                f"Fashion-MNIST file {name}(.gz) not found in {src}. Install it with "
                "`apt-get install dataset-fashion-mnist` or pass --data DIR."
            )
    return root


def fashion_mnist(train: bool, *, data: str | os.PathLike | None = None):
    """(images [N,1,28,28] float in [0,1], labels [N] int64) through torchvision's FashionMNIST class."""
    from torchvision.datasets import FashionMNIST

    ds = FashionMNIST(str(fashion_root(data)), train=train, download=False)
    return ds.data.unsqueeze(1).float() / 255.0, ds.targets.long()


class _ArraysOnly(pickle.Unpickler):
    """Admits numpy arrays (and plain containers) only; any other global is refused."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("builtins", "slice"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused {module}.{name}: only numpy arrays may be unpickled")


def restricted_load(data: bytes):
    """Unpickle bytes that may hold only numpy arrays, lists, tuples, dicts, numbers and strings."""
    return _ArraysOnly(io.BytesIO(data)).load()


def animal_mnist(*, data: str | os.PathLike | None = None):
    """Animal-MNIST silhouettes (PyPI animal-mnist, installed --no-deps) as ([N,1,28,28] in [0,1], labels).

    The package ships two gzipped pickles of numpy arrays (animal_data_version_*.gz, animal_label_version_*.gz);
    `data` may name that folder instead. Both are read with the arrays-only unpickler.
    """
    import torch

    from genlab.core.packages import package_file

    if data is None:
        data = package_file("animal_mnist", "data", "Animal_MNIST")
        if data is None:
            raise ValueError("Animal-MNIST needs `pip install --no-deps animal-mnist` (or --data FOLDER).")
    folder = Path(data)
    images = sorted(folder.glob("animal_data_version_*.gz"))
    labels = sorted(folder.glob("animal_label_version_*.gz"))
    if not images or not labels:
        raise ValueError(f"No animal_data_version_*.gz / animal_label_version_*.gz in {folder}.")
    x = np.asarray(restricted_load(gzip.decompress(images[-1].read_bytes())), dtype=np.float32)
    y = np.asarray(restricted_load(gzip.decompress(labels[-1].read_bytes())))
    x = torch.from_numpy(x).reshape(-1, 1, 28, 28)
    if x.max() > 1:
        x = x / 255.0
    return x, torch.from_numpy(y.astype(np.int64)).reshape(-1)
