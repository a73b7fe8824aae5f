"""Python 3.14 beside the system's 3.11, in one run: first-use provisioning (image and zygote),
a warm `crucible run --python 3.14`, fresh executions and session cells through `crucible
serve` on both interpreters beside pydantic-monty and in-process python3.14, the import time
`--preload tdom` saves, and fresh executions per second with 2 cores busy. Adds a "python314"
section to the benchmark's JSON (argv[2]) and prints tables.

    python python314_bench.py CRUCIBLE_BINARY RESULTS_JSON [RUNS]

Needs root (images are built and entered as root), deb.debian.org and pypi.org.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Clients", "python"))

import pydantic_monty
from crucible_client import Crucible

os.environ["CRUCIBLE_CORPUS"] = os.path.join(tempfile.mkdtemp(prefix="crucible-bench-corpus-"), "corpus.sqlite")
binary, results_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 300
TDOM = "tdom==0.1.20"
RENDER = "from tdom import html\nhtml(t'<p>{1}</p>')"


def stats(times_us):
    times_us = sorted(times_us)
    return {"n": len(times_us), "median_us": times_us[len(times_us) // 2],
            "p99_us": times_us[min(len(times_us) - 1, int(len(times_us) * 0.99))]}


def measure(function, n=runs):
    times = []
    for _ in range(n):
        start = time.perf_counter_ns()
        function()
        times.append((time.perf_counter_ns() - start) / 1000)
    return stats(times)


def serve(*args):
    return Crucible([binary, "serve", "--no-standard-tools", *args], stderr=open(os.devnull, "w"))


# 1. First use: a fresh cache, `crucible python install 3.14` builds the image and its zygote.
print("bench: provisioning Python 3.14 into a fresh cache", file=sys.stderr)
fresh_cache = tempfile.mkdtemp(prefix="crucible-bench-cache-")
start = time.perf_counter()
install = subprocess.run([binary, "python", "install", "3.14"], capture_output=True, text=True,
                         env=dict(os.environ, XDG_CACHE_HOME=fresh_cache))
provision_s = time.perf_counter() - start
assert install.returncode == 0, install.stderr[-2000:]
image_line = [line for line in install.stderr.splitlines() if "image built in" in line]
image_s = float(image_line[0].split("image built in ")[1].split()[0]) if image_line else None
shutil.rmtree(fresh_cache, ignore_errors=True)
# The user's cache is the warm one from here on.
assert subprocess.run([binary, "python", "install", "3.14"], capture_output=True).returncode == 0

# 2. A whole `crucible run` process, warm (image, zygote and environment cached).
def cli(*args):
    return lambda: subprocess.run([binary, "run", "-", *args], input=b"x = 1 + 2", capture_output=True, check=True)


cli_cells = {}
for name, args in [("crucible run (3.11)", ()), ("crucible run --python 3.14", ("--python", "3.14"))]:
    cli(*args)()
    cli_cells[name] = measure(cli(*args), n=20)

# 3. Fresh executions and session cells through serve, both interpreters, beside Monty and
#    in-process python3.14 (exec of the compiled source in the image's own interpreter).
cells = {}
pool = pydantic_monty.Monty(min_processes=2, max_processes=2).__enter__()


def monty():
    with pool.checkout() as session:
        session.feed_run("x = 1 + 2")


for version in ("3.11", "3.14"):
    with serve("--python", version) as crucible:
        session = crucible.open_session(persistent=True)
        for _ in range(50):
            crucible.execute("x = 1 + 2")
            session.execute("x = 1 + 2")
        cells["serve fresh worker, Python %s" % version] = measure(lambda: crucible.execute("x = 1 + 2"))
        cells["serve session cell, Python %s" % version] = measure(lambda: session.execute("x = 1 + 2"))
cells["monty fresh checkout (same process)"] = measure(monty)
image = json.loads(subprocess.run([binary, "python", "list", "--json"], capture_output=True, text=True).stdout)["images"]
root = [entry["root"] for entry in image if entry["version"] == "3.14"][0]
in_process = subprocess.run(
    ["chroot", root, "/usr/bin/python3.14", "-I", "-c",
     "import time, json\nts = []\nfor _ in range(%d):\n    s = time.perf_counter_ns()\n"
     "    exec(compile('x = 1 + 2', '<c>', 'exec'), {})\n    ts.append((time.perf_counter_ns() - s) / 1000)\n"
     "print(json.dumps(ts))" % runs], capture_output=True, text=True, check=True)
cells["python3.14 in-process exec (no isolation)"] = stats(json.loads(in_process.stdout))

# 4. What --preload tdom saves a fresh execution that renders with tdom (3.14).
preload = {}
for name, args in [("without --preload", ()), ("with --preload tdom", ("--preload", "tdom"))]:
    with serve("--python", "3.14", "--with", TDOM, *args) as crucible:
        for _ in range(20):
            assert crucible.execute(RENDER)["outcome"] == "ok"
        preload[name] = measure(lambda: crucible.execute(RENDER), n=max(50, runs // 3))

# 5. Fresh executions per second: 4 client threads (2 cores) for 10 s against one server.
throughput = {}
for version in ("3.11", "3.14"):
    with serve("--python", version, "--pool-size", "8") as crucible:
        for _ in range(50):
            crucible.execute("x = 1 + 2")
        done, stop = [0], time.perf_counter() + 10
        lock = threading.Lock()

        def worker():
            while time.perf_counter() < stop:
                assert crucible.execute("x = 1 + 2")["outcome"] == "ok"
                with lock:
                    done[0] += 1

        threads = [threading.Thread(target=worker) for _ in range(4)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        throughput["Python %s" % version] = done[0] / (time.perf_counter() - started)

print("| first use | seconds |\n|---|---:|")
print("| `crucible python install 3.14`, fresh cache (image + zygote) | %.1f |" % provision_s)
if image_s:
    print("| &nbsp;&nbsp;of which the image (mmdebstrap) | %.1f |" % image_s)
print("\n| cell | n | median µs | p99 µs |\n|---|---:|---:|---:|")
for name, value in list(cli_cells.items()) + list(cells.items()):
    print("| %s | %d | %.1f | %.1f |" % (name, value["n"], value["median_us"], value["p99_us"]))
print("\n| fresh tdom render, Python 3.14 | n | median µs | p99 µs |\n|---|---:|---:|---:|")
for name, value in preload.items():
    print("| %s | %d | %.1f | %.1f |" % (name, value["n"], value["median_us"], value["p99_us"]))
print("\nfresh executions per second through serve (4 clients, 2 cores): " +
      ", ".join("%s %.0f/s" % item for item in throughput.items()))

with open(results_path) as handle:
    document = json.load(handle)
document["python314"] = {
    "date": time.strftime("%Y-%m-%d"), "runs": runs, "provision_s": provision_s, "image_s": image_s,
    "cli": cli_cells, "cells": cells, "preload_tdom": preload, "throughput_per_s": throughput,
    "python": [entry["python_version"] for entry in image if entry["version"] == "3.14"][0],
}
with open(results_path, "w") as handle:
    json.dump(document, handle, indent=2, sort_keys=True)
