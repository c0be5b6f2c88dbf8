"""PDF inputs: page selections, which inputs are documents, expansion into pages, and resolving a page."""

from __future__ import annotations

import base64
import pathlib

import pytest

pytest.importorskip("pypdfium2")

import st_multimodal as stm
from st_multimodal.errors import (
    BlockedSourceError,
    DecodeError,
    EncryptedDocumentError,
    FetchError,
    LimitExceededError,
    PageOutOfRangeError,
    UnsupportedInputError,
)
from st_multimodal.policy import DecodeLimits, FetchPolicy
from st_multimodal.resolvers.expansion import document_of
from st_multimodal.resolvers.pages import parse_pages, select_pages
from st_multimodal.resolvers.strings import is_location
from st_multimodal.testing import media
from st_multimodal.testing.documents import encrypted_pdf_bytes, pdf_bytes, truncated_pdf_bytes
from st_multimodal.testing.server import LocalServer
from st_multimodal.types import ResolveContext

CTX = ResolveContext()
SHAPES = [("triangle", "blue"), ("circle", "red"), ("square", "green")]
PDF = pdf_bytes(SHAPES)


def _data_uri(data: bytes) -> str:
    return "data:application/pdf;base64," + base64.b64encode(data).decode()


class TestParsePages:
    @pytest.mark.parametrize("pages, spans", [
        (None, None), (2, ((2, 2),)), ([3, 1], ((3, 3), (1, 1))), (range(2, 5), ((2, 4),)),
        ("1-3, 5,8-", ((1, 3), (5, 5), (8, None))), ("7", ((7, 7),)),
    ])
    def test_forms(self, pages, spans):
        assert parse_pages(pages) == spans

    @pytest.mark.parametrize("pages", [0, [1, 0], "0-2", range(0, 3), "3-1", "a", "1,,2", [], ""])
    def test_bad_values(self, pages):
        with pytest.raises(ValueError):
            parse_pages(pages)

    @pytest.mark.parametrize("pages", [1.5, [1, "2"], True, {1: 2}, b"1"])
    def test_bad_types(self, pages):
        with pytest.raises(TypeError):
            parse_pages(pages)

    def test_as_document_checks_eagerly(self):
        with pytest.raises(ValueError, match="numbered from 1"):
            stm.as_document("x.pdf", pages=0)
        assert stm.as_document("x.pdf", pages="2-").options == {"pages": ((2, None),)}


class TestSelectPages:
    def test_document_order_each_once(self):
        assert select_pages(parse_pages([3, 1, 3, 2]), 5) == [1, 2, 3]
        assert select_pages(parse_pages("4-,1-2"), 5) == [1, 2, 4, 5]
        assert select_pages(None, 3) == [1, 2, 3]

    @pytest.mark.parametrize("pages, bad", [(7, 7), ("2-9", 9), ("6-", 6)])
    def test_out_of_range(self, pages, bad):
        with pytest.raises(PageOutOfRangeError, match=f"page {bad} is not in the PDF, which has 5 pages") as info:
            select_pages(parse_pages(pages), 5)
        assert (info.value.page, info.value.page_count) == (bad, 5)

    def test_max_pages_is_checked_before_listing(self):
        with pytest.raises(LimitExceededError) as info:
            select_pages(None, 10**9, max_pages=1000)  # would take gigabytes if listed first
        assert (info.value.limit_name, info.value.limit, info.value.actual) == ("pdf_max_pages", 1000, 10**9)
        assert select_pages(parse_pages("1-2"), 10**9, max_pages=2) == [1, 2]


class TestDocumentOf:
    @pytest.mark.parametrize("value", [
        "report.pdf", "./docs/Report.PDF", "https://example.com/a/report.pdf?sig=x#frag", "file:///tmp/r.pdf",
        _data_uri(b"%PDF-1.4"), PDF, bytearray(PDF), memoryview(PDF), pathlib.Path("r.pdf"), stm.as_document("x"),
    ], ids=["name", "relative", "url-query", "file-url", "data-uri", "bytes", "bytearray", "memoryview", "path", "typed"])
    def test_documents(self, value):
        assert document_of(value, CTX) is not None

    @pytest.mark.parametrize("value", [
        "a photo of a cat", "see report.pdf for details", "https://example.com/report.pdf.html", "cat.png",
        "data:image/png;base64,AAAA", media.png_bytes(seed=1), b"%PDF", pathlib.Path("cat.png"), stm.as_image("x.png"),
        media.image(1), 3,
    ], ids=["text", "text-naming-pdf", "html-url", "image-name", "image-data-uri", "png", "short", "image-path",
            "typed-image", "pil", "int"])
    def test_not_documents(self, value):
        assert document_of(value, CTX) is None

    def test_strict_mode_reads_strings_as_text(self):
        assert document_of("report.pdf", CTX.replace(strict=True)) is None
        assert document_of(stm.as_document("report.pdf"), CTX.replace(strict=True)) is not None

    def test_a_pdf_name_is_a_location(self):
        assert is_location("report.pdf") and not is_location("see the report.pdf")


