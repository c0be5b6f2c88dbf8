"""ResolvingDataCollator: every input form gives upstream's features, bad rows raise typed errors, and training runs."""

from __future__ import annotations

import base64
import pickle

import numpy as np
import pytest
import torch

import st_multimodal as stm
from st_multimodal.demo import heldout_examples, training_examples
from st_multimodal.demo.shapes import CLASSES, caption
from st_multimodal.training import ResolvingDataCollator


@pytest.fixture(scope="module")
def examples():
    return list(training_examples(1))[:4]


def _rows(examples, image_of):
    return [{"caption": ex.caption, "image": image_of(ex)} for ex in examples]


def _assert_same_features(a: dict, b: dict, form: str) -> None:
    assert a.keys() == b.keys(), form
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b[key]), (form, key)
        else:
            assert value == b[key], (form, key)


class TestResolvingDataCollator:
    def test_every_image_form_gives_the_pil_features(self, clip_model, examples, tmp_path):
        collator = ResolvingDataCollator.from_model(clip_model)
        expected = collator(_rows(examples, lambda ex: ex.image()))
        assert expected["image_pixel_values"].shape[0] == len(examples)

        def path_of(ex):
            path = tmp_path / f"{ex.label}.png"
            path.write_bytes(ex.png())
            return str(path)

        forms = {
            "bytes": lambda ex: ex.png(),
            "path": path_of,
            "data uri": lambda ex: "data:image/png;base64," + base64.b64encode(ex.png()).decode(),
            "array": lambda ex: np.asarray(ex.image()),
        }
        for name, form in forms.items():
            _assert_same_features(expected, collator(_rows(examples, form)), name)

    def test_upstream_collator_alone_refuses_bytes(self, clip_model, examples):
        from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator

        with pytest.raises(ValueError):
            SentenceTransformerDataCollator(clip_model.preprocess)(_rows(examples, lambda ex: ex.png()))

    def test_bad_row_raises_a_typed_error_naming_row_and_column(self, clip_model, examples):
        rows = _rows(examples, lambda ex: ex.png())
        rows[2]["image"] = b"\x89PNG\r\n\x1a\n not really a png"
        with pytest.raises(stm.DecodeError) as info:
            ResolvingDataCollator.from_model(clip_model)(rows)
        error = info.value
        assert (error.index, error.column) == (2, "image")
        assert "input 2" in str(error) and "column 'image'" in str(error) and "row 2 of the batch" in str(error)
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is stm.DecodeError and (copy.index, copy.column, str(copy)) == (2, "image", str(error))

    def test_index_column_names_the_dataset_row(self, clip_model, examples):
        rows = [{**row, "row": 100 + i} for i, row in enumerate(_rows(examples, lambda ex: ex.png()))]
        rows[1]["image"] = "/definitely/not/here.png"
        collator = ResolvingDataCollator.from_model(clip_model, index_column="row")
        with pytest.raises(stm.FetchError) as info:
            collator(rows)
        assert info.value.index == 101 and "column 'image'" in str(info.value)
        rows[1]["image"] = examples[1].png()
        assert not any(key.startswith("row") for key in collator(rows))

    def test_fetch_policy_is_applied(self, clip_model, examples, tmp_path):
        path = tmp_path / "x.png"
        path.write_bytes(examples[0].png())
        collator = ResolvingDataCollator.from_model(clip_model, fetch_policy=stm.FetchPolicy(allow_files=False))
        with pytest.raises(stm.BlockedSourceError):
            collator([{"caption": "a red circle", "image": str(path)}])

    def test_unsupported_modality_is_refused_by_row(self, clip_model):
        audio = {"array": np.zeros(1600, np.float32), "sampling_rate": 16000}
        with pytest.raises(stm.ModalityNotSupportedError) as info:
            ResolvingDataCollator.from_model(clip_model)([{"caption": "a beep", "sound": audio}])
        assert (info.value.index, info.value.column) == (0, "sound")

    def test_text_columns_are_never_locations(self, clip_model, examples):
        rows = [{"caption": "photo.png", "image": examples[0].png()}]
        with pytest.raises(stm.FetchError):
            ResolvingDataCollator.from_model(clip_model)(rows)
        batch = ResolvingDataCollator.from_model(clip_model, text_columns=["caption"])(rows)
        assert batch["caption_modality"] == "text"

    def test_url_like_text_is_not_fetched_by_upstream(self, clip_model, examples, connection_log):
        rows = [{"caption": "http://10.0.0.1/cat.png", "image": examples[0].png()}]
        batch = ResolvingDataCollator.from_model(clip_model, text_columns=["caption"])(rows)
        assert batch["caption_modality"] == "text" and connection_log == []

    def test_labels_pass_through(self, clip_model, examples):
        rows = [{**row, "label": 1.0} for row in _rows(examples, lambda ex: ex.png())]
        batch = ResolvingDataCollator.from_model(clip_model)(rows)
        assert torch.equal(batch["label"], torch.ones(len(examples)))

    def test_context_comes_from_the_model(self, clip_model):
        limits = stm.DecodeLimits(max_pixels=10)
        assert ResolvingDataCollator(clip_model.preprocess).context == clip_model.resolve_context()
        assert ResolvingDataCollator.from_model(clip_model, limits=limits).context.limits == limits
        assert ResolvingDataCollator(lambda inputs, **kw: {}).context == stm.ResolveContext()


