"""Tests run the service the way it runs in production: on gevent, with the stdlib patched.

The gateway connectors use requests; without patching, an HTTP call would block the one
thread on which the simulator, the service and the sandbox gateway all run.
"""
from gevent import monkey

monkey.patch_all()
