"""`crucible mcp` from an agent's side, through the official Python MCP client (mcp 2.3.0):

- a run_python round trip (`x = 1 + 2`), client to sandbox and back, through the SDK and
  through a bare JSON-RPC line client (what the server itself costs, without the SDK's
  parsing and output-schema checks);
- three lookups on a second MCP server (Tests/python/fixtures/directory_server.py), made
  (a) as three tools/call requests from the agent straight to that server, and
  (b) as one run_python whose code calls the same tool three times through
      `crucible mcp --tools-from` (code mode over MCP);
- the bridged call as the sandbox sees it (the trace's duration per call).

Interleaved in one run, medians and p99 in milliseconds. Adds an "mcp" section to the
benchmark's JSON. The agent's real saving in (b) is model turns (one instead of three),
which no local benchmark can time; this measures what the bridge costs in wall time.

    PYTHONPATH=.crucible/tools python3 mcp_bench.py CRUCIBLE RESULTS_JSON [ROUNDS]
"""
import asyncio
import json
import os
import sys
import tempfile
import time

from mcp import Client, StdioServerParameters

os.environ["CRUCIBLE_CORPUS"] = os.path.join(tempfile.mkdtemp(prefix="crucible-bench-corpus-"), "corpus.sqlite")
HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "..", "Tests", "python", "fixtures", "directory_server.py")
crucible, results_path = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 200
THREE = "a = get_user(user_id=1); b = get_user(user_id=2); c = get_user(user_id=3)\na.name + b.name + c.name"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values):
    return {"p50_ms": round(percentile(values, 0.5), 3), "p99_ms": round(percentile(values, 0.99), 3), "n": len(values)}


async def main():
    env = dict(os.environ)
    directory = StdioServerParameters(command=sys.executable, args=[SERVER], env=env)
    bridged = StdioServerParameters(
        command=crucible, args=["mcp", "--no-standard-tools", "--no-corpus", "--tools-from", f"{sys.executable} {SERVER}"],
        env=env)
    timings = {"run_python_x_1_plus_2": [], "run_python_x_1_plus_2_session": [], "direct_three_calls": [], "code_mode_three_calls": [], "bridged_call_in_sandbox": []}
    async with Client(directory) as direct, Client(bridged) as mcp:
        await direct.list_tools()
        await mcp.list_tools()
        for warm in range(20):
            await mcp.call_tool("run_python", {"code": "x = 1 + 2"})
            await direct.call_tool("get-user", {"user_id": 1})
        opened = await mcp.call_tool("run_python", {"code": "x = 0", "session": "new"})
        session = opened.structured_content["session"]
        for _ in range(rounds):
            started = time.perf_counter()
            result = await mcp.call_tool("run_python", {"code": "x = 1 + 2"})
            timings["run_python_x_1_plus_2"].append((time.perf_counter() - started) * 1000)
            assert not result.is_error

            started = time.perf_counter()
            result = await mcp.call_tool("run_python", {"code": "x = 1 + 2", "session": session})
            timings["run_python_x_1_plus_2_session"].append((time.perf_counter() - started) * 1000)
            assert not result.is_error

            started = time.perf_counter()
            names = [(await direct.call_tool("get-user", {"user_id": i})).structured_content["name"] for i in (1, 2, 3)]
            timings["direct_three_calls"].append((time.perf_counter() - started) * 1000)
            assert "".join(names) == "AdaGraceEdsger"

            started = time.perf_counter()
            result = await mcp.call_tool("run_python", {"code": THREE, "trace": True})
            timings["code_mode_three_calls"].append((time.perf_counter() - started) * 1000)
            assert result.structured_content["value"] == "AdaGraceEdsger", result.content
            timings["bridged_call_in_sandbox"] += [c["duration_ms"] for c in result.structured_content["trace"]["tool_calls"]]
    return {name: summary(values) for name, values in timings.items()}


def raw_round_trips():
    """The same call over the pipes by hand: one JSON line out, one back."""
    import subprocess
    process = subprocess.Popen([crucible, "mcp", "--no-standard-tools", "--no-corpus"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def ask(message):
        process.stdin.write((json.dumps(message) + "\n").encode())
        process.stdin.flush()
        return json.loads(process.stdout.readline())

    ask({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}})
    process.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_python", "arguments": {"code": "x = 1 + 2"}}}
    timings = []
    for index in range(20 + rounds):
        started = time.perf_counter()
        answer = ask(call)
        if index >= 20:
            timings.append((time.perf_counter() - started) * 1000)
        assert answer["result"]["structuredContent"]["ok"], answer
    process.stdin.close()
    process.wait(timeout=30)
    return summary(timings)


section = asyncio.run(main())
section["run_python_x_1_plus_2_bare_client"] = raw_round_trips()
section["rounds"] = rounds
section["date"] = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())
section["ratio_code_mode_to_direct"] = round(
    section["code_mode_three_calls"]["p50_ms"] / section["direct_three_calls"]["p50_ms"], 2)
for name, figures in section.items():
    if isinstance(figures, dict):
        print("mcp %-26s p50 %7.3f ms  p99 %7.3f ms" % (name, figures["p50_ms"], figures["p99_ms"]), file=sys.stderr)
with open(results_path) as handle:
    results = json.load(handle)
results["mcp"] = section
with open(results_path, "w") as handle:
    json.dump(results, handle, indent=2)
