"""Ask-LLM throughput parts of `bench/bench_gpu.py`: random-weight judges and the two baselines.

Judges are built from hand-written configs with the released checkpoints' shapes (so FLOPs and
memory traffic match) and random weights, because no weights can be fetched on the GPU machine.
Every judge shares one tokenizer (SmolLM2's); where a config's vocabulary is smaller than the
tokenizer's it is raised to the tokenizer's size, which the results record.

Three scoring paths over the same prompts (built with the engine's own prompt code):
(a) `naive_scores`: one document at a time through `generate(max_new_tokens=1,
    output_scores=True)`, as public Ask-LLM reference implementations do;
(b) `plain_scores`: padded batches in corpus order, full-vocabulary logits at every position;
(c) the engine: `engine.askllm.score_batch`, called by `bench_gpu.py`, never re-implemented here
    (`forward_ceiling` times the engine's own batches with everything but the forwards done first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.askllm import AskLLMConfig, _answer_logits, _truncate, answer_token_ids, build_prompt
from engine.models import device_batches, pad_rows

# name -> (model_type, config kwargs): the released checkpoints' shapes, written out by hand.
SPECS: dict[str, tuple[str, dict]] = {
    "smollm2-135m": ("llama", dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                   num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                                   max_position_embeddings=8192, rope_theta=1e5, rms_norm_eps=1e-5,
                                   tie_word_embeddings=True)),
    "qwen2-0.5b": ("qwen2", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                 num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                                 max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                                 tie_word_embeddings=True)),
    "qwen2-1.5b": ("qwen2", dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                 num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                                 max_position_embeddings=32768, rope_theta=1e6, rms_norm_eps=1e-6,
                                 tie_word_embeddings=True)),
    "flan-t5-base": ("t5", dict(d_model=768, d_ff=2048, d_kv=64, num_layers=12, num_decoder_layers=12,
                                num_heads=12, feed_forward_proj="gated-gelu", vocab_size=32128,
                                tie_word_embeddings=False)),
    "flan-t5-large": ("t5", dict(d_model=1024, d_ff=2816, d_kv=64, num_layers=24, num_decoder_layers=24,
                                 num_heads=16, feed_forward_proj="gated-gelu", vocab_size=32128,
                                 tie_word_embeddings=False)),
    # --smoke: same code paths, toy sizes (CPU-friendly)
    "tiny-llama": ("llama", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)),
    "tiny-qwen2": ("qwen2", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)),
    "tiny-t5": ("t5", dict(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_decoder_layers=2,
                           num_heads=4, feed_forward_proj="gated-gelu", vocab_size=1000)),
}


def load_tokenizer(folder: str):
    """The shared tokenizer; falls back to the raw tokenizer.json if this transformers
    version cannot read the folder's tokenizer_config (written by a newer version)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (ValueError, OSError, AttributeError):
        tok = PreTrainedTokenizerFast(tokenizer_file=str(Path(folder) / "tokenizer.json"),
                                      bos_token="<|im_start|>", eos_token="<|im_end|>",
                                      pad_token="<|im_end|>", unk_token="<|endoftext|>")
        template = Path(folder) / "chat_template.jinja"
        if template.exists():
            tok.chat_template = template.read_text()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token else tok.unk_token
    return tok


def build_judge(name: str, tok, folder: Path, device: str) -> dict:
    """Write a random-weight judge `name` (+ `tok`) to `folder`, where `load_lm` can load it.

    Built directly on `device` in bf16 (fp32 on CPU) so a 1.5B model takes seconds, not minutes.
    Returns facts for the results: architecture, vocabulary, whether it is seq2seq."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    kind, kw = SPECS[name]
    cfg = AutoConfig.for_model(kind, **kw)
    spec_vocab = cfg.vocab_size
    cfg.vocab_size = max(cfg.vocab_size, len(tok))  # every token id must have an embedding row
    special = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   bos_token_id=tok.bos_token_id)
    for key, value in special.items():
        setattr(cfg, key, value)
    seq2seq = bool(cfg.is_encoder_decoder)
    if seq2seq:
        cfg.decoder_start_token_id = tok.pad_token_id
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    with torch.device(device):
        model = cls.from_config(cfg, dtype=dtype)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    del model
    return {"arch": kind, "spec_vocab_size": spec_vocab, "vocab_size": cfg.vocab_size,
            "seq2seq": seq2seq}


def param_counts(model) -> tuple[int, int]:
    """(all parameters, parameters each input token multiplies).

    The second drops the input embedding (a lookup, no FLOPs) and, since the engine asks for one
    position's logits, the output head; for seq2seq it is the encoder alone (the decoder sees
    one token per document)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    if getattr(model.config, "is_encoder_decoder", False):
        enc = {id(p): p for p in model.get_encoder().parameters()}
        enc.pop(id(emb), None)
        return total, sum(p.numel() for p in enc.values())
    head = model.get_output_embeddings()
    skip = {id(emb)} | ({id(head.weight)} if head is not None else set())
    return total, sum(p.numel() for p in model.parameters() if id(p) not in skip)


