"""Sentence-embedding models: the encoder and its batched deployment."""
