"""Hostile variants of every file kind annotate reads, and a bounded way to run a reader.

``run_bounded`` runs a reader (usually the real CLI through ``CliRunner``) in a forked
child under an address-space limit (``resource.setrlimit(RLIMIT_AS)``), so a file that
makes a reader allocate without bound fails the test instead of the machine. The
strategies mutate a valid file of each kind the ways an adversary would: wrong types,
huge and tiny numbers, deep nesting, lone surrogates, NUL, invalid UTF-8, a BOM,
duplicate keys, long strings, byte flips and truncation.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import resource
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

HEADROOM = 768 << 20  # bytes of address space a reader may add to what the test uses


@dataclass
class Outcome:
    """What a reader did in its child process."""

    exit_code: int
    stdout: str
    stderr: str
    crashed: str | None  # the traceback of an exception that escaped, if any
    out_of_memory: bool = False


def _address_space() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _child(sender: Any, job: Callable[[], tuple[int, str, str]], headroom: int) -> None:
    limit = _address_space() + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    try:
        code, out, err = job()
        sender.send(Outcome(code, out, err, None))
    except MemoryError:
        sender.send(Outcome(-1, "", "", "MemoryError", out_of_memory=True))
    except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
        sender.send(Outcome(-1, "", "", traceback.format_exc()[-3000:]))
    finally:
        sender.close()
        os._exit(0)


def run_bounded(job: Callable[[], tuple[int, str, str]], headroom: int = HEADROOM,
                timeout: float = 120.0) -> Outcome:  # fmt: skip
    """``job()`` -> (exit code, stdout, stderr), run in a forked child whose address
    space may grow by at most ``headroom`` bytes."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, job, headroom))  # may fork itself
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            child.kill()
            raise AssertionError(f"the reader ran for more than {timeout:.0f} s")
        outcome: Outcome = receiver.recv()
    except EOFError:
        outcome = Outcome(-1, "", "", f"the child died (exit code {child.exitcode})")
    finally:
        receiver.close()
        child.join(10)
    return outcome


def cli_job(
    args: list[str], env: dict[str, str] | None = None
) -> Callable[[], tuple[int, str, str]]:
    """The real ``annotate`` command line, in process (Typer's runner)."""

    def job() -> tuple[int, str, str]:
        from typer.testing import CliRunner

        from cli.app import app

        result = CliRunner().invoke(app, args, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            if isinstance(result.exception, MemoryError):
                raise result.exception
            raise AssertionError("".join(traceback.format_exception(result.exception))[-3000:])
        return result.exit_code, result.stdout, result.stderr

    return job


def assert_clean(outcome: Outcome, path: Path, *, line_required: bool,
                 also: Path | None = None) -> str:  # fmt: skip
    """A reader either accepted the file or refused it in lines naming the file (and the
    line, where the file has lines); never a traceback, never out of memory."""
    assert not outcome.out_of_memory, f"{path}: the reader went over {HEADROOM >> 20} MiB"
    assert outcome.crashed is None, outcome.crashed
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr[-2000:]
    if outcome.exit_code == 0:
        return "accepted"
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert lines, "a refusal says why"
    files = "|".join(re.escape(str(p)) for p in (path, also) if p is not None)
    named = re.compile(rf"^(error: )?({files})(:[1-9]\d*)?: \S")
    with_line = re.compile(rf"^({files}):[1-9]\d*: \S")
    for line in lines:
        assert len(line) <= 500, f"an error line of {len(line)} characters"
        if line.startswith("... and "):
            continue
        assert named.match(line) or with_line.match(line), line[:300]
    if line_required and not any(with_line.match(line.removeprefix("error: ")) for line in lines):
        # A line-based file names a line unless the whole file is at fault.
        assert any(
            phrase in "\n".join(lines)
            for phrase in ("larger than", "not a regular file", "no records", "empty",
                           "no predictions", "not found", "cannot read", "nothing to")
        ), lines  # fmt: skip
    return "refused"


# -- the store, before and after -------------------------------------------------------


def store_digest(url_or_path: str) -> str:
    """A digest of a store's contents: the SQLite file's bytes, or every PostgreSQL row."""
    if "://" not in url_or_path or url_or_path.startswith("sqlite"):
        path = Path(url_or_path.removeprefix("sqlite:///"))
        digest = hashlib.sha256(path.read_bytes())
        wal = Path(f"{path}-wal")
        if wal.exists():
            digest.update(wal.read_bytes())
        return digest.hexdigest()
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url_or_path)
    try:
        digest = hashlib.sha256()
        with engine.connect() as connection:
            for table in sorted(inspect(connection).get_table_names()):
                rows = connection.execute(
                    text(
                        f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                        f'FROM "{table}" t'
                    )  # fmt: skip
                ).scalar_one()
                digest.update(f"{table}={rows};".encode())
        return digest.hexdigest()
    finally:
        engine.dispose()


# -- strategies -----------------------------------------------------------------------

HUGE_NUMBERS = ["100000000000000000000", "-100000000000000000000", "1e308", "-1e308", "1e-320",
                "9" * 400, "2147483648", "-1", "0", "1.5", "NaN", "Infinity"]  # fmt: skip
