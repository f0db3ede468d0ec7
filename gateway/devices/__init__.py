"""Device manager: discovery, stable ids, roles, state, reconnect, serialised idempotent commands."""