class TestExpandDocuments:
    def test_pages_replace_the_document_in_order(self):
        expanded = stm.expand_documents(["a text", PDF, stm.as_document(PDF, pages="3,1"), "more"])
        assert isinstance(expanded, list) and len(expanded) == 7
        assert expanded.origins == [0, 1, 1, 1, 2, 2, 3]
        assert expanded.pages == [None, 1, 2, 3, 1, 3, None]
        assert expanded[0] == "a text" and expanded[6] == "more"
        page = expanded[5]
        assert (page.index, page.page, page.page_count) == (2, 3, 3)
        assert page.source == f"<bytes of {len(PDF)} bytes>#page=3"
        assert expanded.input_count == 4 and expanded.failures == []

    def test_pages_share_the_bytes(self):
        expanded = stm.expand_documents([PDF])
        assert expanded[0].data is expanded[2].data

    def test_no_documents_leaves_inputs_alone(self):
        inputs = ["a", media.png_bytes(seed=1)]
        expanded = stm.expand_documents(inputs)
        assert list(expanded) == inputs and expanded.pages == [None, None] and expanded.origins == [0, 1]

    def test_path_and_file_url_sources(self, tmp_path):
        path = tmp_path / "report.pdf"
        path.write_bytes(PDF)
        expanded = stm.expand_documents([str(path), path.as_uri(), path])
        assert [p.source for p in expanded[:3]] == [f"{path}#page={n}" for n in (1, 2, 3)]
        assert expanded.origins == [0] * 3 + [1] * 3 + [2] * 3

    def test_data_uri(self):
        expanded = stm.expand_documents([_data_uri(PDF)])
        assert expanded.pages == [1, 2, 3] and expanded[0].source.startswith("data:application/pdf;base64,")

    def test_skip_keeps_failures_at_their_positions(self):
        expanded = stm.expand_documents([truncated_pdf_bytes(), PDF, encrypted_pdf_bytes(), stm.as_document(PDF, pages=9)],
                                        on_error="skip")
        assert expanded.origins == [1, 1, 1]
        assert [(f.index, type(f.error)) for f in expanded.failures] == [
            (0, DecodeError), (2, EncryptedDocumentError), (3, PageOutOfRangeError)]
        assert all(f.error.index == f.index and f.error.source == f.source for f in expanded.failures)
        assert expanded.failures[1].source == f"<bytes of {len(encrypted_pdf_bytes())} bytes>"

    def test_raise_names_the_input(self):
        with pytest.raises(EncryptedDocumentError, match=r"^input 1 '<bytes of \d+ bytes>': the PDF is encrypted"):
            stm.expand_documents(["x", encrypted_pdf_bytes()])

    def test_too_many_pages_fails_before_rendering(self, monkeypatch):
        from st_multimodal.decoders import pdf

        monkeypatch.setattr(pdf, "render_page", lambda *a, **k: pytest.fail("rendered"))
        ctx = CTX.replace(limits=DecodeLimits(pdf_max_pages=2))
        with pytest.raises(LimitExceededError, match="pdf_max_pages: limit 2, got 3") as info:
            stm.expand_documents([PDF], ctx)
        assert info.value.index == 0
        assert stm.expand_documents([stm.as_document(PDF, pages=[2, 3])], ctx).pages == [2, 3]

    def test_fetch_policy_applies(self, tmp_path):
        path = tmp_path / "report.pdf"
        path.write_bytes(PDF)
        with pytest.raises(BlockedSourceError):
            stm.expand_documents([str(path)], CTX.replace(fetch_policy=FetchPolicy(allow_files=False)))
        with pytest.raises(LimitExceededError, match="max_bytes"):
            stm.expand_documents([PDF], CTX.replace(fetch_policy=FetchPolicy(max_bytes=100)))

    def test_a_pdf_named_file_that_is_not_a_pdf(self, tmp_path):
        path = tmp_path / "page.pdf"
        path.write_bytes(b"<html><body>Not found</body></html>")
        with pytest.raises(DecodeError, match="expected a PDF document, but it looks like an HTML page"):
            stm.expand_documents([str(path)])

    def test_missing_file(self):
        with pytest.raises(FetchError) as info:
            stm.expand_documents(["a", "/no/such/report.pdf"])
        assert info.value.index == 1 and info.value.source == "/no/such/report.pdf"

    def test_pairs_expand_the_document_side(self):
        expanded = stm.expand_documents([("q1", "a text"), ("q2", stm.as_document(PDF, pages="2-"))], pairs=True)
        assert [pair[0] for pair in expanded] == ["q1", "q2", "q2"]
        assert expanded.pages == [None, 2, 3] and expanded[2][1].page == 3
        single = stm.expand_documents(("q", PDF), pairs=True)
        assert single.origins == [0, 0, 0]

    def test_context_from_a_model_like_object(self, tmp_path):
        class Model:
            def resolve_context(self):
                return CTX.replace(limits=DecodeLimits(pdf_max_pages=1))

        with pytest.raises(LimitExceededError):
            stm.expand_documents([PDF], Model())
        with pytest.raises(TypeError):
            stm.expand_documents([PDF], object())

    def test_item_ids_and_rows(self):
        expanded = stm.expand_documents(["t", stm.as_document(PDF, pages="1-2")])
        assert expanded.item_ids(["a", "r"]) == ["a", "r#page=1", "r#page=2"]
        failure = stm.Failure(index=1, source="x#page=1", error=DecodeError("bad"), page=1)
        assert expanded.rows([failure]) == [(0, None), (1, 2)]


