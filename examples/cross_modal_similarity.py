"""Text and image embeddings in one space (the post's "Cross-Modal Similarity")."""

from _common import PICTURES, make_pictures
from st_multimodal.demo import demo_model

folder = make_pictures()
# With a real model (needs the hub): SentenceTransformer("Qwen/Qwen3-VL-Embedding-2B")
model = demo_model()  # offline: the bundled demo model, which knows only coloured shapes

names = list(PICTURES)
img_embeddings = model.encode([folder / name for name in names])
texts = ["a red circle", "a green square", "a blue triangle", "a yellow circle"]
text_embeddings = model.encode(texts)

similarities = model.similarity(text_embeddings, img_embeddings)
for text, row in zip(texts, similarities):
    best = int(row.argmax())
    print(f"{text!r:20} best match: {names[best]:18} ({float(row[best]):.2f})")
