"""encode_query / encode_document for retrieval (the post's "Encoding Queries and Documents")."""

from _common import PICTURES, make_pictures
from st_multimodal.demo import demo_model

folder = make_pictures()
# With a real model (needs the hub): SentenceTransformer("Qwen/Qwen3-VL-Embedding-2B")
model = demo_model()  # offline: the bundled demo model, which knows only coloured shapes

query_emb = model.encode_query("a yellow circle")
doc_emb = model.encode_document([folder / name for name in PICTURES])
scores = model.similarity(query_emb, doc_emb)[0]
for name, score in sorted(zip(PICTURES, scores.tolist()), key=lambda x: -x[1]):
    print(f"{name:18} {score:.3f}")
