"""Each export format checked by the rules its trainer documents (no trainer is installed
here: mlx needs Apple silicon, TRL needs torch). Every function raises AssertionError naming
the file, line and rule a record breaks.

- mlx-lm (mlx_lm.lora --data DIR): train.jsonl, valid.jsonl, test.jsonl; the format is
  detected from the first record's keys only: {"messages"} chat, {"messages","tools"} tools,
  {"prompt","completion"} completions, {"text"} text; every record must then have the same
  shape; a split smaller than the batch size (4 by default) is an error.
- OpenAI chat fine-tuning: {"messages"} with roles system/user/assistant; `weight` only on
  assistant messages, 0 or 1; an example needs at least one assistant message with weight 1.
- OpenAI preference (DPO): {"input": {"messages"}, "preferred_output": [assistant],
  "non_preferred_output": [assistant]}.
- TRL: SFT prompt/completion (conversational: lists of messages, completion from the
  assistant); DPO {"prompt","chosen","rejected"}; KTO {"prompt","completion","label": bool}
  with both labels present.
- ShareGPT: {"conversations": [{"from": "system"|"human"|"gpt", "value"}]}, human and gpt
  alternating after an optional system turn, ending with gpt.
"""

import json

SPLITS = ("train", "valid", "test")
ROLES = {"system", "user", "assistant"}


def read(directory, split):
    path = directory / ("%s.jsonl" % split)
    records = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            assert line.endswith("\n"), "%s:%d: unterminated line" % (path, number)
            record = json.loads(line)
            assert isinstance(record, dict), "%s:%d: not an object" % (path, number)
            records.append((number, record))
    return path, records


def _messages(where, messages, *, weights=False):
    assert isinstance(messages, list) and messages, "%s: messages must be a non-empty list" % where
    for message in messages:
        assert set(message) <= {"role", "content", "weight"}, "%s: unexpected message keys %s" % (where, sorted(message))
        assert message.get("role") in ROLES, "%s: role %r" % (where, message.get("role"))
        assert isinstance(message.get("content"), str) and message["content"], "%s: content must be a non-empty string" % where
        if "weight" in message:
            assert weights, "%s: weight is not part of this format" % where
            assert message["role"] == "assistant", "%s: weight on a %s message" % (where, message["role"])
            assert message["weight"] in (0, 1), "%s: weight %r" % (where, message["weight"])
    return messages


def _assistant_code(where, message):
    assert message["role"] == "assistant", "%s: expected an assistant message" % where
    content = message["content"]
    assert content.startswith("```python\n") and content.endswith("\n```"), "%s: not one python block" % where


def check_mlx(directory, batch_size=4):
    shape = None
    for split in SPLITS:
        path, records = read(directory, split)
        if split in ("train", "valid"):
            assert len(records) >= batch_size, "%s: %d records, fewer than the batch size %d" % (path, len(records), batch_size)
        for number, record in records:
            keys = frozenset(record)
            if shape is None:
                assert keys in ({"messages"}, {"messages", "tools"}, {"prompt", "completion"}, {"text"}), \
                    "%s:%d: keys %s match no mlx-lm format" % (path, number, sorted(keys))
                shape = keys
            assert keys == shape, "%s:%d: keys %s differ from the first record's %s" % (path, number, sorted(keys), sorted(shape))
            where = "%s:%d" % (path, number)
            if "messages" in keys:
                messages = _messages(where, record["messages"])
                _assistant_code(where, messages[-1])
            else:
                assert isinstance(record["prompt"], str) and record["prompt"], where
                assert record["completion"].startswith("```python\n"), where
    return shape


def check_openai_sft(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"messages"}, where
            messages = _messages(where, record["messages"], weights=True)
            trained = [m for m in messages if m["role"] == "assistant" and m.get("weight", 1) == 1]
            assert trained, "%s: no assistant message with weight 1" % where
            _assistant_code(where, messages[-1])


def check_openai_dpo(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"input", "preferred_output", "non_preferred_output"}, where
            messages = _messages(where, record["input"]["messages"])
            assert messages[-1]["role"] == "user", "%s: the input must end with the user's turn" % where
            for key in ("preferred_output", "non_preferred_output"):
                assert len(record[key]) == 1, "%s: %s must hold one assistant message" % (where, key)
                _assistant_code(where, _messages(where, record[key])[0])
            assert record["preferred_output"] != record["non_preferred_output"], where


def check_trl_sft(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"prompt", "completion"}, where
            _messages(where, record["prompt"])
            completion = _messages(where, record["completion"])
            assert len(completion) == 1, where
            _assistant_code(where, completion[0])


def check_trl_dpo(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"prompt", "chosen", "rejected"}, where
            _messages(where, record["prompt"])
            for key in ("chosen", "rejected"):
                _assistant_code(where, _messages(where, record[key])[0])
            assert record["chosen"] != record["rejected"], where


def check_kto(directory):
    labels = set()
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"prompt", "completion", "label"}, where
            assert isinstance(record["label"], bool), where
            labels.add(record["label"])
            _messages(where, record["prompt"])
            _assistant_code(where, _messages(where, record["completion"])[0])
    assert labels == {True, False}, "KTO needs desirable and undesirable examples, got %s" % labels


def check_sharegpt(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"conversations"}, where
            turns = record["conversations"]
            speakers = [t["from"] for t in turns]
            if speakers[0] == "system":
                speakers = speakers[1:]
            assert speakers and all(s == ("human" if i % 2 == 0 else "gpt") for i, s in enumerate(speakers)), \
                "%s: turns must alternate human/gpt: %s" % (where, speakers)
            assert speakers[-1] == "gpt", where
            assert all(isinstance(t["value"], str) and t["value"] for t in turns), where


CHECKS = {
    "mlx-chat": check_mlx, "mlx-completions": check_mlx, "openai-sft": check_openai_sft,
    "openai-dpo": check_openai_dpo, "trl-sft": check_trl_sft, "trl-dpo": check_trl_dpo,
    "kto": check_kto, "sharegpt": check_sharegpt,
}
