"""Typing aliases for the gRPC layer (the generated servicer code is untyped)."""

from typing import Any

import grpc

Context = grpc.aio.ServicerContext[Any, Any]
