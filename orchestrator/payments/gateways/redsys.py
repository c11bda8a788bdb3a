"""Redsys REST host-to-host authorization for phone orders (MOTO).

A request is ``{"Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": base64(JSON),
"Ds_Signature": ...}`` posted to ``/sis/rest/trataPeticionREST``. The signature uses a key per
order: 3DES (CBC, zero IV, zero padding) of the order number under the base64-decoded merchant
key, then HMAC-SHA256 of the base64 merchant parameters under that key, base64-encoded.
Answers are signed the same way (Redsys may use the URL-safe base64 alphabet there); an answer
whose signature does not verify is not trusted.

Phone orders are sent as MOTO: ``DS_MERCHANT_EXCEP_SCA=MOTO`` and
``DS_MERCHANT_DIRECTPAYMENT=true``, so no 3-D Secure challenge is attempted.

The order number is the idempotency key: Redsys refuses a second charge for an order it has
seen (SIS0051), so a retry carries the same order. It is allocated, never derived from a hash
(twelve digits of a hash collide once a merchant nears a million orders): four digits naming
the store (its tag, or ``order_prefix`` when several stores share one terminal), then the
store's payment number in base 36, eight characters, within Redsys's format (4 to 12
characters, the first four digits, the rest digits or letters). One store never gives a
number twice, so its orders cannot collide. Redsys has no query by order on this interface, so
an unknown outcome is reported as such and reconciled in the Redsys portal; Redsys's separate
SOAP query service (``consultaOperaciones``) is not spoken (``payments/README.md`` says why).

Refunds (transaction type 3) are ``redsys_refunds.py``'s; voids are not offered (see there).

Card on file ("pago por referencia", ``card_on_file: true`` once the bank has enabled it on
the terminal): the first operation sends ``DS_MERCHANT_IDENTIFIER=REQUIRED`` with
``DS_MERCHANT_COF_INI=S`` and ``DS_MERCHANT_COF_TYPE=C``, and the answer's
``Ds_Merchant_Identifier`` is the token, ``Ds_Merchant_Cof_Txnid`` the network reference a
later charge cites; storing without a charge is the same operation for amount 0. A later
merchant-initiated charge sends ``DS_MERCHANT_IDENTIFIER=<token>``, no card,
``DS_MERCHANT_DIRECTPAYMENT=true``, ``DS_MERCHANT_EXCEP_SCA=MIT``, ``DS_MERCHANT_COF_INI=N``,
``DS_MERCHANT_COF_TYPE=C`` and ``DS_MERCHANT_COF_TXNID``. What of this was checked against
Redsys's documentation and what was not is in orchestrator/payments/README.md.
"""
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from typing import Any, Dict, Mapping, Optional, TypedDict, Union

from cryptography.hazmat.primitives.ciphers import Cipher, modes

try:   # TripleDES moved to the "decrepit" module in cryptography 43
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:   # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

from ... import bounded_json
from ..card import RevealedCard
from ..money import Money
from .attempts import PaymentAttempt
from .base import Gateway
from . import redsys_refunds
from .refund_results import RefundResult, RefundTarget
from .registry import register
from .results import Approved, Declined, GatewayError, GatewayResult, decline
from .tokens import CardToken, StoredCard, TokenizeResult, Tokenized, usable_token
from .transport import GatewayConfigError, JsonTransport, OutcomeUnknown, check_url

log = logging.getLogger(__name__)

SIGNATURE_VERSION = "HMAC_SHA256_V1"
TEST_URL = "https://sis-t.redsys.es:25443/sis/rest/trataPeticionREST"
LIVE_URL = "https://sis.redsys.es/sis/rest/trataPeticionREST"

# Ds_Response codes outside 0000-0099 are declines.
# Redsys's decline codes (Ds_Response) and the normalised reason each is heard and counted as.
RESPONSE_REASONS = {
    "0101": "expired_card", "0102": "card_blocked", "0104": "card_not_supported",
    "0106": "card_blocked", "0116": "insufficient_funds", "0118": "invalid_card",
    "0125": "card_not_supported", "0129": "incorrect_security_code", "0172": "do_not_honour",
    "0173": "do_not_honour", "0180": "card_not_supported", "0184": "authentication_failed",
    "0190": "do_not_honour", "0191": "incorrect_expiry", "0195": "authentication_failed",
    "0202": "card_blocked", "0904": "do_not_honour", "0909": "issuer_unavailable",
    "0912": "issuer_unavailable", "9912": "issuer_unavailable", "9064": "invalid_card",
    "9078": "card_not_supported", "9093": "invalid_card", "9094": "do_not_honour",
    "9104": "card_not_supported", "9218": "card_not_supported", "9253": "invalid_card",
    "9256": "card_not_supported", "9261": "do_not_honour",
}
# SIS errors that do not prove the order was refused before reaching the card's bank.
SIS_UNKNOWN = {"SIS0051"}   # order number repeated: an earlier attempt may have charged