class TestUrls:
    def test_pdf_url_is_fetched_once(self):
        with LocalServer() as server:
            url = server.route("/files/report.pdf", PDF, headers={"Content-Type": "application/pdf"})
            ctx = CTX.replace(fetch_policy=FetchPolicy(allow_loopback=True, retries=0))
            expanded = stm.expand_documents([url], ctx)
            assert [p.source for p in expanded] == [f"{url}#page={n}" for n in (1, 2, 3)]
            assert server.count("/files/report.pdf") == 1

    def test_loopback_is_blocked_by_default(self):
        with LocalServer() as server:
            url = server.route("/report.pdf", PDF)
            with pytest.raises(BlockedSourceError):
                stm.expand_documents([url])

    def test_a_pdf_behind_a_url_without_pdf_in_it(self):
        with LocalServer() as server:
            url = server.route("/download", PDF, headers={"Content-Type": "application/pdf"})
            ctx = CTX.replace(fetch_policy=FetchPolicy(allow_loopback=True, retries=0))
            assert stm.expand_documents([url], ctx).pages == [None]  # not recognised from its name...
            with pytest.raises(UnsupportedInputError, match=r"as_document\(\.\.\.\)") as info:
                stm.resolve(url, ctx, index=4)  # ...and refused, never read as one picture
            assert (info.value.index, info.value.source) == (4, url)
            assert stm.expand_documents([stm.as_document(url)], ctx).pages == [1, 2, 3]


class TestResolvingAPage:
    def test_rendering_waits_for_materialize(self):
        page = stm.expand_documents([PDF])[1]
        resolved = stm.resolve(page, CTX, materialize=False)
        assert resolved.modality == "image" and not resolved.is_materialized
        assert resolved.provenance.source.endswith("#page=2") and resolved.provenance.mime == "application/pdf"
        resolved.materialize()
        assert resolved.value.size == (1240, 1755) and resolved.value.getpixel((620, 877)) == (220, 40, 40)

    def test_content_hashes_differ_per_page_and_per_render_setting(self):
        pages = stm.expand_documents([PDF, PDF])
        hashes = [stm.resolve(p, CTX, materialize=False).provenance.content_hash for p in pages]
        assert len(set(hashes[:3])) == 3 and hashes[:3] == hashes[3:]  # same bytes, same page: same key
        other_dpi = stm.resolve(pages[0], CTX.replace(limits=DecodeLimits(pdf_dpi=72)), materialize=False)
        assert other_dpi.provenance.content_hash not in hashes

    def test_an_unexpanded_document_is_refused(self):
        with pytest.raises(UnsupportedInputError, match="expand_documents") as info:
            stm.resolve(stm.as_document(PDF), CTX, index=2)
        assert info.value.index == 2

    def test_pdf_bytes_resolved_directly_point_to_as_document(self):
        with pytest.raises(UnsupportedInputError, match="as_document"):
            stm.resolve(PDF, CTX)

    def test_as_image_of_a_pdf_is_refused(self, tmp_path):
        path = tmp_path / "r.pdf"
        path.write_bytes(PDF)
        with pytest.raises(UnsupportedInputError, match="as_document"):
            stm.resolve(stm.as_image(str(path)), CTX)


class TestErrors:
    def test_new_errors_survive_pickling(self):
        import pickle

        error = PageOutOfRangeError("page 9 is not in the PDF", page=9, page_count=3, index=2, source="r.pdf")
        again = pickle.loads(pickle.dumps(error))
        assert (again.page, again.page_count, again.index, str(again)) == (9, 3, 2, str(error))
        assert isinstance(again, IndexError)
        encrypted = pickle.loads(pickle.dumps(EncryptedDocumentError("locked", index=1)))
        assert isinstance(encrypted, DecodeError) and encrypted.index == 1

    def test_failure_keeps_its_page_when_renumbered(self):
        failure = stm.Failure(index=4, source="r.pdf#page=2", error=DecodeError("bad", index=4), page=2)
        moved = failure.renumbered(1)
        assert (moved.index, moved.page, moved.error.index) == (1, 2, 1)
