"""Training data: Fashion-MNIST (Debian's dataset-fashion-mnist, or genlab's copy of its training split) and Animal-MNIST."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import pickle
from pathlib import Path

import numpy as np

# Where Fashion-MNIST's idx files are looked for, in order (each file from the first folder that has it):
# $GENLAB_FASHION_MNIST, Debian's package dataset-fashion-mnist, and genlab's own copy of the training split
# (data/fashion-mnist/, xz in <= 9 MB parts), so Train live needs no apt package (a Space has none).
FASHION_DIR = Path(os.environ.get("GENLAB_SYSTEM_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
SHIPPED_FASHION_DIR = Path(__file__).resolve().parents[1] / "data" / "fashion-mnist"
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
_SPLITS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def fashion_sources(data: str | os.PathLike | None = None) -> list[Path]:
    """The folders read, in order: `data` alone when given, else $GENLAB_FASHION_MNIST, Debian's, genlab's copy."""
    if data is not None:
        return [Path(data)]
    env = os.environ.get("GENLAB_FASHION_MNIST")
    return [*([Path(env)] if env else []), FASHION_DIR, SHIPPED_FASHION_DIR]


def _read_bytes(folder: Path, name: str) -> bytes | None:
    """`name` from folder as it is, gzipped (`.gz`) or as xz parts (`.xz.0`, `.xz.1`, ...); None if absent."""
    if (folder / name).is_file():
        return (folder / name).read_bytes()
    if (folder / f"{name}.gz").is_file():
        return gzip.decompress((folder / f"{name}.gz").read_bytes())
    parts = sorted(folder.glob(f"{name}.xz.*"), key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else -1)
    if parts:
        return lzma.decompress(b"".join(p.read_bytes() for p in parts))
    return None


def read_idx(raw: bytes) -> np.ndarray:
    """An idx file (LeCun's MNIST format: 0, 0, dtype code, ndim, then big-endian uint32 sizes) as an array."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError("not an idx file (MNIST format)")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    arr = np.frombuffer(raw, _IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"idx file truncated: {arr.size} values for shape {shape}")
    return arr.reshape(shape)


def fashion_arrays(train: bool, *, data: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N,28,28], labels uint8 [N]) of one split, each file from the first source that has it."""
    sources = fashion_sources(data)
    out = []
    for name in _SPLITS[train]:
        raw = next((b for b in (_read_bytes(src, name) for src in sources) if b is not None), None)
        if raw is None:
            where = ", ".join(str(s) for s in sources)
            split = "training" if train else "test"
            raise ValueError(
                f"Fashion-MNIST's {split} file {name} was not found (looked in {where}). Install it with "
                "`apt-get install dataset-fashion-mnist`, set GENLAB_FASHION_MNIST=DIR or pass --data DIR."
            )
        out.append(read_idx(raw))
    return out[0], out[1]


def fashion_mnist(train: bool, *, data: str | os.PathLike | None = None):
    """(images [N,1,28,28] float in [0,1], labels [N] int64) of the training (60,000) or test (10,000) split."""
    import torch

    images, labels = fashion_arrays(train, data=data)
    return torch.from_numpy(images.copy()).unsqueeze(1).float() / 255.0, torch.from_numpy(labels.astype(np.int64))


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
