"""Thin servicers: protobuf in, core call, protobuf out. No logic of their own."""
