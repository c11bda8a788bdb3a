"""What the tests share: the simulated switch, the service on it, raw ESL clients, test cards,
the canary search. Nothing here is a test, and no test module imports from another test
module: a helper two modules need lives here. The fixtures built on these helpers are exposed
by tests/conftest.py (``switch``, ``make_switch``, ``service_on_simulator``)."""
