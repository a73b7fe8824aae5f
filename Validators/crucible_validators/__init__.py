"""Crucible's domain validators: deterministic rules for model-written code.

They parse code and never run it. The engine (`engine.py`) parses each file once with a
t-string-aware front end (`source.py`), runs the selected rulesets (`rules/`), applies
inline suppressions, and returns diagnostics as plain dicts the host turns into text,
JSON, SARIF or GitHub annotations.
"""
