"""The st-multimodal command line, run in-process through ``main([...])`` (one subprocess smoke test)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from st_multimodal.cli import build_parser, main
from st_multimodal.cli.common import fetch_policy_from, parse_size
from st_multimodal.testing import media

RANDOM = np.random.default_rng(0).bytes(500)


@pytest.fixture(scope="module")
def clip(zoo_path) -> str:
    return str(zoo_path("clip"))


@pytest.fixture(scope="module")
def reranker(zoo_path) -> str:
    return str(zoo_path("qwen3vl-reranker"))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Images (one without an extension), audio, a corrupt JPEG, text, HTML, random bytes, a hidden file."""
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "sub").mkdir()
    (folder / "cat.jpg").write_bytes(media.jpeg_bytes(seed=1))
    (folder / "sub" / "noext").write_bytes(media.png_bytes(seed=2))
    (folder / "sound.wav").write_bytes(media.wav_bytes(0.5))
    (folder / "broken.jpg").write_bytes(media.truncated_jpeg_bytes())
    (folder / "notes.txt").write_text("hello world\n")
    (folder / "page.html").write_bytes(media.html_bytes())
    (folder / "random.bin").write_bytes(RANDOM)
    (folder / ".hidden.png").write_bytes(media.png_bytes(seed=3))
    return folder


def _run(*args: str) -> int:
    return main([*map(str, args), "--device", "cpu", "--quiet"])


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


class TestEncode:
    def test_mixed_folder_with_skip(self, clip, clip_model, mixed, tmp_path, monkeypatch):
        monkeypatch.chdir(mixed.parent)
        out = tmp_path / "out.npy"
        assert _run("encode", mixed.name, "--model", clip, "--output", out, "--on-error", "skip") == 4  # inputs failed
        ids = json.loads((tmp_path / "out.ids.json").read_text())
        assert ids == [f"{mixed.name}/cat.jpg", f"{mixed.name}/sub/noext"]
        expected = clip_model.encode([mixed / "cat.jpg", mixed / "sub" / "noext"])
        assert _cosine(np.load(out), expected).min() >= 0.9999
        failures = {Path(f["source"]).name: f for f in _lines(tmp_path / "out.failures.jsonl")}
        assert failures["broken.jpg"]["error"] == "DecodeError" and failures["broken.jpg"]["index"] == 0
        assert failures["sound.wav"]["error"] == "ModalityNotSupportedError"
        for name in ("notes.txt", "page.html", "random.bin"):
            assert failures[name]["error"] == "NotMediaFile" and failures[name]["index"] is None
        assert ".hidden.png" not in failures and not (tmp_path / "out.npy.parts").exists()

    def test_raise_stops_writes_nothing_and_exits_1(self, clip, mixed, tmp_path, capsys):
        good = mixed / "cat.jpg"
        args = ("encode", good, good, good, mixed / "broken.jpg", "--model", clip, "--output", tmp_path / "out.npy", "--chunk-size", "2")
        assert _run(*args) == 1
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and error[0].startswith("st-multimodal: error: DecodeError: input 3 ") and "broken.jpg" in error[0]
        assert list(tmp_path.iterdir()) == []

    def test_stdin_to_parquet(self, clip, clip_model, mixed, tmp_path, monkeypatch):
        pq = pytest.importorskip("pyarrow.parquet")
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"a red car\n\n{mixed / 'cat.jpg'}\n"))
        out = tmp_path / "out.parquet"
        assert _run("encode", "-", "--model", clip, "--output", out) == 0
        table = pq.read_table(out)
        assert table.column("id").to_pylist() == ["a red car", str(mixed / "cat.jpg")]
        got = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
        assert _cosine(got, clip_model.encode(["a red car", mixed / "cat.jpg"])).min() >= 0.9999
        assert (tmp_path / "out.failures.jsonl").read_text() == ""

    def test_csv_column_ids_and_input_type(self, clip, clip_model, mixed, tmp_path):
        table = tmp_path / "items.csv"
        table.write_text(f"sku,path,caption\nA1,{mixed / 'cat.jpg'},cat.jpg\nB2,{mixed / 'nope.png'},a dog\n")
        assert _run("encode", table, "--column", "path", "--ids-from", "column:sku", "--model", clip,
                    "--output", tmp_path / "img.npy", "--on-error", "skip", "--failures", tmp_path / "bad.jsonl",
                    "--chunk-size", "1") == 4
        assert json.loads((tmp_path / "img.ids.json").read_text()) == ["A1"]
        [failure] = _lines(tmp_path / "bad.jsonl")
        assert (failure["id"], failure["index"]) == ("B2", 1) and failure["message"].startswith("input 1 ")
        # --input-type text: "cat.jpg" is a caption here, not a file
        assert _run("encode", table, "--column", "caption", "--input-type", "text", "--ids-from", "index",
                    "--model", clip, "--output", tmp_path / "txt.npy") == 0
        assert json.loads((tmp_path / "txt.ids.json").read_text()) == [0, 1]
        from st_multimodal import as_text

        assert _cosine(np.load(tmp_path / "txt.npy"), clip_model.encode([as_text("cat.jpg"), "a dog"])).min() >= 0.9999

    def test_jsonl_field(self, clip, tmp_path):
        records = tmp_path / "docs.jsonl"
        records.write_text('{"id": 7, "text": "a cat"}\n\n{"id": 9, "text": "a dog"}\n')
        assert _run("encode", records, "--field", "text", "--ids-from", "column:id", "--model", clip, "--output", tmp_path / "d.npy") == 0
        assert json.loads((tmp_path / "d.ids.json").read_text()) == [7, 9]
        assert np.load(tmp_path / "d.npy").shape == (2, 16)

    def test_resume_continues_an_interrupted_run(self, clip, tmp_path):
        from st_multimodal.streaming import encode_to_disk

        class Zeros:  # stands in for the chunk a killed run had finished
            def encode(self, inputs, **kwargs):
                return np.zeros((len(inputs), 16), np.float32), []

        out = tmp_path / "o.npy"
        encode_to_disk(Zeros(), ["a cat"], tmp_path / "o.npy.parts", ids=["a cat"], chunk_size=1, show_progress_bar=False)
        assert _run("encode", "a cat", "a dog", "--model", clip, "--output", out, "--chunk-size", "1", "--resume") == 0
        rows = np.load(out)
        assert not rows[0].any() and rows[1].any() and not (tmp_path / "o.npy.parts").exists()
        encode_to_disk(Zeros(), ["a cat"], tmp_path / "o.npy.parts", ids=["a cat"], chunk_size=1, show_progress_bar=False)
        assert _run("encode", "a cat", "a dog", "--model", clip, "--output", out, "--chunk-size", "1", "--force") == 0
        assert np.load(out)[0].any()  # without --resume a stale run is discarded

    def test_no_fetch_blocks_urls(self, clip, tmp_path):
        assert _run("encode", "http://127.0.0.1:9/x.png", "--no-fetch", "--model", clip,
                    "--output", tmp_path / "o.npy", "--on-error", "skip") == 4
        assert np.load(tmp_path / "o.npy").shape == (0, 16)
        assert _lines(tmp_path / "o.failures.jsonl")[0]["error"] == "BlockedSourceError"


