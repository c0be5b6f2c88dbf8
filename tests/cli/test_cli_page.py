"""docs/cli.md runs offline as written: its shell blocks, in order, in one empty folder, with ``bash -e``.

bash runs each block for real (pipes, ``||``, exit codes, files); only the ``st-multimodal`` command is
served by this process (``main(argv)`` with the block's stdin, stdout, stderr and exit code), so the
page's dozen commands share one torch import. A block under ``<!-- skip: reason -->`` is not run
(it needs a model hub); the page must keep an offline twin of it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from docs_blocks import blocks_of

from st_multimodal.cli import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

# ``st-multimodal``: hand argv and stdin to the test process through a request folder, then replay its answer.
_SHIM = r'''
st-multimodal() {
  local request
  request=$(mktemp -d "$ST_MM_QUEUE/request.XXXXXX")
  printf '%s\0' "$@" > "$request/argv"
  cat > "$request/stdin"
  touch "$request/ready"
  while [ ! -e "$request/done" ]; do sleep 0.02; done
  cat "$request/stdout"
  cat "$request/stderr" >&2
  return "$(cat "$request/code")"
}
'''


def shell_blocks() -> list[tuple[int, str, str | None]]:
    """(line, code, skip reason) of every shell block of the page."""
    return [(b.line, b.code, b.skip) for b in blocks_of(PAGE.name) if b.language in ("bash", "sh", "shell")]


def _serve(request: Path) -> None:
    argv = (request / "argv").read_bytes().split(b"\0")[:-1]
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO((request / "stdin").read_text())
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _swapped_stdin(stdin):
        code = main([arg.decode() for arg in argv])
    (request / "stdout").write_text(out.getvalue())
    (request / "stderr").write_text(err.getvalue())
    (request / "code").write_text(str(code))
    (request / "done").touch()


@contextlib.contextmanager
def _swapped_stdin(stream):
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved


def _run_block(line: int, code: str, folder: Path, queue: Path) -> str:
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1",
           "ST_MM_QUEUE": str(queue), "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                                      os.environ.get("PYTHONPATH", "")])}
    script = f"python() {{ {sys.executable!r} \"$@\"; }}\n{_SHIM}\nset -e\n{code}"
    shell = subprocess.Popen(["bash", "-c", script], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while shell.poll() is None and time.monotonic() < deadline:
        for request in sorted(queue.glob("request.*/ready")):
            _serve(request.parent)
            request.unlink()
        time.sleep(0.02)
    if shell.poll() is None:
        shell.kill()
    out, err = shell.communicate()
    assert shell.returncode == 0, f"docs/cli.md, shell block at line {line} exited {shell.returncode}:\n{out[-2000:]}\n{err[-3000:]}"
    return out + err


def test_skipped_blocks_have_offline_twins():
    blocks = shell_blocks()
    assert [b for b in blocks if b[2]] and len([b for b in blocks if not b[2]]) >= 5
    for _, code, skip in blocks:
        if skip:
            command = code.split()[1]  # encode / rerank ...
            assert any(not s and f"st-multimodal {command} " in c for _, c, s in blocks), command


def test_every_shell_block_runs_offline(tmp_path, monkeypatch):
    folder, queue = tmp_path / "work", tmp_path / "queue"
    folder.mkdir()
    queue.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    output = ""
    for line, code, skip in shell_blocks():
        if not skip:
            output += _run_block(line, code, folder, queue)
    # what the page says the commands print
    assert "exit code 2: shapes.npy is kept" in output and "exit code 4" in output
    assert "4 of 4 rows came from the cache in st-cache" in output
    assert '"error": "DecodeError"' in output and "1 input failed" in output
    assert re.search(r"^1\t[-0-9.]+\timage\tshapes/red-circle\.png$", output, re.MULTILINE)  # search "a red circle"
