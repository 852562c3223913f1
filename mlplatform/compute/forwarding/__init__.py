"""Forwarding HTTP and WebSockets to a workload's endpoint (forwarder.py), over kept connections
(connections.py), with the callers' routes cached (routes.py). No Django here: apps decide who may
call, then forward."""

from mlplatform.compute.forwarding.connections import tls_context
from mlplatform.compute.forwarding.forwarder import Forwarder, refuse, respond
from mlplatform.compute.forwarding.routes import RouteCache

__all__ = ["Forwarder", "RouteCache", "refuse", "respond", "tls_context"]
