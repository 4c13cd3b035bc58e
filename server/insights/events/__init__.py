"""Organization event streams on Redis Streams: published after commit, delivered live, replayable.

``types`` (what an event is), ``codec`` (its stream-entry form), ``publisher`` (append, with a bounded
backlog while Redis is away; erasure of a customer's entries), ``subscription`` (one subscriber's
state machine), ``reader`` (one XREAD loop per organization and instance, fanning out to subscribers).
"""
