"""Protobuf <-> domain objects, one module per service (``common`` for what several share).

Servicers call these and nothing else does; the core never sees a protobuf message.
"""
