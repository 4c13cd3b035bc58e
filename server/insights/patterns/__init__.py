"""Behaviour patterns: detection (pure functions of a customer's history); docs/patterns.md defines them."""
