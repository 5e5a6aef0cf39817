"""How trainers turn export records into tokens, without a model: a small byte-level
BPE with Qwen2's pre-tokenisation (``tokenizers``), Qwen2.5's chat template as
``transformers`` renders it (Jinja2) for TRL, and LlamaFactory's reading of
``dataset_info.json`` with its ``qwen`` template."""

from __future__ import annotations

from typing import Any

# Qwen2's pre-tokenisation pattern (as in its tokenizer.json).
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>"]
DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# Qwen2.5's chat template without tools: a default system message when none is given.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(texts: list[str]):  # type: ignore[no-untyped-def]
    """A byte-level BPE with Qwen2's pre-tokeniser, trained on ``texts``."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip
    trainer = trainers.BpeTrainer(vocab_size=3000, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIAL_TOKENS)  # fmt: skip
    tokenizer.train_from_iterator(texts * 5, trainer)
    return tokenizer


def apply_chat_template(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    """``tokenizer.apply_chat_template(..., tokenize=False)`` as transformers renders it."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    template = environment.from_string(CHAT_TEMPLATE)
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt)


def trl_preference_texts(pair: dict[str, Any]) -> tuple[str, str]:
    """(prompt, chosen) of a conversational pair as TRL's ``maybe_apply_chat_template``
    makes them: the chosen text is the full chat minus the rendered prompt."""
    prompt = apply_chat_template(pair["prompt"], add_generation_prompt=True)
    full = apply_chat_template(pair["prompt"] + pair["chosen"], add_generation_prompt=False)
    assert full.startswith(prompt)
    return prompt, full[len(prompt) :]


def llamafactory_example(entry: dict[str, Any], record: dict[str, Any]) -> tuple[str, str, str]:
    """(system, user, answer) as LlamaFactory's converters read a record through its
    ``dataset_info.json`` entry (a column the entry does not map is not read; for
    ranking entries the answer is the chosen text)."""
    columns = entry["columns"]
    if entry.get("formatting") == "sharegpt":
        tags = entry["tags"]
        turns = record[columns["messages"]]
        system = ""
        if turns[0][tags["role_tag"]] == tags["system_tag"]:
            system, turns = turns[0][tags["content_tag"]], turns[1:]
        (user, answer) = turns
        assert user[tags["role_tag"]] == tags["user_tag"]
        assert answer[tags["role_tag"]] == tags["assistant_tag"]
        return system, user[tags["content_tag"]], answer[tags["content_tag"]]
    query = [record[columns[key]] for key in ("prompt", "query") if columns.get(key)]
    system = record[columns["system"]] if columns.get("system") else ""
    answer = record[columns["chosen"] if entry.get("ranking") else columns["response"]]
    return system, "\n".join(part for part in query if part), answer


def llamafactory_elements(system: str, user: str, answer: str) -> tuple[list[str], list[str]]:
    """LlamaFactory's ``qwen`` template: the prompt's and the answer's string elements
    (each is tokenised on its own), its default system prompt when the record has none."""
    prompt = [
        f"<|im_start|>system\n{system or DEFAULT_SYSTEM}<|im_end|>\n",
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n",
    ]
    return prompt, [f"{answer}<|im_end|>\n"]


def encode_elements(tokenizer: Any, elements: list[str]) -> list[int]:
    return [token for element in elements for token in tokenizer.encode(element).ids]
