"""Validation of the workflow's config.yaml against the schema, mmfeat/config/schema.yaml.

    python -c "import yaml, mmfeat.workflow_config as c; c.validate_config(yaml.safe_load(open('config.yaml')))"

The Snakefile calls `validate_config` before any job is scheduled, so that a typo
or a wrong type fails at once with the key path and what was expected, and the
defaults written in the schema are filled in for the rules to read.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from mmfeat.config import SCHEMA_PATH
from mmfeat.errors import UserError
from mmfeat.features.extractors import kinds_reading, kinds_with_text_tower
from mmfeat.tasks import TASK_FAMILIES


# Which extractor kinds can feed what: derived from the registries, never listed here
VIDEO_KINDS = kinds_reading("video")  # extractors whose rows are video frames, for segmentation
ZERO_SHOT_KINDS = kinds_with_text_tower()  # extractors with a text tower to embed action names
# what each modality of a humor dataset can be fed by
HUMOR_MODALITY_KINDS = {modality: kinds_reading(modality) for modality in TASK_FAMILIES["humor"].modalities}
# what each modality of a narrated dataset can be fed by: S3D's joint video_embedding is VideoCLIP's input
NARRATED_MODALITY_KINDS = {"video": ("s3d",), "audio": ("wav2vec2",)}
_NO_DEFAULT = object()  # a property the schema gives no default: absent stays absent (`demo`, `zero_shot`)


def validate_config(config: dict, source: str = "config.yaml", schema_path: Path = SCHEMA_PATH) -> dict:
    """Return `config` with schema defaults filled in; raise UserError listing every problem."""
    schema = _load_schema(schema_path)
    _raise_problems(source, _schema_problems(config, schema))
    filled = _fill_defaults(copy.deepcopy(config), schema, schema)
    for dataset in filled["datasets"].values():
        features = dataset.get("features", {})
        if dataset["kind"] == "segmentation" and isinstance(features.get("video"), str):
            features["video"] = [features["video"]]  # `video: i3d` is short for `video: [i3d]`
    _raise_problems(source, _cross_reference_problems(filled))
    return filled


def with_defaults(definition: str, entry: dict, source: str, schema_path: Path = SCHEMA_PATH) -> dict:
    """One config entry checked against the schema's `$defs/<definition>`, its defaults filled in.

    The one place defaults come from, for code that gets an entry outside the
    workflow (the Python API, a command run by hand): `with_defaults("extractor",
    {"kind": "i3d", "stride": 2}, "--extractor")`.
    """
    schema = _load_schema(schema_path)
    node = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    _raise_problems(source, _schema_problems(entry, node))
    return _fill_defaults(copy.deepcopy(entry), node, schema)


def schema_defaults(definition: str, schema_path: Path = SCHEMA_PATH) -> dict:
    """The defaults of the top-level properties of the schema's `$defs/<definition>`, checking nothing.

    For defaults needed where no entry is at hand, such as dataclass fields
    (mmfeat.tasks.humor.settings); needs yaml only, so `mmfeat --help` stays fast.
    """
    schema = _load_schema(schema_path)
    properties = schema["$defs"][definition]["properties"]
    defaults = {key: _default_of(sub, schema) for key, sub in properties.items()}
    return {key: copy.deepcopy(default) for key, default in defaults.items() if default is not _NO_DEFAULT}


@cache  # read once per process; callers only read it (defaults are deep-copied where filled in)
def _load_schema(schema_path: Path) -> dict:
    # libyaml's safe loader where PyYAML has it: 4 ms instead of 35 for the schema, read at the
    # import of mmfeat.tasks.humor.settings (and so by `mmfeat --help`); the same mapping either way
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(schema_path).read_text(), Loader=loader)


def _schema_problems(instance: Any, schema: dict) -> list[str]:
    import jsonschema  # here, not at the top: schema_defaults' callers need no validator (70 ms to import)

    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{_key_path(error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _raise_problems(source: str, problems: list[str]) -> None:
    if problems:
        raise UserError(f"{source} is invalid:\n  " + "\n  ".join(problems))


def _key_path(parts) -> str:
    return ".".join(str(part) for part in parts) or "(top level)"


def _fill_defaults(instance: Any, schema: dict, root: dict) -> Any:
    """Insert `default` values of the schema's properties, following $ref and additionalProperties."""
    import jsonschema  # see _schema_problems

    if "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    if not isinstance(instance, dict):
        return instance
    for branch in schema.get("allOf", []):
        # a kind's definition applies where its `if` holds: fill from that definition alone
        if "if" in branch and jsonschema.Draft202012Validator(branch["if"]).is_valid(instance):
            instance = _fill_defaults(instance, branch["then"], root)
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and (default := _default_of(sub, root)) is not _NO_DEFAULT:
            instance[key] = copy.deepcopy(default)
        if key in instance:
            instance[key] = _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(instance) - set(schema.get("properties", {})):
            instance[key] = _fill_defaults(instance[key], extra, root)
    return instance


