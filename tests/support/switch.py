"""The simulated FreeSWITCH as every test starts it: on loopback, one password, one clock.

``TIME_SCALE`` is the speed at which in-process tests run the simulator and the service (a 2 s
prompt plays in 0.2 s); the service under test must be given the same scale. A test that needs
another speed says so: ``@pytest.mark.switch(time_scale=1.0)`` on a test (or ``pytestmark`` on a
module) for the ``switch`` fixture, ``make_switch(time_scale=1.0)``, or
``start_switch(time_scale=1.0)`` where no fixture reaches (module-scoped set-ups). Any other
``Switch`` option (``faults``, ``extensions``, ``missing_files``, ``port``...) is passed the
same way.
"""
from orchestrator.simulator import Switch

TIME_SCALE = 0.1
PASSWORD = "s3cret"


def start_switch(**options):
    """A started ``Switch`` with the suite's password and time scale unless ``options`` say
    otherwise; the caller stops it."""
    options.setdefault("password", PASSWORD)
    options.setdefault("time_scale", TIME_SCALE)
    return Switch(**options).start()


class SwitchFactory:
    """Starts switches for one test (``factory(**options)``) and stops each of them after it,
    so a test that needs two (a restart on the same port, a dead node's address) leaks none."""

    def __init__(self):
        self.started = []

    def __call__(self, **options):
        switch = start_switch(**options)
        self.started.append(switch)
        return switch

    def stop_all(self):
        while self.started:
            self.started.pop().stop()
