"""Execute the fenced blocks of a Markdown document and compare their shown output.

The conventions (also in docs/writing-docs.md):

- ```` ```sh ````: every line is a command; each must exit 0; output not shown.
- ```` ```python ````: the block runs in a fresh interpreter and must exit 0.
- a block whose lines start with ``$ `` is a *transcript*: the commands run in
  order in one ``bash`` (``set -o pipefail``; stdout and stderr merged) and
  each command's output must match the lines under it. A line ``...`` matches
  any number of lines, ``...`` inside a line matches any text, and
  ``[exit code N]`` states the command's exit code. A command whose exit code
  is neither stated nor shown by a following ``echo $?`` must exit 0.
- ```` ```text ````: not code (a usage synopsis, a layout, an excerpt); not run.
- any other block must carry a marker, an HTML comment on the line before it:

  ``<!-- doc-test: output -->``
      the block is the stdout of the previous ``python``/``sh`` block;
  ``<!-- doc-test: output-of [exit=N] CMD -->``
      the block is the output of the shell command CMD (run here);
  ``<!-- doc-test: pytest -->`` (on a ``python`` block)
      the block is a test file; ``pytest`` must pass on it;
  ``<!-- doc-test: regenerate -->`` (on a ``sh`` block)
      the commands regenerate checked-in files: they run in a copy of the
      repository, and every file must come out identical to the checked-in one;
  ``<!-- doc-test: output-varies REASON -->``
      run the commands, do not compare their output;
  ``<!-- doc-test: xfail REASON -->``
      the block is known to fail; the test fails when it passes;
  ``<!-- doc-test: skip REASON -->``
      not run (install commands, minutes-long runs); REASON is required.

  ``output-of`` can also cover Markdown that is not fenced (rendered output):
  the marker, then the lines up to ``<!-- /doc-test -->``.

All commands of one document run in one temporary directory that holds the
weight files of ``docs/fixtures.py``, in document order, so a later block may
read a file an earlier one wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"^<!--\s*doc-test:\s*(?P<kind>[a-z-]+)\s*(?P<arg>.*?)\s*-->\s*$")
END_REGION = re.compile(r"^<!--\s*/doc-test\s*-->\s*$")
FENCE = re.compile(r"^```(?P<info>[A-Za-z0-9_+-]*)\s*$")
EXIT_LINE = re.compile(r"^\[exit code (?P<code>\d+)\]$")
#: Marker kinds and whether they need an argument (a reason or a command).
MARKER_KINDS: dict[str, bool] = {
    "output": False,
    "output-of": True,
    "pytest": False,
    "regenerate": False,
    "output-varies": True,
    "xfail": True,
    "skip": True,
}
TIMEOUT_S = 300
SEPARATOR = "@@doc-test-separator@@"


@dataclass(frozen=True)
class Block:
    """One fenced block (or marked region) of a document."""

    line: int  # 1-based line of the opening fence (or marker)
    info: str  # the fence's info string: "python", "sh", "text", ""
    text: str
    marker: str = ""
    marker_arg: str = ""

    @property
    def where(self) -> str:
        return f"line {self.line}"


@dataclass
class Outcome:
    """What running a document found."""

    failures: list[str] = field(default_factory=list)
    ran: int = 0
    skipped: int = 0


def parse_blocks(markdown: str) -> list[Block]:
    """The fenced blocks of ``markdown``, each with the marker before it (if any)."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    i = 0
    pending: tuple[str, str, int] | None = None
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line.strip())
        if marker:
            pending = (marker["kind"], marker["arg"], i + 1)
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and not FENCE.match(lines[j]):
                end = next(
                    (k for k in range(j, len(lines)) if END_REGION.match(lines[k].strip())), None
                )
                if end is None:
                    raise ValueError(f"line {i + 1}: marker without a block or a closing comment")
                text = "\n".join(lines[j:end])
                blocks.append(Block(i + 1, "region", text, marker["kind"], marker["arg"]))
                pending = None
                i = end + 1
                continue
            i = j
            continue
        fence = FENCE.match(line)
        if fence:
            end = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("```")), None)
            if end is None:
                raise ValueError(f"line {i + 1}: unclosed code fence")
            kind, arg, _ = pending if pending else ("", "", 0)
            text = "\n".join(lines[i + 1 : end])
            blocks.append(Block(i + 1, fence["info"], text, kind, arg))
            pending = None
            i = end + 1
            continue
        if line.strip():
            pending = None
        i += 1
    return blocks


def is_transcript(block: Block) -> bool:
    return block.info in ("", "console") and any(
        ln.startswith("$ ") for ln in block.text.splitlines()
    )


