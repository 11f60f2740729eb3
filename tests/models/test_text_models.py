"""Char-RNN and Transformer specifics: document scoring, generation past the context, vocabularies, text errors."""

import pytest
import torch

import chainrule as cr
from chainrule.data.vocabulary import Vocabulary, read_text
from chainrule.errors import ConfigError, DataFormatError, InputError
from chainrule.models import MODELS
from chainrule.sampling import generate, top_k_filter
from chainrule.train.trainer import stream_order


def build(name, length=5, levels=7, **extra):
    torch.manual_seed(0)
    model = cr.models.create(name, shape=(length,), levels=levels, **{**MODELS.get(name).tiny, **extra}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return model


def test_char_rnn_carried_state_scores_a_long_text_exactly_as_one_pass():
    tokens = torch.randint(0, 7, (23,), generator=torch.Generator().manual_seed(0))
    chunked = build("char-rnn", length=5)
    whole = build("char-rnn", length=23)
    whole.load_state_dict(chunked.state_dict())
    with torch.no_grad():
        one_pass = whole.log_prob(tokens[None], reduction="none")[0]
    assert torch.allclose(chunked.stream_log_probs(tokens), one_pass, atol=1e-5)


def test_char_rnn_training_carries_state_between_consecutive_chunks():
    model = build("char-rnn", length=4).train()
    x = torch.randint(0, 7, (3, 8), generator=torch.Generator().manual_seed(1))
    model.reset_carry()
    first = model.training_log_prob(x[:, :4], None, 0)
    second = model.training_log_prob(x[:, 4:], None, 1)
    whole = build("char-rnn", length=8).train()
    whole.load_state_dict(model.state_dict())
    with torch.no_grad():
        ref = whole.log_prob(x, reduction="none")
    assert torch.allclose(first.detach(), ref[:, :4].sum(1), atol=1e-5)
    assert torch.allclose(second.detach(), ref[:, 4:].sum(1), atol=1e-5)


def test_stream_order_makes_each_batch_continue_the_previous_one():
    order = stream_order(rows=12, batch_size=3).reshape(-1, 3)  # 3 streams of 4 chunks
    assert order.tolist() == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]


def test_transformer_sliding_window_scores_each_token_once_with_the_stated_context():
    model = build("transformer", length=6)
    tokens = torch.randint(0, 7, (17,), generator=torch.Generator().manual_seed(2))
    scores = model.stream_log_probs(tokens)
    assert scores.shape == (17,)
    with torch.no_grad():
        first = model.log_prob(tokens[None, :6], reduction="none")[0]
        # the token at 7 is scored in the window ending at 9 (stride 3): tokens 3..8 as context
        window = model.log_prob(tokens[None, 3:9], reduction="none")[0]
    assert torch.allclose(scores[:6], first, atol=1e-5)
    assert torch.allclose(scores[6:9], window[3:], atol=1e-5)
    with torch.no_grad():  # shorter than the context: one window, all of it
        short = model.stream_log_probs(tokens[:4])
        assert torch.allclose(short, model.log_prob(tokens[None, :6], reduction="none")[0, :4], atol=1e-5)


def test_transformer_scores_at_another_context_rotary_past_the_trained_one_learned_only_shorter():
    tokens = torch.randint(0, 7, (40,), generator=torch.Generator().manual_seed(3))
    rotary = build("transformer", length=6, positions="rotary")
    longer = build("transformer", length=12, positions="rotary")
    longer.load_state_dict(rotary.state_dict())  # rotary weights do not depend on the context length
    assert torch.allclose(rotary.stream_log_probs(tokens, context=12), longer.stream_log_probs(tokens), atol=1e-5)
    learned = build("transformer", length=6)
    shorter = build("transformer", length=4)
    shorter.load_state_dict({k: v[:4] if k == "position.weight" else v for k, v in learned.state_dict().items()})
    assert torch.allclose(learned.stream_log_probs(tokens, context=4), shorter.stream_log_probs(tokens), atol=1e-5)
    with pytest.raises(ConfigError, match="rotary"):
        learned.stream_log_probs(tokens, context=12)