def prompts_for(texts: list[str], config: AskLLMConfig, tok, seq2seq: bool) -> tuple[list[str], bool]:
    """The engine's prompts for `texts` (engine truncation + template)."""
    cut, _ = _truncate(tok, texts, config.max_doc_tokens)
    built = [build_prompt(t, config, tok, seq2seq) for t in cut]
    return [p for p, _ in built], built[0][1]


def token_stats(ids: list[list[int]], config: AskLLMConfig, device: str) -> dict:
    """Real prompt tokens, and padded tokens for corpus-order batches of `batch_size` (b) vs the
    engine's batches on `device` (length-sorted; by token budget on CUDA)."""
    lens, size = [len(x) for x in ids], config.batch_size

    def padded(batches):
        return int(sum(len(b) * max(lens[i] for i in b) for b in batches))

    in_order = [list(range(i, min(i + size, len(lens)))) for i in range(0, len(lens), size)]
    return {"tokens": int(sum(lens)), "mean_tokens": float(np.mean(lens)),
            "padded_tokens_plain": padded(in_order),
            "padded_tokens_sorted": padded(device_batches(lens, device, size, config.batch_tokens))}


@torch.inference_mode()
def forward_ceiling(model, tok, ids: list[list[int]], config: AskLLMConfig) -> Callable[[], None]:
    """A timing target for the forward passes alone: the engine's batches, padded and put on the
    device BEFORE timing, one position's logits, no host sync until the end. Returns a function
    that runs them all (what the engine's loop would cost with tokenisation, padding and
    transfers entirely off the critical path)."""
    seq2seq = bool(model.config.is_encoder_decoder)
    batches = [pad_rows([ids[i] for i in idx], tok.pad_token_id, not seq2seq, model.device)
               for idx in device_batches([len(x) for x in ids], model.device, config.batch_size,
                                         config.batch_tokens)]

    @torch.inference_mode()
    def run() -> None:
        for input_ids, mask in batches:
            _answer_logits(model, input_ids, mask, seq2seq).float().log_softmax(-1)
    return run


def _p_yes(logits: torch.Tensor, yes: list[int], no: list[int]) -> torch.Tensor:
    logp = torch.log_softmax(logits.float(), dim=-1)
    return torch.sigmoid(torch.logsumexp(logp[:, yes], -1) - torch.logsumexp(logp[:, no], -1))


@torch.inference_mode()
def naive_scores(model, tok, texts: list[str], config: AskLLMConfig) -> np.ndarray:
    """(a) Reference style: per document, build the prompt, tokenise, `generate` one token with
    scores, read P(yes) / (P(yes) + P(no)) off the first step's scores."""
    seq2seq = bool(model.config.is_encoder_decoder)
    yes, no = answer_token_ids(tok)
    out = []
    for text in texts:
        prompts, special = prompts_for([text], config, tok, seq2seq)
        enc = tok(prompts[0], return_tensors="pt", add_special_tokens=not special).to(model.device)
        gen = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                             max_new_tokens=1, do_sample=False, output_scores=True,
                             return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
        out.append(float(_p_yes(gen.scores[0], yes, no)[0]))
    return np.asarray(out, dtype=np.float32)


@torch.inference_mode()
def plain_scores(model, tok, texts: list[str], config: AskLLMConfig) -> np.ndarray:
    """(b) Padded batches of `config.batch_size` in corpus order (no length sorting), the plain
    forward (logits for every position over the full vocabulary), last position read."""
    seq2seq = bool(model.config.is_encoder_decoder)
    yes, no = answer_token_ids(tok)
    out = []
    for start in range(0, len(texts), config.batch_size):
        prompts, special = prompts_for(texts[start:start + config.batch_size], config, tok, seq2seq)
        enc = tok(prompts, padding=True, return_tensors="pt", add_special_tokens=not special,
                  return_token_type_ids=False).to(model.device)
        if seq2seq:
            dec = torch.full((len(prompts), 1), model.config.decoder_start_token_id,
                             device=model.device)
            logits = model(**enc, decoder_input_ids=dec).logits[:, -1]
        else:  # tokenizer pads on the left (engine.models sets it), so -1 is the last real token
            logits = model(**enc).logits[:, -1]
        out.append(_p_yes(logits, yes, no).cpu().numpy())
    return np.concatenate(out).astype(np.float32)
