"""Crucible over a Ray cluster: every node runs its own `crucible serve`, the driver spreads
executions over them and gathers the results in input order.

    import ray
    from crucible_client.ray import execute_many

    ray.init(address="auto")
    results = execute_many(codes, timeout=10, corpus_dir="/var/lib/crucible/corpus")
    rewards = [1.0 if r.ok and r.value == expected else 0.0 for r, expected in zip(results, answers)]

One actor per alive node (pinned with NodeAffinitySchedulingStrategy) owns a local Crucible,
found through $CRUCIBLE_BIN or PATH on that node. The driver keeps each node busy with up to
`per_node` executions in flight; when a node dies, what it had in flight goes back to the
queue and runs on the nodes left, so each input gets exactly one result. Each result carries
the `node_id` that ran it. With `corpus_dir`, each node records into
`corpus_dir/<node_id>.sqlite` on its own disk; `crucible corpus merge` combines them.

Ray is imported here only: the rest of the package works without it.
"""

import collections
import os
import tempfile
import threading

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .results import CrucibleError, ExecutionResult
from .stdio import Crucible

__all__ = ["CruciblePool", "execute_many"]

# Failures that mean "this node's crucible went away", not "this code failed": the work is
# put back and runs elsewhere (or on the restarted serve).
_CONNECTION_LOST = -32000
_BUSY = -32003


class _NodeCrucible:
    """The actor on one node: a `crucible serve` child process, shared by the actor's threads
    (Crucible is thread-safe and serve runs requests concurrently)."""

    def __init__(self, python, packages, corpus_dir, serve_args):
        self.node_id = ray.get_runtime_context().get_node_id()
        self._options = (python, packages, corpus_dir, serve_args)
        self._lock = threading.Lock()
        self._crucible = self._start()

    def _start(self):
        python, packages, corpus_dir, serve_args = self._options
        env = dict(os.environ)
        if corpus_dir is not None:
            os.makedirs(corpus_dir, exist_ok=True)
            env["CRUCIBLE_CORPUS"] = os.path.join(corpus_dir, "%s.sqlite" % self.node_id)
        # serve's log goes to a file, so a serve that cannot start can say why (a package that
        # will not install, a bad flag) in the error the driver sees.
        log = tempfile.TemporaryFile()
        try:
            return Crucible(python=python, packages=packages, args=serve_args, env=env, stderr=log)
        except CrucibleError as error:
            log.seek(0)
            said = log.read()[-4000:].decode("utf-8", "replace").strip()
            raise RuntimeError("crucible serve did not start on node %s: %s%s" % (
                self.node_id, error.message, "; it said: " + said if said else "")) from None

    def ready(self):
        return self.node_id

    def execute(self, code, timeout, memory_mb, corpus):
        crucible = self._crucible
        try:
            result = crucible.execute(code, timeout=timeout, memory_mb=memory_mb, corpus=corpus)
        except CrucibleError as error:
            if error.code == _CONNECTION_LOST:
                # serve died under us: start another for the next call; this one is retried.
                with self._lock:
                    if self._crucible is crucible:
                        self._crucible = self._start()
                return "retry", error.message
            if error.code == _BUSY:
                return "retry", error.message
            raise
        result["node_id"] = self.node_id
        return "done", dict(result)

    def close(self):
        self._crucible.close()


