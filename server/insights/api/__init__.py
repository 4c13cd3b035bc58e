"""The gRPC boundary: access rules, the interceptor, error mapping and thin servicers."""
