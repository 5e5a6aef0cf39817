"""The text of a training record and its shape in each trainer's format.

The prompt is ours (versioned by ``EXPORT_PROMPT_VERSION``): the task, the item with
its dimension and definition, and the scale; the transcript is the user input; the
target is the rationale, the client's rating, or both. Texts are used exactly as
stored. ``markers`` (turn codes, :mod:`annotate.export.markers`) is written in the
``openai`` layout and described like it.
"""

from __future__ import annotations

from json.encoder import encode_basestring as json_string  # as json.dumps, ensure_ascii=False
from typing import Any, NamedTuple

from annotate.export.records import InstrumentInfo

EXPORT_PROMPT_VERSION = "1.0.0"
FORMATS = ("openai", "alpaca", "sharegpt", "dpo", "markers")
CHAT_LAYOUT = {"markers": "openai"}  # formats written in another format's layout
TARGETS = ("rationale", "rating", "both")
SPEAKERS = {"client": "Client", "counselor": "Counselor"}

_TASK = {
    "rationale": (
        "The client rated this item {rating} ({anchor}). Explain in a short rationale, "
        "grounded in the dialogue, why the client rated it so."
    ),
    "rating": (
        "Give the client's likely rating of this item: one whole number from {low} to {high}, "
        "nothing else."
    ),
    "both": (
        "Explain in a short rationale, grounded in the dialogue, how the client likely rated "
        "this item, then give the rating on a last line as 'Rating: N' ({low} to {high})."
    ),
}


class PromptBuilder:
    """Builds the instruction per (item, rating) once and reuses it."""

    def __init__(self, instrument: InstrumentInfo, target: str) -> None:
        self.instrument = instrument
        self.target = target
        low, high = instrument.scale_min, instrument.scale_max
        self.scale = ", ".join(
            f"{value} = {instrument.anchors.get(value, str(value))}"
            for value in range(low, high + 1)
        )
        self._cache: dict[tuple[str, int], tuple[str, str]] = {}

    def system(self, item_id: str, rating: int) -> tuple[str, str]:
        """The instruction for an item (and the rating, when it is given): text and JSON."""
        key = (item_id, rating if self.target == "rationale" else 0)
        pair = self._cache.get(key)
        if pair is None:
            text = self._build(item_id, rating)
            pair = self._cache[key] = (text, json_string(text))
        return pair

    def _build(self, item_id: str, rating: int) -> str:
        instrument = self.instrument
        dimension_key, item_text = instrument.items[item_id]
        dimension = instrument.dimensions[dimension_key]
        task = _TASK[self.target].format(
            rating=rating,
            anchor=instrument.anchors.get(rating, str(rating)),
            low=instrument.scale_min,
            high=instrument.scale_max,
        )
        return (
            "You read the transcript of a counseling session and consider how the client "
            f"rated one item of the {instrument.name} after the session.\n"
            f'Item {item_id} ({dimension["name"]}): "{item_text}"\n'
            f"{dimension['name']}: {dimension['definition']}\n"
            f"Scale: {self.scale}.\n"
            f"{task}"
        )

    def target_text(self, rationale: str, rating: int) -> str:
        if self.target == "rationale":
            return rationale
        if self.target == "rating":
            return str(rating)
        return f"{rationale}\nRating: {rating}"


def transcript_text(turns: list[tuple[str, str]]) -> str:
    """The dialogue as the model sees it: one numbered line per turn."""
    return "\n".join(
        f"[{number}] {SPEAKERS.get(speaker, speaker)}: {text}"
        for number, (speaker, text) in enumerate(turns, start=1)
    )


def line(fmt: str, system_json: str, transcript_json: str, target_json: str) -> str:
    """The JSONL line of :func:`render`, from texts already encoded as JSON strings.

    Byte for byte what ``json.dumps(render(...), ensure_ascii=False)`` gives (a test
    checks it), but the transcript, the largest part and the same for every item of a
    session, is encoded once per session instead of once per record.
    """
    if fmt == "openai":
        return (
            '{"messages": [{"role": "system", "content": '
            + system_json
            + '}, {"role": "user", "content": '
            + transcript_json
            + '}, {"role": "assistant", "content": '
            + target_json
            + "}]}\n"
        )
    if fmt == "alpaca":
        return (
            '{"instruction": '
            + system_json
            + ', "input": '
            + transcript_json
            + ', "output": '
            + target_json
            + "}\n"
        )
    if fmt == "sharegpt":
        return (
            '{"conversations": [{"from": "system", "value": '
            + system_json
            + '}, {"from": "human", "value": '
            + transcript_json
            + '}, {"from": "gpt", "value": '
            + target_json
            + "}]}\n"
        )
    raise ValueError(f"not a supervised format: {fmt}")


