"""Where a fresh execution's page faults land: by mapping of the zygote (the Python heap, the
glibc heap, libpython's data, the text of each library) and by the function that faulted.
Starts `crucible serve` (a pool of 2, no corpus, no standard tools), runs fresh executions of
`x = 1 + 2`, and records every page fault on the machine with `perf record -e page-faults -d`
meanwhile; faults of processes named `crucible-zygote` (the zygote and its workers) are mapped
through the zygote's /proc/PID/maps (workers are forks of it: the same layout). Text faults
(`r-xp`) map pages no write touched: fork does not copy the page tables of file mappings.
Functions come from addr2line: in a stripped library (Debian's libpython3.14) they are the
nearest exported symbol, not always the function that faulted. Needs root (or
perf_event_paranoid <= 0), `perf` and binutils.

    python3 Benchmarks/diagnostics/worker_fault_regions.py .build/release/crucible [N] [serve options, e.g. --python 3.14]
"""

import collections
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))
from crucible_client import Crucible  # noqa: E402


def children(pid):
    found = []
    for task in os.listdir("/proc/%d/task" % pid):
        found += [int(c) for c in open("/proc/%d/task/%s/children" % (pid, task)).read().split()]
    return found


def mappings(pid):
    """[(start, end, 'name perms', path)] of a process."""
    found = []
    for line in open("/proc/%d/maps" % pid):
        parts = line.split()
        start, end = (int(x, 16) for x in parts[0].split("-"))
        path = parts[5] if len(parts) > 5 else "[anon]"
        found.append((start, end, "%s %s" % (os.path.basename(path) or path, parts[1]), path, int(parts[2], 16)))
    return found


def symbol(ip, maps, root):
    """The function at `ip`, through addr2line on the file mapped there (or the address). Paths
    are read through the zygote's root (`/proc/PID/root`): a 3.14 zygote lives in its image."""
    for start, end, _, path, offset in maps:
        file = root + path
        if start <= ip < end and path.startswith("/") and os.path.isfile(file):
            elf = subprocess.run(["readelf", "-h", file], capture_output=True, text=True).stdout
            address = ip if "EXEC" in elf else ip - start + offset
            name = subprocess.run(["addr2line", "-f", "-e", file, hex(address)], capture_output=True, text=True).stdout
            name = name.split("\n")[0]
            return "%s (%s)" % (name if name and name != "??" else hex(address), os.path.basename(path))
    return hex(ip)


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    extra = sys.argv[3:]
    data = os.path.join(tempfile.mkdtemp(prefix="crucible-faults-"), "perf.data")
    with Crucible([binary, "serve", "--no-standard-tools", "--pool-size", "2", "--no-corpus", *extra],
                  stderr=open(os.devnull, "w")) as crucible:
        for _ in range(30):
            crucible.execute("x = 1 + 2")
        outer = [p for p in children(crucible._process.pid)]
        inner = [c for p in outer for c in children(p)]
        # The zygote is pid 1 of its namespace, a child of the process that waits for it
        # (when namespaces are on); its workers come and go.
        zygote = min(inner) if inner else min(outer)
        maps = mappings(zygote)
        recorder = subprocess.Popen(["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-d", "-a", "-o", data],
                                    stderr=subprocess.DEVNULL)
        time.sleep(1)
        for _ in range(runs):
            crucible.execute("x = 1 + 2")
        recorder.send_signal(2)
        recorder.wait()
        report(data, maps, runs, "/proc/%d/root" % zygote)  # while the zygote (and its root) lives


def report(data, maps, runs, root):
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,addr,ip"], capture_output=True, text=True).stdout
    regions, sites, total = collections.Counter(), collections.Counter(), 0
    for line in script.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[0] != "crucible-zygote":
            continue
        address, ip = int(parts[1], 16), int(parts[2], 16)
        total += 1
        regions[next((name for start, end, name, _, _ in maps if start <= address < end), "(not mapped in the zygote)")] += 1
        sites[ip] += 1
    print("page faults per fresh execution (zygote and workers): %.1f" % (total / runs))
    print("by mapping:")
    for name, count in regions.most_common(15):
        print("  %-55s %6.1f" % (name, count / runs))
    print("by faulting function:")
    by_function = collections.Counter()
    for ip, count in sites.most_common(60):
        by_function[symbol(ip, maps, root)] += count
    for name, count in by_function.most_common(15):
        print("  %-55s %6.1f" % (name[:55], count / runs))


if __name__ == "__main__":
    main()
