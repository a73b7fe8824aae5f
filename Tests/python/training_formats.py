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

Tool calling (the code as a `run_python` call, its result as a `tool` message):
- OpenAI chat fine-tuning with tools: {"messages", "tools"} (and optionally
  "parallel_tool_calls"); `tools` are {"type": "function", "function": {"name", "description",
  "parameters"}} with a name of at most 64 letters, digits, _ or -, and parameters a JSON Schema
  object; an assistant message has content, tool_calls or both, each call {"id", "type":
  "function", "function": {"name", "arguments"}} with arguments a JSON string that decodes to an
  object and a name the tools define; a `tool` message has content and the tool_call_id of a
  call made before it and not yet answered; weight only on assistant messages, 0 or 1, and at
  least one trained assistant message.
- TRL SFT with tools: conversational prompt/completion plus a `tools` column (JSON Schema
  function definitions); tool-call arguments are objects (what chat templates render); tool
  messages name their tool.
- mlx-lm tools format: {"messages", "tools"}; chat templates get `tools`; arguments as JSON
  strings; with --mask-prompt only the last message is trained, so it must be the assistant's.
- RL (TRL GRPOTrainer, prompt-only): a conversational `prompt` ending on the user's turn; every
  other column is passed to the reward functions as a keyword argument.
"""

import json
import re

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


def _tools(where, tools):
    assert isinstance(tools, list) and tools, "%s: tools must be a non-empty list" % where
    names = set()
    for tool in tools:
        assert set(tool) == {"type", "function"} and tool["type"] == "function", "%s: tool %r" % (where, tool)
        function = tool["function"]
        assert set(function) <= {"name", "description", "parameters", "strict"}, "%s: function keys %s" % (where, sorted(function))
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", function["name"]), "%s: function name %r" % (where, function["name"])
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        assert parameters.get("type") == "object" and isinstance(parameters.get("properties"), dict), \
            "%s: parameters must be a JSON Schema object" % where
        assert set(parameters.get("required", [])) <= set(parameters["properties"]), "%s: required names an unknown property" % where
        names.add(function["name"])
    return names


def _tool_conversation(where, messages, tools, *, arguments, weights=False, tool_names=False):
    """The rules every tool-calling format shares; returns the calls in order."""
    names = _tools(where, tools)
    assert isinstance(messages, list) and messages, "%s: messages must be a non-empty list" % where
    pending, calls = {}, []
    for message in messages:
        role = message.get("role")
        assert role in ROLES | {"tool"}, "%s: role %r" % (where, role)
        if "weight" in message:
            assert weights and role == "assistant" and message["weight"] in (0, 1), "%s: weight %r" % (where, message)
        if role == "tool":
            assert set(message) <= {"role", "content", "tool_call_id", "name"}, "%s: tool message keys %s" % (where, sorted(message))
            assert message.get("tool_call_id") in pending, "%s: tool message answers no open call" % where
            if tool_names:
                assert message.get("name") == pending[message["tool_call_id"]], "%s: the tool message must name its tool" % where
            del pending[message["tool_call_id"]]
            assert isinstance(message.get("content"), str) and message["content"], "%s: tool content must be a non-empty string" % where
            continue
        assert not pending, "%s: calls %s unanswered before a %s message" % (where, sorted(pending), role)
        if role != "assistant" or "tool_calls" not in message:
            assert set(message) <= {"role", "content", "weight"}, "%s: unexpected keys %s" % (where, sorted(message))
            assert isinstance(message.get("content"), str) and message["content"], "%s: content must be a non-empty string" % where
            continue
        assert set(message) <= {"role", "content", "tool_calls", "weight"}, "%s: unexpected keys %s" % (where, sorted(message))
        assert message.get("content") in (None, "") or isinstance(message["content"], str), where
        assert isinstance(message["tool_calls"], list) and message["tool_calls"], "%s: tool_calls must be a non-empty list" % where
        for call in message["tool_calls"]:
            assert set(call) == {"id", "type", "function"} and call["type"] == "function", "%s: call %r" % (where, call)
            assert isinstance(call["id"], str) and call["id"] and call["id"] not in pending, "%s: call id %r" % (where, call["id"])
            function = call["function"]
            assert set(function) == {"name", "arguments"} and function["name"] in names, "%s: call of %r, not a defined tool" % (where, function.get("name"))
            if arguments is str:
                assert isinstance(function["arguments"], str), "%s: arguments must be a JSON string" % where
                decoded = json.loads(function["arguments"])
            else:
                decoded = function["arguments"]
            assert isinstance(decoded, dict), "%s: arguments must be an object" % where
            pending[call["id"]] = function["name"]
            calls.append((message, function["name"], decoded))
    return calls


def _run_python(where, calls):
    """Crucible's own rows: every call runs code; the conversation ends on the passing call."""
    assert calls, "%s: no run_python call" % where
    for _, name, decoded in calls:
        assert name == "run_python" and set(decoded) == {"code"} and decoded["code"].strip(), "%s: %r" % (where, decoded)


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
            if "tools" in keys:
                calls = _tool_conversation(where, record["messages"], record["tools"], arguments=str, tool_names=True)
                _run_python(where, calls)
                assert record["messages"][-1] is calls[-1][0], "%s: the last message (the one --mask-prompt trains) must be the passing call" % where
            elif "messages" in keys:
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


