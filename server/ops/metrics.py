"""Prometheus metrics of the node, exposed at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

CONNECTIONS = Gauge("relais_connections", "Open socket.io connections", registry=REGISTRY)
EVENTS = Counter(
    "relais_events_total", "Socket events handled", ["event", "outcome"], registry=REGISTRY
)
ACK_LATENCY = Histogram(
    "relais_ack_latency_seconds",
    "Time from receiving a socket event to its ack",
    ["event"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "relais_http_requests_total", "HTTP requests", ["route", "status"], registry=REGISTRY
)
ERRORS = Counter("relais_errors_total", "Refusals and failures", ["code"], registry=REGISTRY)
GC_PAUSE = Counter(
    "relais_gc_pause_seconds_total",
    "Time the event loop stood still in Python's cycle collector, by generation",
    ["generation"],
    registry=REGISTRY,
)
MESSAGES_STORED = Counter("relais_messages_stored_total", "Messages committed", registry=REGISTRY)
WRITE_BATCH = Histogram(
    "relais_write_batch_size",
    "Messages per group-commit transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
FANOUT_DELIVERIES = Counter(
    "relais_fanout_deliveries_total",
    "Packets delivered to local sockets by room emits",
    registry=REGISTRY,
)
FANOUT_DIRECT = Counter(
    "relais_fanout_direct_total",
    "Room-emit deliveries written straight to an idle WebSocket (the rest are queued)",
    registry=REGISTRY,
)
DIRECT_SENDS = Counter(
    "relais_direct_sends_total",
    "Packets to one socket (acks, connect answers) written straight to an idle WebSocket",
    registry=REGISTRY,
)

# The bus between workers and nodes (server/realtime/redis_fanout.py).
BUS_EMITS = Counter(
    "relais_bus_emits_total", "Room emits sent to the other nodes over Redis", registry=REGISTRY
)
BUS_BATCHES = Counter(
    "relais_bus_batches_total", "Redis messages those emits went out in", registry=REGISTRY
)
BUS_DROPPED = Counter(
    "relais_bus_dropped_total",
    "Room emits not sent to the other nodes (Redis unreachable); their clients get them at sync",
    registry=REGISTRY,
)

# Consultation media (server/consultations/media_bridge.py): per-node aggregates, never per
# consultation or participant labels (unbounded cardinality, and who consults is patient data).
# `mode` takes the values of `media.policy.Mode`, `cause` those of `media.events.Cause`.
MEDIA_LEGS = Gauge("relais_media_legs", "Media legs by committed mode", ["mode"], registry=REGISTRY)
MEDIA_MODE_CHANGES = Counter(
    "relais_media_mode_changes_total",
    "Committed mode changes of media legs, by new mode and cause",
    ["mode", "cause"],
    registry=REGISTRY,
)
MEDIA_LOSS = Histogram(
    "relais_media_link_loss_ratio",
    "Per-second loss of a media leg (worse direction)",
    buckets=(0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
    registry=REGISTRY,
)
MEDIA_RTT = Histogram(
    "relais_media_rtt_seconds",
    "Per-second RTT of a media leg",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6),
    registry=REGISTRY,
)
MEDIA_EVENTS_DROPPED = Counter(
    "relais_media_quality_samples_dropped_total",
    "Quality samples dropped because media event delivery fell behind",
    registry=REGISTRY,
)
MEDIA_FORWARDED = Counter(
    "relais_media_forwarded_total",
    "Media signalling requests forwarded over Redis to the worker holding their consultation",
    ["op"],
    registry=REGISTRY,
)
MEDIA_LEG_EVENTS = Counter(
    "relais_media_leg_events_total",
    "Media leg lifecycle events (connected, failed, ice_timeout, replaced, closed)",
    ["state"],
    registry=REGISTRY,
)