# Ends every dpo prompt: a newline no tokenizer joins to the answer's first character, so
# the tokens of the prompt are a prefix of those of prompt + answer (TRL checks this; a
# prompt ending in "。" merged with a Chinese answer's first character under Qwen's rules).
DPO_SEPARATOR = "\n\nRationale:\n"


class DraftSource(NamedTuple):
    """Who wrote a pair's rejected text: the model's draft and the prompt it was asked."""

    provider: str
    model: str
    prompt_version: str

    def columns(self) -> dict[str, str]:
        """The pair's (and its index line's) columns naming the draft's source."""
        return {
            "draft_provider": self.provider,
            "draft_model": self.model,
            "draft_prompt_version": self.prompt_version,
        }

    def json_tail(self) -> str:
        """:meth:`columns` as JSON members, each after a comma."""
        return "".join(f", {json_string(k)}: {json_string(v)}" for k, v in self.columns().items())


DRAFT_COLUMNS = tuple(DraftSource("", "", "").columns())


def dpo_line(
    system: str, transcript_json: str, chosen: str, rejected: str, draft: DraftSource
) -> str:
    """The JSONL line of :func:`render_dpo` (JSON escaping is per character, so the
    prompt's JSON is the system's JSON joined to the transcript's and the separator's)."""
    prompt_json = (
        json_string(system + "\n\n")[:-1] + transcript_json[1:-1] + json_string(DPO_SEPARATOR)[1:]
    )
    return (
        '{"prompt": '
        + prompt_json
        + ', "chosen": '
        + json_string(chosen)
        + ', "rejected": '
        + json_string(rejected)
        + ', "system": '
        + json_string(system)
        + ', "user": '
        + transcript_json
        + draft.json_tail()
        + "}\n"
    )


def render(fmt: str, system: str, transcript: str, target: str) -> dict[str, Any]:
    """One supervised record in the named format."""
    if fmt == "openai":
        return {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": transcript},
                {"role": "assistant", "content": target},
            ]
        }
    if fmt == "alpaca":
        return {"instruction": system, "input": transcript, "output": target}
    if fmt == "sharegpt":
        return {
            "conversations": [
                {"from": "system", "value": system},
                {"from": "human", "value": transcript},
                {"from": "gpt", "value": target},
            ]
        }
    raise ValueError(f"not a supervised format: {fmt}")


def render_dpo(
    system: str, transcript: str, chosen: str, rejected: str, draft: DraftSource
) -> dict[str, Any]:
    """One preference pair: the expert's final text is preferred over a model's draft.

    ``prompt`` is one string for TRL's standard format; ``system`` and ``user`` are the
    SFT records' system and user messages, which LlamaFactory reads (``dataset_info``),
    so both trainers see the instructions the SFT files train on.
    """
    return {
        "prompt": f"{system}\n\n{transcript}{DPO_SEPARATOR}",
        "chosen": chosen,
        "rejected": rejected,
        "system": system,
        "user": transcript,
        **draft.columns(),
    }


def render_dpo_conversational(
    system: str, transcript: str, chosen: str, rejected: str, draft: DraftSource
) -> dict[str, Any]:
    """The same pair in TRL's conversational preference format (the chat template of
    the model being trained then places the answer)."""
    return {
        "prompt": [
            {"role": "system", "content": system},
            {"role": "user", "content": transcript},
        ],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        **draft.columns(),
    }


def dataset_info_entry(fmt: str, file_name: str) -> dict[str, Any]:
    """LlamaFactory's ``dataset_info.json`` entry for one file of the given format."""
    if fmt == "alpaca":
        # The instruction is the system prompt, as in the chat formats (one context).
        return {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"system": "instruction", "prompt": "input", "response": "output"},
        }
    if fmt == "sharegpt":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "system_tag": "system",
            },
        }
    if CHAT_LAYOUT.get(fmt, fmt) == "openai":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    # The SFT records' system and user messages (not the one-string TRL prompt).
    return {
        "file_name": file_name,
        "ranking": True,
        "columns": {
            "system": "system",
            "prompt": "user",
            "chosen": "chosen",
            "rejected": "rejected",
        },
    }


def parquet_schema(fmt: str):
    """The Arrow schema of a format (pyarrow is imported only when parquet is asked for)."""
    import pyarrow as pa

    if CHAT_LAYOUT.get(fmt, fmt) == "openai":
        message = pa.struct([("role", pa.string()), ("content", pa.string())])
        return pa.schema([("messages", pa.list_(message))])
    if fmt == "sharegpt":
        turn = pa.struct([("from", pa.string()), ("value", pa.string())])
        return pa.schema([("conversations", pa.list_(turn))])
    if fmt == "alpaca":
        return pa.schema([(name, pa.string()) for name in ("instruction", "input", "output")])
    columns = ("prompt", "chosen", "rejected", "system", "user", *DRAFT_COLUMNS)
    return pa.schema([(name, pa.string()) for name in columns])
