"""Encoding images from URLs, local paths and PIL objects (the post's "Encoding Images")."""

from PIL import Image

from _common import make_pictures, serve
from st_multimodal import FetchPolicy
from st_multimodal.demo import demo_model

folder = make_pictures()
# The examples' "web" is a server on 127.0.0.1; loopback must be allowed explicitly.
# With a real model (needs the hub): SentenceTransformer("Qwen/Qwen3-VL-Embedding-2B"), and real URLs.
model = demo_model(fetch_policy=FetchPolicy(allow_loopback=True))  # offline: knows only coloured shapes

with serve(folder) as base:
    img_embeddings = model.encode([
        f"{base}/red_circle.png",                 # a URL
        str(folder / "green_square.png"),         # a path
        Image.open(folder / "blue_triangle.png"), # a PIL image
    ])
print("image embeddings:", img_embeddings.shape)
