"""The ways a conversation with FreeSWITCH can fail, as the flow engine needs to tell them apart.

A step cares about two things only: the call is gone (end the flow quietly, it is nobody's
fault) or the switch did not answer in time (end the flow with an error and leave the call to
the dialplan's fallback). Everything else is a programming or configuration error.
"""


class EslError(Exception):
    """Base of every error raised by the ESL layer."""


class CallGone(EslError):
    """The caller hung up or the socket went away: nothing more can be done on this call."""

    def __init__(self, cause="UNKNOWN"):
        super().__init__(cause)
        self.cause = cause


class ConnectionLost(CallGone):
    """The TCP connection closed or broke without a hangup being seen first."""

    def __init__(self, cause="CONNECTION_LOST"):
        super().__init__(cause)


class CommandTimeout(EslError):
    """A reply or a completion did not arrive within its deadline."""


class CommandFailed(EslError):
    """FreeSWITCH answered a command with ``-ERR``."""


class NotConnected(EslError):
    """An inbound node is not connected right now; the caller may try another node."""
