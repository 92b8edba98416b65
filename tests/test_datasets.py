"""Fashion-MNIST from its three sources: genlab's own copy of the training split equals Debian's files."""

from __future__ import annotations

import numpy as np
import pytest

from genlab import datasets


def test_the_shipped_training_split_equals_debians():
    ours = datasets.fashion_arrays(True, data=datasets.SHIPPED_FASHION_DIR)
    debian = datasets.fashion_arrays(True, data=datasets.FASHION_DIR)  # the test command installs the package
    assert ours[0].shape == (60000, 28, 28) and ours[0].dtype == np.uint8 and ours[1].shape == (60000,)
    assert np.array_equal(ours[0], debian[0]) and np.array_equal(ours[1], debian[1])
    assert np.bincount(ours[1]).tolist() == [6000] * 10


def test_each_file_comes_from_the_first_source_that_has_it(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_DIR", tmp_path / "no-package")
    monkeypatch.setenv("GENLAB_FASHION_MNIST", str(tmp_path))
    assert datasets.fashion_sources() == [tmp_path, tmp_path / "no-package", datasets.SHIPPED_FASHION_DIR]
    labels = np.arange(6, dtype=np.uint8) % 10
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + (6).to_bytes(4, "big") + labels.tobytes())
    images, got = datasets.fashion_arrays(True)  # labels from the folder, images from genlab's copy
    assert got.tolist() == labels.tolist() and images.shape == (60000, 28, 28)
    with pytest.raises(ValueError, match="test file t10k-images-idx3-ubyte was not found"):
        datasets.fashion_arrays(False)  # genlab ships the training split only


def test_idx_files_are_checked():
    with pytest.raises(ValueError, match="not an idx file"):
        datasets.read_idx(b"\x89PNG\r\n")
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(bytes([0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 3]) + bytes(5))
    arr = datasets.read_idx(
        bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + (7).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True)
    )
    assert arr.tolist() == [7, -1]
