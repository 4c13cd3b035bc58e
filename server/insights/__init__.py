"""Customer insights platform: gRPC services behind an Envoy gateway."""

__version__ = "0.1.0"