def check_openai_tools(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) <= {"messages", "tools", "parallel_tool_calls"} and {"messages", "tools"} <= set(record), where
            calls = _tool_conversation(where, record["messages"], record["tools"], arguments=str, weights=True)
            _run_python(where, calls)
            trained = [m for m in record["messages"] if m["role"] == "assistant" and m.get("weight", 1) == 1]
            assert trained, "%s: no assistant message with weight 1" % where
            assert record["messages"][-1] is calls[-1][0] and record["messages"][-1].get("weight", 1) == 1, where
            assert all(m.get("weight") == 0 for m, _, _ in calls[:-1]), "%s: a failed call must not be trained" % where


def check_trl_tools(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"prompt", "completion", "tools"}, where
            assert len(record["completion"]) == 1 and record["completion"][0]["role"] == "assistant", where
            calls = _tool_conversation(where, record["prompt"] + record["completion"], record["tools"], arguments=dict, tool_names=True)
            _run_python(where, calls)
            assert calls[-1][0] is record["completion"][0], "%s: the completion must be the passing call" % where


def check_rl(directory):
    for split in SPLITS:
        path, records = read(directory, split)
        for number, record in records:
            where = "%s:%d" % (path, number)
            assert set(record) == {"prompt", "task_id", "kind", "rulesets", "runtime", "check", "check_prelude",
                                   "check_python", "expected", "tools"}, "%s: keys %s" % (where, sorted(record))
            messages = _messages(where, record["prompt"])
            assert messages[-1]["role"] == "user", "%s: a prompt-only row ends on the user's turn" % where
            assert isinstance(record["rulesets"], list) and record["rulesets"] and all(isinstance(r, str) for r in record["rulesets"]), where
            assert record["runtime"] in ("sandbox", "pytest", "static", None), where
            for key in ("check", "check_prelude", "check_python", "expected"):
                assert record[key] is None or isinstance(record[key], str), "%s: %s" % (where, key)
            if record["expected"] is not None:
                assert isinstance(json.loads(record["expected"]), dict), where
            assert all(isinstance(t, str) for t in record["tools"]), where


CHECKS = {
    "mlx-chat": check_mlx, "mlx-completions": check_mlx, "openai-sft": check_openai_sft,
    "openai-dpo": check_openai_dpo, "trl-sft": check_trl_sft, "trl-dpo": check_trl_dpo,
    "kto": check_kto, "sharegpt": check_sharegpt, "openai-tools": check_openai_tools, "trl-tools": check_trl_tools,
    "mlx-tools": check_mlx, "rl": check_rl,
}
