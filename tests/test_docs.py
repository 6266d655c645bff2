"""Every command and snippet in README.md and docs/*.md runs, and shows its real output.

The conventions are in docs/writing-docs.md and ``tests/doctest_markdown.py``.
One test per document; the siblings below feed the harness broken documents
(a wrong shown output, a failing snippet, a pipe hiding an exit code, an
unclassified block, a skip without a reason) and check that it refuses them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


harness = _load("doctest_markdown", ROOT / "tests" / "doctest_markdown.py")
fixtures = _load("docs_fixtures", ROOT / "docs" / "fixtures.py")


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("doc-fixtures")
    fixtures.build(directory)
    return directory


def _run(markdown: str, tmp_path: Path, fixture_files: Path):
    cwd = harness.prepare_directory(tmp_path / "cwd", fixture_files)
    return harness.run_document(markdown, cwd=cwd, root=ROOT)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_block_of_the_document_runs_and_shows_its_real_output(
    document: Path, tmp_path: Path, fixture_files: Path
) -> None:
    outcome = _run(document.read_text(encoding="utf-8"), tmp_path, fixture_files)
    assert not outcome.failures, f"{document.name}:\n\n" + "\n\n".join(outcome.failures)


def test_every_document_has_blocks_that_run() -> None:
    for document in DOCUMENTS:
        blocks = harness.parse_blocks(document.read_text(encoding="utf-8"))
        if document.name != "theory.md":
            assert blocks, f"{document.name} has no code block: is the parser broken?"


# --- siblings: the harness refuses broken documents -------------------------------------


def test_a_wrong_shown_output_is_caught(tmp_path: Path, fixture_files: Path) -> None:
    good = "```\n$ echo hello\nhello\n```\n"
    assert _run(good, tmp_path / "a", fixture_files).failures == []
    bad = "```\n$ echo hello\nhallo\n```\n"
    (failure,) = _run(bad, tmp_path / "b", fixture_files).failures
    assert "differs from the doc" in failure and "hallo" in failure


def test_a_wrong_exit_code_and_a_silent_failure_are_caught(
    tmp_path: Path, fixture_files: Path
) -> None:
    stated = "```\n$ bash -c 'exit 3'\n[exit code 2]\n```\n"
    assert "exited 3, the doc says 2" in _run(stated, tmp_path / "a", fixture_files).failures[0]
    silent = "```\n$ false\n```\n"
    assert "exited 1, the doc says 0" in _run(silent, tmp_path / "b", fixture_files).failures[0]
    shown = "```\n$ false\n$ echo $?\n1\n```\n"
    assert _run(shown, tmp_path / "c", fixture_files).failures == []


def test_a_pipe_does_not_hide_the_exit_code_of_its_first_command(
    tmp_path: Path, fixture_files: Path
) -> None:
    # The drift the README had: `cmd | head -1; echo $?` showed head's status.
    doc = "```\n$ (echo out; exit 1) | head -1; echo $?\nout\n0\n```\n"
    (failure,) = _run(doc, tmp_path, fixture_files).failures
    assert "differs from the doc" in failure


def test_a_failing_python_snippet_is_caught(tmp_path: Path, fixture_files: Path) -> None:
    doc = "```python\nimport math\nprint(undefined_name)\n```\n"
    (failure,) = _run(doc, tmp_path, fixture_files).failures
    assert "NameError" in failure


def test_a_python_block_and_its_shown_output(tmp_path: Path, fixture_files: Path) -> None:
    shown = "```python\nprint(6 * 7)\n```\n\n<!-- doc-test: output -->\n```\n{}\n```\n"
    assert _run(shown.format(42), tmp_path / "a", fixture_files).failures == []
    assert _run(shown.format(41), tmp_path / "b", fixture_files).failures


def test_output_of_a_command_and_of_a_rendered_region(tmp_path: Path, fixture_files: Path) -> None:
    fenced = "<!-- doc-test: output-of echo one; echo two -->\n```\none\ntwo\n```\n"
    assert _run(fenced, tmp_path / "a", fixture_files).failures == []
    region = "<!-- doc-test: output-of echo '## Title' -->\n\n## Title\n\n<!-- /doc-test -->\n"
    assert _run(region, tmp_path / "b", fixture_files).failures == []
    wrong = "<!-- doc-test: output-of exit=0 echo one -->\n```\nthree\n```\n"
    assert _run(wrong, tmp_path / "c", fixture_files).failures


def test_ellipsis_matches_lines_and_text_but_not_everything() -> None:
    actual = ["a: 1", "b", "c", "d: 4"]
    assert harness.output_matches(["a: ...", "...", "d: 4"], actual)
    assert harness.output_matches(["a: 1", "...", "d: ..."], actual)
    assert not harness.output_matches(["a: 1", "d: 4"], actual)
    assert not harness.output_matches(["a: ...", "...", "e"], actual)


def test_unclassified_blocks_and_reasonless_skips_are_refused(
    tmp_path: Path, fixture_files: Path
) -> None:
    unclassified = "```\nsome output with no command\n```\n"
    assert "unclassified" in _run(unclassified, tmp_path / "a", fixture_files).failures[0]
    no_reason = "<!-- doc-test: skip -->\n```sh\npip install x\n```\n"
    assert "needs a reason" in _run(no_reason, tmp_path / "b", fixture_files).failures[0]
    unknown = "<!-- doc-test: sometimes -->\n```sh\ntrue\n```\n"
    assert "unknown marker" in _run(unknown, tmp_path / "c", fixture_files).failures[0]
    skipped = "<!-- doc-test: skip installs packages -->\n```sh\nfalse\n```\n"
    outcome = _run(skipped, tmp_path / "d", fixture_files)
    assert outcome.failures == [] and outcome.skipped == 1


def test_an_xfail_block_that_passes_is_reported(tmp_path: Path, fixture_files: Path) -> None:
    doc = "<!-- doc-test: xfail seed differs -->\n```\n$ echo a\na\n```\n"
    assert "remove the marker" in _run(doc, tmp_path / "a", fixture_files).failures[0]
    still_failing = "<!-- doc-test: xfail seed differs -->\n```\n$ echo a\nb\n```\n"
    assert _run(still_failing, tmp_path / "b", fixture_files).failures == []


def test_a_pytest_block_must_pass(tmp_path: Path, fixture_files: Path) -> None:
    passing = "<!-- doc-test: pytest -->\n```python\ndef test_ok():\n    assert 1 + 1 == 2\n```\n"
    assert _run(passing, tmp_path / "a", fixture_files).failures == []
    failing = passing.replace("== 2", "== 3")
    assert "pytest failed" in _run(failing, tmp_path / "b", fixture_files).failures[0]


def test_fixture_files_are_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "1", tmp_path / "2"
    first.mkdir()
    second.mkdir()
    for a, b in zip(fixtures.build(first), fixtures.build(second)):
        if a.suffix == ".pt":  # torch.save stamps the archive with a random record name
            continue
        pairs = [(a, b)] if a.is_file() else list(zip(sorted(a.iterdir()), sorted(b.iterdir())))
        assert pairs and all(x.read_bytes() == y.read_bytes() for x, y in pairs), a.name


def test_a_regenerate_block_that_changes_a_checked_in_file_is_caught(
    tmp_path: Path, fixture_files: Path
) -> None:
    doc = "<!-- doc-test: regenerate -->\n```sh\necho drift >> README.md\n```\n"
    (failure,) = _run(doc, tmp_path / "a", fixture_files).failures
    assert "change checked-in files: README.md" in failure
    harmless = "<!-- doc-test: regenerate -->\n```sh\ncat README.md > /dev/null\n```\n"
    assert _run(harmless, tmp_path / "b", fixture_files).failures == []