def _default_of(schema: dict, root: dict) -> Any:
    """The schema's `default`, or that of the definition its $ref names (`decode: {$ref: ...}`
    documents its default inside `$defs/decode`); a default beside the $ref wins, as it is
    the more specific. _NO_DEFAULT where neither has one."""
    while "default" not in schema and "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    return schema.get("default", _NO_DEFAULT)


def _resolve(ref: str, root: dict) -> dict:
    node = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _cross_reference_problems(config: dict) -> list[str]:
    """Checks a JSON schema cannot express: names that must exist elsewhere in the config."""
    problems = []
    for name, dataset in config["datasets"].items():
        where = f"datasets.{name}"
        if dataset["kind"] == "humor":
            problems += _humor_feature_problems(config, where, dataset)
            continue
        if dataset["kind"] == "narrated":
            problems += _narrated_feature_problems(config, where, dataset)
            problems += _pretraining_problems(config, where, dataset)
            continue
        problems += _model_problems(config, f"{where}.model", dataset["model"], "asformer")
        problems += _feature_problems(config, where, dataset)
        if "videoclip" in dataset:
            problems += _videoclip_problems(config, f"{where}.videoclip", dataset)
        low, high = dataset.get("demo", {}).get("frames", [1, 1])
        if low > high:
            problems.append(f"{where}.demo.frames: minimum {low} is above maximum {high}")
    return problems


def _feature_problems(config: dict, where: str, dataset: dict) -> list[str]:
    """The dataset's feature sets and zero-shot extractor name extractors of the right kinds."""
    problems = []
    features = dataset["features"]
    for name in features["video"]:
        problems += _extractor_problems(config, f"{where}.features.video", name, VIDEO_KINDS)
    if not features["video"] and not features["precomputed"]:
        problems.append(f"{where}.features: no feature set; name extractors under `video` "
                        f"or set `precomputed: true`")
    if "demo" in dataset and features["precomputed"]:
        problems.append(f"{where}.demo: the demo generates videos but no ROOT/features/*.npy; "
                        f"set features.precomputed to false")
    if "zero_shot" in dataset:
        problems += _extractor_problems(config, f"{where}.zero_shot.extractor",
                                        dataset["zero_shot"]["extractor"], ZERO_SHOT_KINDS)
    return problems


def _videoclip_problems(config: dict, where: str, dataset: dict) -> list[str]:
    """A `videoclip` section's tokens come from one of the dataset's S3D feature sets, its towers from a
    videoclip model, and each start from a file that exists once the workflow ran: the release named by
    the model, or the pretrain output of a narrated dataset, pretrained on the same kind of rows."""
    section = dataset["videoclip"]
    features = section["features"]
    problems = _extractor_problems(config, f"{where}.features", features, ("s3d",))
    if features not in dataset["features"]["video"]:
        problems.append(f"{where}.features: {features!r} is not one of this dataset's feature sets; add it to "
                        f"{where.rsplit('.', 1)[0]}.features.video (its rows are the towers' tokens)")
    model_problems = _model_problems(config, f"{where}.model", section["model"], "videoclip")
    problems += model_problems
    if model_problems:
        return problems  # the starts and windows are checked against the model
    model = config["models"][section["model"]]
    towers = [section["model"]]  # every models entry a row's towers come from
    for start in section["starts"]:
        start_problems = _start_problems(config, f"{where}.starts", start, section["model"], model, features)
        problems += start_problems
        if not start_problems and start not in ("release", "random"):
            towers.append(config["datasets"][start]["model"])
    for part in ("zero_shot", "finetune"):
        window = section[part]["window"]
        for name in dict.fromkeys(towers):
            tokens = config["models"].get(name, {}).get("max_video_tokens", window)
            if window > tokens:
                problems.append(f"{where}.{part}.window: {window} rows do not fit the model {name!r}'s "
                                f"max_video_tokens {tokens}; lower the window or raise max_video_tokens")
    return problems


# what decides which frames an S3D row saw and the weights that saw them: a start's pretraining rows and
# the rows it is transferred to must agree on these (the step between rows may differ)
S3D_ROW_SETTINGS = ("weights", "window", "fps", "resize_short", "crop")