NASTY_STRINGS = [
    '"\\u0000"', '"\\ud800"', '"a\\udfffb"', '""', '" "', '"\\u200b"', '"' + "x" * 70_000 + '"',
    '"\u4e2d\u6587"', '"\\n"', '"<script>"', '"../../etc/passwd"',
]  # fmt: skip


def _deep(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


json_values = st.one_of(
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(NASTY_STRINGS),
    st.sampled_from(["true", "false", "null", "[]", "{}", '{"a": 1}', '[1, "2"]']),
    st.integers(min_value=2, max_value=200_000).map(_deep),
    st.integers(min_value=2, max_value=50_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.text(max_size=20).map(json.dumps),
)


def _paths(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, at any depth (a key's value, a list's element)."""
    found = [where] if where else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*where, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*where, index))
    return found


def _replaced(value: Any, where: tuple[Any, ...], new: Any) -> Any:
    if not where:
        return new
    head, *rest = where
    if isinstance(value, dict):
        return {k: (_replaced(v, tuple(rest), new) if k == head else v) for k, v in value.items()}
    return [(_replaced(v, tuple(rest), new) if i == head else v) for i, v in enumerate(value)]


SENTINEL = "\x01hostile\x01"


@st.composite
def hostile_json_line(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """A valid record with one value at any depth made hostile, or a key repeated,
    dropped, added or replaced."""
    how = draw(st.sampled_from(["value", "value", "value", "key", "duplicate", "drop", "extra"]))
    key = draw(st.sampled_from(sorted(valid)))
    if how == "value":
        where = draw(st.sampled_from(_paths(valid)))
        marked = json.dumps(_replaced(valid, where, SENTINEL), ensure_ascii=False)
        text = marked.replace(json.dumps(SENTINEL), draw(json_values), 1)
    elif how == "key":
        text = json.dumps(valid, ensure_ascii=False)
        text = text.replace(f'"{key}"', draw(st.sampled_from(NASTY_STRINGS)), 1)
    elif how == "duplicate":
        text = json.dumps(valid, ensure_ascii=False)[:-1] + f', "{key}": ' + draw(json_values) + "}"
    elif how == "drop":
        text = json.dumps({k: v for k, v in valid.items() if k != key}, ensure_ascii=False)
    else:
        extra = json.dumps(draw(st.text(min_size=1, max_size=8)))
        text = json.dumps(valid, ensure_ascii=False)[:-1] + f", {extra}: 1}}"
    return text.encode("utf-8", "surrogatepass")


@st.composite
def byte_mutation(draw: st.DrawFn, valid: bytes) -> bytes:
    """A valid file with bytes flipped, inserted or cut, or a BOM or junk in front."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        how = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "bom", "junk"]))
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if how == "flip" and data:
            data[position] = draw(st.sampled_from([0, 0xFF, 0xC3, 0xED, 0x0A, 0x22, 0x5C, 0x7B]))
        elif how == "insert":
            data[position:position] = draw(
                st.sampled_from(
                    [
                        b"\x00",
                        b"\xff\xfe",
                        b"\xed\xa0\x80",
                        b"\\ud800",
                        b"\\u0000",
                        b"\n",
                        b"\r\n",
                        b'"',
                        b"[[[[[[[[",
                        b"\xef\xbb\xbf",
                    ]
                )  # fmt: skip
            )
        elif how == "delete" and data:
            del data[position : position + draw(st.integers(min_value=1, max_value=8))]
        elif how == "truncate":
            del data[position:]
        elif how == "bom":
            data[0:0] = b"\xef\xbb\xbf"
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


TOML_VALUES = [
    "100000000000000000000", "-9223372036854775808", "1e308", "nan", "inf", "0", "-1", "5.5",
    '"\\u0000"', '"no"', '"true"', '""', '"' + "x" * 70_000 + '"', "[]", "{}", "true",
    "[" * 3000 + "]" * 3000, "1979-05-27T07:32:00Z", '"\u4e2d\u6587"', '"\\ud800"',
]  # fmt: skip


@st.composite
def hostile_toml(draw: st.DrawFn, valid: str) -> bytes:
    """A valid TOML file with one value replaced, a key repeated, or bytes mutated."""
    how = draw(st.sampled_from(["value", "value", "duplicate", "bytes", "table"]))
    lines = valid.split("\n")
    assignments = [i for i, line in enumerate(lines) if re.match(r"^\s*[\w\"-]+\s*=", line)]
    if how == "bytes":
        return draw(byte_mutation(valid.encode("utf-8")))
    index = draw(st.sampled_from(assignments))
    key = lines[index].split("=", 1)[0]
    if how == "value":
        lines[index] = f"{key}= {draw(st.sampled_from(TOML_VALUES))}"
    elif how == "duplicate":
        lines.insert(index + 1, lines[index])
    else:
        lines.insert(index, "[" + draw(st.sampled_from(["a", "a.b", "items", "keys", "x" * 300]))
                     + "]")  # fmt: skip
    return "\n".join(lines).encode("utf-8", "surrogatepass")
