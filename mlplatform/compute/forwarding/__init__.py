"""Forwarding HTTP and WebSockets to a workload's endpoint (forwarder.py), over kept connections
(connections.py). No Django here: apps decide who may call, then forward."""

from mlplatform.compute.forwarding.connections import tls_context
from mlplatform.compute.forwarding.forwarder import Forwarder, refuse, respond

__all__ = ["Forwarder", "refuse", "respond", "tls_context"]
