"""Packaging for the pay-by-phone orchestrator.

Dependencies are pinned where the wire behaviour depends on them: greenswitch's
internals are subclassed in ``orchestrator.esl.protocol``, so a new release must be
read before it is admitted. Beyond the project's base set: ``cryptography`` for Redsys's
3DES per-order key (no hand-written cipher) and the tests' throwaway TLS certificates;
``pg8000`` for PostgreSQL (``store.url``): pure Python over the socket module, so gevent's
monkey patching makes every wait on the database cooperative (a C driver would block every
call while one query waits, unless given a wait callback);
``urllib3`` (2.x) and ``certifi`` are what requests itself stands on: the gateway client
(``payments/gateways/transport.py``) speaks urllib3 directly, as requests' session and hooks
cost nearly half its CPU a request for nothing it uses (``bench/http_client.py``), and trusts
certifi's CA bundle as requests does; both are named because the code uses them by name;
``selenium`` (tests only) drives Debian's Chromium through its local chromedriver, so the
browser tests download nothing. ``mypy`` (tests only) holds the layers that talk to peers
and the fake channel the tests use to the engine's typed protocols (``make test`` runs it).
"""
from setuptools import find_packages, setup

setup(
    name="pbx-pay-orchestrator",
    version="0.1.0",
    description="Pay-by-phone IVR flows in YAML, driving FreeSWITCH over its Event Socket",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["orchestrator", "orchestrator.*"]),
    package_data={"orchestrator": ["agent/openapi.json", "agent/static/*", "catalog/*.yaml"]},
    include_package_data=True,
    install_requires=[
        "greenswitch==0.0.19",
        "gevent>=23.9",
        "PyYAML>=6.0",
        "jsonschema>=4.17",
        "prometheus-client>=0.17",
        "requests>=2.31",
        "urllib3>=2.0,<3",
        "certifi>=2023.7",
        "cryptography>=41",
        "pg8000>=1.30",
    ],
    extras_require={"test": ["pytest>=7.4", "selenium>=4.15", "mypy>=1.11", "types-PyYAML",
                             "types-requests"]},
    entry_points={"console_scripts": ["orchestrator=orchestrator.cli:main"]},
)
