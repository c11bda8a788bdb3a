"""SMS to the caller: providers (``providers.py``: http, twilio, sink) and the text's rules
(``text.py``: catalog templates of fixed words and typed, masked values). ``send_sms``
(``engine/steps/send_sms.py``) is the step that uses them; the providers are the config's
``sms_providers``."""
from .providers import (SMS_PROVIDERS_SCHEMA, HttpSmsProvider, SentMessage, SinkSmsProvider,
                        SmsProvider, SmsResult, TwilioSmsProvider, build_provider, build_providers)
from .text import PHONE, SmsTextError, check_template, fill, mask_number, phone_number

__all__ = ["SMS_PROVIDERS_SCHEMA", "HttpSmsProvider", "SentMessage", "SinkSmsProvider", "SmsProvider",
           "SmsResult", "TwilioSmsProvider", "build_provider", "build_providers", "SmsTextError",
           "check_template", "fill", "mask_number", "PHONE", "phone_number"]
