"""The ways a conversation with FreeSWITCH can fail.

The call-level errors are the engine's own (``orchestrator.engine.channel``): a step tells
apart only "the call is gone", "the switch did not answer in time" and "the switch said no",
whichever socket carried the command. The ESL layer adds the two that only it can see: a
connection that broke without a hangup, and an inbound node that is not connected now.
"""
from orchestrator.engine.channel import CallError, CallGone, CommandFailed, CommandTimeout

EslError = CallError   # every error this layer raises is a CallError

__all__ = ["CallError", "CallGone", "CommandFailed", "CommandTimeout", "ConnectionLost",
           "EslError", "NotConnected"]


class ConnectionLost(CallGone):
    """The TCP connection closed or broke without a hangup being seen first."""

    def __init__(self, cause: str = "CONNECTION_LOST") -> None:
        super().__init__(cause)


class NotConnected(CallError):
    """An inbound node is not connected right now; the caller may try another node."""
