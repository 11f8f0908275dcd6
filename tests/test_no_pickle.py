"""
No pickle anywhere in the package: a stored task is JSON, in the table and in Redis, so
that whoever can write a row or a job cannot make a worker run code by unpickling it.
"""

import ast
import tokenize
from pathlib import Path

import pytest

import django_tasks

PACKAGE = Path(django_tasks.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
# Modules that turn bytes into objects that can run code.
UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve"}
# RQ's constructors and readers of jobs: without serializer=, RQ pickles.
RQ_JOB_CALLS = {"Queue", "fetch", "fetch_many", "create", "Worker", "SimpleWorker"}


def names_in_code(path: Path) -> set[str]:
    """The identifiers of a module's code: not its comments, docstrings or messages."""
    with path.open("rb") as source:
        return {token.string for token in tokenize.tokenize(source.readline) if token.type == 1}


def test_the_package_has_sources_to_check() -> None:
    assert PACKAGE / "backends" / "rq.py" in SOURCES
    assert len(SOURCES) > 30


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_names_pickle_or_its_kin(path: Path) -> None:
    assert names_in_code(path) & UNSAFE_MODULES == set()


def call_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def test_every_rq_job_and_queue_the_rq_backend_makes_uses_the_json_serializer() -> None:
    tree = ast.parse((PACKAGE / "backends" / "rq.py").read_text())
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and call_name(node) in RQ_JOB_CALLS
    ]

    without = [
        f"line {call.lineno}: {call_name(call)}()"
        for call in calls
        if not any(
            keyword.arg == "serializer"
            and isinstance(keyword.value, ast.Name)
            and keyword.value.id == "JSONSerializer"
            for keyword in call.keywords
        )
    ]

    assert calls, "the check found none of RQ's calls: it checks nothing"
    assert without == []


def test_the_check_finds_pickle_where_it_is_used(tmp_path: Path) -> None:
    module = tmp_path / "uses_pickle.py"
    module.write_text('"""Mentions pickle in a docstring."""\nimport pickle as p\n')

    assert names_in_code(module) & UNSAFE_MODULES == {"pickle"}
