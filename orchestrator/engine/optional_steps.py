"""Steps a call may skip: ``enabled: ${channel.pay_confirm}`` and the like.

``confirm_payment``, ``survey`` and ``agent_charge`` run only when the dialplan or the agent
API set a channel variable asking for them; each reads ``enabled`` the same way, from here.
"""
from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:  # pragma: no cover
    from .context import FlowContext

ENABLED_WORDS = ("true", "yes", "1", "on")


def enabled_schema(what: str) -> Dict[str, Any]:
    """The ``enabled`` property of an optional step."""
    return {"type": ["string", "boolean"], "default": True,
            "description": "Whether to %s on this call: true/false, or a ${...} such as "
                           "${channel.pay_confirm}: true, yes, 1 or on ask; anything else, or a "
                           "variable that is not set, skips the step." % what}


def is_enabled(ctx: "FlowContext", value: Any) -> bool:
    """``enabled`` rendered for this call; a variable that is not set means no."""
    if isinstance(value, bool):
        return value
    return ctx.render_optional(value).strip().lower() in ENABLED_WORDS
