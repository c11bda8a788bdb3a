"""The flow engine: YAML flows checked against a schema, and run step by step on a call.

Public API::

    from orchestrator.engine import (load_flow, validate_file, validate_paths, FlowRunner,
                                     FlowOutcome, EngineSettings, FlowError, Problem,
                                     FlowLibrary, select_flow, build_schema)
"""
from .context import EngineSettings
from .flow import Flow, FlowStep, load_flow, load_flow_text
from .problems import FlowError, Problem
from .runner import CALLER_HUNG_UP, COMPLETED, ERROR, TRANSFERRED, FlowOutcome, FlowRunner
from .schema import build_schema, render_schema
from .selection import FlowLibrary, select_flow
from .validate import validate_file, validate_paths, validate_text

__all__ = [
    "EngineSettings", "Flow", "FlowStep", "load_flow", "load_flow_text", "FlowError", "Problem",
    "FlowOutcome", "FlowRunner", "COMPLETED", "TRANSFERRED", "CALLER_HUNG_UP", "ERROR",
    "build_schema", "render_schema", "FlowLibrary", "select_flow",
    "validate_file", "validate_paths", "validate_text",
]