@dataclass(frozen=True)
class Command:
    command: str
    shown: list[str]  # expected output lines ([exit code N] removed)
    exit_code: int | None  # stated exit code, or None


def parse_transcript(text: str) -> list[Command]:
    """Split a transcript into commands, their shown output and stated exit codes."""
    commands: list[Command] = []
    current: list[str] | None = None
    shown: list[str] = []
    code: int | None = None

    def close() -> None:
        if current is not None:
            while shown and not shown[-1].strip():
                shown.pop()
            commands.append(Command("\n".join(current), list(shown), code))

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            close()
            current, shown, code = [line[2:]], [], None
            while current[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                current.append(lines[i])
        elif current is None:
            if line.strip():
                raise ValueError(f"transcript text before its first command: {line!r}")
        elif EXIT_LINE.match(line.strip()):
            code = int(EXIT_LINE.match(line.strip())["code"])
        else:
            shown.append(line)
        i += 1
    close()
    return commands


def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in expected.rstrip().split("...")]
    return re.compile("^" + ".*".join(parts) + r"\s*$")


def output_matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` matches ``actual``; a line ``...`` matches any number of lines."""
    expected = _trim(expected)
    actual = _trim(actual)
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(expected):
            result = j == len(actual)
        elif expected[i].strip() == "...":
            result = any(match(i + 1, k) for k in range(j, len(actual) + 1))
        else:
            result = (
                j < len(actual)
                and _line_pattern(expected[i]).match(actual[j].rstrip()) is not None
                and match(i + 1, j + 1)
            )
        memo[key] = result
        return result

    return match(0, 0)


def _trim(lines: list[str]) -> list[str]:
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def environment(root: Path) -> dict[str, str]:
    """The environment of every doc command: this tree first on the path, no plotting GUI."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONHASHSEED"] = "0"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def run_shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with bash under ``pipefail``, stderr merged into stdout."""
    return _run(["bash", "-c", "set -o pipefail\nexec 2>&1\n" + script], cwd, env)


def run_transcript(
    commands: list[Command], cwd: Path, env: dict[str, str]
) -> list[tuple[int, str]]:
    """Run the commands in one shell; return each command's (exit code, output)."""
    script = []
    for command in commands:
        script.append(command.command)
        script.append(f'__rc=$?; printf "\\n{SEPARATOR} %d\\n" "$__rc"; (exit "$__rc")')
    done = run_shell("\n".join(script), cwd, env)
    results: list[tuple[int, str]] = []
    chunk: list[str] = []
    for line in done.stdout.split("\n"):
        if line.startswith(SEPARATOR):
            results.append((int(line.split()[1]), "\n".join(chunk)))
            chunk = []
        else:
            chunk.append(line)
    return results


def check_transcript(block: Block, cwd: Path, env: dict[str, str], *, compare: bool) -> list[str]:
    """Failures of one transcript block (an empty list when it holds)."""
    commands = parse_transcript(block.text)
    results = run_transcript(commands, cwd, env)
    failures = []
    if len(results) != len(commands):
        return [f"{block.where}: the shell stopped after {len(results)} of {len(commands)}"]
    for index, (command, (code, output)) in enumerate(zip(commands, results)):
        next_shows_code = index + 1 < len(commands) and commands[index + 1].command.strip() in (
            "echo $?",
        )
        expected_code = command.exit_code
        if expected_code is None and not next_shows_code:
            expected_code = 0
        if expected_code is not None and code != expected_code:
            failures.append(
                f"{block.where}: `{command.command}` exited {code}, the doc says "
                f"{expected_code}; output:\n{output}"
            )
        if "Traceback (most recent call last)" in output:
            failures.append(f"{block.where}: `{command.command}` printed a traceback:\n{output}")
        elif compare and not output_matches(command.shown, output.split("\n")):
            failures.append(_mismatch(block, command.command, command.shown, output))
    return failures


def _mismatch(block: Block, what: str, shown: list[str], output: str) -> str:
    return (
        f"{block.where}: the output of `{what}` differs from the doc.\n"
        f"--- shown\n"
        + "\n".join(_trim(shown))
        + "\n--- actual\n"
        + "\n".join(_trim(output.split("\n")))
    )


def run_document(markdown: str, *, cwd: Path, root: Path) -> Outcome:
    """Run every block of ``markdown`` in ``cwd``; collect failures."""
    env = environment(root)
    outcome = Outcome()
    last_stdout: str | None = None
    for block in parse_blocks(markdown):
        kind = block.marker
        if kind and kind not in MARKER_KINDS:
            outcome.failures.append(f"{block.where}: unknown marker doc-test: {kind}")
            continue
        if kind and MARKER_KINDS[kind] and not block.marker_arg:
            outcome.failures.append(f"{block.where}: marker '{kind}' needs a reason or a command")
            continue
        if kind == "skip" or block.info == "text":
            outcome.skipped += kind == "skip"
            continue
        expect_failure = kind == "xfail"
        failures, last_stdout = _run_block(block, cwd, env, last_stdout)
        outcome.ran += 1
        if expect_failure and not failures:
            outcome.failures.append(f"{block.where}: marked xfail but passes; remove the marker")
        elif not expect_failure:
            outcome.failures.extend(failures)
    return outcome


def _run_block(
    block: Block, cwd: Path, env: dict[str, str], last_stdout: str | None
) -> tuple[list[str], str | None]:
    """Failures of one block, and its stdout for a following ``output`` block."""
    compare = block.marker != "output-varies"
    if block.marker == "output":
        if last_stdout is None:
            return [f"{block.where}: 'output' block without a runnable block before it"], None
        if not output_matches(block.text.split("\n"), last_stdout.split("\n")):
            return [
                _mismatch(block, "the previous block", block.text.split("\n"), last_stdout)
            ], None
        return [], None
    if block.marker == "output-of":
        command, code = block.marker_arg, 0
        stated = re.match(r"exit=(\d+)\s+(.*)$", command)
        if stated:
            code, command = int(stated[1]), stated[2]
        done = run_shell(command, cwd, env)
        failures = []
        if done.returncode != code:
            failures.append(f"{block.where}: `{command}` exited {done.returncode}, not {code}")
        if not output_matches(block.text.split("\n"), done.stdout.split("\n")):
            failures.append(_mismatch(block, command, block.text.split("\n"), done.stdout))
        return failures, None
    if block.marker == "regenerate":
        return _run_regenerate(block, cwd, env), None
    if block.info == "python":
        return _run_python(block, cwd, env)
    if block.info == "sh":
        done = run_shell(block.text, cwd, env)
        if done.returncode != 0:
            return [f"{block.where}: sh block exited {done.returncode}:\n{done.stdout}"], None
        return [], done.stdout
    if is_transcript(block):
        return check_transcript(block, cwd, env, compare=compare), None
    return [
        f"{block.where}: unclassified block (info {block.info!r}): use ```text, a transcript "
        "with '$ ' lines, or a doc-test marker"
    ], None


