"""encode_to_disk: chunks, ids, failures, and resume after kill -9 without losing or duplicating rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

import st_multimodal as stm
from st_multimodal.streaming import encode_to_disk, load_embeddings


def _inputs(n: int):
    for i in range(n):
        yield None if i % 17 == 5 else f"caption number {i}"


class TestEncodeToDisk:
    def test_ids_failures_and_rows(self, clip_model, tmp_path):
        report = encode_to_disk(clip_model, _inputs(50), tmp_path / "out", ids=(f"doc-{i}" for i in range(50)), chunk_size=16, batch_size=8, show_progress_bar=False)
        ids, embeddings, failures = load_embeddings(tmp_path / "out")
        bad = [i for i in range(50) if i % 17 == 5]
        assert report.encoded == 50 - len(bad) and report.failed == len(bad)
        assert ids == [f"doc-{i}" for i in range(50) if i not in bad]
        assert [f["index"] for f in failures] == bad and {f["error"] for f in failures} == {"UnsupportedInputError"}
        assert all(f"input {f['index']} " in f["message"] for f in failures)  # positions in the whole input
        expected = clip_model.encode([f"caption number {i}" for i in range(50) if i not in bad])
        assert np.allclose(embeddings, expected, atol=1e-5)

    def test_rerun_is_a_no_op(self, clip_model, tmp_path):
        encode_to_disk(clip_model, _inputs(20), tmp_path / "out", chunk_size=8, show_progress_bar=False)
        again = encode_to_disk(clip_model, _inputs(20), tmp_path / "out", chunk_size=8, show_progress_bar=False)
        assert again.encoded == 0 and again.skipped_as_done == 20
        assert len(load_embeddings(tmp_path / "out")[0]) == 20 - 1  # input 5 fails

    def test_resume_after_kill_9(self, zoo_path, tmp_path):
        """A child process is killed with SIGKILL mid-run; the rerun completes with identical output."""
        out, reference = tmp_path / "killed", tmp_path / "reference"
        script = textwrap.dedent(f"""
            import sys, time
            import st_multimodal as stm
            from st_multimodal.streaming import encode_to_disk
            model = stm.SentenceTransformer({str(zoo_path('clip'))!r}, device="cpu")
            slow = model.encode
            def encode(*a, **k):
                result = slow(*a, **k)
                print("chunk", flush=True)
                time.sleep(0.3)
                return result
            model.encode = encode
            encode_to_disk(model, (f"text {{i}}" for i in range(200)), sys.argv[1], chunk_size=10, show_progress_bar=False)
            print("finished", flush=True)
        """)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        child = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, text=True, env=env)
        chunks_seen = 0
        while chunks_seen < 4:
            line = child.stdout.readline()
            assert line, "child exited before it could be killed"
            chunks_seen += line.startswith("chunk")
        child.send_signal(signal.SIGKILL)
        child.wait()
        committed = len(load_embeddings(out)[0])
        assert 0 < committed < 200
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")
        report = encode_to_disk(model, (f"text {i}" for i in range(200)), out, chunk_size=10, show_progress_bar=False)
        assert report.skipped_as_done == committed
        encode_to_disk(model, (f"text {i}" for i in range(200)), reference, chunk_size=10, show_progress_bar=False)
        ids, embeddings, _ = load_embeddings(out)
        ref_ids, ref_embeddings, _ = load_embeddings(reference)
        assert ids == ref_ids == list(range(200))
        assert np.allclose(embeddings, ref_embeddings, atol=1e-6)

    def test_chunk_size_must_match_on_resume(self, clip_model, tmp_path):
        encode_to_disk(clip_model, ["a", "b"], tmp_path / "out", chunk_size=8, show_progress_bar=False)
        import pytest

        with pytest.raises(ValueError, match="chunk_size"):
            encode_to_disk(clip_model, ["a", "b"], tmp_path / "out", chunk_size=4, show_progress_bar=False)
