"""Every method our classes override takes every argument upstream's takes: same names, order, kinds and defaults.
Ours may only add keyword-only arguments. A new upstream release that adds or renames an argument fails here."""

from __future__ import annotations

import inspect

import pytest
import sentence_transformers as st

import st_multimodal as stm

CLASSES = [(stm.SentenceTransformer, st.SentenceTransformer), (stm.CrossEncoder, st.CrossEncoder),
           (stm.MultiVectorEncoder, st.MultiVectorEncoder)]
UPSTREAM_6_3 = tuple(int(p) for p in st.__version__.split(".")[:2]) >= (6, 3)


def _overrides():
    """(our class, upstream class, method name) for the constructor, each public method and each ``_inference`` /
    ``_multi_process*`` that one of our classes defines itself or through our mixins."""
    for ours, upstream in CLASSES:
        own = {name for klass in ours.__mro__ if klass.__module__.startswith("st_multimodal") for name in vars(klass)}
        for name in sorted(own):
            public = not name.startswith("_") or name in ("__init__", "_inference", "_multi_process", "_multi_process_worker")
            if public and callable(getattr(upstream, name, None)):
                yield pytest.param(ours, upstream, name, id=f"{ours.__name__}.{name}")


def _unwrapped(method):
    return inspect.signature(inspect.unwrap(method))


@pytest.mark.parametrize(("ours", "upstream", "name"), list(_overrides()))
def test_signature_keeps_upstreams(ours, upstream, name):
    if ours is stm.MultiVectorEncoder and name == "encode" and not UPSTREAM_6_3:
        pytest.skip("our MultiVectorEncoder.encode follows 6.3's argument order (6.2 has no truncate_dim)")
    theirs = list(_unwrapped(getattr(upstream, name)).parameters.values())
    mine = _unwrapped(getattr(ours, name)).parameters
    positional = [p.name for p in mine.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for parameter in theirs:
        assert parameter.name in mine or (parameter.kind is parameter.VAR_KEYWORD and any(
            p.kind is p.VAR_KEYWORD for p in mine.values())), f"{name} drops {parameter.name!r}"
        if parameter.kind is parameter.VAR_KEYWORD:
            continue
        own = mine[parameter.name]
        assert own.kind == parameter.kind, f"{name}({parameter.name}) is {own.kind}, upstream {parameter.kind}"
        required = parameter.default is inspect.Parameter.empty  # ours may give a required argument a default
        assert required or own.default == parameter.default or repr(own.default) == repr(parameter.default), \
            f"{name}({parameter.name}) defaults to {own.default!r}, upstream {parameter.default!r}"
    upstream_positional = [p.name for p in theirs if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert positional == upstream_positional, f"{name}: positional arguments {positional} != upstream's {upstream_positional}"
    added = [p for p in mine.values() if p.name not in {q.name for q in theirs}]
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in added), f"{name} adds non-keyword-only {added}"


def test_overrides_are_found():
    names = {param.id for param in _overrides()}
    assert {"SentenceTransformer.__init__", "CrossEncoder.__init__", "MultiVectorEncoder.__init__",
            "SentenceTransformer.encode", "CrossEncoder.predict", "CrossEncoder.rank", "MultiVectorEncoder.encode",
            "SentenceTransformer._inference", "CrossEncoder._multi_process"} <= names