class TestExitCodes:
    @pytest.mark.parametrize("args, message", [
        (["encode", "missing.txt", "--output", "o.npy"], "input list 'missing.txt' does not exist"),
        (["encode", "x", "--output", "o.csv"], "--output must end in .npy or .parquet"),
        (["encode", "docs.jsonl", "--output", "o.npy"], "choose the inputs with --field"),
        (["encode", "x", "--ids-from", "column:id", "--output", "o.npy"], "needs .csv/.tsv/.jsonl inputs"),
    ])
    def test_usage_errors_exit_2_in_one_line(self, clip, tmp_path, monkeypatch, capsys, args, message):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "docs.jsonl").write_text('{"a": "x", "b": "y"}\n')
        assert _run(*args, "--model", clip) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0]

    def test_wrong_model_kind_is_usage(self, clip, capsys):
        assert _run("rerank", "--model", clip, "--query", "q", "doc") == 2
        assert "needs a reranker" in capsys.readouterr().err

    def test_unloadable_model_exits_3(self, tmp_path, capsys):
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "config.json").write_text("{}")
        assert _run("encode", "x", "--model", tmp_path / "model", "--output", tmp_path / "o.npy") == 3
        assert capsys.readouterr().err.startswith("st-multimodal: error: cannot load model")

    def test_argparse_errors_and_help(self, capsys):
        assert main(["encode", "--bogus"]) == 2
        assert main(["--help"]) == 0
        assert "exit codes" in capsys.readouterr().out


