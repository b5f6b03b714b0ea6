"""Repository-wide pytest configuration.

The pcie-hil plugin itself is registered through the `pytest11` entry point of
the installed package (`pip install -e .`, done by `scripts/setup`), exactly as
users get it; nothing is loaded from here so a test run here and a user's run
see the same plugin.
"""
