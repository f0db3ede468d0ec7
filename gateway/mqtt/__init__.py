"""MQTT interface of the gateway."""
