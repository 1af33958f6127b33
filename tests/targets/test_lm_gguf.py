"""targets.lm.from_model on a GGUF file: a tiny Llama written here with the gguf package
(byte-level BPE tokenizer in the same file), loaded offline, checked against the model's own
logits, cached, and bad files refused."""

import numpy as np
import pytest
import torch

import bottleneck as bn

gguf = pytest.importorskip("gguf")
transformers = pytest.importorskip("transformers")


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (a byte-level BPE alphabet)."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + k) for k in range(len(extra))]


def write_tiny_llama(path, seed: int = 0, d_model: int = 16, ffn: int = 32) -> int:
    """A one-layer Llama (2 heads, 1 KV head, tied head) with a 258-token byte-level BPE
    vocabulary as a GGUF file; returns the vocabulary size."""
    rng = np.random.default_rng(seed)
    tokens = ["<|endoftext|>", *_byte_symbols(), "\u0120t"]
    V, heads, kv = len(tokens), 2, 1
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(128)
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(V)
    w.add_rope_dimension_count(d_model // heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3] + [1] * (V - 1))
    w.add_token_merges(["\u0120 t"])
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)

    def f(*shape, base=0.0):
        return (base + 0.3 * rng.standard_normal(shape)).astype(np.float32)

    hd = d_model // heads
    w.add_tensor("token_embd.weight", f(V, d_model))
    w.add_tensor("output_norm.weight", f(d_model, base=1.0))
    for name, shape in [
        ("attn_norm", (d_model,)),
        ("attn_q", (d_model, d_model)),
        ("attn_k", (kv * hd, d_model)),
        ("attn_v", (kv * hd, d_model)),
        ("attn_output", (d_model, d_model)),
        ("ffn_norm", (d_model,)),
        ("ffn_gate", (ffn, d_model)),
        ("ffn_up", (ffn, d_model)),
        ("ffn_down", (d_model, ffn)),
    ]:
        w.add_tensor(f"blk.0.{name}.weight", f(*shape, base=1.0 if "norm" in name else 0.0))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return V


TEXT = "In the beginning God created the heaven and the earth. " * 4


def _target(path, cache):
    return bn.targets.from_model(
        str(path), TEXT, context_length=64, device="cpu", progress=False, cache_dir=cache
    )


def test_from_model_reads_a_gguf_file_with_its_tokenizer(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "tiny.gguf"
    V = write_tiny_llama(path)
    t = _target(path, tmp_path / "cache")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), gguf_file=path.name)
    tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path), gguf_file=path.name)
    ids = np.asarray(tok.encode(TEXT, add_special_tokens=False))
    assert t.storage == "factored" and t.shape == (ids.size, V) and ids.size > 64
    with torch.no_grad():  # oracle: the model's own logits, block by block
        logits = np.concatenate(
            [
                model(input_ids=torch.from_numpy(ids[s : s + 64])[None]).logits[0].double().numpy()
                for s in range(0, ids.size, 64)
            ]
        )
    ref = bn.Target.from_logits(logits)
    np.testing.assert_allclose(t.probs, ref.probs, rtol=1e-5, atol=1e-9)  # float32 model
    monkeypatch.setattr(
        bn.targets.lm, "extract_features", lambda *a, **k: pytest.fail("recomputed features")
    )
    again = _target(path, tmp_path / "cache")  # the feature cache, keyed by the file
    np.testing.assert_array_equal(again.factors[0], t.factors[0])


def test_gguf_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="no GGUF file"):
        _target(tmp_path / "missing.gguf", None)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match="could not read"):
        _target(bad, None)
    good = tmp_path / "tiny.gguf"
    write_tiny_llama(good)
    with pytest.raises(ValueError, match="no revisions"):
        bn.targets.from_model(str(good), TEXT, revision="step1", progress=False)
