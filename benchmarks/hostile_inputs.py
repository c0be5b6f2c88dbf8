"""Cost of the worst hostile input of each family: peak RSS growth and time, one process per case.

    python benchmarks/hostile_inputs.py            # every family (about 2 minutes on 2 CPUs)
    python benchmarks/hostile_inputs.py --no-model # skip the cases that load a tiny model (torch)

Each case runs in a fresh interpreter whose address space is capped a little above what the case
should need (see ``tests/hostile/guards.py``), so a case that is not bounded fails with MemoryError
instead of taking the machine down. Growth is sampled every 2 ms from ``/proc``. Nothing here
reaches the network: servers listen on 127.0.0.1. Prints one Markdown table (docs/security.md).
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from hostile.guards import run_capped  # noqa: E402

MiB = 1 << 20

_HTTP = """
from st_multimodal.testing.server import LocalServer
from st_multimodal.sources.http import HttpSource
from st_multimodal.policy import FetchPolicy
from st_multimodal.types import ResolveContext
"""

_RESOLVE = """
from st_multimodal.resolvers import resolve, as_image
from st_multimodal.types import ResolveContext
from st_multimodal.policy import DecodeLimits, FetchPolicy
"""

_SSRF_TARGETS = [
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://0x7f000001/", "http://2130706433/",
    "http://0177.0.0.1/", "http://127.1/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://100.100.100.200/", "http://metadata.google.internal/",
    "http://0.0.0.0/", "http://[fe80::1%25eth0]/", "http://10.0.0.1/", "http://192.168.1.1/",
]

CASES: list[tuple[str, str, str, str, int]] = [
    # (family, case, imports, body, address-space budget)
    ("Address spellings and SSRF targets", f"{len(_SSRF_TARGETS)} targets in a row, each refused", _RESOLVE + f"""
from st_multimodal.errors import BlockedSourceError
TARGETS = {_SSRF_TARGETS!r}
""", """
for target in TARGETS:
    try:
        resolve(as_image(target), ResolveContext(), 0)
    except BlockedSourceError:
        continue
    raise AssertionError(target)
""", 256 * MiB),
    ("Redirect tricks", "redirect to the cloud metadata address", _HTTP + _RESOLVE, """
with LocalServer() as server:
    url = server.redirect("/go", "http://169.254.169.254/latest/meta-data/")
    resolve(as_image(url), ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True)), 0)
""", 256 * MiB),
    ("Compressed HTTP bodies", "`Content-Encoding: gzip, gzip`, 2.5 KB on the wire, 1 GiB decoded", _HTTP + """
from hostile.payloads import gzip_gzip_bomb
BODY = gzip_gzip_bomb(1 << 30)
""", """
with LocalServer() as server:
    url = server.route("/b", BODY, headers={"Content-Encoding": "gzip, gzip"})
    HttpSource().fetch(url, ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, max_bytes=2_000_000)))
""", 768 * MiB),
    ("Compressed HTTP bodies", "`Content-Encoding: gzip`, 256 KB on the wire, 256 MiB decoded, 2 MB cap", _HTTP + """
from hostile.payloads import zeros_gzip
BODY = zeros_gzip(256 << 20)
""", """
with LocalServer() as server:
    url = server.route("/b", BODY, headers={"Content-Encoding": "gzip"})
    HttpSource().fetch(url, ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, max_bytes=2_000_000)))
""", 768 * MiB),
    ("Malformed HTTP responses", "200 KB header line (every malformed answer costs one request)", _HTTP, """
def flood(handler):
    handler.wfile.write(b"HTTP/1.1 200 OK\\r\\nX-A: " + b"a" * 200_000 + b"\\r\\n\\r\\nok")
    handler.close_connection = True
with LocalServer() as server:
    server.routes["/m"] = flood
    HttpSource().fetch(server.url("/m"), ResolveContext(fetch_policy=FetchPolicy(allow_loopback=True, retries=3)))
""", 512 * MiB),
    ("`data:` URIs", "256 MiB of base64 typed as an image (over the 64 MiB cap)", _RESOLVE + """
URI = "data:image/png;base64," + "A" * (256 << 20)
""", """
resolve(as_image(URI), ResolveContext(), 0)
""", 256 * MiB),
    ("`data:` URIs", "64 MiB URI, 48 MiB decoded (within the cap)", _RESOLVE + """
