"""What the zygote's language runtime costs every fork: a process that only forks children
which _exit(0) at once, and reaps them, built four ways, run alternately in one window:

- C (the floor for a fork server: the prototype's design in ../shared/facts/python314.md);
- Swift importing only Glibc, the Swift runtime linked dynamically;
- Swift importing Foundation (as `crucible-zygote` does), dynamically (`swift build`);
- the same with the runtime and Foundation linked statically (`--static-swift-stdlib`, as
  `scripts/install` builds and as every interpreter image's zygote is linked).

Prints CPU per fork+exit (parent and children, getrusage): each shared library the parent
maps is page tables and VMAs that every fork copies and every exit tears down.

    python3 Benchmarks/diagnostics/fork_runtime_cost.py [N forks] [rounds]
"""

import os
import subprocess
import sys
import tempfile

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++) { pid_t p = fork(); if (p == 0) _exit(0); int s; waitpid(p, &s, 0); }
    struct rusage a, b; getrusage(RUSAGE_SELF, &a); getrusage(RUSAGE_CHILDREN, &b);
    double cpu = a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec + b.ru_stime.tv_sec
        + (a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec + b.ru_stime.tv_usec) / 1e6;
    printf("%.1f\n", cpu / n * 1e6);
}
"""

LOOP_SWIFT = r"""
%(imports)s
let n = Int(CommandLine.arguments[1])!
%(use)s
for _ in 0..<n {
    let pid = fork()
    if pid == 0 { _exit(0) }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}
var own = rusage(), children = rusage()
getrusage(RUSAGE_SELF.rawValue, &own)
getrusage(RUSAGE_CHILDREN.rawValue, &children)
let seconds = [own.ru_utime, own.ru_stime, children.ru_utime, children.ru_stime]
    .reduce(0.0) { $0 + Double($1.tv_sec) + Double($1.tv_usec) / 1e6 }
print(String(seconds / Double(n) * 1e6))
"""

PACKAGE = """// swift-tools-version:5.9
import PackageDescription
let package = Package(name: "loop", targets: [.executableTarget(name: "loop")])
"""


def swift_package(folder, imports, use):
    os.makedirs(os.path.join(folder, "Sources", "loop"))
    with open(os.path.join(folder, "Package.swift"), "w") as handle:
        handle.write(PACKAGE)
    with open(os.path.join(folder, "Sources", "loop", "main.swift"), "w") as handle:
        handle.write(LOOP_SWIFT % {"imports": imports, "use": use})


def build(folder, *flags):
    subprocess.run(["swift", "build", "-c", "release", *flags], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.join(folder, ".build", "release", "loop")


def main():
    n = sys.argv[1] if len(sys.argv) > 1 else "5000"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = tempfile.mkdtemp(prefix="crucible-fork-cost-")
    with open(os.path.join(work, "loop.c"), "w") as handle:
        handle.write(LOOP_C)
    subprocess.run(["cc", "-O2", os.path.join(work, "loop.c"), "-o", os.path.join(work, "loop-c")], check=True)
    # Foundation is used, not only imported, so that it initializes as in the zygote.
    foundation_use = 'let used = (try? JSONSerialization.data(withJSONObject: ["a": 1]))?.count ?? 0\nprecondition(used > 0)'
    swift_package(os.path.join(work, "glibc"), "import Glibc", "")
    swift_package(os.path.join(work, "foundation"), "import Foundation", foundation_use)
    swift_package(os.path.join(work, "static"), "import Foundation", foundation_use)
    programs = [
        ("C", os.path.join(work, "loop-c")),
        ("Swift, Glibc only, shared runtime", build(os.path.join(work, "glibc"))),
        ("Swift + Foundation, shared runtime", build(os.path.join(work, "foundation"))),
        ("Swift + Foundation, --static-swift-stdlib", build(os.path.join(work, "static"), "--static-swift-stdlib")),
    ]
    results = {name: [] for name, _ in programs}
    for _ in range(rounds):  # alternated: the machine's load moves
        for name, program in programs:
            results[name].append(float(subprocess.run([program, n], capture_output=True, text=True, check=True).stdout))
    for name, _ in programs:
        values = sorted(results[name])
        print("%-44s %6.0f-%.0f µs CPU per fork+exit (%d rounds of %s)" % (name, values[0], values[-1], rounds, n))
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
