"""Build a tiny, randomly initialised chat-capable GPT-2 with its own byte-level BPE
tokenizer, special tokens and ChatML chat template, offline.

    python -m deployments.examples.tiny_gpt2 --out model_repository/tiny-gpt2

It generates gibberish: it exists so the text-generation path (tokenizer, chat template,
KV cache, sampling, streaming, cancellation) can be served and tested anywhere in
seconds, without a download. Seeded, so every build has the same weights and the same
greedy outputs. A real chat model is served the same way: its directory (as
``save_pretrained`` writes it) carries its own tokenizer and chat template.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Training text for the tokenizer's merges; any prose works, it only shapes the vocabulary.
CORPUS = """\
Ray Serve is a scalable model serving library for building online inference APIs.
Serve is framework agnostic, so you can use a single toolkit to serve everything from
deep learning models built with frameworks like PyTorch, TensorFlow, and Keras, to
Scikit-Learn models, to arbitrary Python business logic. The quick brown fox jumps over
the lazy dog. Once upon a time there was a small language model that could only babble.
It streamed one token after another, and every token was a surprise. Hello world!
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000. Unicode: café, naïve, 日本語, emoji 🙂.
"""

EOS = "<|endoftext|>"
# ChatML, as Qwen and SmolLM write it: each turn between these two, the answer ending in
# END_OF_TURN (an end-of-sequence token of generation_config, beside EOS).
START_OF_TURN = "<|im_start|>"
END_OF_TURN = "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CONTEXT = 2048


# Layer shapes: the demo's, and GPT-2 small's (124M parameters with GPT-2's own vocabulary;
# random weights either way) for the GPU generation benchmark (benchmarks/run_gpu.sh).
SHAPES = {
    "tiny": {"n_embd": 64, "n_layer": 2, "n_head": 2},
    "small": {"n_embd": 768, "n_layer": 12, "n_head": 12},
}


def build(out: Path, *, vocab_size: int = 512, seed: int = 0, shape: str = "tiny") -> Path:
    # Imported here so `--help` and importing the module stay cheap.
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, START_OF_TURN, END_OF_TURN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS.splitlines() * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        model_max_length=CONTEXT,
        clean_up_tokenization_spaces=False,
        additional_special_tokens=[START_OF_TURN, END_OF_TURN],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    eos_id = tokenizer.eos_token_id
    assert isinstance(eos_id, int)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=CONTEXT,
        n_embd=SHAPES[shape]["n_embd"],
        n_layer=SHAPES[shape]["n_layer"],
        n_head=SHAPES[shape]["n_head"],
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    model.generation_config.eos_token_id = [eos_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "BUILT_BY.json").write_text(
        json.dumps({"builder": __name__, "seed": seed, "random_weights": True, "chat": True}) + "\n"
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("model_repository/tiny-gpt2"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    args = parser.parse_args(argv)
    print(f"{args.shape} GPT-2 written to {build(args.out, seed=args.seed, shape=args.shape)}")


if __name__ == "__main__":
    main()
