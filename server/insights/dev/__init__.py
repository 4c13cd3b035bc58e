"""Developer tooling (local stack, demo and synthetic data); nothing but the command line imports it."""
