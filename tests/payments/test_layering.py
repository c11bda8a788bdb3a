"""The payments package is layered: the gateways build on card, money and signing, which never
reach back into the gateways; only the ledger and the refunds, which write down gateway
answers, sit above.

Read from the source (every import statement, at module level or in a function, relative ones
resolved; ``if TYPE_CHECKING:`` blocks left out), so a cycle shows here before it shows as a
half-initialised module at start-up.
"""
import ast
import importlib
import os
import sys

import pytest

import orchestrator.payments

PAYMENTS_DIR = os.path.dirname(orchestrator.payments.__file__)
PACKAGE = "orchestrator.payments"
GATEWAYS = PACKAGE + ".gateways"
# What the connectors may use from the rest of payments.
GATEWAYS_BUILD_ON = {PACKAGE + ".card", PACKAGE + ".money", PACKAGE + ".signing"}
# Modules outside gateways/ that exist to consume gateway answers (refunds: a refund's or a
# void's, written down as the ledger writes an authorization's).
GATEWAY_CONSUMERS = {PACKAGE + ".ledger", PACKAGE + ".refunds"}


def module_files():
    """``{module name: path}`` for every module of orchestrator.payments."""
    found = {}
    for folder, _, files in os.walk(PAYMENTS_DIR):
        for name in files:
            if not name.endswith(".py"):
                continue
            relative = os.path.relpath(os.path.join(folder, name), PAYMENTS_DIR)[:-3]
            parts = [p for p in relative.split(os.sep) if p != "__init__"]
            found[".".join([PACKAGE] + parts)] = os.path.join(folder, name)
    return found


def runtime_imports(module, path):
    """Names ``module`` imports anywhere in its source, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    is_package = path.endswith("__init__.py")
    package = module if is_package else module.rpartition(".")[0]
    found = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                found.add(base)
                found.update(base + "." + alias.name for alias in node.names)
            for field in ("body", "orelse", "finalbody", "handlers"):
                visit(getattr(node, field, None) or [])

    visit(tree.body)
    return found


@pytest.fixture(scope="module")
def graph():
    modules = module_files()
    edges = {}
    for module, path in modules.items():
        targets = set()
        for name in runtime_imports(module, path):
            # importing a.b.c runs a.b's __init__ too; keep only payments' own modules
            parts = name.split(".")
            targets.update(".".join(parts[:n]) for n in range(1, len(parts) + 1))
        edges[module] = {t for t in targets if t in modules and t != module
                         and not module.startswith(t + ".")}
    # the gateways package imports every module in it (discovery registers the connectors)
    edges[GATEWAYS] |= {m for m in modules if m.startswith(GATEWAYS + ".")}
    return edges


def test_the_scan_sees_the_imports_it_judges(graph):
    importlib.import_module(GATEWAYS)
    assert {m for m in graph if m.startswith(GATEWAYS + ".")} <= set(sys.modules)  # discovery
    assert PACKAGE + ".signing" in graph[GATEWAYS + ".http"]      # from ..signing import
    assert PACKAGE + ".signing" in graph[PACKAGE + ".sandbox"]    # from . import signing
    assert GATEWAYS + ".results" in graph[PACKAGE + ".ledger"]


def test_nothing_the_gateways_build_on_imports_them(graph):
    for module, targets in graph.items():
        if module == GATEWAYS or module.startswith(GATEWAYS + ".") or module in GATEWAY_CONSUMERS:
            continue
        reached = {t for t in targets if t == GATEWAYS or t.startswith(GATEWAYS + ".")}
        assert not reached, "%s imports %s" % (module, ", ".join(sorted(reached)))


def test_the_gateways_use_only_card_money_and_signing(graph):
    for module, targets in graph.items():
        if not module.startswith(GATEWAYS):
            continue
        outside = {t for t in targets if not t.startswith(GATEWAYS) and t != PACKAGE}
        assert outside <= GATEWAYS_BUILD_ON, "%s imports %s" % (module, sorted(outside - GATEWAYS_BUILD_ON))


def test_no_import_cycle_in_payments(graph):
    done, path = set(), []

    def walk(module):
        if module in path:
            cycle = path[path.index(module):] + [module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            walk(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        walk(module)
