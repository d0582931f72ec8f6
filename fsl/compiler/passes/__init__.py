"""The compiler passes, each its own module, run in this order by compile.py.

A pass reads the playbook AST and fills in its part of the plan (a dict of
the Plan model's fields); the last ones record the source map and seal the hash.
"""
from . import entry, header, lets, rules, seal, source, steps, timing

PASSES = [header.run, entry.run, timing.run, rules.run, lets.run, steps.run, source.run, seal.run]
