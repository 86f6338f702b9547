"""A random-weight model with all-MiniLM-L6-v2's shape, in sentence-transformers layout.

For throughput runs where the real weights cannot travel (the GPU machine: the weights
package is larger than what a call may carry). Speed does not depend on weight values;
correctness is tested on CPU with the real weights. The WordPiece vocabulary holds the
benchmark's words (benchmarks/workload.py) so token counts match the real model's, padded
to MiniLM's 30,522 entries so the embedding table has the real size.

    python -m benchmarks.random_model --out /tmp/random-minilm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast  # type: ignore[attr-defined]

from benchmarks.workload import _VOCAB

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB_SIZE = 30522
MAX_SEQ_LENGTH = 256


def build(out: Path, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=512,
    )
    BertModel(config).eval().save_pretrained(out)
    words = SPECIAL + list(dict.fromkeys(_VOCAB))
    words += [f"[unused{i}]" for i in range(VOCAB_SIZE - len(words))]
    (out / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=True).save_pretrained(out)
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True})
    )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.random_model", description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(build(args.out, args.seed))


if __name__ == "__main__":
    main()
