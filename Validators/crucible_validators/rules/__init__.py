"""Built-in rulesets, one module each."""
