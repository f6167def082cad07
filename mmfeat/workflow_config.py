"""Validation of the workflow's config.yaml against workflow/schemas/config.schema.yaml.

    python -c "import yaml, mmfeat.workflow_config as c; c.validate_config(yaml.safe_load(open('config.yaml')))"

The Snakefile calls `validate_config` before any job is scheduled, so that a typo
or a wrong type fails at once with the key path and what was expected, and the
defaults written in the schema are filled in for the rules to read.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mmfeat.errors import UserError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def validate_config(config: dict, source: str = "config.yaml", schema_path: Path = SCHEMA_PATH) -> dict:
    """Return `config` with schema defaults filled in; raise UserError listing every problem."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        f"{_key_path(error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise UserError(f"{source} is invalid:\n  " + "\n  ".join(problems))
    filled = _fill_defaults(copy.deepcopy(config), schema, schema)
    problems = _cross_reference_problems(filled)
    if problems:
        raise UserError(f"{source} is invalid:\n  " + "\n  ".join(problems))
    return filled


def _key_path(parts) -> str:
    return ".".join(str(part) for part in parts) or "(top level)"


def _fill_defaults(instance: Any, schema: dict, root: dict) -> Any:
    """Insert `default` values of the schema's properties, following $ref and additionalProperties."""
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    if not isinstance(instance, dict):
        return instance
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            instance[key] = _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in set(instance) - set(schema.get("properties", {})):
            instance[key] = _fill_defaults(instance[key], extra, root)
    return instance


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
        if dataset["model"] not in config["models"]:
            problems.append(f"{where}.model: no model named {dataset['model']!r} under `models` "
                            f"(known: {', '.join(sorted(config['models']))})")
        features = dataset["features"]
        if features["source"] == "videos":
            extractor = features.get("extractor")
            if extractor is None:
                problems.append(f"{where}.features.extractor: required when features.source is 'videos'")
            elif extractor not in config["extractors"]:
                problems.append(f"{where}.features.extractor: no extractor named {extractor!r} under `extractors` "
                                f"(known: {', '.join(sorted(config['extractors'])) or 'none'})")
        elif "extractor" in features:
            problems.append(f"{where}.features.extractor: features.source 'precomputed' imports "
                            f"ROOT/features/*.npy and takes no extractor")
        if "demo" in dataset and features["source"] != "videos":
            problems.append(f"{where}.demo: the demo generates videos, so features.source must be 'videos'")
        low, high = dataset.get("demo", {}).get("frames", [1, 1])
        if low > high:
            problems.append(f"{where}.demo.frames: minimum {low} is above maximum {high}")
    return problems
