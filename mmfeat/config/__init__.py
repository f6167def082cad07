"""The workflow's config schema, shipped inside the package (`schema.yaml` beside this file).

It is package data so that an installed mmfeat (a wheel, `pip install git+URL`)
validates configs and fills defaults without a checkout: nothing under `mmfeat/`
reads a file outside the package.
"""

from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"