class TestNoDuplicateCaptions:
    """Upstream's NO_DUPLICATES sampler already keeps a caption out of a batch it is in, image column as bytes."""

    @pytest.fixture(scope="class")
    def dataset(self):
        from datasets import Dataset

        examples = list(training_examples(8))
        return Dataset.from_dict({"caption": [ex.caption for ex in examples], "image": [ex.png() for ex in examples]})

    @staticmethod
    def _batches(dataset, hashed: bool) -> list[list[int]]:
        from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

        sampler = NoDuplicatesBatchSampler(
            dataset, batch_size=12, drop_last=False, generator=torch.Generator(), seed=0, precompute_hashes=hashed
        )
        return list(sampler)

    def test_no_batch_repeats_a_caption(self, dataset):
        batches = self._batches(dataset, hashed=False)
        assert sorted(i for batch in batches for i in batch) == list(range(len(dataset)))
        captions = dataset["caption"]
        for batch in batches:
            assert len({captions[i] for i in batch}) == len(batch)

    def test_hashed_variant_gives_the_same_batches(self, dataset):
        pytest.importorskip("xxhash")
        assert self._batches(dataset, hashed=True) == self._batches(dataset, hashed=False)


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread, and much faster on a machine shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TestTrainingRun:
    def test_a_short_run_through_the_collator_learns_the_task(self, zoo_path, tmp_path, one_thread):
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.base.sampler import BatchSamplers
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        torch.manual_seed(0)
        model = stm.SentenceTransformer(str(zoo_path("clip")), device="cpu")
        heldout = list(heldout_examples(2))  # sizes and positions never seen in training
        recall_before = caption_recall_at_1(model, heldout)
        examples = list(training_examples(4))  # 48 pairs
        dataset = Dataset.from_dict({"caption": [ex.caption for ex in examples], "image": [ex.png() for ex in examples]})
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp_path / "out"), max_steps=STEPS, per_device_train_batch_size=12, learning_rate=3e-3,
            batch_sampler=BatchSamplers.NO_DUPLICATES, save_strategy="no", report_to="none", use_cpu=True,
            disable_tqdm=True, seed=0, logging_steps=STEPS // 4,
        )
        loss = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")
        collator = ResolvingDataCollator.from_model(model, args, text_columns=("caption",))
        calls = []
        original = collator.resolve_features
        collator.resolve_features = lambda features: calls.append(len(features)) or original(features)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, data_collator=collator)
        result = trainer.train()
        assert result.global_step == STEPS and len(calls) >= STEPS  # every batch went through the collator
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        assert len(losses) == 4 and losses[-1] < 0.7 * losses[0]
        recall_after = caption_recall_at_1(model, heldout)
        assert recall_after >= recall_before + 0.25 and recall_after >= 4 / len(CLASSES)  # 4x chance on unseen sizes


STEPS = 40


def caption_recall_at_1(model, examples) -> float:
    """Share of held-out images (given as PNG bytes) whose nearest of the class captions is their own."""
    captions = [caption(shape, colour) for shape, colour in CLASSES]
    images = model.encode([ex.png() for ex in examples], normalize_embeddings=True, use_cache=False)
    texts = model.encode(captions, normalize_embeddings=True, use_cache=False)
    nearest = (images @ texts.T).argmax(1)
    return float(np.mean([captions[i] == ex.caption for i, ex in zip(nearest, examples)]))
