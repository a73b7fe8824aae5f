"""The client-tool workload that serve_bench.py and serve_latency.py both measure: code calling
a tool the client declares three times (each call goes sandbox -> host -> client -> host ->
sandbox), beside Monty calling the same function as an external one."""

from crucible_client import tool

THREE = "a = get_user(1); b = get_user(2); c = get_user(3); a['name'] + b['name'] + c['name']"


def get_user_fn(user_id):
    return {"id": user_id, "name": "user%d" % user_id}


get_user = tool(
    get_user_fn,
    name="get_user",
    input_schema={"type": "object", "properties": {"user_id": {"type": "integer"}}, "required": ["user_id"]},
    output_schema={"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                   "required": ["id", "name"]},
)