def order_key(merchant_key_b64: str, order: str) -> bytes:
    """3DES-CBC (zero IV, zero padding) of the order number under the decoded merchant key."""
    key = base64.b64decode(merchant_key_b64)
    data = order.encode("ascii")
    data += b"\0" * (-len(data) % 8)
    encryptor = Cipher(TripleDES(key), modes.CBC(b"\0" * 8)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def sign(merchant_key_b64: str, order: str, merchant_parameters_b64: str) -> str:
    """Ds_Signature for base64 merchant parameters of the given order (standard base64)."""
    digest = hmac.new(order_key(merchant_key_b64, order),
                      merchant_parameters_b64.encode("ascii"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signatures_match(expected_b64: str, received: object) -> bool:
    """Compare a signature in either base64 alphabet (Redsys answers may use the URL-safe one)."""
    if not isinstance(received, str):
        return False
    try:
        got = base64.b64decode(received.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(got, base64.b64decode(expected_b64))


def encode_parameters(parameters: Mapping[str, object]) -> str:
    return base64.b64encode(json.dumps(parameters, separators=(",", ":")).encode()).decode()


def decode_parameters(merchant_parameters_b64: str) -> Any:
    """The JSON inside Ds_MerchantParameters (either base64 alphabet); nested no deeper than
    ``bounded_json.MAX_DEPTH``, or ValueError, like any other undecodable parameters."""
    text = merchant_parameters_b64.replace("-", "+").replace("_", "/")
    return bounded_json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))


# Ds_Merchant_Order: 4 to 12 characters, the first four digits, the rest digits or letters.
ORDER = re.compile(r"[0-9]{4}[0-9A-Za-z]{0,8}")
PREFIX = re.compile(r"[0-9]{4}")
_BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORDER_NUMBERS = 36 ** 8   # payment numbers one prefix can carry


def order_number(prefix: str, number: int) -> str:
    """The Redsys order for payment ``number`` of a store: its four-digit ``prefix``, then
    the number in base 36 on eight characters ("4821" and 42 give "482100000016"). Distinct
    numbers give distinct orders; ValueError past what eight characters hold."""
    if not PREFIX.fullmatch(prefix):
        raise ValueError("a Redsys order prefix is four digits")
    if not 0 < number < ORDER_NUMBERS:
        raise ValueError("payment number %d does not fit a Redsys order" % number)
    digits = ""
    while number:
        number, remainder = divmod(number, 36)
        digits = _BASE36[remainder] + digits
    return prefix + digits.rjust(8, "0")


class RedsysRequest(TypedDict):
    order: str
    body: bytes


class RedsysGateway(Gateway[RedsysRequest]):
    type_name = "redsys"
    idempotent = False
    supports_status = False
    supports_refund = True      # transaction type 3 (redsys_refunds.py); never re-sent

    def __init__(self, name: str, merchant_code: Union[str, int], terminal: Union[str, int],
                 secret_key: str, url: Union[str, None] = None, environment: str = "test",
                 moto: bool = True, verify: Union[bool, str] = True,
                 order_prefix: Optional[str] = None, card_on_file: bool = False,
                 **policy: Any) -> None:
        super().__init__(name, **policy)
        # "pago por referencia" must be enabled on the terminal by the bank: off unless said
        self.supports_store_card = self.supports_tokenize = self.supports_token_charge = \
            bool(card_on_file)
        if order_prefix is not None and not PREFIX.fullmatch(str(order_prefix)):
            raise GatewayConfigError("%s: order_prefix must be four digits" % name)
        self.order_prefix = None if order_prefix is None else str(order_prefix)
        if url is None:
            url = {"test": TEST_URL, "live": LIVE_URL}.get(environment)
            if url is None:
                raise GatewayConfigError("%s: environment must be test or live" % name)
        self.url = check_url(url, "%s: url" % name)
        self.merchant_code = str(merchant_code)
        self.terminal = str(terminal)
        try:
            if len(base64.b64decode(secret_key, validate=True)) != 24:
                raise ValueError
        except (binascii.Error, ValueError, TypeError):
            raise GatewayConfigError("%s: secret_key must be the base64 merchant key "
                                     "(24 bytes once decoded)" % name) from None
        self.secret_key = secret_key
        self.moto = bool(moto)
        self.transport = JsonTransport(verify, self.connect_timeout, self.read_timeout)

    def idempotency_key(self, attempt: PaymentAttempt) -> str:
        """The attempt's Redsys order: the prefix (or the store's tag) and its number."""
        return order_number(self.order_prefix or attempt.store_tag, attempt.number)

    def check_key(self, idempotency_key: str) -> None:
        if not ORDER.fullmatch(idempotency_key):
            raise ValueError("a Redsys idempotency key is its order number: 4 to 12 "
                             "characters, the first four digits (see idempotency_key)")

    def _prepare(self, money: Money, reference: str, revealed: RevealedCard,
                 idempotency_key: str, store_card: bool = False) -> RedsysRequest:
        order = idempotency_key
        parameters = self._card_parameters(money, reference, revealed, order)
        if store_card:
            parameters.update(COF_FIRST)
        return {"order": order, "body": self.signed_body(order, parameters)}

    def _card_parameters(self, money: Money, reference: str, revealed: RevealedCard,
                         order: str) -> Dict[str, Optional[str]]:
        parameters: Dict[str, Optional[str]] = {
            "DS_MERCHANT_AMOUNT": str(money.minor),
            "DS_MERCHANT_ORDER": order,
            "DS_MERCHANT_MERCHANTCODE": self.merchant_code,
            "DS_MERCHANT_CURRENCY": money.numeric_code,
            "DS_MERCHANT_TRANSACTIONTYPE": "0",
            "DS_MERCHANT_TERMINAL": self.terminal,
            "DS_MERCHANT_PAN": revealed.number,
            "DS_MERCHANT_EXPIRYDATE": revealed.expiry_yymm,   # Redsys wants YYMM
            "DS_MERCHANT_PRODUCTDESCRIPTION": reference[:125],
        }
        if revealed.security_code:
            parameters["DS_MERCHANT_CVV2"] = revealed.security_code
        if self.moto:
            parameters["DS_MERCHANT_DIRECTPAYMENT"] = "true"
            parameters["DS_MERCHANT_EXCEP_SCA"] = "MOTO"
        return parameters

    # -- card on file ------------------------------------------------------------------------
    def _prepare_tokenize(self, reference: str, revealed: RevealedCard,
                          idempotency_key: str) -> RedsysRequest:
        """Amount 0 with the identifier asked for: the card verified and kept, not charged."""
        order = idempotency_key
        parameters = self._card_parameters(Money(0, "EUR"), reference, revealed, order)
        parameters.update(COF_FIRST)
        return {"order": order, "body": self.signed_body(order, parameters)}

    def _send_tokenize(self, request: RedsysRequest) -> TokenizeResult:
        answer = self._send(request)
        if isinstance(answer, Approved):
            if answer.card_token is None:
                return GatewayError("protocol", False, "approved without Ds_Merchant_Identifier")
            return Tokenized(answer.card_token)
        return answer

    def _prepare_token_charge(self, money: Money, reference: str, stored: StoredCard,
                              idempotency_key: str) -> RedsysRequest:
        """A merchant-initiated charge of the stored card: the token, no card data."""
        order = idempotency_key
        parameters = {
            "DS_MERCHANT_AMOUNT": str(money.minor),
            "DS_MERCHANT_ORDER": order,
            "DS_MERCHANT_MERCHANTCODE": self.merchant_code,
            "DS_MERCHANT_CURRENCY": money.numeric_code,
            "DS_MERCHANT_TRANSACTIONTYPE": "0",
            "DS_MERCHANT_TERMINAL": self.terminal,
            "DS_MERCHANT_IDENTIFIER": stored.gateway_token,
            "DS_MERCHANT_DIRECTPAYMENT": "true",
            "DS_MERCHANT_EXCEP_SCA": "MIT",
            "DS_MERCHANT_COF_INI": "N",
            "DS_MERCHANT_COF_TYPE": COF_TYPE,
            "DS_MERCHANT_PRODUCTDESCRIPTION": reference[:125],
        }
        if stored.network_reference:
            parameters["DS_MERCHANT_COF_TXNID"] = stored.network_reference
        return {"order": order, "body": self.signed_body(order, parameters)}

    def signed_body(self, order: str, parameters: Mapping[str, object]) -> bytes:
        """The request body: the parameters, base64, signed with the order's key."""
        encoded = encode_parameters(parameters)
        return json.dumps({"Ds_SignatureVersion": SIGNATURE_VERSION,
                           "Ds_MerchantParameters": encoded,
                           "Ds_Signature": sign(self.secret_key, order, encoded)},
                          separators=(",", ":")).encode()

    def _send(self, request: RedsysRequest) -> GatewayResult:
        reply = self.transport.call("POST", self.url, request["body"],
                                    {"Content-Type": "application/json"})
        if reply.status >= 500:
            raise OutcomeUnknown("http", "HTTP %d" % reply.status)
        data = reply.data if isinstance(reply.data, dict) else None
        if reply.status != 200 or data is None:
            raise OutcomeUnknown("protocol", "unexpected answer (HTTP %d)%s" % (
                reply.status, ": body " + reply.unreadable if reply.unreadable else ""))
        return self.interpret(data, request["order"])

    def interpret(self, data: Dict[str, Any], order: str) -> GatewayResult:
        """Map a Redsys answer to Approved / Declined / GatewayError."""
        error_code = data.get("errorCode")
        if error_code:
            code = str(error_code)
            return GatewayError("rejected", code in SIS_UNKNOWN, "Redsys error %s" % code)
        parameters = self.verified_parameters(data, order)
        if isinstance(parameters, GatewayError):
            return parameters
        code = str(parameters.get("Ds_Response", "")).strip()
        if not code.isdigit():
            return GatewayError("protocol", True, "answer without Ds_Response")
        code = code.zfill(4)
        if int(code) <= 99:
            return Approved(str(parameters.get("Ds_AuthorisationCode", "")).strip(), order,
                            card_token=_card_token(parameters))
        return decline(code, RESPONSE_REASONS)

    def verified_parameters(self, data: Dict[str, Any],
                            order: str) -> Union[Dict[str, Any], GatewayError]:
        """An answer's Ds_MerchantParameters, once its signature is checked and it is for
        ``order``; else the GatewayError (outcome unknown) it is."""
        # untrusted JSON: anything but a base64 string fails to decode, below
        encoded: Any = data.get("Ds_MerchantParameters")
        signature = data.get("Ds_Signature")
        try:
            parameters = decode_parameters(encoded)
        except (ValueError, TypeError, AttributeError, binascii.Error):
            return GatewayError("protocol", True, "undecodable Ds_MerchantParameters")
        if not isinstance(parameters, dict):
            return GatewayError("protocol", True, "Ds_MerchantParameters is not an object")
        answered_order = str(parameters.get("Ds_Order") or order)
        if answered_order != order or not signatures_match(
                sign(self.secret_key, answered_order, encoded), signature):
            return GatewayError("signature", True, "answer signature or order does not match")
        return parameters

    def _refund_once(self, target: RefundTarget, money: Money, refund_key: str) -> RefundResult:
        return redsys_refunds.refund_once(self, target, money)

    def close(self) -> None:
        self.transport.close()


# the first operation of a card kept on file: ask Redsys for the identifier (the token)
COF_TYPE = "C"   # credential on file, no fixed schedule
COF_FIRST = {"DS_MERCHANT_IDENTIFIER": "REQUIRED", "DS_MERCHANT_COF_INI": "S",
             "DS_MERCHANT_COF_TYPE": COF_TYPE}


def _card_token(parameters: Dict[str, Any]) -> Optional[CardToken]:
    """The token an answer carries (``Ds_Merchant_Identifier``), its expiry (``Ds_ExpiryDate``,
    YYMM) and network reference (``Ds_Merchant_Cof_Txnid``); None without a usable one."""
    token = usable_token(parameters.get("Ds_Merchant_Identifier"))
    if not token or token == "REQUIRED":
        return None
    expiry = str(parameters.get("Ds_ExpiryDate") or "")
    month, year = (expiry[2:], "20" + expiry[:2]) if re.fullmatch(r"[0-9]{2}(0[1-9]|1[0-2])", expiry) \
        else ("", "")
    try:
        return CardToken(token, expiry_month=month, expiry_year=year,
                         network_reference=usable_token(parameters.get("Ds_Merchant_Cof_Txnid")))
    except ValueError:
        return None


register("redsys", factory=lambda name, settings: RedsysGateway(name, **settings),
         required=("merchant_code", "terminal", "secret_key"),
         card_on_file=lambda settings: ("besides", "instead", "charge")
         if settings.get("card_on_file") else (),
         properties={
             "merchant_code": {"type": ["string", "integer"]},
             "terminal": {"type": ["string", "integer"]},
             "secret_key": {"type": "string", "minLength": 1},
             "environment": {"enum": ["test", "live"]},
             "url": {"type": "string"},
             "moto": {"type": "boolean"},
             "order_prefix": {"type": "string", "pattern": "^[0-9]{4}$"},
             "card_on_file": {"type": "boolean"},
         })
