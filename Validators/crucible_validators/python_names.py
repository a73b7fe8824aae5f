"""Resolving names in one module: what `svcs.flask.get`, `get` or `sf.get` refer to, given the
module's imports, and which scope (function or module) a node sits in."""

import ast

from .signatures import dotted_name


def import_aliases(tree):
    """{local name: full dotted name} from the module's import statements."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    aliases.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = node.module + "." + alias.name
    return aliases


def full_name(node, aliases):
    """The dotted name of a Name/Attribute chain with its first part expanded through imports."""
    name = dotted_name(node)
    if not name:
        return ""
    head, _, rest = name.partition(".")
    expanded = aliases.get(head, head)
    return expanded + ("." + rest if rest else "")


def scoped_nodes(tree):
    """Yields (node, enclosing function or None) for every node, each once."""
    stack = [(tree, None)]
    while stack:
        node, scope = stack.pop()
        yield node, scope
        inner = node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else scope
        for child in ast.iter_child_nodes(node):
            stack.append((child, inner))


def span(node):
    """[line, col, end_line, end_col] of a node (0-based columns), plain JSON."""
    return [node.lineno, node.col_offset, getattr(node, "end_lineno", None) or node.lineno,
            getattr(node, "end_col_offset", None) or node.col_offset + 1]
