"""Developer tooling, installed with the ``local`` extra: the local stack (`make up`), the demo loader,
Envoy config rendering, a local Triton from PyPI, and the synthetic data generator. Nothing in the
server imports this package (only ``insights.cli`` does, command by command)."""
