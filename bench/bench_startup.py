"""Start-up benchmark: wall time of small commands next to a bare interpreter start.

Every figure is the median of N runs (``--runs``, default 15), each in a fresh process,
with ``python -c pass`` timed in the same rounds as the baseline (the rounds interleave
the commands, so a busy moment slows all of them alike). The ``annotate`` console script
of this interpreter's environment is run (``python -m annotate`` when there is none).

- ``import``: ``annotate --db COPY import one.jsonl``, one session line (2 turns, 12
  ratings) into a store that ``annotate init`` made beforehand; each run gets a fresh
  copy of that store (copied outside the timing), so every run validates and writes one
  new session. Timed: start to exit.
- ``progress``: ``annotate --db EMPTY progress --json`` on a store ``annotate init`` made
  (the default instrument, no sessions). Timed: start to exit.
- ``tui``: ``annotate --db STORE tui --annotator bench`` on a 140x40 pseudo-terminal, on a
  store with that one session assigned to ``bench``; timed from start until the queue
  screen's row (the session id) has been drawn, then the UI is killed.
- ``--help``, for reference.

Goals on a quiet machine: import <= 0.12 s, progress <= 0.2 s, tui <= 0.6 s.
Run: ``python bench/bench_startup.py [--runs N] [--compare DIR]``; ``--compare`` times
another checkout (``git archive`` of an earlier commit into DIR) in the same rounds, with
its own stores made by its own ``annotate init``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.factories import session_record, write_jsonl  # noqa: E402

SESSION = "zq7s1"  # the id the queue row shows: easy to find among escape codes
GOALS = {"import": 0.12, "progress": 0.2, "tui": 0.6}


def annotate_command() -> list[str]:
    script = Path(sys.executable).with_name("annotate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "annotate"]


def timed_run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def timed_tui(args: list[str], env: dict[str, str], timeout: float = 60.0) -> float:
    """Seconds from start until SESSION appears on the pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    start = time.perf_counter()
    terminal = {**env, "TERM": "xterm-256color"}
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                               env=terminal, start_new_session=True)  # fmt: skip
    os.close(slave)
    screen = bytearray()
    try:
        while SESSION.encode() not in screen:
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"the queue row never appeared: {bytes(screen[-500:])!r}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    screen.extend(os.read(master, 65536))
                except OSError:  # the UI exited before drawing the row
                    raise RuntimeError(bytes(screen[-2000:]).decode(errors="replace")) from None
        return time.perf_counter() - start
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        os.close(master)


def prepare(folder: Path, annotate: list[str], env: dict[str, str]) -> dict[str, Path]:
    """The stores and the file each measured command uses (made once, outside the timing)."""
    line = write_jsonl(folder / "one.jsonl", [session_record(SESSION)])
    empty = folder / "empty.db"
    subprocess.run([*annotate, "--db", str(empty), "init"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    queue = folder / "queue.db"
    shutil.copy(empty, queue)
    for args in (["import", str(line)], ["assign", "--annotators", "bench"]):
        subprocess.run([*annotate, "--db", str(queue), *args], env=env, check=True,
                       capture_output=True)  # fmt: skip
    return {"line": line, "empty": empty, "queue": queue}


def measures(tree: Path, folder: Path, annotate: list[str]) -> dict[str, Callable[[int], float]]:
    """The timed commands of the checkout at TREE (its own stores, made by its own init)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANNOTATE_")}
    env["PYTHONPATH"] = str(tree)
    folder.mkdir()
    files = prepare(folder, annotate, env)

    def import_one(round_: int) -> float:
        copy = folder / f"import{round_}.db"
        shutil.copy(files["empty"], copy)
        seconds = timed_run([*annotate, "--db", str(copy), "import", str(files["line"])], env)
        copy.unlink()
        return seconds

    return {
        "annotate --help": lambda _: timed_run([*annotate, "--help"], env),
        "import": import_one,
        "progress": lambda _: timed_run(
            [*annotate, "--db", str(files["empty"]), "progress", "--json"], env
        ),
        "tui": lambda _: timed_tui(
            [*annotate, "--db", str(files["queue"]), "tui", "--annotator", "bench"], env
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="another checkout (e.g. the commit before a change, from git "
                        "archive), measured in the same rounds")  # fmt: skip
    options = parser.parse_args()
    annotate = annotate_command()
    trees = {"this": ROOT, **({"compared": options.compare.resolve()} if options.compare else {})}
    with tempfile.TemporaryDirectory() as tmp:
        measured: dict[str, Callable[[int], float]] = {
            "python -c pass": lambda _: timed_run([sys.executable, "-c", "pass"], dict(os.environ))
        }
        for label, tree in trees.items():
            for name, measure in measures(tree, Path(tmp) / label, annotate).items():
                measured[name if label == "this" else f"{name} [{label}]"] = measure
        times: dict[str, list[float]] = {name: [] for name in measured}
        for round_ in range(options.runs):
            for name, measure in measured.items():
                times[name].append(measure(round_))
    bare = statistics.median(times["python -c pass"])
    print(f"{' '.join(annotate)} ({options.runs} runs each, medians; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    if options.compare:
        print(f"[compared]: {trees['compared']}")
    print(f"{'python -c pass':<27} {bare:6.3f} s  (baseline)")
    for name, values in sorted(times.items(), key=lambda item: item[0].split(" [")[0]):
        if name == "python -c pass":
            continue
        median = statistics.median(values)
        goal = GOALS.get(name.split(" [")[0])
        print(f"{name:<27} {median:6.3f} s  ({median / bare:4.1f}x baseline, "
              f"{median - bare:.3f} s above it; min {min(values):.3f})"
              + (f"  goal {goal:.2f} s" if goal else ""))  # fmt: skip


if __name__ == "__main__":
    main()
