"""The call-level exceptions and value types the engine shares with the ESL layer.

Steps and the runner import them from here, so the engine has one place that knows where
the ESL layer keeps them.
"""
from orchestrator.esl.channel import CallGone, CommandTimeout, DigitResult, Prompt

__all__ = ["CallGone", "CommandTimeout", "DigitResult", "Prompt"]
