"""The flat public API: every name in __all__ exists, and the public names users need are exported."""

from __future__ import annotations

import st_multimodal


class TestPublicApi:
    def test_all_names_exist(self):
        missing = [name for name in st_multimodal.__all__ if not hasattr(st_multimodal, name)]
        assert missing == []

    def test_no_duplicates_in_all(self):
        assert len(st_multimodal.__all__) == len(set(st_multimodal.__all__))

    def test_exports_what_the_docs_promise(self):
        for name in ("SentenceTransformer", "CrossEncoder", "load", "FetchPolicy", "DecodeLimits",
                     "MultimodalInputError", "as_text", "as_image", "as_audio", "as_video", "register_resolver",
                     "encode_to_disk", "MultimodalIndex", "Calibrator", "demo_model"):
            assert name in st_multimodal.__all__

    def test_every_error_derives_from_the_base(self):
        errors = [getattr(st_multimodal, n) for n in st_multimodal.__all__ if n.endswith("Error") and n not in
                  ("RegistryError", "DuplicateIdError", "ModelMismatchError", "WrongModelClassError",
                   "SelfCheckError", "EmbeddingDriftError", "IncompatibleReferenceError")]
        assert errors and all(issubclass(e, st_multimodal.MultimodalInputError) for e in errors)

    def test_errors_survive_pickling_with_their_fields(self):
        import pickle

        error = st_multimodal.LimitExceededError("too big", limit_name="max_bytes", limit=10, actual=20, index=3, source="x")
        again = pickle.loads(pickle.dumps(error))
        assert (again.index, again.source, again.limit, again.actual, str(again)) == (3, "x", 10, 20, str(error))
        missing = st_multimodal.MissingDependencyError("needs ray", package="ray", extra="ray")
        assert str(pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(missing))))) == str(missing)
        assert str(missing).count("pip install") == 1
        fetch = pickle.loads(pickle.dumps(st_multimodal.FetchError("nope", status=404, index=1)))
        assert fetch.status == 404 and fetch.transient is False and fetch.index == 1
