"""``call_service``: ask an HTTPS JSON web service (a CRM) and put its answer into flow variables.

The request is a POST of ``body`` (a mapping whose text values may use ``${...}``) to the
service's base URL joined with ``path`` (each ``${...}`` in it is quoted as one URL segment,
so a keyed number cannot add a segment or a query). The service is named in the config's
``web_services`` (or the call's tenant's own): its URL, signing secret, timeouts, retries and
limits live there, not in the flow (``orchestrator/webservices``).

``map`` names the flow variables the answer fills, each with a path into the answer
(``webservices/paths.py``: ``$.name``, ``$.lines[0].number``, ``$.lines[*].invoices[*]``). A
path with ``[*]`` fills a list: ``<name>.count`` and ``<name>.<n>.<member>`` per item
(``webservices/mapping.py``), which ``choose_from_list`` reads. A list variable's earlier
items are cleared first, so a second lookup never leaves the first one's invoices behind.

Outcomes: the next step when the answer is a JSON document that fits ``map`` and the limits;
``on.not-found`` for a 404; ``on.timeout`` when the last attempt got no answer in time;
``on.error`` for everything else (unreachable, 5xx, not JSON, too large, too deep, a list too
long, a text too long, a path the answer does not fill). An outcome without a target ends the
flow with an error, leaving the call to the dialplan's fallback.

The answer's text is the peer's: never spoken through the switch as it came. ``esl/channel.py``
neutralises ``${``, ``|`` and line breaks in text to speech and refuses a ``say`` value that is
not of its kind, so whatever a CRM returns cannot become a FreeSWITCH expression or argument.
"""
import time
from typing import TYPE_CHECKING, Any, Dict, Optional

from ...webservices import JsonPath, MappingError, PathError, map_answer, quote_segment
from ..expressions import render
from ..ids import VARIABLE_NAME_PATTERN
from ..step_api import (StepError, StepKind, StepResult, continue_on, missing_branches,
                        on_jump_targets, on_schema, register)

if TYPE_CHECKING:  # pragma: no cover
    from ..context import FlowContext

# what an outcome with no branch does (validate warns of it)
UNHANDLED = ("the step would end the flow with an error, and the call in the dialplan's "
             "fallback instead of a branch of this flow")


@register
class CallService(StepKind):
    name = "call_service"
    title = "Call a web service"
    description = ("POSTs a JSON body built from flow variables to a web service named in the service "
                   "config (signed, with timeouts and retries) and maps the answer into flow variables, "
                   "lists included; branches on not-found, error and timeout.")
    schema = {
        "type": "object",
        "properties": {
            "service": {"type": "string", "description": "A web service name from the service config."},
            "path": {"type": "string", "default": "",
                     "description": "Appended to the service's base URL; each ${...} is quoted as one segment."},
            "body": {"type": "object", "default": {},
                     "description": "The JSON body; text values may use ${...}."},
            "map": {"type": "object", "default": {},
                    "propertyNames": {"pattern": VARIABLE_NAME_PATTERN, "patternErrorMessage": "is not a variable name"},
                    "additionalProperties": {"type": "string", "description": "$.member, [n] and [*] steps."},
                    "description": "Flow variable -> path in the answer ($.name, $.lines[*].invoices[*])."},
            "on": on_schema({"not-found": "The service answered 404.",
                             "error": "No usable answer: unreachable, 5xx, not JSON, too large or a path it does not fill.",
                             "timeout": "The service did not answer in time."}),
        },
        "required": ["service"],
        "additionalProperties": False,
    }
    example = {"service": "crm", "path": "customers/lookup",
               "body": {"phone": "${call.caller_id_number}"},
               "map": {"customer_id": "$.id", "invoices": "$.lines[*].invoices[*]"},
               "on": {"not-found": "ask_account", "error": "sorry", "timeout": "sorry"}}

    @classmethod
    def check(cls, config):
        problems = []
        for name, text in config["map"].items():
            try:
                JsonPath.parse(text)
            except PathError as exc:
                problems.append((("map", name), str(exc)))
            if str(name).startswith(("channel.", "attempts.")):
                problems.append((("map", name), "'%s': map into flow variables only" % name))
        return problems

    @classmethod
    def unhandled_outcomes(cls, config):
        return missing_branches(config, ("error", "timeout"), UNHANDLED)

    @classmethod
    def jump_targets(cls, config):
        return on_jump_targets(config)

    @classmethod
    def web_services(cls, config):
        return [(("service",), config["service"])]

    @classmethod
    def defined_variables(cls, config):
        names = []
        for name, text in config["map"].items():
            try:
                is_list = JsonPath.parse(text).is_list
            except PathError:
                is_list = False
            names += [name, name + ".count", name + ".*"] if is_list else [name]
        return names

    def __init__(self, config, flow_language="en"):
        super().__init__(config, flow_language)
        self.paths = {name: JsonPath.parse(text) for name, text in config["map"].items()}

    def prepare(self, ctx: "FlowContext") -> None:
        self._service(ctx)

    def _service(self, ctx: "FlowContext"):
        services, name = ctx.services, self.config["service"]
        known = services.web_services if services else {}
        if name in known:
            return known[name]
        names = ", ".join(sorted(known)) or "none"
        if services is not None and name in services.withheld_web_services:
            services.refuse("web_service")
            raise StepError("call_service: web service %r is not granted to tenant %s (its web services: %s)"
                            % (name, services.tenant, names))
        raise StepError("call_service: no web service named %r in the service config (known: %s)" % (name, names))

    def run(self, ctx: "FlowContext") -> StepResult:
        service = self._service(ctx)
        path = render(self.config["path"], lambda variable: quote_segment(ctx.resolve(variable)))
        started = time.monotonic()
        answer = service.call(path, _rendered(ctx, self.config["body"]))
        values = self._mapped(ctx, service, answer)
        outcome = "error" if answer.outcome == "ok" and values is None else answer.outcome
        if ctx.services is not None and ctx.services.on_web_service is not None:
            ctx.services.on_web_service(service.name, outcome, time.monotonic() - started)
        if values is not None:
            self._clear_lists(ctx)
            ctx.variables.update(values)
            ctx.log.info("call_service %s: ok after %d attempt(s)", service.name, answer.attempts)
            return None
        if answer.outcome != "ok":
            ctx.log.warning("call_service %s: %s after %d attempt(s) (%s)", service.name,
                            answer.outcome, answer.attempts, answer.detail)
        return continue_on("call_service", self.config, outcome)

    def _mapped(self, ctx: "FlowContext", service, answer) -> Optional[Dict[str, str]]:
        """The flow variables an ``ok`` answer fills; None for any other answer, or one that
        does not fit the map or the limits (logged, without its values)."""
        if answer.outcome != "ok":
            return None
        try:
            return map_answer(answer.data, self.paths, service.limits)
        except MappingError as exc:
            ctx.log.warning("call_service %s: answer refused: %s", service.name, exc)
            return None

    def _clear_lists(self, ctx: "FlowContext") -> None:
        for name, path in self.paths.items():
            if path.is_list:
                prefix = name + "."
                for variable in [v for v in ctx.variables if v.startswith(prefix)]:
                    del ctx.variables[variable]


def _rendered(ctx: "FlowContext", value: Any) -> Any:
    """The body with every text rendered; numbers and booleans stay JSON numbers and booleans."""
    if isinstance(value, dict):
        rendered: Dict[str, Any] = {str(key): _rendered(ctx, item) for key, item in value.items()}
        return rendered
    if isinstance(value, list):
        return [_rendered(ctx, item) for item in value]
    if isinstance(value, str):
        return ctx.render(value)
    return value