class TestIndexAndSearch:
    def test_index_then_search(self, clip, mixed, tmp_path, capsys):
        index = tmp_path / "photos.index"
        assert _run("index", mixed, "--model", clip, "--output", index, "--on-error", "skip") == 4
        assert {f["error"] for f in _lines(tmp_path / "photos.index.failures.jsonl")} >= {"DecodeError", "NotMediaFile"}
        capsys.readouterr()
        # the model is recorded in the index folder, so --model is optional
        assert main(["search", str(index), "--query-file", str(mixed / "cat.jpg"), "--json", "--quiet", "--device", "cpu"]) == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [h["rank"] for h in hits] == [1, 2] and hits[0]["id"] == str(mixed / "cat.jpg")
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4) and hits[0]["metadata"]["source"] == hits[0]["id"]
        assert _run("search", index, "--model", clip, "--query", "a cat", "--top-k", "1") == 0
        rank, score, modality, doc_id = capsys.readouterr().out.strip().split("\t")
        assert rank == "1" and modality == "image" and doc_id in {h["id"] for h in hits}

    def test_search_with_rerank(self, clip, reranker, mixed, tmp_path, capsys):
        index = tmp_path / "idx"
        assert _run("index", mixed / "cat.jpg", mixed / "sub" / "noext", "--model", clip, "--output", index) == 0
        capsys.readouterr()
        assert _run("search", index, "--query", "a cat", "--rerank-with", reranker, "--json") == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(hits) == 2 and all(h["rerank_score"] == h["score"] for h in hits)
        assert hits[0]["score"] >= hits[1]["score"]

    def test_duplicate_ids_and_missing_index(self, clip, tmp_path, capsys):
        assert _run("index", "a cat", "a cat", "--model", clip, "--output", tmp_path / "i") == 2
        assert "repeated: a cat" in capsys.readouterr().err
        assert _run("search", tmp_path / "nothing", "--model", clip, "--query", "x") == 2


class TestRerank:
    def test_ranked_output_and_failures(self, reranker, qwen_reranker, mixed, tmp_path, capsys):
        bad = tmp_path / "bad.jsonl"
        docs = [str(mixed / "cat.jpg"), "a dog on the grass", str(mixed / "broken.jpg")]
        assert _run("rerank", "--model", reranker, "--query", "a cat", *docs, "--on-error", "skip", "--failures", bad) == 4
        rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
        assert [r[0] for r in rows] == ["1", "2"] and {r[2] for r in rows} == set(docs[:2])
        expected = {d["corpus_id"]: d["score"] for d in qwen_reranker.rank("a cat", docs[:2])}
        for _, score, doc in rows:
            assert float(score) == pytest.approx(expected[docs.index(doc)], abs=1e-3)
        assert [(f["id"], f["error"]) for f in _lines(bad)] == [(docs[2], "DecodeError")]


class TestHelpers:
    def test_parse_size(self):
        assert parse_size("1000") == 1000 and parse_size("20MB") == 20 * 1024**2 and parse_size("1.5g") == int(1.5 * 1024**3)

    def test_fetch_policy_flags(self, tmp_path):
        args = build_parser().parse_args([
            "encode", "x", "-o", "o.npy", "-m", "m", "--timeout", "5", "--max-bytes", "2MiB", "--allow-loopback",
            "--allow-private", "--allowed-domain", "a.com", "--allowed-domain", "b.org", "--no-fetch", "--file-root", str(tmp_path),
        ])
        policy = fetch_policy_from(args)
        assert (policy.timeout, policy.max_bytes, policy.enabled) == (5.0, 2 * 1024**2, False)
        assert policy.allow_loopback and policy.allow_private and policy.allowed_domains == ("a.com", "b.org")
        assert policy.file_roots == (str(tmp_path),)


def test_console_script_smoke():
    """``python -m st_multimodal.cli --help`` in a fresh interpreter (the only subprocess here)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "st_multimodal.cli", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "encode" in done.stdout and "exit codes" in done.stdout


def test_folder_pdfs_expand_into_pages(tmp_path):
    pytest.importorskip("pypdfium2")
    import st_multimodal as stm
    from st_multimodal.demo import demo_model_path
    from st_multimodal.testing.documents import pdf_bytes

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(pdf_bytes([("circle", "red"), ("triangle", "blue")]))
    (folder / "scan").write_bytes(pdf_bytes([("square", "green")]))  # no extension: sniffed by content
    (folder / "notes.txt").write_text("not media")
    index = tmp_path / "docs.index"
    assert main(["index", str(folder), "--model", str(demo_model_path()), "--output", str(index),
                 "--device", "cpu", "--quiet"]) == 0
    report, scan = (folder / "report.pdf").as_posix(), (folder / "scan").as_posix()
    loaded = stm.MultimodalIndex.load(index, stm.demo_model())
    assert loaded.ids == [f"{report}#page=1", f"{report}#page=2", f"{scan}#page=1"]
    assert loaded.search("a blue triangle", top_k=1)[0].id == f"{report}#page=2"
    assert [n["error"] for n in _lines(tmp_path / "docs.index.failures.jsonl")] == ["NotMediaFile"]
