#!/usr/bin/env bash
# Trains the two small SentencePiece models the tests use, with Debian's spm_train (package sentencepiece, which
# only this script needs), on corpus.txt (Arrakis' README and docs at the time). Training is deterministic for a
# given corpus and SentencePiece version (0.1.97 here). Then run ../make_references.mjs to refresh the reference ids.
#   bpe.model      BPE with byte fallback and identity normalization, as Llama 2 / Mistral / Gemma models are;
#                  digits split, a user-defined symbol "<sep>", pad id 3.
#   unigram.model  unigram without byte fallback (unknown characters become <unk>), no pad.
set -euo pipefail
cd "$(dirname "$0")"
spm_train --input=corpus.txt --model_prefix=bpe --vocab_size=600 --model_type=bpe --byte_fallback=true \
  --character_coverage=0.9995 --normalization_rule_name=identity --remove_extra_whitespaces=false \
  --split_digits=true --user_defined_symbols='<sep>' --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3
spm_train --input=corpus.txt --model_prefix=unigram --vocab_size=500 --model_type=unigram \
  --character_coverage=1.0 --normalization_rule_name=identity --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1
rm -f bpe.vocab unigram.vocab
