"""What made a feature, stored beside it in the shard: package versions, file hashes.

    from mmfeat.features.provenance import file_sha256, package_versions
    package_versions(decoder_backend="decord")
    file_sha256(Path("models/I3D_8x8_R50.pyth"))
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

# Packages whose versions can change a feature's values.
FEATURE_PACKAGES = ["mmfeat", "torch", "torchvision", "pytorchvideo", "transformers", "tokenizers", "numpy", "h5py"]

# The distribution behind each decoder backend, as pip names it.
DECODER_DISTRIBUTIONS = {"decord": "decord", "opencv": "opencv-python-headless", "pyav": "av"}


def package_versions(decoder_backend: str | None = None) -> dict:
    """Python's and each feature package's version, plus the decoder's when one was used."""
    versions = {"python": platform.python_version()}
    versions.update({name: _installed_version(name) for name in FEATURE_PACKAGES})
    if decoder_backend is not None:
        distribution = DECODER_DISTRIBUTIONS.get(decoder_backend, decoder_backend)
        versions["decoder"] = {"backend": decoder_backend, distribution: _installed_version(distribution)}
    return versions


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()
