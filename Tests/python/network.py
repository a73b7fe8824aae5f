"""Whether the tests that need the network can run here: a TCP connection to the host that
serves what they fetch (pypi.org for packages, deb.debian.org for interpreter images)."""

import socket


def reachable(host, port, timeout=5):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False
