"""Several orchestrator instances sharing the work through one PostgreSQL store.

Built by the service when ``store.url`` names PostgreSQL (with SQLite there is one instance,
and none of this runs). Each part is one concern:

- ``peers.py``: this instance's heartbeat in the store (``instances``), its view of the
  others, and the claim of an instance silent past ``dead_after``;
- ``calls.py``: the calls this instance holds on its outbound socket (``calls``), for the
  others to send a request for one here first, and for a survivor to find a dead one's;
- ``listener.py``: one connection of its own waiting, cooperatively, for notifications on
  this instance's channel (LISTEN);
- ``relay.py`` and ``wire.py``: requests and replies with a timeout, and session changes to
  whoever watches them, each message one NOTIFY (under PostgreSQL's 8000-byte limit);
- ``takeover.py``: what a survivor does for a dead instance (reconcile its payments, end
  its sessions).

The agent API uses the relay through ``agent/remote.py``. Why PostgreSQL notifications and not
a message broker: the store is already the one server every instance must reach, NOTIFY is
transactional and ordered per sender, and the traffic (agent requests and session changes, a
few a second) is far below what it carries; a broker would be one more server for every site
to run and watch, for no need this has.
"""
import logging
import os
import secrets
import socket
from typing import Any, Callable, Mapping, Sequence

import gevent

from orchestrator.store import PaymentStore
from orchestrator.store.instances import InstanceTable

from .calls import CallBook
from .listener import NotificationListener
from .peers import PeerView
from .relay import Relay
from .takeover import Takeover

# The dialplan's failover (freeswitch_conf/dialplan/instances.xml) sets this variable to the
# next instance's extension before each ``socket``; an instance that takes a call sets it to
# TAKEN first: a call lost mid-way then goes to a person, never to another instance that would
# take the card (and charge it) a second time, while a call no instance took goes on down the
# list.
NEXT_INSTANCE_VARIABLE = "pay_next_instance"
TAKEN = "pay_fallback"

log = logging.getLogger(__name__)
DEFAULTS = {"name": "", "heartbeat_interval": 2.0, "dead_after": 10.0, "request_timeout": 5.0,
            "takeover_retry": 30.0}


def instance_name(prefix: str = "") -> str:
    """This instance's name among the others: ``cluster.name`` (the host's name when unset),
    the process id and a random tag, so that each start is a new instance (the one a restart
    replaced is taken over as any dead instance is) and two in one process are two."""
    return "%s:%d:%s" % (prefix or socket.gethostname(), os.getpid(), secrets.token_hex(3))


class Cluster:
    def __init__(self, store: PaymentStore, gateways: Mapping[str, Any],
                 nodes: Callable[[], Sequence[str]], settings: Mapping[str, Any],
                 metrics: Any = None, instance: str = "") -> None:
        settings = dict(DEFAULTS, **settings)
        self.instance = instance or instance_name(settings["name"])
        self.metrics = metrics
        table = InstanceTable(store.backend)
        self.relay = Relay(store.backend, self.instance, metrics, settings["request_timeout"])
        connect = getattr(store.backend, "dedicated_connection")
        self.listener = NotificationListener(connect, self.relay.inbox, self.relay.deliver,
                                             on_state=self._listening)
        self.peers = PeerView(table, self.instance, self.relay.inbox, nodes,
                              settings["heartbeat_interval"], settings["dead_after"], metrics)
        self.takeover = Takeover(store, gateways, self.instance, metrics,
                                 settings["takeover_retry"])
        self.calls = CallBook(table, self.instance)
        self.peers.on_dead.append(lambda name: gevent.spawn(self._taking_over, name))
        self.peers.on_gone.append(self.relay.instance_gone)
        self.peers.on_beat.append(self._again)
        self._retrying: Any = None

    def _listening(self, listening: bool) -> None:
        if self.metrics is not None:
            self.metrics.relay_listening.set(1 if listening else 0)

    def _taking_over(self, name: str) -> None:
        try:
            self.takeover.dead(name)
        except Exception:   # never a traceback on the hub: logged, and asked again later
            log.exception("instance %s: the takeover failed; tried again", name)

    def _again(self) -> None:
        """After a beat: the dead instances taken over whose payments are still unsettled are
        asked about again (on a greenlet of its own: a slow gateway holds up no heartbeat)."""
        if self._retrying is None or self._retrying.ready():
            self._retrying = gevent.spawn(self._asking_again)

    def _asking_again(self) -> None:
        try:
            self.takeover.again()
        except Exception:
            log.exception("the takeover's second ask failed; tried again after the next beat")

    def start(self, listening_within: float = 10.0) -> None:
        self.relay.start()
        self.listener.start()
        self.listener.listening.wait(timeout=listening_within)
        self.calls.start()
        self.peers.start()

    def stop(self) -> None:
        self.calls.stop()
        self.peers.stop()
        self.listener.stop()
        self.relay.stop()
        if self._retrying is not None:
            self._retrying.kill(block=False)

    def status(self) -> Mapping[str, Any]:
        """For ``/readyz``: this instance's name, whether it listens, and its view of peers."""
        return {"instance": self.instance, "listening": self.listener.listening.is_set(),
                "instances": self.peers.status()}
