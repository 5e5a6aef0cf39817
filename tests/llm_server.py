"""A fake OpenAI-compatible server for tests and the drafting benchmark.

A plain asyncio HTTP/1.1 server (keep-alive, one coroutine per connection, no
threads per request) that answers ``POST /v1/chat/completions`` with a grounded
JSON draft built from the numbered transcript in the prompt, after an optional
latency. Faults are injected per (session, item), read from the prompt's
``(session S, item I)`` header: see ``FAULTS``. ``GET /stats`` returns request
counts, so a test in another process can check who asked for what.

Run alone (for the benchmark): ``python -m tests.llm_server --latency 0.2``
prints ``PORT <n>`` on stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAULTS = (
    "429",  # first request: 429 with Retry-After: 1, then a good answer
    "500",  # always 500
    "500-once",  # 500, then a good answer
    "slow",  # answers after `slow_seconds` (longer than the client's timeout)
    "malformed",  # content is not JSON at all
    "fenced",  # JSON inside a ```json fence with prose around it
    "turn999",  # cites turn 999
    "badquote",  # quotes words nobody said
    "echo-auth",  # 401 whose message echoes the Authorization header
    "refusal",  # no content, a refusal message instead
    "echo-body",  # 200 whose content is not JSON and quotes the Authorization header
    "echo-header",  # a good answer whose x-request-id header echoes the key
    "echo-text",  # a good answer whose rationale quotes the key
    "nul-text",  # a good answer whose rationale holds a NUL character (PostgreSQL refuses it)
    "huge-text",  # a good answer with a rationale of 30,000 characters
    "junk-usage",  # a good answer whose token counts are a string and 1e30
    # What a grammar-constrained small model on a local server does (issue 24):
    "ctrl-chars",  # raw newline and tab inside the rationale's JSON string (llama-cpp-python)
    "ctrl-only",  # the rationale is only '}', a raw newline and '[1] ' (a grammar's padding)
    "empty-rationale",  # "rationale": ""
    "empty-evidence",  # "evidence": []
    "placeholder",  # quotes '<words copied verbatim>' and the rating's anchor label
    "item-quote",  # quotes the item's text
    "trailing",  # the JSON object, then prose that holds braces
    # Issue 26: a rationale and quotes that repeat the client's turns whole as the server
    # received them (de-identified: with the surrogates), so a test can check they come
    # back with the original names; for --markers, a proposal per short client turn
    # quoting it whole.
    "whole-turns",
    # "echo-<where>:<encoding>" echoes the key, encoded (see ECHO_ENCODINGS), in one place:
    # raw (200, a text/plain body), rawjson (200, "application/json" that is not JSON),
    # content (a reply that is not JSON), cut (the same with the key at character 52, where
    # an 80-character snippet cuts it), error (400 JSON error), 500, refusal, header
    # (x-request-id), id (the completion id, no x-request-id), finish (finish_reason),
    # timings, quote (a quote nobody said), text (the rationale); "echo-content:b64"
)
ECHO_WHERE = ("raw", "rawjson", "content", "cut", "error", "500", "refusal", "header", "id",
              "finish", "timings", "quote", "text")  # fmt: skip
ECHO_ENCODINGS = ("plain", "upper", "lower", "b64", "b64url", "bearer-b64", "basic-b64", "url",
                  "hex", "head", "tail")  # fmt: skip

# A judge's request (annotate judge): its prompt names the text it scores with this line,
# and its key is "S/I/judge" (or "prediction:SOURCE/S/I/judge").
JUDGE_RE = re.compile(r"Judge the (?P<what>rationale|prediction(?: of \S+)?) for \(session ")
# The judge prompt names each criterion's key and scale, and holds the judged text
# between two lines of dashes; its faults: "judge-missing" (a criterion left out),
# "judge-range" (a score of 7), "judge-badquote" (a quote nobody said).
JUDGE_CRITERION_RE = re.compile(r'^- "(?P<id>[^"]+)": an integer from (?P<low>-?\d+) to '
                                r'(?P<high>-?\d+)', re.M)  # fmt: skip
JUDGED_TEXT_RE = re.compile(r"^-{10}\n(?P<text>.*?)\n-{10}$", re.M | re.S)
MARKERS_RE = re.compile(r"Propose the codes for session (?P<session>\S+?)\. ")
MARKER_FAULTS = ("markers-ungrounded",)  # proposals beside the grounded ones that are not
# also "markers-ctrl" (a raw newline inside a reason) and "markers-placeholder" (a quote
# '<words copied verbatim>' and one that is a code's name)
ANCHOR_RE = re.compile(r'rating: \d+ on \d+\.\.\d+ \("(?P<anchor>[^"]+)"\)')
ITEM_TEXT_RE = re.compile(r'^- Item \([^)]*\): "(?P<text>.+)"$', re.M)
ITEM_RE = re.compile(r"\(session (?P<session>[^,\s]+), item (?P<item>[^)\s]+)\)")
TURN_RE = re.compile(r"^\[(?P<number>\d+)\] (?P<speaker>client|counselor): (?P<text>.+)$", re.M)


@dataclass
class FakeLLM:
    """Server state: behaviour settings and what it has seen."""

    latency: float = 0.0
    faults: dict[str, str] = field(default_factory=dict)  # "s01/goal_1" -> fault name
    default_fault: str = ""  # the fault of every key not in ``faults``
    raw_bodies: list[bytes] = field(default_factory=list)  # every request body as received
    slow_seconds: float = 3.0
    supports_json_schema: bool = True
    # How real servers differ from this one, each off by default:
    schema_refusal: str | None = None  # "llama-cpp": 500 naming json_schema; "vllm": 400
    json_object_only: bool = False  # json_schema refused with 400, json_object answered
    cut_below: int | None = None  # a reply needing more than max_tokens stops at it
    context_window: int | None = None  # prompt tokens (len/4) above it: 400 overflow
    report_cache: bool = False  # usage.prompt_tokens_details.cached_tokens and timings
    serial: bool = False  # one request at a time (llama-cpp-python's server)
    tokenize: bool = False  # offer llama.cpp's POST /tokenize (counts as it counts prompts)
    # Issue 24: how each server reports its prefix cache (off: as report_cache says), a
    # context that prompt + max_tokens must fit (vLLM's 400), and what was generated.
    cache_report: str | None = None  # one of USAGE_STYLES
    context_total: int | None = None  # prompt + max_tokens above it: vLLM's 400
    generated: Counter[str] = field(default_factory=Counter)  # prompt/completion/cached tokens
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every chat request, in order
    refused_formats: Counter[str] = field(default_factory=Counter)  # format -> refusals
    tokenized: int = 0  # POST /tokenize calls answered
    prompts: list[str] = field(default_factory=list)
    # Given replies: key ("s01/goal_1", "s01/goal_1/judge", ...) -> the contents to answer
    # with, one per request in turn (the last repeated): a test's own drafts or scores.
    scripted: dict[str, list[str]] = field(default_factory=dict)
    embedding_bodies: list[dict[str, Any]] = field(default_factory=list)  # /v1/embeddings
    # The files and batches endpoints of the Batch API (what ``draft --batch-api`` uses).
    batch_delay: float = 0.0  # seconds a batch stays in_progress before it is run
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    _batch_tasks: set[asyncio.Task] = field(default_factory=set)
    formats_seen: list[str] = field(default_factory=list)  # response_format type per request
    requests: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    last_request: dict[str, Any] = field(default_factory=dict)
    request_by_key: dict[str, dict[str, Any]] = field(default_factory=dict)  # the latest
    in_flight: int = 0
    max_in_flight: int = 0
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _connections: set[asyncio.Task] = field(default_factory=set)
    _one_at_a_time: asyncio.Lock | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                self.raw_bodies.append(body)  # every route: chats, uploads, /tokenize
                status, extra, payload = await self._respond(method, path, headers, body)
                raw = isinstance(payload, bytes)
                data = payload if raw else json.dumps(payload, ensure_ascii=False).encode()
                reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                          500: "Internal Server Error"}  # fmt: skip
                kind = extra.pop("Content-Type", "application/octet-stream" if raw else
                                 "application/json")  # fmt: skip
                header_lines = [
                    f"HTTP/1.1 {status} {reason.get(status, 'Error')}",
                    f"Content-Type: {kind}",
                    f"Content-Length: {len(data)}",
                    *(f"{k}: {v}" for k, v in extra.items()),
                ]
                writer.write(("\r\n".join(header_lines) + "\r\n\r\n").encode() + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the client went away, or the server is stopping
        finally:
            writer.close()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        if method == "GET" and path == "/stats":
            return 200, {}, self.stats()
        if method == "POST" and path == "/reset":
            self.requests.clear()
            self.answered.clear()
            return 200, {}, {"reset": True}
        if method == "POST" and path == "/tokenize" and self.tokenize:
            self.tokenized += 1
            content = json.loads(body).get("content", "")
            return 200, {}, {"tokens": list(range(len(content) // 4))}  # this server's count
        if "/files" in path or "/batches" in path:
            return await self._batch_api(method, path, headers, body)
        if method == "POST" and path.endswith("/embeddings"):
            return await self._embeddings(body)
        if method != "POST" or not path.endswith("/chat/completions"):
            return 404, {}, {"error": {"message": f"no route {method} {path}"}}
        if self.serial:
            self._one_at_a_time = self._one_at_a_time or asyncio.Lock()
            async with self._one_at_a_time:
                return await self._counted(headers, body)
        return await self._counted(headers, body)

    async def _counted(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            request = json.loads(body)
            self.bodies.append(request)
            answer = await self._complete(headers, request)
            self._tally(request, *answer)
            return answer
        finally:
            self.in_flight -= 1

    async def _embeddings(self, body: bytes) -> tuple[int, dict[str, str], Any]:
        """POST /v1/embeddings: each input's :func:`fake_embedding`, after the latency. The
        model names a fault: "embed-500" always 500; "embed-short" one embedding too few;
        "embed-nan" a NaN in the first; "embed-ragged" the second one shorter."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            request = json.loads(body)
            self.embedding_bodies.append(request)
            texts = request.get("input")
            texts = [texts] if isinstance(texts, str) else list(texts or [])
            model = str(request.get("model", ""))
            self.requests[f"embeddings/{model}"] += 1
            if self.latency:
                await asyncio.sleep(self.latency)
            if model == "embed-500":
                return 500, {}, {"error": {"message": "the embedding model crashed"}}
            vectors = [fake_embedding(text) for text in texts]
            if model == "embed-short":
                vectors = vectors[:-1]
            if model == "embed-nan" and vectors:
                vectors[0][0] = float("nan")
            if model == "embed-ragged" and len(vectors) > 1:
                vectors[1] = vectors[1][:-1]
            data = [{"object": "embedding", "index": i, "embedding": v}
                    for i, v in enumerate(vectors)]  # fmt: skip
            tokens = sum(len(text.split()) for text in texts)
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            return 200, {}, {"object": "list", "data": data, "model": model, "usage": usage}
        finally:
            self.in_flight -= 1

    def _tally(self, request: dict[str, Any], status: int, _: dict[str, str], payload: Any) -> None:
        """Count what this server generated (the figures a draft run must add up to) and
        the format refusals it answered."""
        if status == 200 and isinstance(payload, dict):
            usage = payload.get("usage") or {}
            for name in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(name), int):
                    self.generated[name] += usage[name]
            self.generated["cached_tokens"] += payload.pop("_cached", 0)
            self.generated["answers"] += 1
        elif isinstance(payload, dict) and "response_format" in json.dumps(payload):
            kind = (request.get("response_format") or {}).get("type", "text")
            self.refused_formats[kind] += 1

    async def _complete(
        self, headers: dict[str, str], request: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        self.last_request = request
        prompt = "\n".join(str(m.get("content", "")) for m in request["messages"])
        match = ITEM_RE.search(prompt)
        key = f"{match['session']}/{match['item']}" if match else "?"
        markers = MARKERS_RE.search(prompt)
        if markers:  # annotate draft --markers
            key = f"{markers['session']}/markers"
        judged = JUDGE_RE.search(prompt)
        if judged:  # annotate judge
            of = judged["what"].removeprefix("prediction of ")
            key = f"{key}/judge" if of == "rationale" else f"prediction:{of}/{key}/judge"
        self.requests[key] += 1
        self.request_by_key[key] = request
        attempt = self.requests[key]
        fault = self.faults.get(key, self.default_fault)
        request_id = f"req_{key}_{attempt}"
        if self.latency:
            await asyncio.sleep(self.latency)
        kind = (request.get("response_format") or {}).get("type", "text")
        if kind == "json_object" and "schema" in request["response_format"]:
            kind = "json_object_schema"  # llama-cpp-python's JSON mode with a schema
        self.formats_seen.append(kind)
        if kind == "json_object_schema" and self.json_object_only:
            message = "response_format: extra field 'schema' is not permitted"
            return 400, {}, {"error": {"message": message, "type": "invalid_request_error"}}
        if not self.supports_json_schema and kind != "text":
            message = f"response_format {kind!r} is not supported by this server"
            return 400, {}, {"error": {"message": message, "type": "invalid_request_error"}}
        if kind == "json_schema" and self.schema_refusal == "llama-cpp":
            # llama-cpp-python's server: a pydantic validation error, as HTTP 500.
            message = (
                "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}]"
            )
            return 500, {}, {"error": {"message": message, "type": "internal_server_error"}}
        if kind == "json_schema" and (self.schema_refusal == "vllm" or self.json_object_only):
            message = "json_schema response_format is not supported for this model"
            return 400, {}, {"object": "error", "message": message, "type": "BadRequestError",
                             "code": 400}  # fmt: skip
        prompt_tokens = len(prompt) // 4
        asked = int(request.get("max_tokens") or 0)
        if self.context_total is not None and prompt_tokens + asked > self.context_total:
            message = (  # vLLM's wording
                f"This model's maximum context length is {self.context_total} tokens. However, "
                f"you requested {prompt_tokens + asked} tokens ({prompt_tokens} in the messages, "
                f"{asked} in the completion). Please reduce the length of the messages or "
                "completion."
            )
            return 400, {}, {"object": "error", "message": message, "type": "BadRequestError",
                             "code": 400}  # fmt: skip
        if self.context_window is not None and prompt_tokens > self.context_window:
            message = (
                f"the request exceeds the available context size ({prompt_tokens} tokens, "
                f"n_ctx {self.context_window}), try increasing it"
            )
            return 400, {}, {"error": {"code": 400, "message": message,
                                       "type": "exceed_context_size_error"}}  # fmt: skip
        cached = _shared_prefix(self.prompts[-1], prompt) // 4 if self.prompts else 0
        self.prompts.append(prompt)
        if fault == "429" and attempt == 1:
            return 429, {"Retry-After": "1"}, {"error": {"message": "rate limited"}}
        if fault == "500" or (fault == "500-once" and attempt == 1):
            return 500, {}, {"error": {"message": "internal error"}}
        if fault == "echo-auth":
            message = f"bad key: {headers.get('authorization', '')}"
            return 401, {}, {"error": {"message": message, "type": "invalid_request_error"}}
        if fault == "slow":
            await asyncio.sleep(self.slow_seconds)
        if judged:
            content = _judgement(prompt, fault)
        else:
            content = _markers(prompt, fault) if markers else _content(prompt, fault)
        if key in self.scripted and self.scripted[key]:
            given = self.scripted[key]
            content = given[min(self.answered[key], len(given) - 1)]
        secret = headers.get("authorization", "").removeprefix("Bearer ")
        echoes = fault.startswith("echo-")
        where, _, encoding = fault.removeprefix("echo-").partition(":") if echoes else ("", "", "")
        echoed = _echoed(secret, encoding or "plain") if echoes else ""
        extra: dict[str, str] = {}
        if where == "raw":
            extra["Content-Type"] = "text/plain"
            return 200, extra, f"Invalid API key {echoed}; ask your administrator".encode()
        if where == "rawjson":
            extra["Content-Type"] = "application/json"
            return 200, extra, f"<html>key {echoed} refused</html>".encode()
        if where in ("error", "500"):
            message = f"Incorrect API key provided: {echoed}. See your account"
            error = {"message": message, "type": "invalid_request_error", "key": echoed}
            return (400 if where == "error" else 500), {}, {"error": error}
        if fault in ("nul-text", "huge-text"):
            draft = json.loads(content)
            draft["rationale"] += " \x00 and more" if fault == "nul-text" else " more" * 6000
            content = json.dumps(draft, ensure_ascii=False)
            content += "\x00" if fault == "nul-text" else ""  # and a raw one after the JSON
        if where == "content":
            content = f"Sorry, the key {echoed} may not use this model."
        elif where == "cut":  # the key starts at character 52 of the reply, one line
            content = f"{'Sorry, this model is not open to your account, key':<51} {echoed}!"
        elif where == "quote":
            draft = json.loads(content)
            draft["quotes"] = [{"turn": draft["evidence"][0], "text": f"my key is {echoed}"}]
            content = json.dumps(draft, ensure_ascii=False)
        elif where == "text":
            draft = json.loads(content)
            draft["rationale"] += f" (authorised with {echoed})"
            content = json.dumps(draft, ensure_ascii=False)
        if fault == "echo-body":
            content = f"Sorry, key {secret} is not allowed for this model"
        elif fault == "echo-header" or where == "header":
            request_id = f"req-{echoed}"
        finish_reason = f"stop {echoed}" if where == "finish" else "stop"
        limit = request.get("max_tokens")
        if self.cut_below is not None and limit is not None and limit < self.cut_below:
            content = content[: max(1, len(content) // 2)]  # stopped mid-JSON
            finish_reason = "length"
        greedy = float(request.get("temperature") or 0) < RUNAWAY_BELOW_TEMPERATURE
        if fault == "runaway-always" or (fault == "runaway" and greedy):
            content, finish_reason = _runaway(prompt, int(limit or 600)), "length"
        self.answered[key] += 1
        said: dict[str, Any] = {"role": "assistant", "content": content}
        if fault == "refusal" or where == "refusal":
            refusal = f"I can't help with key {echoed}." if echoed else "I can't help with that."
            said = {"role": "assistant", "content": None, "refusal": refusal}
        payload = {
            "id": f"chatcmpl-{echoed}" if where == "id" else f"chatcmpl-{key}-{attempt}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": said,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(content) // 4,
                "total_tokens": prompt_tokens + len(content) // 4,
            },
        }
        if fault == "junk-usage":
            payload["usage"] = {"prompt_tokens": "many", "completion_tokens": 1e30}
        if self.report_cache:
            payload["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
            payload["timings"] = {"cache_n": cached, "prompt_n": prompt_tokens - cached,
                                  "prompt_ms": 1.5, "predicted_n": len(content) // 4}  # fmt: skip
        if where == "timings":
            payload["timings"] = {"prompt_ms": 1.5, "note": f"key {echoed}", echoed: 1}
        if self.cache_report is not None:
            _report_usage(payload, self.cache_report, cached, prompt_tokens)
        payload["_cached"] = cached  # what a prefix cache reused (taken off before sending)
        return 200, {} if where == "id" else {"x-request-id": request_id}, payload

    async def _batch_api(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """Files upload and content, batch create and retrieve, run in the background."""
        now = int(time.time())
        if method == "POST" and path.endswith("/files"):
            content = _multipart_file(headers.get("content-type", ""), body)
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content
            return 200, {}, {"id": file_id, "object": "file", "bytes": len(content),
                             "created_at": now, "filename": "drafts.jsonl", "purpose": "batch",
                             "status": "processed"}  # fmt: skip
        if method == "GET" and path.endswith("/content"):
            file_id = path.split("/files/")[1].split("/")[0]
            return 200, {}, self.files[file_id]
        if method == "POST" and path.endswith("/batches"):
            request = json.loads(body)
            lines = self.files[request["input_file_id"]].decode().splitlines()
            batch_id = f"batch_{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": request["endpoint"],
                "input_file_id": request["input_file_id"], "status": "in_progress",
                "completion_window": request["completion_window"], "created_at": now,
                "output_file_id": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            }  # fmt: skip
            task = asyncio.create_task(self._run_batch(batch_id, lines))
            self._batch_tasks.add(task)
            task.add_done_callback(self._batch_tasks.discard)
            return 200, {}, self.batches[batch_id]
        if method == "GET" and "/batches/" in path:
            batch_id = path.rsplit("/", 1)[1]
            if batch_id not in self.batches:
                return 404, {}, {"error": {"message": f"no batch {batch_id}"}}
            return 200, {}, self.batches[batch_id]
        return 404, {}, {"error": {"message": f"no route {method} {path}"}}

    async def _run_batch(self, batch_id: str, lines: list[str]) -> None:
        await asyncio.sleep(self.batch_delay)
        batch, out = self.batches[batch_id], []
        for line in lines:
            entry = json.loads(line)
            status, _, payload = await self._complete({}, entry["body"])
            if isinstance(payload, dict):
                payload.pop("_cached", None)  # counted online only
            out.append(json.dumps({"id": f"resp-{entry['custom_id']}",
                                   "custom_id": entry["custom_id"],
                                   "response": {"status_code": status, "body": payload},
                                   "error": None}, ensure_ascii=False))  # fmt: skip
            batch["request_counts"]["completed" if status == 200 else "failed"] += 1
        output_id = f"file-{len(self.files) + 1}"
        self.files[output_id] = ("\n".join(out) + "\n").encode()
        batch.update(status="completed", output_file_id=output_id)

    def stats(self) -> dict[str, Any]:
        return {
            "batches": len(self.batches),
            "files": len(self.files),
            "requests": dict(self.requests),
            "answered": dict(self.answered),
            "total": sum(self.requests.values()),
            "max_in_flight": self.max_in_flight,
            "generated": dict(self.generated),
            "refused_formats": dict(self.refused_formats),
        }


RUNAWAY_BELOW_TEMPERATURE = 0.3  # "runaway": greedy decoding repeats; a nudged retry does not
USAGE_STYLES = ("vllm", "llama-cpp", "llama-cpp-python")


EMBEDDING_SIZE = 32
_TOKEN_RE = re.compile(r"[^\W\d_]+|[\u4e00-\u9fff]", re.UNICODE)


def fake_embedding(text: str) -> list[float]:
    """A deterministic vector of EMBEDDING_SIZE for TEXT: a bag of its lowercased words
    (each Chinese character a word), each hashed (CRC-32, the same in every process) to a
    coordinate and a sign, plus a small constant so no text has the zero vector. Texts
    that share words point alike, as an embedding model's would; tests compute their
    expected similarities from these vectors."""
    import zlib

    vector = [0.05] * EMBEDDING_SIZE
    for token in _TOKEN_RE.findall(text.lower()):
        code = zlib.crc32(token.encode("utf-8"))
        vector[code % EMBEDDING_SIZE] += 1.0 if (code >> 16) & 1 else -1.0
    return vector


def _runaway(prompt: str, max_tokens: int) -> str:
    """A small model's runaway reply: a quote repeated until max_tokens (4 characters a
    token here), cut mid-string."""
    turns = [m["text"].strip() for m in TURN_RE.finditer(prompt)] or ["I feel"]
    piece = " ".join(turns[0].split()[:3]) + " "
    head = '{"rationale": "The client says '
    return (head + piece * (max_tokens * 4 // len(piece) + 1))[: max_tokens * 4]


def _report_usage(payload: dict[str, Any], style: str, cached: int, prompt_tokens: int) -> None:
    """Usage as each server reports it: vLLM (and OpenAI) in prompt_tokens_details,
    llama.cpp's server in ``timings`` (cache_n), llama-cpp-python's (0.3.x) server not at
    all: its usage holds prompt, completion and total tokens only, though it reuses its
    cache (``Llama.generate: N prefix-match hit`` on its stderr)."""
    usage = payload["usage"]
    if style == "vllm":
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    elif style == "llama-cpp":
        payload["timings"] = {"cache_n": cached, "prompt_n": prompt_tokens - cached,
                              "prompt_ms": 1.5, "predicted_n": usage["completion_tokens"],
                              "predicted_ms": 2.5}  # fmt: skip
    elif style == "llama-cpp-python":
        payload["usage"] = {key: usage[key] for key in
                            ("prompt_tokens", "completion_tokens", "total_tokens")}  # fmt: skip
    else:
        raise ValueError(f"cache_report must be one of {USAGE_STYLES}")


def _echoed(secret: str, encoding: str) -> str:
    """The key as a server might echo it (see ECHO_ENCODINGS)."""
    import base64
    from urllib.parse import quote

    data = secret.encode()
    forms = {
        "plain": lambda: secret,
        "upper": secret.upper,
        "lower": secret.lower,
        "b64": lambda: base64.b64encode(data).decode(),
        "b64url": lambda: base64.urlsafe_b64encode(data).decode(),
        "bearer-b64": lambda: base64.b64encode(b"Bearer " + data).decode(),
        "basic-b64": lambda: base64.b64encode(b"user:" + data).decode(),
        "url": lambda: quote(secret, safe=""),
        "hex": data.hex,
        "head": lambda: secret[: len(secret) * 2 // 3],  # a cut-off key: its first part
        "tail": lambda: secret[len(secret) // 3 :],  # or its last
    }
    return forms[encoding]()


def _multipart_file(content_type: str, body: bytes) -> bytes:
    """The uploaded file's bytes from a multipart/form-data body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return bytes(part.get_payload(decode=True) or b"")
    raise ValueError("no file part in the upload")


def _shared_prefix(a: str, b: str) -> int:
    """How many leading characters two prompts share (what a prefix cache could reuse)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _markers(prompt: str, fault: str) -> str:
    """A ``draft --markers`` reply: a short client turn is "shutdown" (quoting its first
    words), the first counselor question "explore"; with ``markers-ungrounded`` also a
    turn that does not exist, a quote nobody said, a client code on a counselor turn and a
    code the scheme lacks. ``malformed`` is not JSON."""
    if fault == "malformed":
        return '{"markers": [{"turn": 2, "code": "shutdown", "quote": "fi'
    turns = [(int(m["number"]), m["speaker"], m["text"].strip()) for m in TURN_RE.finditer(prompt)]
    proposals: list[dict[str, Any]] = []
    if fault == "whole-turns":
        for number, speaker, text in turns:
            if speaker == "client" and len(text) <= 200:
                proposals.append({"turn": number, "code": "shutdown", "quote": text,
                                  "reason": f"The client says: {text}"[:300]})  # fmt: skip
        return json.dumps({"markers": proposals}, ensure_ascii=False)
    for number, speaker, text in turns:
        if speaker == "client" and len(text.split()) <= 6:
            quote = " ".join(text.split()[:3])
            proposals.append({"turn": number, "code": "shutdown", "quote": quote,
                              "reason": "A minimal answer where more was asked."})  # fmt: skip
    counselor = [t for t in turns if t[1] == "counselor" and "?" in t[2]]
    if counselor:
        number, _, text = counselor[0]
        reason = "The counselor asks about the client's experience."
        quote = text.split("?")[0][-20:]
        proposals.append({"turn": number, "code": "explore", "quote": quote, "reason": reason})
    if fault == "markers-placeholder" and proposals:
        proposals[0] = {**proposals[0], "quote": "<words copied verbatim>"}
        proposals.append({**proposals[0], "quote": "Shutdown"})
    if fault == "markers-ctrl" and proposals:
        proposals[0] = {**proposals[0], "reason": "A short answer§NL§where more was asked."}
    if fault == "markers-ungrounded":
        first_counselor = next((t[0] for t in turns if t[1] == "counselor"), 1)
        first_client = next((t[0] for t in turns if t[1] == "client"), 1)
        proposals += [
            {"turn": 999, "code": "pushback", "quote": "no", "reason": "r"},
            {"turn": first_client, "code": "complaint", "quote": "words nobody said here",
             "reason": "r"},
            {"turn": first_counselor, "code": "masking", "quote": turns[0][2][:5], "reason": "r"},
            {"turn": turns[0][0], "code": "sarcasm", "quote": turns[0][2][:5], "reason": "r"},
        ]  # fmt: skip
    return json.dumps({"markers": proposals}, ensure_ascii=False).replace("§NL§", "\n")


def judge_scores(prompt: str) -> dict[str, int]:
    """The default judge's scores: per criterion of the prompt, a number in its scale
    from a hash of the judged text (the same text always gets the same scores)."""
    found = JUDGED_TEXT_RE.search(prompt)
    digest = hashlib.sha256((found["text"] if found else "").encode("utf-8")).digest()
    return {m["id"]: int(m["low"]) + digest[n] % (int(m["high"]) - int(m["low"]) + 1)
            for n, m in enumerate(JUDGE_CRITERION_RE.finditer(prompt))}  # fmt: skip


def _judgement(prompt: str, fault: str) -> str:
    """A judge's reply: the default scores (``judge_scores``), a reason quoting the first
    client turn as received, grounded; or the requested kind of bad one."""
    if fault == "malformed":
        return '{"faithfulness": 4, "reason": "The clie'
    turns = [(int(m["number"]), m["speaker"], m["text"].strip()) for m in TURN_RE.finditer(prompt)]
    client_turns = [t for t in turns if t[1] == "client"] or turns or [(1, "client", "")]
    number, _, text = client_turns[0]
    quote = text if fault == "whole-turns" else text[:24].strip()
    reply: dict[str, Any] = {
        **judge_scores(prompt),
        "reason": f"The client says in turn {number}: {quote}",
        "evidence": [number],
        "quotes": [{"turn": number, "text": quote}],
    }
    if fault == "judge-missing":
        reply.pop(next(iter(judge_scores(prompt))), None)
    if fault == "judge-range":
        reply[next(iter(judge_scores(prompt)))] = 7
    if fault == "judge-badquote":
        reply["quotes"] = [{"turn": number, "text": "I never said these words at all"}]
    return json.dumps(reply, ensure_ascii=False)


def _content(prompt: str, fault: str) -> str:
    """The assistant's message: a grounded draft, or the requested kind of bad one."""
    if fault == "malformed":
        return "I think the client felt heard {rationale: because, evidence: [2"
    turns = [(int(m["number"]), m["speaker"], m["text"].strip()) for m in TURN_RE.finditer(prompt)]
    client_turns = [t for t in turns if t[1] == "client"] or turns or [(1, "client", "")]
    if fault == "whole-turns":
        said = client_turns[:4]
        return json.dumps({
            "rationale": "The client says: " + " / ".join(text for _, _, text in said),
            "evidence": [number for number, _, _ in said],
            "quotes": [{"turn": number, "text": text} for number, _, text in said],
        }, ensure_ascii=False)  # fmt: skip
    number, _, text = client_turns[0]
    quote = text[:24].strip()
    draft: dict[str, Any] = {
        "rationale": f"The client's words in turn {number} shape this rating: {quote}",
        "evidence": [number],
        "quotes": [{"turn": number, "text": quote}],
    }
    if fault == "turn999":
        draft["evidence"] = [number, 999]
        draft["quotes"].append({"turn": 999, "text": "something"})
    if fault == "badquote":
        draft["quotes"] = [{"turn": number, "text": "I never said these words at all"}]
    if fault == "ctrl-chars":  # raw control characters inside the string, as
        draft["rationale"] += "§NL§§TAB§}§NL§[1] "  # llama-cpp-python's grammar lets through
    if fault == "ctrl-only":
        draft["rationale"] = "}§NL§[1] "
    if fault == "empty-rationale":
        draft["rationale"] = ""
    if fault == "empty-evidence":
        draft["evidence"] = []
    if fault == "placeholder":
        anchor = ANCHOR_RE.search(prompt)
        label = anchor["anchor"] if anchor else "?"
        draft["quotes"] = [{"turn": number, "text": "<words copied verbatim>"},
                           {"turn": number, "text": label}]  # fmt: skip
    if fault == "item-quote":
        item = ITEM_TEXT_RE.search(prompt)
        draft["quotes"] = [{"turn": number, "text": item["text"] if item else "?"}]
    content = json.dumps(draft, ensure_ascii=False)
    content = content.replace("§NL§", "\n").replace("§TAB§", "\t")
    if fault == "fenced":
        return f"Sure! Here is the draft:\n```json\n{content}\n```\nHope this helps."
    if fault == "trailing":
        return f"{content}\n\nNote: {{evidence}} holds turn numbers, {{quotes}} their words."
    return content


def start_process(latency: float) -> tuple[subprocess.Popen[str], int]:
    """This server in a process of its own (the benchmarks: its event loop then competes
    with nobody's), answering after LATENCY seconds; the process and its port."""
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "tests.llm_server", "--latency", str(latency)]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    return process, int(line.split()[1])


class ServerThread:
    """Run a FakeLLM on its own event loop in a background thread (for sync tests)."""

    def __init__(self, fake: FakeLLM) -> None:
        self.fake = fake
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(timeout=10)
        return self.fake

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _serve(latency: float) -> None:
    fake = FakeLLM(latency=latency)
    await fake.start()
    print(f"PORT {fake.port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.2)
    asyncio.run(_serve(parser.parse_args().latency))
