"""Command-line consistency: outputs kept unless --force, failures always reported with exit 4, help that
lists only what applies, status lines, the cache line, ``--model demo``, and no temporary folders left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import st_multimodal
from st_multimodal.cli import build_parser, main
EXIT_SOME_FAILED = 4  # the documented exit code for "done, but inputs failed"
from st_multimodal.testing import media

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("encode", "index", "search", "rerank")


@pytest.fixture(scope="module")
def demo():
    return st_multimodal.demo_model()


@pytest.fixture
def pictures(tmp_path, monkeypatch) -> Path:
    """A folder with two pictures and one broken JPEG; the current directory is its parent."""
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(media.png_bytes(seed=1))
    (folder / "b.png").write_bytes(media.png_bytes(seed=2))
    monkeypatch.chdir(tmp_path)
    return folder


def _cli(*args, capsys=None) -> int:
    return main([*map(str, args), "--device", "cpu"])


def _help(*command: str, capsys) -> str:
    assert main([*command, "--help"]) == 0
    return capsys.readouterr().out


class TestOverwrite:
    def test_encode_refuses_then_force_overwrites(self, pictures, capsys):
        assert _cli("encode", pictures, "--model", "demo", "--output", "out.npy", "-q") == 0
        assert np.load("out.npy").shape[0] == 2
        assert _cli("encode", pictures / "a.png", "--model", "demo", "--output", "out.npy", "-q") == 2
        assert "'out.npy' already exists; pass --force" in capsys.readouterr().err
        assert np.load("out.npy").shape[0] == 2  # untouched
        assert _cli("encode", pictures / "a.png", "--model", "demo", "--output", "out.npy", "-q", "--force") == 0
        assert np.load("out.npy").shape[0] == 1

    def test_index_refuses_and_force_never_deletes_a_foreign_folder(self, pictures, capsys):
        assert _cli("index", pictures, "--model", "demo", "--output", "pics.index", "-q") == 0
        assert _cli("index", pictures / "a.png", "--model", "demo", "--output", "pics.index", "-q") == 2
        assert "--force" in capsys.readouterr().err
        assert _cli("index", pictures / "a.png", "--model", "demo", "--output", "pics.index", "-q", "--force") == 0
        assert len(st_multimodal.MultimodalIndex.load("pics.index", st_multimodal.demo_model()).ids) == 1
        assert _cli("index", pictures / "a.png", "--model", "demo", "--output", pictures, "-q", "--force") == 2
        assert "is not a saved index" in capsys.readouterr().err and (pictures / "b.png").is_file()


class TestFailures:
    def test_quiet_still_reports_failures_with_exit_4(self, pictures, capsys):
        (pictures / "broken.jpg").write_bytes(media.truncated_jpeg_bytes())
        assert _cli("encode", pictures, "--model", "demo", "--output", "out.npy", "--on-error", "skip", "-q") == EXIT_SOME_FAILED
        err = capsys.readouterr().err
        assert "1 input failed, see out.failures.jsonl" in err
        assert [json.loads(line)["error"] for line in Path("out.failures.jsonl").read_text().splitlines()] == ["DecodeError"]
        assert np.load("out.npy").shape[0] == 2

    def test_plural_and_not_media_notes_do_not_fail(self, pictures, capsys):
        for name in ("x.jpg", "y.jpg"):
            (pictures / name).write_bytes(media.truncated_jpeg_bytes())
        (pictures / "notes.txt").write_text("hello")
        assert _cli("index", pictures, "--model", "demo", "--output", "i", "--on-error", "skip", "-q") == EXIT_SOME_FAILED
        assert "2 inputs failed and 1 file was not media, see i.failures.jsonl" in capsys.readouterr().err
        (pictures / "x.jpg").unlink()
        (pictures / "y.jpg").unlink()
        assert _cli("encode", pictures, "--model", "demo", "--output", "o.npy", "--on-error", "skip", "-q") == 0
        assert capsys.readouterr().err == ""  # a README in a photo folder is no failure

    def test_rerank_skip_writes_a_failures_file(self, zoo_path, pictures, capsys):
        reranker = zoo_path("qwen3vl-reranker")
        (pictures / "broken.jpg").write_bytes(media.truncated_jpeg_bytes())
        docs = [pictures / "a.png", pictures / "broken.jpg"]
        assert _cli("rerank", "--model", reranker, "--query", "a cat", *docs, "--on-error", "skip", "-q") == EXIT_SOME_FAILED
        out, err = capsys.readouterr()
        assert len(out.strip().splitlines()) == 1 and "1 input failed, see rerank.failures.jsonl" in err
        [failure] = [json.loads(line) for line in Path("rerank.failures.jsonl").read_text().splitlines()]
        assert (failure["index"], failure["error"]) == (1, "DecodeError")


class TestHelp:
    @pytest.mark.parametrize("command, absent", [
        ("search", ("--on-error", "--batch-size", "--cache-dir", "--force")),
        ("rerank", ("--cache-dir",)),
    ])
    def test_command_help_lists_only_what_applies(self, command, absent, capsys):
        text = _help(command, capsys=capsys)
        assert [flag for flag in absent if flag in text] == []

    def test_flags_that_remain_are_used(self):
        search = build_parser().parse_args(["search", "idx", "--query", "q"])
        assert not {"on_error", "batch_size", "cache_dir", "force"} & set(vars(search))

    def test_top_level_help_lists_each_command_once(self, capsys):
        lines = _help(capsys=capsys).splitlines()
        for command in COMMANDS:
            listed = [line for line in lines if line.split()[:1] == [command]]
            assert len(listed) == 1, listed


class TestStatus:
    def test_status_line_and_progress_bar_unless_quiet(self, pictures, capsys):
        assert _cli("encode", pictures, "--model", "demo", "--output", "o.npy") == 0
        err = capsys.readouterr().err
        assert err.index("st-multimodal: loading model demo ...") < err.index("Encoding")
        assert "wrote 2 embeddings" in err
        assert _cli("encode", pictures, "--model", "demo", "--output", "q.npy", "-q") == 0
        assert capsys.readouterr().err == ""

    def test_cached_rerun_says_how_many_rows_came_from_the_cache(self, pictures, capsys):
        args = ("encode", pictures, "--model", "demo", "--output", "o.npy", "--cache-dir", "cache", "--force")
        assert _cli(*args) == 0
        assert "0 of 2 rows came from the cache in cache" in capsys.readouterr().err
        assert _cli(*args) == 0
        assert "2 of 2 rows came from the cache in cache" in capsys.readouterr().err


class TestDemoModelName:
    def test_cli_model_demo_is_the_bundled_model(self, pictures, demo):
        assert _cli("encode", "a red circle", pictures / "a.png", "--model", "demo", "--output", "o.npy", "-q") == 0
        expected = demo.encode(["a red circle", pictures / "a.png"])
        np.testing.assert_allclose(np.load("o.npy"), expected, atol=1e-5)

    def test_load_demo(self):
        model = st_multimodal.load("demo", device="cpu")
        assert isinstance(model, st_multimodal.SentenceTransformer)
        assert st_multimodal.model_kind("demo") == "embedder"
        assert st_multimodal.demo_model_path().is_dir()

    def test_a_local_folder_named_demo_wins(self, tmp_path, monkeypatch):
        from st_multimodal.loading import resolve_model_name

        monkeypatch.chdir(tmp_path)
        assert resolve_model_name("demo") == str(st_multimodal.demo_model_path())
        (tmp_path / "demo").mkdir()
        assert resolve_model_name("demo") == "demo"


class TestNoLeftovers:
    def test_examples_remove_their_temporary_folder(self, tmp_path):
        env = {**os.environ, "TMPDIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
               "PYTHONPATH": os.pathsep.join([str(Path(st_multimodal.__file__).parents[1]), str(ROOT / "examples")])}
        done = subprocess.run([sys.executable, str(ROOT / "examples" / "cross_modal_similarity.py")],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "a red circle" in done.stdout
        assert list(tmp_path.glob("st-mm-examples-*")) == []

    def test_demo_does_not_print_the_folder_it_deletes(self, capsys):
        from st_multimodal.demo.__main__ import main as demo_main

        demo_main(["--per-class", "1", "--query", "a red circle", "--top-k", "1"])
        out = capsys.readouterr().out
        assert "st-mm-demo-" not in out and tempfile.gettempdir() not in out
