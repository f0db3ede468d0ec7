"""HTTP interface: REST + WebSocket under ``/api/v1``, OpenAPI, status page, health and metrics."""
