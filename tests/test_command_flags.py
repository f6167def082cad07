"""Every command's options, read from its argparse parser, against each other and against the schema.

    .venv/bin/pytest -q tests/test_command_flags.py

One meaning per flag: a flag two commands share takes the same kind of value
(action, type, nargs, metavar, choices), unless DECLARED_DIFFERENCES says what
differs and why. A JSON option carries one schema entry and is named for it
(`--extractor`, `--model`, `--decode`, ...). No default written twice: an
option named for a schema key has no default of its own; the command fills it
from the schema (mmfeat.workflow_config.with_defaults / schema_defaults).
"""

from __future__ import annotations

import argparse
import importlib
from collections import defaultdict

import pytest
import yaml

from mmfeat.cli import COMMANDS
from mmfeat.config import SCHEMA_PATH

# flag -> (the parts of its meaning that differ between commands, why)
DECLARED_DIFFERENCES = {
    "--predictions": ({"action", "nargs"}, "a folder of one prediction file per video: predict-asformer and "
                      "zero-shot-segment write one, segmentation-metrics reads one, or one per --bundle"),
}
# JSON options that are not a schema entry, and what they carry instead
NOT_SCHEMA_ENTRIES = {
    "--report-settings": "the config entries a run used, quoted in its report and read by nothing else",
}
VALUELESS_ACTIONS = (argparse._StoreConstAction, argparse._CountAction)  # store_true/false: False is "absent"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


def command_options() -> dict[str, list[argparse.Action]]:
    """{command: its options}, each parser built as `mmfeat COMMAND` builds it."""
    options = {}
    for name, module_name in COMMANDS.items():
        parser = argparse.ArgumentParser(prog=f"mmfeat {name}")
        importlib.import_module(f"mmfeat.commands.{module_name}").add_arguments(parser)
        options[name] = [action for action in parser._actions
                         if action.option_strings and not isinstance(action, argparse._HelpAction)]
    return options


def meaning(action: argparse.Action) -> dict:
    """What a flag takes, as its commands must agree on."""
    return {"action": type(action).__name__, "type": getattr(action.type, "__name__", action.type),
            "nargs": action.nargs, "metavar": action.metavar,
            "choices": None if action.choices is None else tuple(action.choices)}


def flag_of(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def schema_keys(node) -> set[str]:
    """Every property name anywhere in the schema: the keys a config can set."""
    keys = set()
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            keys |= set(node["properties"])
        for sub in node.values():
            keys |= schema_keys(sub)
    elif isinstance(node, list):
        for sub in node:
            keys |= schema_keys(sub)
    return keys


def schema_entries(schema: dict) -> set[str]:
    """Names a whole entry goes by: each `$defs` definition, and each property that is one by $ref."""
    entries = set(schema["$defs"])

    def walk(node):
        if isinstance(node, dict):
            for key, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and "$ref" in sub:
                    entries.add(key)
            for sub in node.values():
                walk(sub)
        elif isinstance(node, list):
            for sub in node:
                walk(sub)

    walk(schema)
    return entries


OPTIONS = command_options()


def test_a_flag_means_the_same_in_every_command():
    uses = defaultdict(list)
    for command, actions in OPTIONS.items():
        for action in actions:
            uses[flag_of(action)].append((command, meaning(action)))
    problems = []
    for flag, commands in sorted(uses.items()):
        may_differ = DECLARED_DIFFERENCES.get(flag, (set(), ""))[0]
        first_command, first = commands[0]
        for command, other in commands[1:]:
            differing = {part for part in first if first[part] != other[part]} - may_differ
            if differing:
                problems.append(f"{flag}: {first_command} takes "
                                f"{ {part: first[part] for part in sorted(differing)} }, {command} takes "
                                f"{ {part: other[part] for part in sorted(differing)} }")
    assert not problems, ("one flag, two meanings (rename one, or declare the difference in "
                          "DECLARED_DIFFERENCES):\n  " + "\n  ".join(problems))


def test_a_json_option_is_named_for_the_schema_entry_it_carries():
    """And the converse: an option named for an entry carries the whole entry, not a part or a name."""
    entries = schema_entries(SCHEMA)
    problems = []
    for command, actions in OPTIONS.items():
        for action in actions:
            if action.metavar == "JSON" and action.dest not in entries and flag_of(action) not in NOT_SCHEMA_ENTRIES:
                problems.append(f"mmfeat {command} {flag_of(action)} JSON: no schema entry {action.dest!r}")
            if action.dest in entries and action.metavar != "JSON" and not isinstance(action, VALUELESS_ACTIONS):
                problems.append(f"mmfeat {command} {flag_of(action)}: named for the schema entry {action.dest!r}, "
                                f"so it takes that entry as JSON (metavar JSON), not {action.metavar!r}")
    assert not problems, "\n".join(problems)


def test_no_option_repeats_a_schema_default():
    keys = schema_keys(SCHEMA)
    problems = [f"mmfeat {command} {flag_of(action)}: default {action.default!r} beside the schema's "
                f"`{action.dest}` (leave it None and fill it from the schema)"
                for command, actions in OPTIONS.items() for action in actions
                if action.dest in keys and action.default is not None
                and not isinstance(action, VALUELESS_ACTIONS)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("flag", sorted(DECLARED_DIFFERENCES) + sorted(NOT_SCHEMA_ENTRIES))
def test_every_declared_exception_is_still_used(flag):
    """A table entry for a flag no command has any more would excuse the next one silently."""
    commands = [command for command, actions in OPTIONS.items() if flag in map(flag_of, actions)]
    assert len(commands) >= (2 if flag in DECLARED_DIFFERENCES else 1), f"{flag}: used by {commands}"