import base64
from st_multimodal.sources.base import fetch
URI = "data:image/png;base64," + base64.b64encode(bytes(48 << 20)).decode()
""", """
assert len(fetch(URI, ResolveContext()).data) == 48 << 20
""", 512 * MiB),
    ("`data:` URIs", "60 MiB of `%41` (percent-encoded, 20 MiB decoded)", _RESOLVE + """
from st_multimodal.sources.data import parse_data_uri
URI = "data:application/octet-stream," + "%41" * (20 << 20)
""", """
assert len(parse_data_uri(URI, 64 << 20)[0]) == 20 << 20
""", 768 * MiB),
    ("In-memory bytes", "128 MiB memoryview (over the 64 MiB cap)", _RESOLVE + """
VALUE = memoryview(bytearray(128 << 20))
""", """
resolve(VALUE, ResolveContext(), 0)
""", 256 * MiB),
    ("Text length", "50 MiB string", _RESOLVE + """
TEXT = "data:image/png;base64," + "A" * (50 << 20)
""", """
resolve(TEXT, ResolveContext(), 0)
""", 256 * MiB),
    ("Nesting", "dict nested 5,000 deep", _RESOLVE + """
value = "x"
for _ in range(5000):
    value = {"image": value}
""", """
resolve(value, ResolveContext(), 0)
""", 256 * MiB),
    ("Local files", "hard link inside `file_roots`, `refuse_hard_links=True`", _RESOLVE + """
import os, tempfile
folder = tempfile.mkdtemp()
os.makedirs(folder + "/root")
open(folder + "/secret.png", "wb").write(b"secret")
os.link(folder + "/secret.png", folder + "/root/a.png")
POLICY = FetchPolicy(file_roots=(folder + "/root",), refuse_hard_links=True)
""", """
resolve(folder + "/root/a.png", ResolveContext(fetch_policy=POLICY), 0)
""", 256 * MiB),
    ("Image mode bombs", "16-bit PNG, 9000 x 9000", _RESOLVE + """
import io
import numpy as np
from PIL import Image
buffer = io.BytesIO()
Image.fromarray(np.zeros((9000, 9000), dtype=np.uint16)).save(buffer, "PNG")
DATA = buffer.getvalue()
""", """
resolve(DATA, ResolveContext(), 0)
""", 3 << 30),
    ("Image mode bombs", "1-bit PNG, 9000 x 9000", _RESOLVE + """
import io
from PIL import Image
buffer = io.BytesIO()
Image.new("1", (9000, 9000)).save(buffer, "PNG")
DATA = buffer.getvalue()
""", """
resolve(DATA, ResolveContext(), 0)
""", 3 << 30),
]

_MODEL_CASES = [
    ("Text length", "3 MB word in a batch of 3 (refused; the other two embedded)", ["a cat", "x" * 3_000_000, "a dog"]),
    ("Text length", "500,000-character word (the default limit: accepted, tokenised)", ["x" * 500_000]),
]


def _model_rows() -> list[tuple[str, str, str, float, int]]:
    import st_multimodal
    from st_multimodal.testing.zoo import cached_model

    from hostile.guards import PeakRSS

    model = st_multimodal.SentenceTransformer(str(cached_model("clip")), device="cpu")
    model.encode(["warm up"])
    rows = []
    for family, case, inputs in _MODEL_CASES:
        with PeakRSS() as rss:
            _, failures = model.encode(inputs, on_error="skip", return_failures=True)
        outcome = "ok" if not failures else "; ".join(f"{type(f.error).__name__} ({f.error.limit_name})" for f in failures)
        rows.append((family, case, outcome, rss.seconds, rss.growth))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-model", action="store_true", help="skip the cases that load a tiny model")
    args = parser.parse_args()
    rows = []
    for family, case, imports, body, budget in CASES:
        result = run_capped(body, imports=imports, budget=budget, timeout=300)
        outcome = result["outcome"].split(":")[0]
        rows.append((family, case, outcome, result["seconds"], result["peak_growth"]))
        print(f"  {family}: {case}: {outcome}, {result['seconds']:.2f} s, +{result['peak_growth'] / MiB:.0f} MiB", file=sys.stderr)
    if not args.no_model:
        rows += _model_rows()
    print("| family | case | outcome | time | RSS growth |")
    print("|---|---|---|---|---|")
    for family, case, outcome, seconds, growth in rows:
        print(f"| {family} | {case} | {outcome} | {seconds:.2f} s | +{growth / MiB:.0f} MiB |")


if __name__ == "__main__":
    main()
