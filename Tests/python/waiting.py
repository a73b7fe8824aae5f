"""Bounded waits on something a test can observe, in place of sleeping and hoping: on a slow,
shared machine a fixed sleep is either too short (the test fails by luck) or long enough that
a race it should catch goes unseen."""

import os
import time

CAP_SYS_PTRACE = 19


def wait_until(condition, timeout=30, what="the condition", interval=0.02):
    """Calls `condition` until it returns something true, and returns that; AssertionError
    naming `what` once `timeout` seconds have passed without it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %s s" % (what, timeout))
        time.sleep(interval)


def descendants(pid):
    """The processes below `pid` (children, grandchildren, ...), as /proc shows them now."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        children = parents.get(pending.pop(), [])
        found += children
        pending += children
    return found


def sleepers_visible():
    """Whether this process can see where the sandbox's workers block. They are not dumpable,
    so the kernel shows their /proc/PID/wchan ("0" otherwise) only to a reader with
    CAP_SYS_PTRACE: root, in most setups."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("CapEff:"))
        capabilities = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return False
    return bool(capabilities >> CAP_SYS_PTRACE & 1) and os.path.exists("/proc/self/wchan")


def asleep(pid):
    """The sandbox workers below `pid` blocked in nanosleep: sandboxed code inside time.sleep."""
    found = []
    for child in descendants(pid):
        try:
            with open("/proc/%d/cmdline" % child, "rb") as cmdline:
                if b"crucible-zygote" not in cmdline.read():
                    continue
            with open("/proc/%d/wchan" % child) as wchan:
                if "nanosleep" in wchan.read():
                    found.append(child)
        except OSError:
            continue  # gone meanwhile
    return found


def wait_until_asleep(count, pid=None, timeout=60, otherwise=1.0):
    """Waits until `count` sandboxed cells run by the crucible server `pid` (or by any process
    this test started) are inside time.sleep, i.e. running in their workers. Where that cannot
    be seen (see sleepers_visible), it waits `otherwise` seconds instead, as these tests did
    before, and a slow machine may then still lose the race."""
    if not sleepers_visible():
        time.sleep(otherwise)
        return
    pid = os.getpid() if pid is None else pid
    wait_until(lambda: len(asleep(pid)) >= count, timeout,
               "%d sandboxed cell(s) under pid %d asleep in their workers" % (count, pid))
