"""sentence-transformers-multimodal."""
