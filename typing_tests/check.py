"""Check the typing tests on mypy and pyright (standard library only).

Convention, for the files directly in typing_tests/:

* ``pass_*.py`` must type-check clean on both checkers (strict).  Their expectations
  are ``assert_type(...)`` calls, which a checker reports as errors when they do not
  hold.
* ``fail_*.py`` mark each line that must be rejected with a trailing comment
  ``# expect-error`` (optionally ``# expect-error: short description``).  For EACH
  checker, the set of lines with an error must be exactly the set of marked lines:
  a marked line without an error fails ("expected an error, got none"), and so does
  an error on an unmarked line.

mypy runs with the repo's mypy.ini; pyright with the repo's pyrightconfig.json,
through a temporary copy that includes just these files (the regular configs exclude
the fail_ files so that the normal typecheck run stays clean).  Both tools come from
the environment of the interpreter running this script.

Usage: python typing_tests/check.py [-v]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
TYPING_TESTS = ROOT / "typing_tests"
MYPY_CONFIG = ROOT / "mypy.ini"
PYRIGHT_CONFIG = ROOT / "pyrightconfig.json"

MARKER_RE = re.compile(r"#\s*expect-error\b(?:\s*:\s*(?P<why>.*\S))?\s*$")
MYPY_LINE_RE = re.compile(r"^(?P<file>[^:\n]+?):(?P<line>\d+)(?::\d+)*: error: (?P<msg>.*)$")

Location = tuple[Path, int]


@dataclass
class TestFile:
    path: Path
    # line number -> description (may be empty) of each `# expect-error` marker
    markers: dict[int, str] = field(default_factory=dict[int, str])
    assert_types: int = 0
    problems: list[str] = field(default_factory=list[str])


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def scan(path: Path) -> TestFile:
    """Count assert_type() calls and collect `# expect-error` markers, via tokenize."""
    result = TestFile(path)
    source = path.read_text(encoding="utf-8")
    code_lines: set[int] = set()
    previous: tokenize.TokenInfo | None = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                match = MARKER_RE.search(tok.string)
                if match:
                    result.markers[tok.start[0]] = match.group("why") or ""
            elif tok.type not in (
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.ENDMARKER,
            ):
                code_lines.update(range(tok.start[0], tok.end[0] + 1))
                if (
                    tok.type == tokenize.OP
                    and tok.string == "("
                    and previous is not None
                    and previous.type == tokenize.NAME
                    and previous.string == "assert_type"
                ):
                    result.assert_types += 1
                previous = tok
    except (tokenize.TokenError, SyntaxError) as exc:
        result.problems.append(f"{rel(path)}: cannot tokenize: {exc}")
    for line in sorted(result.markers):
        if line not in code_lines:
            result.problems.append(
                f"{rel(path)}:{line}: `# expect-error` must trail the line of code it is about"
            )
    return result


def run(cmd: list[str], verbose: bool) -> subprocess.CompletedProcess[str]:
    if verbose:
        print("$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if verbose:
        print(proc.stdout, end="")
        print(proc.stderr, end="", file=sys.stderr)
    return proc


class ToolError(Exception):
    pass


def mypy_errors(files: list[Path], verbose: bool) -> dict[Location, list[str]]:
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(MYPY_CONFIG),
        "--no-error-summary",
        "--no-pretty",
        "--hide-error-context",
        *(rel(f) for f in files),
    ]
    proc = run(cmd, verbose)
    errors: dict[Location, list[str]] = {}
    for line in proc.stdout.splitlines():
        match = MYPY_LINE_RE.match(line)
        if match:
            path = (ROOT / match.group("file")).resolve()
            errors.setdefault((path, int(match.group("line"))), []).append(match.group("msg"))
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not errors):
        raise ToolError(
            f"mypy failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}".rstrip()
        )
    return errors


def pyright_executable() -> Path:
    # The venv's bin/ (Scripts\ on Windows): do not resolve the interpreter symlink.
    bindir = Path(sys.executable).parent
    for name in ("pyright", "pyright.exe"):
        candidate = bindir / name
        if candidate.exists():
            return candidate
    raise ToolError(
        f"pyright not found next to {sys.executable}: run this with the dev venv "
        "(.venv/bin/python typing_tests/check.py, after `make .venv`)"
    )


def pyright_errors(files: list[Path], verbose: bool) -> dict[Location, list[str]]:
    loaded: Any = json.loads(PYRIGHT_CONFIG.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ToolError(f"{rel(PYRIGHT_CONFIG)}: expected a JSON object")
    config = cast("dict[str, Any]", loaded)
    # Same settings, but just these files (named on the command line); the interpreter
    # is the one running this script (--pythonpath), and imports of the repo's own
    # packages resolve from ROOT although the temporary config lives elsewhere.
    for key in ("include", "exclude", "venvPath", "venv", "executionEnvironments"):
        config.pop(key, None)
    config["extraPaths"] = [str(ROOT)]
    with tempfile.TemporaryDirectory(prefix="typing-tests-") as tmp:
        config_path = Path(tmp) / "pyrightconfig.json"
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
        cmd = [
            str(pyright_executable()),
            "--outputjson",
            "--project",
            str(config_path),
            "--pythonpath",
            sys.executable,
            *(str(f) for f in files),  # files named here replace "include"
        ]
        proc = run(cmd, verbose)
    if proc.returncode not in (0, 1):
        raise ToolError(
            f"pyright failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}".rstrip()
        )
    try:
        report: Any = json.loads(proc.stdout)
        diagnostics: list[Any] = report["generalDiagnostics"]
        analyzed = int(report["summary"]["filesAnalyzed"])
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise ToolError(f"pyright: unexpected output ({exc!r}):\n{proc.stdout}") from exc
    if analyzed != len(files):
        raise ToolError(
            f"pyright analyzed {analyzed} files instead of {len(files)}:\n{proc.stderr}"
        )
    errors: dict[Location, list[str]] = {}
    for diag in diagnostics:
        if diag.get("severity") != "error":
            continue
        where: Any = diag.get("range")
        line = int(where["start"]["line"]) + 1 if where else 0
        message = " ".join(str(diag.get("message", "")).split())
        if diag.get("rule"):
            message += f" [{diag['rule']}]"
        path = Path(str(diag["file"])).resolve()
        errors.setdefault((path, line), []).append(message)
    if proc.returncode == 1 and not errors:
        raise ToolError(f"pyright exited 1 but reported no error:\n{proc.stdout}{proc.stderr}")
    return errors


def compare(checker: str, tests: list[TestFile], errors: dict[Location, list[str]]) -> list[str]:
    expected: dict[Location, str] = {}
    for test in tests:
        for line, why in test.markers.items():
            expected[(test.path.resolve(), line)] = why
    mismatches: list[str] = []
    for (path, line), why in sorted(expected.items()):
        if (path, line) not in errors:
            detail = f" ({why})" if why else ""
            mismatches.append(f"{checker}: {rel(path)}:{line}: expected an error, got none{detail}")
    for (path, line), messages in sorted(errors.items()):
        if (path, line) not in expected:
            for message in messages:
                mismatches.append(f"{checker}: {rel(path)}:{line}: unexpected error: {message}")
    return mismatches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="store_true", help="show the commands and output")
    args = parser.parse_args(argv)
    verbose: bool = args.verbose

    pass_tests = [scan(p) for p in sorted(TYPING_TESTS.glob("pass_*.py"))]
    fail_tests = [scan(p) for p in sorted(TYPING_TESTS.glob("fail_*.py"))]
    problems: list[str] = []
    for test in pass_tests:
        problems.extend(test.problems)
        problems.extend(
            f"{rel(test.path)}:{line}: `# expect-error` in a pass_ file (move it to a fail_ file)"
            for line in sorted(test.markers)
        )
    for test in fail_tests:
        problems.extend(test.problems)
        if not test.markers and not test.problems:
            problems.append(f"{rel(test.path)}: a fail_ file without any `# expect-error` line")
    if not pass_tests and not fail_tests:
        problems.append(f"no pass_*.py or fail_*.py files in {rel(TYPING_TESTS)}")

    files = [t.path for t in pass_tests + fail_tests]
    tests = pass_tests + fail_tests
    if files:
        for checker, check in (("mypy", mypy_errors), ("pyright", pyright_errors)):
            try:
                problems.extend(compare(checker, tests, check(files, verbose)))
            except ToolError as exc:
                problems.append(f"{checker}: {exc}")

    assert_types = sum(t.assert_types for t in pass_tests)
    rejected = sum(len(t.markers) for t in fail_tests)
    summary = (
        f"typing_tests: {assert_types} assert_type expectations, {rejected} rejected lines "
        f"({len(pass_tests)} pass_ and {len(fail_tests)} fail_ files), checked on mypy and pyright"
    )
    if problems:
        for problem in problems:
            print(problem)
        print(f"{summary}: FAILED ({len(problems)} problems)")
        return 1
    print(f"{summary}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
