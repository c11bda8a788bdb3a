"""The type check: mypy with the repository's mypy.ini over the package and the tests' fakes.

The layers that speak to peers (esl, payments, agent, store) and the engine's ports are fully
annotated, and the fake channel the engine tests use is held to the ``Channel`` and ``Switch``
protocols, so a verb added to the port cannot be forgotten by either side.
"""
import pathlib

from mypy import api   # a test extra, installed by make test

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mypy_passes(monkeypatch):
    monkeypatch.chdir(ROOT)   # mypy.ini names its files relative to the repository
    stdout, stderr, status = api.run(["--config-file", "mypy.ini", "--cache-dir", ".mypy_cache"])
    assert status == 0, stdout + stderr
