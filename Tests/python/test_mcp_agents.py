"""`crucible mcp` as agents use it: pydantic-ai 2.x (installed by scripts/setup) attaching it
with the README's own code, a scripted model (pydantic-ai's FunctionModel, no hosted model)
making the tool calls, and what the model then reads."""

import os
import re
import subprocess
import sys
import time

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelResponse, RetryPromptPart, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
DIRECTORY_SERVER = os.path.join(HERE, "fixtures", "directory_server.py")


def readme_agent(model, project, extra_args=()):
    """The README's pydantic-ai block, run as written but for the paths and the model."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"pydantic-ai \(v2.*?```python\n(.*?)```", readme, re.S).group(1)
    assert "MCPToolset(StdioTransport(" in block
    block = block.replace("/path/to/crucible/.build/debug/crucible", CRUCIBLE).replace("/path/to/project", str(project))
    block = block.replace('"openai:gpt-4.1"', "model")
    if extra_args:
        block = block.replace('args=["mcp",', "args=[\"mcp\", %s," % ", ".join(repr(a) for a in extra_args))
    namespace = {"model": model}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace["agent"]


class Script:
    """A model that makes the given tool calls in turn, then answers with the last result it saw."""

    def __init__(self, *calls):
        self.calls = list(calls)
        self.seen = []  # what came back to the model, in order

    def __call__(self, messages, info: AgentInfo):
        for part in messages[-1].parts:
            if isinstance(part, (ToolReturnPart, RetryPromptPart)):
                self.seen.append(part)
        if self.calls:
            name, arguments = self.calls.pop(0)
            return ModelResponse(parts=[ToolCallPart(name, arguments)])
        return ModelResponse(parts=[TextPart(str(self.seen[-1].content))])


def text_of(part):
    return part.model_response() if isinstance(part, RetryPromptPart) else str(part.content)


def test_the_readme_example_runs_with_pydantic_ai_and_errors_reach_the_model_as_plain_text(repo):
    script = Script(
        ("run_python", {"code": "x = 1\ny = x / 0\n"}),
        ("run_python", {"code": "[c.author for c in git_log().commits]"}),
    )
    agent = readme_agent(FunctionModel(script), repo, extra_args=["--no-corpus"])
    result = agent.run_sync("Who wrote the commits?")
    failure, success = (text_of(part) for part in script.seen)
    # The failure reads as a traceback with the line, not as escaped JSON.
    assert "ZeroDivisionError" in failure and "line 2" in failure and "y = x / 0" in failure
    assert '"outcome"' not in failure and '\\n' not in failure
    assert len(failure) < 700, failure
    # The success is the value, without the trace unless asked for.
    assert "['Grace', 'Ada']" in success and "field_reads" not in success
    assert "Grace" in result.output


def test_pydantic_ai_test_model_lists_and_calls_the_tools(repo):
    model = TestModel(call_tools=["describe_tools"])
    agent = readme_agent(model, repo, extra_args=["--no-corpus"])
    result = agent.run_sync("What can the sandbox call?")
    assert "git_log" in result.output and "python_api" in result.output


def test_initialize_answers_at_once_while_a_slow_tools_from_server_starts(repo, tmp_path):
    # The second server takes 7 s to come up; pydantic-ai gives `initialize` 5 s. Crucible
    # answers at once and lists its tools when that server is ready.
    slow = tmp_path / "slow_server.py"
    slow.write_text("import runpy, time\ntime.sleep(7)\nrunpy.run_path(%r, run_name='__main__')\n" % DIRECTORY_SERVER)
    script = Script(("run_python", {"code": "get_user(user_id=2).name"}))
    env_path = os.path.join(ROOT, ".crucible", "tools")
    agent = readme_agent(FunctionModel(script), repo, extra_args=[
        "--no-corpus", "--tools-from", "env PYTHONPATH=%s %s %s" % (env_path, sys.executable, slow)])
    started = time.monotonic()
    result = agent.run_sync("Who is user 2?")
    assert result.output == "Grace" or "Grace" in result.output
    assert time.monotonic() - started >= 7  # the call waited for the slow server, initialize did not


def test_tool_calls_made_with_asyncio_gather_and_top_level_await(repo):
    code = (
        "import asyncio\n"
        "status, log = await asyncio.gather(git_status(), git_log())\n"
        "first = await git_log()\n"
        "(status.clean, [c.subject for c in log.commits], first.commits[0].subject)\n"
    )
    script = Script(("run_python", {"code": code}))
    agent = readme_agent(FunctionModel(script), repo, extra_args=["--no-corpus"])
    agent.run_sync("Summarize the repository.")
    (returned,) = script.seen
    assert isinstance(returned, ToolReturnPart), text_of(returned)
    assert returned.content["value"] == [True, ["Second", "First"], "Second"]
    assert returned.content["tool_calls"] == 3
