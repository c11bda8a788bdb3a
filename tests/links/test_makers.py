"""Making a link's URL: a template with the token put in, or the sandbox gateway's hosted page
made over real HTTP on loopback (signed), and what either refuses."""
import time

import pytest

from orchestrator.links import LinkError, build_makers
from orchestrator.payments.gateways.transport import GatewayConfigError
from orchestrator.payments.money import Money
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.store.links import new_token
from tests.support.canary import PAN

SECRET = "link-secret-of-sixteen"
EUR = Money.parse("4250", "EUR")


def maker(**settings):
    return build_makers({"paylink": dict({"secret": SECRET}, **settings)})["paylink"]


def test_a_template_puts_the_token_in():
    token = new_token()
    url = maker(type="template", url="https://pay.example/p/{token}").make(token, EUR, "C-1", 0)
    assert url == "https://pay.example/p/" + token


@pytest.mark.parametrize("url", ["https://pay.example/", "https://pay.example/{token}/{amount}",
                                 "http://pay.example/{token}", "https://pay.example/{token}{token}",
                                 "https://pay.example/%s/{token}" % PAN])
def test_a_template_that_is_not_one_is_refused_at_start(url):
    with pytest.raises(GatewayConfigError):
        maker(type="template", url=url)


@pytest.fixture
def sandbox():
    gateway = SandboxGateway(link_secret=SECRET).start()
    yield gateway
    gateway.stop()


def test_the_sandbox_makes_a_hosted_page_and_the_same_token_gets_the_same_page(sandbox):
    hosted = maker(type="hosted_page", url=sandbox.url)
    token = new_token()
    url = hosted.make(token, EUR, "C-1", time.time() + 600)
    assert url.startswith(sandbox.url + "/pay/")
    assert hosted.make(token, EUR, "C-1", time.time() + 600) == url
    [page] = sandbox.links.pages.values()
    assert (page.token, page.value, page.currency) == (token, 4250, "EUR")
    hosted.close()


def test_a_hosted_page_refused_or_unreachable_is_a_link_error(sandbox):
    wrong = build_makers({"x": {"type": "hosted_page", "url": sandbox.url,
                                "secret": "another-secret-sixteen"}})["x"]
    with pytest.raises(LinkError, match="HTTP 401"):
        wrong.make(new_token(), EUR, "C-1", time.time() + 600)
    url = sandbox.url
    sandbox.stop()
    gone = maker(type="hosted_page", url=url, connect_timeout=1, read_timeout=1)
    with pytest.raises(LinkError, match="no page"):
        gone.make(new_token(), EUR, "C-1", time.time() + 600)
    assert sandbox.links.pages == {}
