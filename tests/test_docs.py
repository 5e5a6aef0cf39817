"""The README and docs/ say nothing the repository contradicts.

Every relative link in README.md and docs/*.md must lead to a file that exists, and a
``#anchor`` to a heading of that file (GitHub's slugs). Every ``annotate ...`` command
shown, in a shell code block or in inline code, must name subcommands that exist and only
options that the subcommand (or, before it, the group) accepts. The command tree is built
once, in process, from the Typer app; no command is run. Repository paths and modules
named in inline code (``tests/test_privacy.py``, ``store.db.reader``) must exist. The
README stays under 400 lines, opening with ``make demo`` and ``make test``, and every page
of docs/ links back to it. Each failure names the file, the line and what is wrong.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.app import full_command  # the one place the CLI is imported from

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 400

# Code blocks in these languages hold data or Python, never a shell command.
NOT_SHELL = {"json", "jsonl", "toml", "python", "py", "csv", "html", "yaml", "ini", "jinja"}
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"(?<!\\)!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PLACEHOLDER_WORD = re.compile(r"^(\.\.\.|…|<.*>|[A-Z][A-Z0-9_]*|\[.*\])$")


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    in_code: bool  # inside a fenced block
    shell: bool  # inside a fenced block that may hold shell commands


def scan(text: str) -> list[Line]:
    """Each line of a Markdown text, with whether it sits in a (shell) code block."""
    lines: list[Line] = []
    fence: str | None = None
    shell = False
    for number, raw in enumerate(text.splitlines(), start=1):
        match = FENCE.match(raw)
        if fence is None and match:
            fence = match.group(1)
            shell = match.group(2).lower() not in NOT_SHELL
            lines.append(Line(number, raw, True, False))
        elif fence is not None and raw.strip().startswith(fence[0] * len(fence)):
            fence = None
            lines.append(Line(number, raw, True, False))
        else:
            lines.append(Line(number, raw, fence is not None, fence is not None and shell))
    return lines


def prose(lines: list[Line]) -> str:
    """The text outside code blocks, line numbers kept (code lines blanked)."""
    return "\n".join("" if line.in_code else line.text for line in lines)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# -- anchors -------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the visible text, lower-cased, punctuation dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in "-_" or category[0] in "LNM":
            kept.append(char)
        elif char == " ":
            kept.append("-")
    return "".join(kept)


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in scan(path.read_text(encoding="utf-8")):
        match = None if line.in_code else HEADING.match(line.text)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_problems(path: Path) -> Iterator[str]:
    """One message per relative link of ``path`` that leads nowhere."""
    text = prose(scan(path.read_text(encoding="utf-8")))
    text = INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for match in LINK.finditer(text):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:
            continue
        where = f"{_name(path)}:{line_of(text, match.start())}"
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            yield f"{where}: link to {target!r}: {_name(destination)} does not exist"
            continue
        if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            yield f"{where}: link to {target!r}: {_name(destination)} has no heading #{anchor}"


# -- commands ------------------------------------------------------------------------


@dataclass
class Node:
    """A command of the CLI: its options (and which take a value) and subcommands."""

    options: dict[str, bool]  # option -> takes a value
    commands: dict[str, Node]


def _node(command: Any) -> Node:
    options = {"--help": False}
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        takes_value = not (param.is_flag or param.count)
        for name in (*param.opts, *param.secondary_opts):
            options[name] = takes_value
    children = getattr(command, "commands", {}) or {}
    return Node(options, {name: _node(child) for name, child in children.items()})


CLI = _node(full_command())  # every command loaded: the help lists them without loading


def words_of(text: str) -> list[list[str]]:
    """The simple commands of a shell line, as words: comments, ``;``, ``&&``, ``|`` and
    leading ``VAR=value`` assignments removed."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    try:
        for word in lexer:
            if set(word) <= set(";&|"):
                commands.append([])
            elif commands[-1] or not ENV_ASSIGNMENT.match(word):
                commands[-1].append(word)
    except ValueError:  # an unclosed quote: read what there is
        pass
    return [words[1:] if words[:1] == ["$"] else words for words in commands]