def _run_python(block: Block, cwd: Path, env: dict[str, str]) -> tuple[list[str], str | None]:
    if block.marker == "pytest":
        path = cwd / f"test_doc_block_{block.line}.py"
        path.write_text(block.text + "\n", encoding="utf-8")
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path.name]
        argv += ["-o", "addopts=", "--rootdir", str(cwd)]
        pytest_env = {**env, "CI": "1"}  # Hypothesis' built-in ci profile: no deadline
        done = _run(argv, cwd, pytest_env)
        path.unlink()
        if done.returncode != 0:
            return [f"{block.where}: pytest failed on the block:\n{done.stdout[-3000:]}"], None
        return [], done.stdout
    done = _run([sys.executable, "-c", block.text], cwd, env)
    if done.returncode != 0:
        return [
            f"{block.where}: python block exited {done.returncode}:\n{done.stderr[-3000:]}"
        ], None
    return [], done.stdout


def tracked_files(root: Path) -> list[str]:
    """The repository's tracked files (relative paths), as git lists them."""
    done = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True
    )
    return [name for name in done.stdout.split("\0") if name and (root / name).is_file()]


def _run_regenerate(block: Block, cwd: Path, env: dict[str, str]) -> list[str]:
    root = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    copy = cwd / "repository-copy"
    names = tracked_files(root)
    for name in names:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, copy / name)
    copy_env = {**env, "PYTHONPATH": str(copy)}
    done = run_shell(block.text, copy, copy_env)
    if done.returncode != 0:
        return [f"{block.where}: regenerate block exited {done.returncode}:\n{done.stdout}"]
    changed = [n for n in names if (copy / n).read_bytes() != (root / n).read_bytes()]
    shutil.rmtree(copy)
    if changed:
        return [f"{block.where}: the commands change checked-in files: {', '.join(changed)}"]
    return []


def prepare_directory(directory: Path, fixtures: Path) -> Path:
    """Copy the fixture files into ``directory`` (created) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in fixtures.iterdir():
        if item.is_dir():
            shutil.copytree(item, directory / item.name)
        else:
            shutil.copy2(item, directory / item.name)
    return directory
