"""The main job's MCP step: an agent's side of `crucible mcp`, through the official Python MCP
client (installed by scripts/setup into .crucible/tools). It lists the tools, runs one program
that uses the typed tools on this repository, and validates a bad view and then its fix,
which the corpus keeps as one error-to-fix pair.

    python3 Corpus/demo/mcp_agent.py CRUCIBLE CORPUS
"""
import asyncio
import os
import sys

from mcp import Client, StdioServerParameters

crucible, corpus = sys.argv[1], sys.argv[2]
PROGRAM = """log = git_log(max_count=3)
status = git_status()
{"latest": [c.subject[:60] for c in log.commits], "branch": status.branch, "clean": status.clean}"""
BAD_VIEW = 'from tdom import html, Element\n\ndef card_view(name: str) -> Element:\n    return html(f"<p>{name}</p>")\n'
GOOD_VIEW = ('from tdom import html, Element\nfrom app.views import view\n\n@view\n'
             'def card_view(name: str) -> Element:\n    return html(t"<p>{name}</p>")\n')


async def main():
    params = StdioServerParameters(command=crucible, args=["mcp", "--corpus", corpus], env=dict(os.environ))
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        print("tools:", ", ".join(tool.name for tool in tools))
        ran = await client.call_tool("run_python", {"code": PROGRAM, "trace": True})
        if ran.is_error:
            sys.exit("run_python failed:\n" + ran.content[0].text)
        out = ran.structured_content
        print("run_python ->", out["value"])
        print("  tool calls:", ", ".join(c["tool"] for c in out["trace"]["tool_calls"]),
              "| fields read:", ", ".join(sorted({r["path"] for r in out["trace"]["field_reads"]})))
        bad = await client.call_tool("validate_code", {"code": BAD_VIEW, "kind": "view"})
        feedback = bad.content[0].text  # an error is plain text for the model: rules, lines, hints
        print("validate_code (bad view) -> isError:", bool(bad.is_error), "| rules:",
              ", ".join(sorted({word for word in feedback.split() if word[:4] == "VIEW"})))
        print("  feedback for the model:", feedback.splitlines()[0])
        good = await client.call_tool("validate_code", {"code": GOOD_VIEW, "kind": "view"})
        print("validate_code (fixed view) -> passed:", good.structured_content["passed"])


asyncio.run(main())
