"""Web services a flow asks over HTTPS JSON (a CRM): the client, the answer paths, the mapping.

``call_service`` (``engine/steps/call_service.py``) is the step that uses them; the services
are named in the config's ``web_services`` list, or a tenant's own under
``tenants.<name>.web_services`` (``orchestrator/tenancy``).
"""
from .client import (OUTCOMES, WEB_SERVICE_SCHEMA, WEB_SERVICES_SCHEMA, Answer, ServiceLimits,
                     WebService, build_services, quote_segment)
from .mapping import MappingError, map_answer
from .paths import JsonPath, PathError

__all__ = ["OUTCOMES", "WEB_SERVICE_SCHEMA", "WEB_SERVICES_SCHEMA", "Answer", "ServiceLimits",
           "WebService", "build_services", "quote_segment", "MappingError", "map_answer",
           "JsonPath", "PathError"]
