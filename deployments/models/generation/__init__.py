"""Causal language models: streamed text generation."""
