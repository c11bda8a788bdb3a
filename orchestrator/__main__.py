"""``python -m orchestrator`` is the console script ``orchestrator``."""
import sys

from orchestrator.cli import main

sys.exit(main())
