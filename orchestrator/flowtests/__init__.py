"""Flow tests: caller scripts that say what should happen, checked by ``orchestrator simulate``.

A caller script (``orchestrator/simulator/caller.py``) says what the caller does; a test script
adds the call it is (``flow``, ``variables``, ``destination``, ``caller_id``) and an
``expect:`` block: the prompts heard, the payment's outcome, the ``pay_*`` variables at the
end and the charges the gateway made. ``script`` reads one (every error at file:line:column),
``heard`` names what the caller heard by catalog key, ``expect`` compares, ``report`` writes
the results as text, JUnit XML or GitHub Actions annotations, ``run`` runs many.
"""
from .script import TestScript, TestScriptError, load_script

__all__ = ["TestScript", "TestScriptError", "load_script"]
