"""Every value a rule's shell command takes from the config or from a file name is quoted.

A dataset root like "my data/set 1" or a video named "vidéo 01" must reach the command
as one argument: each `{...}` field of a shell command is `:q`-quoted, except {threads},
{log} (names NAME_PATTERN allows, read back by the ERR trap) and the params that are
strings of options their helper quotes (shell_options in workflow/rules/common.smk).
The runs through the workflow are in tests/test_workflow_user_dataset.py.
"""

from __future__ import annotations

import re

from conftest import REPO_ROOT

RULES_DIR = REPO_ROOT / "workflow" / "rules"
BARE_FIELDS = {"threads", "log"}
# params holding a string of options or words, each quoted by the helper that builds it
QUOTED_BY_HELPER = {"params.item_arguments", "params.background", "params.modalities",
                    "params.flags", "params.command"}
SHELL_FIELD = re.compile(r"(?<!\{)\{([^{}]+)\}(?!\})")  # {name} or {name:q}, not the escaped {{ }}


def shell_commands(text: str) -> list[str]:
    """The text of each `shell:` directive: its string literals, joined."""
    commands = []
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.strip() != "shell:":
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for following in lines[number + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        commands.append("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', "\n".join(body))))
    return commands


def test_every_shell_field_from_the_config_or_a_file_name_is_quoted():
    unquoted = []
    commands = 0
    for path in sorted(RULES_DIR.glob("*.smk")):
        for command in shell_commands(path.read_text(encoding="utf-8")):
            commands += 1
            for field in SHELL_FIELD.findall(command):
                if not field.endswith(":q") and field not in BARE_FIELDS | QUOTED_BY_HELPER:
                    unquoted.append(f"{path.name}: {{{field}}}")
    assert commands >= 10  # every rule with a shell command was read
    assert not unquoted, "quote with :q, or build the options with shell_options(): " + ", ".join(unquoted)


def test_the_reader_finds_an_unquoted_field():
    rule = 'rule r:\n    shell:\n        "mmfeat x --root {params.root} --n {threads}"\n        " > {log} 2>&1"\n'
    (command,) = shell_commands(rule)
    assert SHELL_FIELD.findall(command) == ["params.root", "threads", "log"]
