"""The suite's own layout: what two test modules share lives in tests/support, a package that
holds no tests, so a test module never imports from another test module or from a conftest
(pytest loads those itself, and a helper hidden in one is found by nobody else)."""
import ast
import os

TESTS = os.path.dirname(os.path.abspath(__file__))
SUPPORT = os.path.join(TESTS, "support")
# imported from where it is until it moves to tests/support
NOT_YET_IN_SUPPORT = {"tests.engine.fake_channel"}


def python_files(top):
    for directory, _, names in os.walk(top):
        for name in sorted(names):
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def imports(path):
    """(line, module, relative level) of each import in the file at ``path``."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", node.level


def test_the_layout_checks_see_the_suite():
    files = list(python_files(TESTS))
    assert os.path.join(SUPPORT, "service.py") in files and __file__ in files
    assert any(module == "tests.support.switch" for _, module, _ in imports(os.path.join(TESTS, "conftest.py")))


def test_test_modules_import_shared_helpers_only_from_tests_support():
    wrong = []
    for path in python_files(TESTS):
        for line, module, level in imports(path):
            outside_support = ((module == "tests" or module.startswith("tests."))
                               and not module.startswith("tests.support")
                               and module not in NOT_YET_IN_SUPPORT)
            if level or outside_support:
                wrong.append("%s:%d: %s%s" % (os.path.relpath(path, TESTS), line, "." * level, module))
    assert wrong == [], "import these from tests/support instead:\n" + "\n".join(wrong)


def test_tests_support_holds_no_tests():
    found = []
    for path in python_files(SUPPORT):
        if os.path.basename(path).startswith("test_") or os.path.basename(path) == "conftest.py":
            found.append(os.path.relpath(path, TESTS))
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        found += ["%s: %s" % (os.path.relpath(path, TESTS), node.name) for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                  and (node.name.startswith("test_") or node.name.startswith("Test"))]
    assert found == []
