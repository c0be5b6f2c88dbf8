"""A multimodal reranker on mixed pairs (the post's "Multimodal Reranker Models").

The reranker here is tiny and has random weights, so its scores show the API, not relevance.
"""

from _common import make_pictures, serve, tiny_reranker_path
from st_multimodal import CrossEncoder, FetchPolicy

folder = make_pictures()
# With a real model (needs the hub): CrossEncoder("Qwen/Qwen3-VL-Reranker-2B")
model = CrossEncoder(tiny_reranker_path(), fetch_policy=FetchPolicy(allow_loopback=True))  # offline stand-in

with serve(folder) as base:
    scores = model.predict([
        ("a red circle", f"{base}/red_circle.png"),           # (text, image URL)
        (str(folder / "green_square.png"), "a green square"), # (image path, text)
        ("a blue triangle", "a triangle that is blue"),       # (text, text)
    ])
    print("scores:", scores)
    ranking = model.rank("a red circle", [f"{base}/red_circle.png", str(folder / "blue_triangle.png"), "a red circle"])
    print("rank:", ranking)
