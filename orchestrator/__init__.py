"""Pay-by-phone orchestrator: YAML payment IVR flows driving FreeSWITCH over its Event Socket."""

__version__ = "0.1.0"