@pytest.mark.parametrize("name", ["char-rnn", "transformer"])
def test_generation_runs_past_the_context_and_top_k_restricts_the_draws(name):
    model = build(name, length=5)
    g = torch.Generator().manual_seed(0)
    seen = []
    out = generate(model, torch.tensor([1, 2, 3]), 17, top_k=2, generator=g, on_token=seen.append)
    assert out.shape == (17,) and seen == out.tolist()
    cache = model.init_cache(1)
    log_probs = model.cache_step(cache, None)
    for t in [1, 2, 3]:
        log_probs = model.cache_step(cache, torch.tensor([t]))
    allowed = set(log_probs[0].topk(2).indices.tolist())
    assert out[0].item() in allowed
    with pytest.raises(InputError, match="top_k"):
        generate(model, torch.tensor([1]), 3, top_k=0)


def test_top_k_filter_renormalises():
    lp = torch.log_softmax(torch.tensor([[0.0, 1.0, 2.0, 3.0]]), -1)
    kept = top_k_filter(lp, 2)
    assert torch.isinf(kept[0, :2]).all() and kept.exp().sum().item() == pytest.approx(1.0)


def test_vocabulary_round_trips_and_is_saved_with_the_model(tmp_path):
    text = "Thou art — ‘sweet’ naïve!\n"
    assert Vocabulary().decode(Vocabulary().encode(text)) == text
    chars = Vocabulary.of_text(text)
    assert chars.decode(chars.encode(text)) == text and len(chars) == len(set(text))
    model = build("char-rnn", levels=len(chars), vocab=chars.symbols)
    model.save(tmp_path / "m")
    assert cr.load(tmp_path / "m").vocabulary.symbols == chars.symbols
    with pytest.raises(InputError, match="not in the model"):
        chars.encode("xyz", "the prompt")
    with pytest.raises(cr.errors.ConfigError, match="vocabulary"):
        build("char-rnn", levels=3, vocab="ab")


def test_text_files_give_clear_errors(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(InputError, match="empty"):
        read_text(tmp_path / "empty.txt")
    with pytest.raises(InputError, match="not UTF-8"):
        read_text(tmp_path / "latin1.txt")
    (tmp_path / "short.txt").write_text("tiny")
    with pytest.raises(DataFormatError, match="too short"):
        cr.data.load_splits(str(tmp_path / "short.txt"))


def test_user_text_file_splits_into_contiguous_ranges(tmp_path):
    text = "".join(f"line {i}: to be or not to be\n" for i in range(200))
    (tmp_path / "t.txt").write_text(text)
    splits = cr.data.load_splits(str(tmp_path / "t.txt"), length=16)
    joined = b"".join(bytes(splits[s].tokens.tolist()) for s in ("train", "val", "test"))
    assert joined.decode() == text
    assert splits["train"].shape == (16,) and splits["train"].is_stream and splits["train"].kind.vocab == ""
    chars = cr.data.load_splits(str(tmp_path / "t.txt"), vocab="chars", length=16)
    assert chars["train"].levels == len(set(text))


def test_shakespeare_split_by_works():
    try:
        splits = cr.data.load_splits("shakespeare", length=128)
    except cr.errors.DatasetNotFoundError:
        pytest.skip("shakespeare not installed (setup.sh downloads it)")
    sizes = {s: len(d.tokens) for s, d in splits.items()}
    assert sum(sizes.values()) == 5_057_198
    assert sizes["test"] == 387_257 and sizes["val"] == 225_781


@pytest.mark.parametrize("name", ["char-rnn", "transformer"])
def test_cached_generation_equals_uncached_past_the_context(name):
    from chainrule.sampling import generate_naive

    model = build(name, length=6)
    prompt = torch.tensor([1, 2, 3, 4, 5, 6, 0, 1])  # longer than the context already
    for seed in range(3):
        fast = generate(model, prompt, 20, temperature=0.9, generator=torch.Generator().manual_seed(seed))
        slow = generate_naive(model, prompt, 20, temperature=0.9, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(fast, slow)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_each_cached_transformer_step_gives_the_conditional_of_the_full_pass(positions):
    model = build("transformer", length=12, positions=positions)
    x = torch.randint(0, 7, (3, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        full = torch.log_softmax(model(x), dim=-1)
        cache, previous = model.init_cache(3), None
        for t in range(12):
            assert torch.allclose(model.cache_step(cache, previous), full[:, t], atol=1e-5), t
            previous = x[:, t]
