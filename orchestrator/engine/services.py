"""What a step can reach besides the call: gateways, the payment record, prompts, events.

The runner hands one ``CallServices`` to every step of a call. Steps that need none of it
(menus) never look; the payment steps find everything here, so they need no global state and
tests can give each call its own gateways and store. Payment facts go out through ``events``
(``payments/events.py``); who counts or shows them subscribes to the bus.

It is the call's tenant's view (``orchestrator/tenancy``): ``gateways`` holds only the gateways
granted to that tenant, ``prompts`` its catalogs, and ``transfer_allowed`` says where its
callers may be sent. The service checked the tenant's flows against these when the config
loaded; the steps check again on the call, so a grant that is missing is refused whatever
let the flow run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, FrozenSet, Mapping, Optional, Sequence, Tuple

from orchestrator.payments.events import CallEvents, CallRef

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.catalog import Catalog
    from orchestrator.links import LinkMaker
    from orchestrator.payments.gateways.base import Gateway
    from orchestrator.store import PaymentStore
    from orchestrator.sms import SmsProvider
    from orchestrator.webservices import WebService

AgentRequests = Callable[[Sequence[str]], Optional[Tuple[str, ...]]]
# (extension, context) -> whether the call's tenant may send its caller there
TransferRule = Callable[[str, str], bool]


@dataclass
class PromptSettings:
    catalog_dir: Optional[str] = None   # None: the catalogs shipped in orchestrator/catalog
    audio_dir: str = ""                 # recordings on the switch: <audio_dir>/<language>/<file>
    audio: str = "auto"                 # auto (ask the switch), always, never (TTS only)


def _no_events() -> CallEvents:
    return CallEvents(None, CallRef(""))


@dataclass
class CallServices:
    gateways: Mapping[str, "Gateway"] = field(default_factory=dict)
    store: Optional["PaymentStore"] = None
    prompts: PromptSettings = field(default_factory=PromptSettings)
    # the tenant's catalogs by language, as loaded with the flows the call started on: a
    # reload gives new calls new ones, this call keeps these (orchestrator/flow_reload.py)
    catalogs: Mapping[str, "Catalog"] = field(default_factory=dict)
    # where steps publish payment facts (payments/events.py); masked values only
    events: CallEvents = field(default_factory=_no_events)
    tenant: str = "default"
    call_uuid: str = ""
    # take(kinds) -> an agent's pending ("cancel",) / ("recapture", field), or None
    agent_requests: Optional[AgentRequests] = None
    # gateways the config defines for other tenants: named by a step, refused, not "unknown"
    withheld_gateways: FrozenSet[str] = frozenset()
    # None: the caller may be sent anywhere (a site whose tenants share everything)
    transfer_allowed: Optional[TransferRule] = None
    # the web services (CRMs) granted to the tenant, by name (orchestrator/webservices)
    web_services: Mapping[str, "WebService"] = field(default_factory=dict)
    withheld_web_services: FrozenSet[str] = frozenset()
    # where send_sms sends texts (orchestrator/sms), by name
    sms_providers: Mapping[str, "SmsProvider"] = field(default_factory=dict)
    # how send_payment_link makes a link (orchestrator/links: the config's payment_links)
    payment_links: Mapping[str, "LinkMaker"] = field(default_factory=dict)
    # the ones the config defines for other tenants (or not granted): refused, and counted
    withheld_sms_providers: FrozenSet[str] = frozenset()
    withheld_payment_links: FrozenSet[str] = frozenset()
    # told (service, outcome, seconds) of each lookup and (provider, result) of each text, to
    # count them by tenant (metrics.py)
    on_web_service: Optional[Callable[[str, str, float], None]] = None
    on_sms: Optional[Callable[[str, str], None]] = None
    # told the kind of each refusal ("gateway", "destination"), to count it by tenant
    on_refusal: Optional[Callable[[str], None]] = None

    def catalog(self, language: str) -> "Catalog":
        """The call's catalog for ``language``: the one loaded with its flows, else (a language
        none of the flows speaks, named by a step at run time) read from its file now;
        CatalogError when there is none."""
        found = self.catalogs.get(language)
        if found is not None:
            return found
        from orchestrator.catalog import Catalog
        return Catalog.load(language, self.prompts.catalog_dir)

    def refuse(self, resource: str) -> None:
        """Count that this call's tenant was refused ``resource`` (the metric has the tenant)."""
        if self.on_refusal is not None:
            self.on_refusal(resource)

    def may_transfer(self, extension: str, context: str) -> bool:
        """Whether the tenant may send its caller to ``extension`` in ``context``; a refusal is
        counted."""
        if self.transfer_allowed is None or self.transfer_allowed(extension, context):
            return True
        self.refuse("destination")
        return False