class CruciblePool:
    """One Crucible actor on every alive node of the Ray cluster `ray.init` connected to.
    Reuse a pool across calls to skip the actors' start-up (about a second per call)."""

    def __init__(self, *, python=None, packages=(), corpus_dir=None, serve_args=(), per_node=8):
        if not ray.is_initialized():
            raise RuntimeError("call ray.init(...) first: the pool spreads work over the cluster it connected to")
        self.per_node = per_node
        self.retried = []  # of the last execute_many: indices run again after their node died
        actor_class = ray.remote(
            # serve's sandbox is its own process pool: the actor itself only relays, so it takes
            # no CPU from Ray's accounting (the training job's tasks keep theirs); threads let
            # per_node executions wait on serve at once. A dead node's actor is not restarted
            # elsewhere: the other nodes' actors take its work.
            num_cpus=0, max_concurrency=per_node, max_restarts=0)(_NodeCrucible)
        self.actors = {}
        for node in ray.nodes():
            if node.get("Alive"):
                self.actors[node["NodeID"]] = actor_class.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                ).remote(python, list(packages or ()), corpus_dir, list(serve_args))
        if not self.actors:
            raise RuntimeError("the Ray cluster has no alive node")
        # Start-up fails loudly (crucible missing on a node, a package that will not install).
        ready = {node: actor.ready.remote() for node, actor in self.actors.items()}
        for node, ref in ready.items():
            try:
                ray.get(ref)
            except ray.exceptions.RayError as error:
                self.close()
                raise RuntimeError("the Crucible actor on node %s did not start: %s" % (node, error)) from None

    def execute_many(self, codes, *, timeout=None, memory_mb=None, corpus=None, max_tries=3, on_result=None):
        """Runs every code; returns ExecutionResults in input order, each with `node_id`.
        `on_result(index, result)` is called as each arrives (progress bars; the tests kill
        a node from it). A code is tried on at most `max_tries` nodes before this raises."""
        codes = list(codes)
        results = [None] * len(codes)
        queue = collections.deque(range(len(codes)))
        tries = [0] * len(codes)
        in_flight = {}  # ObjectRef -> (index, node id)
        load = collections.Counter()
        self.retried = []  # indices put back because their node died or its serve was lost
        while queue or in_flight:
            self._fill(codes, queue, in_flight, load, tries, (timeout, memory_mb, corpus))
            if not in_flight:
                raise RuntimeError("every node's Crucible actor died; %d of %d codes have no result" % (
                    sum(r is None for r in results), len(codes)))
            done, _ = ray.wait(list(in_flight), num_returns=1)
            arrived = []
            for ref in done:
                index, node = in_flight.pop(ref)
                load[node] -= 1
                try:
                    status, answer = ray.get(ref)
                except ray.exceptions.RayActorError:
                    # The node (or its actor) died: everything it had in flight fails the same
                    # way and comes back here, so each index is queued again exactly once.
                    self.actors.pop(node, None)
                    status, answer = "retry", "node %s died" % node
                except ray.exceptions.ObjectLostError:
                    # A large result (over Ray's inline size) stays in its node's object store
                    # until fetched; the node died first. The code ran, but its result is gone.
                    status, answer = "retry", "the result of code #%d was lost with node %s" % (index, node)
                if status == "done":
                    assert results[index] is None, "a second result for code #%d" % index
                    results[index] = ExecutionResult(answer)
                    arrived.append(index)
                elif tries[index] >= max_tries:
                    raise RuntimeError("code #%d was tried %d times without a result (last: %s)" % (index, tries[index], answer))
                else:
                    queue.append(index)
                    self.retried.append(index)
            # Refill before reporting, so the nodes stay busy while the callback runs.
            self._fill(codes, queue, in_flight, load, tries, (timeout, memory_mb, corpus))
            if on_result is not None:
                for index in arrived:
                    on_result(index, results[index])
        return results

    def _fill(self, codes, queue, in_flight, load, tries, options):
        """Gives every live node work up to per_node in flight, least loaded first."""
        for node in sorted(self.actors, key=lambda n: load[n]):
            while queue and load[node] < self.per_node:
                index = queue.popleft()
                tries[index] += 1
                in_flight[self.actors[node].execute.remote(codes[index], *options)] = (index, node)
                load[node] += 1

    def close(self):
        """Stops every node's serve (closing its stdin: it finishes, writes its corpus, exits),
        then the actors."""
        actors, self.actors = self.actors, {}
        closing = [actor.close.remote() for actor in actors.values()]
        for ref in closing:  # each on its own: one dead node must not cut the others' writes short
            try:
                ray.get(ref, timeout=60)
            except (ray.exceptions.RayError, TimeoutError):
                pass  # a dead node has nothing left to close
        for actor in actors.values():
            ray.kill(actor)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def execute_many(codes, *, timeout=None, memory_mb=None, python=None, packages=(), corpus=None, corpus_dir=None,
                 serve_args=(), per_node=8, pool=None, on_result=None):
    """Runs `codes` over every node of the Ray cluster; ExecutionResults in input order, each
    with its `node_id`. `python` and `packages` choose each node's interpreter and packages;
    `corpus_dir` makes each node record into `corpus_dir/<node_id>.sqlite`. Pass `pool` (a
    CruciblePool) to reuse actors across calls; without one, a pool lives for this call."""
    if pool is not None:
        return pool.execute_many(codes, timeout=timeout, memory_mb=memory_mb, corpus=corpus, on_result=on_result)
    with CruciblePool(python=python, packages=packages, corpus_dir=corpus_dir, serve_args=serve_args,
                      per_node=per_node) as own:
        return own.execute_many(codes, timeout=timeout, memory_mb=memory_mb, corpus=corpus, on_result=on_result)
