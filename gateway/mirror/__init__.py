"""The store's link to HQ over NATS JetStream: journal relay out, HQ messages in, store configuration KV."""

from gateway.mirror.config import HqConfig
from gateway.mirror.inbound import ApplyResult, InboundHandlers, InboundMessage, Inbox
from gateway.mirror.link import HqLink
from gateway.mirror.relay import Relay

__all__ = ["ApplyResult", "HqConfig", "HqLink", "InboundHandlers", "InboundMessage", "Inbox", "Relay"]
