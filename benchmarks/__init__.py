"""The framework's own cost, measured against the bare work it observes.

Run `python -m benchmarks.run` (add `--lab` for the virtual-machine figures).
"""