def _start_problems(config: dict, where: str, start: str, model_name: str, model: dict, features: str) -> list[str]:
    """A narrated start brings its own models entry (the one it pretrained: the release and a BERT start
    are two entries); its rows must be the section's kind of rows."""
    if start == "random":
        return []
    if start == "release":
        if model["release_checkpoint"] is None:
            return [f"{where}: `release` needs the model {model_name!r}'s release_checkpoint; set "
                    f"models.{model_name}.release_checkpoint to the released VideoCLIP (README, Data), or drop the start"]
        return []
    narrated = config["datasets"].get(start)
    if narrated is None or narrated["kind"] != "narrated" or "model" not in narrated:
        known = sorted(name for name, cfg in config["datasets"].items() if cfg["kind"] == "narrated" and "model" in cfg)
        return [f"{where}: {start!r} is neither `release`, `random` nor a narrated dataset of this config with a "
                f"`model` to pretrain (those: {', '.join(known) or 'none'})"]
    pretrained_rows = config["extractors"].get(narrated["features"]["video"], {})
    rows = config["extractors"].get(features, {})
    settings = [key for key in S3D_ROW_SETTINGS if pretrained_rows.get(key) != rows.get(key)]
    if pretrained_rows.get("weights") is None and pretrained_rows.get("seed") != rows.get("seed"):
        settings.append("seed")  # random S3D towers: the seed is the weights
    if settings:
        return [f"{where}: {start!r} was pretrained on {narrated['features']['video']!r} rows, which differ from "
                f"{features!r}'s in " + ", ".join(f"{key} ({pretrained_rows.get(key)!r} there, {rows.get(key)!r} here)"
                                                  for key in settings)
                + "; the tokens must come from the same S3D weights seeing frames alike"]
    return []


def _humor_feature_problems(config: dict, where: str, dataset: dict) -> list[str]:
    """Each modality of a humor dataset names an extractor of a kind that can feed it."""
    features = dataset["features"]
    modalities = [modality for modality in HUMOR_MODALITY_KINDS if modality in features]
    if not modalities:
        return [f"{where}.features: no modality; name an extractor for text, audio or video"]
    problems = []
    for modality in modalities:
        problems += _extractor_problems(config, f"{where}.features.{modality}", features[modality],
                                        HUMOR_MODALITY_KINDS[modality])
    return problems


def _narrated_feature_problems(config: dict, where: str, dataset: dict) -> list[str]:
    """Each modality of a narrated dataset names an extractor of a kind that feeds it, the video at one row a second."""
    features = dataset["features"]
    problems = []
    for modality in [modality for modality in NARRATED_MODALITY_KINDS if modality in features]:
        problems += _extractor_problems(config, f"{where}.features.{modality}", features[modality],
                                        NARRATED_MODALITY_KINDS[modality])
    video = config["extractors"].get(features["video"], {})
    # the audio rows and the captions are placed on the video's seconds (mmfeat.datasets.narrated)
    if video.get("kind") == "s3d" and (video["step_frames"] is not None or video["step_seconds"] != 1):
        problems.append(f"{where}.features.video: extractor {features['video']!r} must make one row per second "
                        f"(step_seconds: 1 and no step_frames), as the narrated layout's rows are seconds")
    return problems


def _pretraining_problems(config: dict, where: str, dataset: dict) -> list[str]:
    """A pretrained narrated dataset names a videoclip model, and the audio features its objectives read."""
    if "model" not in dataset:
        return []
    problems = _model_problems(config, f"{where}.model", dataset["model"], "videoclip")
    if dataset["pretraining"]["objectives"]["weights"]["video_audio_nce"] > 0 and "audio" not in dataset["features"]:
        problems.append(f"{where}.pretraining.objectives.weights.video_audio_nce: the video-audio objective needs "
                        f"audio features; name a wav2vec2 extractor under {where}.features.audio, or set it to 0")
    return problems


def _model_problems(config: dict, where: str, name: str, kind: str) -> list[str]:
    models = config["models"]
    if name not in models:
        return [f"{where}: no model named {name!r} under `models` (known: {', '.join(sorted(models)) or 'none'})"]
    if models[name]["kind"] != kind:
        return [f"{where}: model {name!r} is of kind {models[name]['kind']!r}; this needs one of kind {kind}"]
    return []


def _extractor_problems(config: dict, where: str, name: str, kinds: tuple[str, ...]) -> list[str]:
    extractors = config["extractors"]
    if name not in extractors:
        return [f"{where}: no extractor named {name!r} under `extractors` "
                f"(known: {', '.join(sorted(extractors)) or 'none'})"]
    if extractors[name]["kind"] not in kinds:
        return [f"{where}: extractor {name!r} is of kind {extractors[name]['kind']!r}; "
                f"this needs one of kind {' or '.join(kinds)}"]
    return []
