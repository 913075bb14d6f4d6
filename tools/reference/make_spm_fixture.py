"""A small SentencePiece model for ttt-generate's --tokenizer tests, and the official library's
encodings of a few sentences (the reference the C++ side is checked against).

    python3 -m pip install sentencepiece
    python3 tools/reference/make_spm_fixture.py tests/fixtures

Writes spm_tiny.model (a unigram model of 48 pieces, identity normalisation: a few kB) and
spm_tiny.json ({"pieces": N, "cases": [{"text": ..., "ids": [...], "pieces": [...]}]}).
Moshi's text tokenizer is a SentencePiece model too (tokenizer_spm_32k_3.model), read the same way.
"""
import io
import json
import os
import sys

import sentencepiece as spm

CORPUS = """the cat sat on the mat
a test time training layer learns while it reads
the model reads the text and the audio streams
hello world, hello model
streaming generation emits one step at a time
""" * 20

SENTENCES = ["hello world", "the cat reads the model", "time to train"]


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS.splitlines()), model_writer=model, vocab_size=48,
                                   model_type="unigram", normalization_rule_name="identity", character_coverage=1.0,
                                   bos_id=-1, eos_id=-1, unk_id=0, pad_id=-1, minloglevel=2)
    with open(os.path.join(out_dir, "spm_tiny.model"), "wb") as f:
        f.write(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    cases = [{"text": t, "ids": sp.encode(t), "pieces": sp.encode(t, out_type=str)} for t in SENTENCES]
    with open(os.path.join(out_dir, "spm_tiny.json"), "w") as f:
        json.dump({"pieces": sp.get_piece_size(), "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"spm_tiny.model: {sp.get_piece_size()} pieces, {len(model.getvalue())} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
