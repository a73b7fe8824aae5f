"""Crucible's Python client: run model-written Python in Crucible's kernel sandbox.

    from crucible_client import Crucible              # stdio: a local `crucible serve`
    from crucible_client import AsyncCrucible         # the same, for asyncio
    from crucible_client import CrucibleHTTP, AsyncCrucibleHTTP  # a `crucible http` server
    from crucible_client.ray import execute_many      # fan out over a Ray cluster

Every client returns the same typed results (ExecutionResult, ValidationResult, ...), which
are also plain dicts: `result.outcome == result["outcome"]`.
"""

from .aio import AsyncCrucible, AsyncSession
from .http import AsyncCrucibleHTTP, AsyncHTTPSession, CrucibleHTTP, HTTPSession
from .results import CrucibleError, Diagnostic, ExecutionResult, FeedbackResult, ValidationResult
from .stdio import Crucible, Session, Tool, crucible_binary, serve_command, tool

__all__ = [
    "AsyncCrucible", "AsyncCrucibleHTTP", "AsyncHTTPSession", "AsyncSession", "Crucible", "CrucibleError",
    "CrucibleHTTP", "Diagnostic", "ExecutionResult", "FeedbackResult", "HTTPSession", "Session", "Tool",
    "ValidationResult", "crucible_binary", "serve_command", "tool",
]
