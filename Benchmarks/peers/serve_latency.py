"""Issue 22 item 4: per-request overhead through `crucible serve` as a Python client sees it,
beside pydantic-monty in the same process and the same run.

    python serve_latency.py CRUCIBLE_BINARY [RUNS] [ROUNDS]

Cells, interleaved over ROUNDS rounds of RUNS requests each, every other round in reverse
order, each block after RUNS/5 unmeasured calls of the same cell (the medians printed are
the median of all requests of a cell; p99 likewise):
- `list_tools`: the JSON-RPC floor (a request the host answers without a worker);
- a persistent-session cell `x = 1 + 2` (corpus recording on, the default), and the same
  with `corpus=False` (the record is written on a background queue: this shows its CPU's toll);
- a persistent-session cell calling a client-provided tool three times (each call goes
  sandbox -> host -> client -> host -> sandbox);
- Monty running the same three calls: a fresh checkout from its warm pool per run, and
  one checked-out session fed again and again.
Also prints the CPU time the client, the host (`crucible serve`) and the session's worker
used per request of each crucible cell, from /proc (the machine is shared: CPU time moves
less than wall time when other work runs).
"""
import atexit
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Clients", "python"))

import pydantic_monty
from crucible_client import Crucible
from client_tool_workload import THREE, get_user, get_user_fn

corpus_folder = tempfile.mkdtemp(prefix="crucible-latency-corpus-")
atexit.register(shutil.rmtree, corpus_folder, True)
os.environ["CRUCIBLE_CORPUS"] = os.path.join(corpus_folder, "corpus.sqlite")

binary = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 500
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def descendants(pid):
    """Every process below pid (the zygote and its workers)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = []
        try:
            for task in os.listdir("/proc/%d/task" % parent):
                with open("/proc/%d/task/%s/children" % (parent, task)) as handle:
                    children += handle.read().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            frontier.append(child)
    return found


pool = pydantic_monty.Monty(min_processes=2, max_processes=2).__enter__()
with pool.checkout() as warm:
    warm.feed_run("1")
external = {"get_user": get_user_fn}
# A Monty session takes at most 1,000 suspensions (external calls): a new one every 300 feeds
# (that one sample includes the checkout; the median does not move).
monty_session = {"checkout": None, "feeds": 300}


def monty_fresh():
    with pool.checkout() as session:
        session.feed_run(THREE, external_lookup=external)


def monty_feed():
    if monty_session["feeds"] == 300:
        if monty_session["checkout"] is not None:
            monty_session["checkout"].__exit__(None, None, None)
        monty_session["checkout"] = pool.checkout()
        monty_session["session"] = monty_session["checkout"].__enter__()
        monty_session["feeds"] = 0
    monty_session["feeds"] += 1
    monty_session["session"].feed_run(THREE, external_lookup=external)


times = {}
cpu = {}
with Crucible([binary, "serve", "--no-standard-tools"], stderr=open(os.devnull, "w")) as crucible:
    host = crucible._process.pid
    cell = crucible.open_session(tools=[get_user], persistent=True)
    for _ in range(100):
        cell.execute("x = 1 + 2")
        cell.execute(THREE)
        crucible.list_tools()
        monty_fresh()
        monty_feed()
    assert cell.execute(THREE)["value"] == "user1user2user3"
    cells = [
        ("serve list_tools (JSON-RPC floor)", lambda: crucible.list_tools(), True),
        ("serve session cell `x = 1 + 2`", lambda: cell.execute("x = 1 + 2"), True),
        ("serve session cell `x = 1 + 2`, not recorded", lambda: cell.execute("x = 1 + 2", corpus=False), True),
        ("serve session cell, 3 client-tool calls", lambda: cell.execute(THREE), True),
        ("monty fresh checkout, 3 external calls", monty_fresh, False),
        ("monty session feed, 3 external calls", monty_feed, False),
    ]
    clock = time.perf_counter_ns
    for round_number in range(rounds):
        # Every other round in reverse order, and each block after unmeasured calls of its
        # own: a block inherits where the scheduler put the threads of the block before it
        # (on 2 cores, the first session-cell block after list_tools measured 1.5-2x slower,
        # whichever of the recorded or unrecorded cell it was; BENCHMARKS.md, issue 22).
        for name, function, is_crucible in (cells if round_number % 2 == 0 else cells[::-1]):
            for _ in range(max(20, runs // 5)):
                function()
            samples = times.setdefault(name, [])
            if is_crucible:
                workers = descendants(host)
                before = (time.process_time(), cpu_seconds(host), sum(cpu_seconds(p) for p in workers))
            for _ in range(runs):
                start = clock()
                function()
                samples.append((clock() - start) / 1000)
            if is_crucible:
                after = (time.process_time(), cpu_seconds(host), sum(cpu_seconds(p) for p in workers))
                spent = cpu.setdefault(name, [0.0, 0.0, 0.0])
                for index in range(3):
                    spent[index] += after[index] - before[index]


def quantile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


print("| cell | n | p50 µs | p99 µs | client CPU µs | host CPU µs | zygote+worker CPU µs |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, samples in times.items():
    spent = cpu.get(name)
    extra = " | ".join("%.0f" % (value / len(samples) * 1e6) for value in spent) if spent else "| |"
    print("| %s | %d | %.1f | %.1f | %s |" % (name, len(samples), quantile(samples, 0.5), quantile(samples, 0.99), extra))
three = quantile(times["serve session cell, 3 client-tool calls"], 0.5)
print("\n3 client-tool calls / monty fresh checkout: %.2fx; / monty session feed: %.2fx" % (
    three / quantile(times["monty fresh checkout, 3 external calls"], 0.5),
    three / quantile(times["monty session feed, 3 external calls"], 0.5)))