def shown_commands(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line, words) of every ``annotate ...`` shown in a shell block or in inline code."""
    lines = scan(path.read_text(encoding="utf-8"))
    pending: list[str] = []
    start = 0
    for line in lines:
        if not line.shell:
            continue
        if not pending:
            start = line.number
        text = line.text.rstrip()
        if text.endswith("\\"):  # continued on the next line
            pending.append(text[:-1])
            continue
        for words in words_of(" ".join([*pending, text])):
            if words[:1] == ["annotate"]:
                yield start, words
        pending = []
    text = prose(lines)
    for match in INLINE_CODE.finditer(text):
        for words in words_of(" ".join(match.group(2).split())):
            if words[:1] == ["annotate"]:
                yield line_of(text, match.start()), words


def command_problems(words: list[str]) -> Iterator[str]:
    """What the CLI does not have of the command ``words``: a subcommand or an option."""
    node, name, expects_value = CLI, "annotate", False
    for word in words[1:]:
        if expects_value:
            expects_value = False
            continue
        option = word.strip("[]")
        if option.startswith("-") and option != "-":
            option_name, has_value, _ = option.partition("=")
            if option_name not in node.options:
                yield f"{name} has no option {option_name}"
                continue
            expects_value = node.options[option_name] and not has_value
        elif node.commands:
            if PLACEHOLDER_WORD.match(word):  # annotate --db URL COMMAND ...
                return
            if word not in node.commands:
                yield f"{name} has no subcommand {word!r}"
                return
            node, name = node.commands[word], f"{name} {word}"
        # else: an argument of a command without subcommands


# -- repository paths and modules ----------------------------------------------------

PACKAGES = "annotate|cli|store|tui"
REPO_PATH = re.compile(rf"^(?:{PACKAGES}|tests|bench|guidelines|scripts|docs)/[\w./*-]*$")
MODULE = re.compile(rf"^(?:{PACKAGES})(?:\.[A-Za-z_]\w*)+$")


def module_problem(dotted: str, root: Path) -> str | None:
    """Why ``dotted`` (a module, or a module and one name in it) is not in the repository."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:cut])
        source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not source.is_file():
            continue
        rest = parts[cut:]
        if not rest:
            return None
        name = re.escape(rest[0])
        defined = rf"^\s*(?:async def|def|class) {name}\b|^\s*{name}\s*[:=]|import.*\b{name}\b"
        if len(rest) == 1 and re.search(defined, source.read_text(encoding="utf-8"), re.M):
            return None
        return f"{'.'.join(parts[:cut])} has no {'.'.join(rest)}"
    return f"no module {dotted}"


def path_problems(path: Path, root: Path = ROOT) -> Iterator[str]:
    """One message per repository path or module named in inline code that does not exist."""
    text = prose(scan(path.read_text(encoding="utf-8")))
    for match in INLINE_CODE.finditer(text):
        code = " ".join(match.group(2).split())
        where = f"{_name(path)}:{line_of(text, match.start())}"
        if "..." in code:  # a placeholder: tests/...
            continue
        if REPO_PATH.match(code):
            if not any(root.glob(code.rstrip("/"))):
                yield f"{where}: {code} does not exist"
        elif MODULE.match(code):
            problem = module_problem(code, root)
            if problem:
                yield f"{where}: {code}: {problem}"


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


# -- tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOC_FILES, ids=_name)
def test_links_resolve(path: Path) -> None:
    problems = list(link_problems(path))
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", DOC_FILES, ids=_name)
def test_commands_exist(path: Path) -> None:
    problems = [
        f"{_name(path)}:{number}: {problem} (in {' '.join(words)!r})"
        for number, words in shown_commands(path)
        for problem in command_problems(words)
    ]
    assert not problems, "commands the CLI does not have:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", DOC_FILES, ids=_name)
def test_named_files_and_modules_exist(path: Path) -> None:
    problems = list(path_problems(path))
    assert not problems, "files or modules that are not in the repository:\n" + "\n".join(problems)


def test_readme_is_short_and_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"
    first_block = lines[lines.index("```sh") + 1 : lines.index("```")]
    assert [line.split()[:2] for line in first_block] == [["make", "demo"], ["make", "test"]]


@pytest.mark.parametrize("path", DOC_FILES[1:], ids=_name)
def test_docs_pages_link_back_to_the_readme(path: Path) -> None:
    readme = (ROOT / "README.md").resolve()
    targets = [
        (path.parent / match.group(1).partition("#")[0]).resolve()
        for match in LINK.finditer(prose(scan(path.read_text(encoding="utf-8"))))
    ]
    assert readme in targets, f"{_name(path)} does not link back to README.md"


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """A broken link, a missing anchor, a made-up subcommand or option, a file or a name
    that is not in the repository: each is named with its file and line."""
    (tmp_path / "other.md").write_text("# Other page\n\n## Same\n\n## Same\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n"
        "[ok](other.md#same-1) [gone](missing.md) [anchor](other.md#nowhere)\n"
        "[here](#title) `[not a link](missing.md)`\n"
        "```sh\n"
        "annotate export --out runs --made-up   # comment --not-checked\n"
        "OPENAI_API_KEY=... annotate drfat --limit 5\n"
        "annotate --db URL COMMAND ...\n"
        "annotate draft --batch-file requests.jsonl \\\n"
        "    --no-such-thing\n"
        "```\n"
        "Inline: `annotate codes review 12 --reviewer ben --pass`, `annotate tui --bogus`.\n"
        "Code: `store/db.py`, `store/gone.py`, `store.db.reader`, `store.db.no_such_name`.\n",
        encoding="utf-8",
    )
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "store" / "db.py").write_text("def reader():\n    pass\n", encoding="utf-8")
    links = list(link_problems(page))
    commands = [
        (number, problem)
        for number, words in shown_commands(page)
        for problem in command_problems(words)
    ]
    assert links == [
        "page.md:2: link to 'missing.md': missing.md does not exist",
        "page.md:2: link to 'other.md#nowhere': other.md has no heading #nowhere",
    ]
    assert list(path_problems(page, root=tmp_path)) == [
        "page.md:12: store/gone.py does not exist",
        "page.md:12: store.db.no_such_name: store.db has no no_such_name",
    ]
    assert commands == [
        (5, "annotate export has no option --made-up"),
        (6, "annotate has no subcommand 'drfat'"),
        (8, "annotate draft has no option --no-such-thing"),
        (11, "annotate tui has no option --bogus"),
    ]
