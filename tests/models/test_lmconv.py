"""LMConv: causal in any order, exact completion of any region, the ensemble of orders normalised, the orders."""

import itertools
import math

import pytest
import torch

import chainrule as cr
from chainrule import orders
from chainrule.errors import InputError
from chainrule.models import create
from chainrule.nn.locally_masked_conv import LocallyMaskedConv2d, local_masks, neighbour_index
from chainrule.orders import Ordering
from chainrule.sampling import complete, needs_particles
from chainrule.sampling.conditionals import walk_conditionals
from chainrule.sampling.regions import random_known

TINY = dict(channels=6, blocks=2, kernel=3, first_kernel=3, dilations=(1, 2), components=2)


def tiny(shape=(1, 4, 4), levels=2, **extra):
    torch.manual_seed(0)
    return create("lmconv", shape, levels, **{**TINY, "orders": ("s-curve", "raster:r90"), **extra}).eval()


def every_binary(shape):
    d = 1
    for s in shape:
        d *= s
    return torch.tensor(list(itertools.product([0, 1], repeat=d))).view(-1, *shape)


def test_named_orders_are_permutations_and_the_eight_orientations_differ():
    for h, w in [(4, 4), (3, 5)]:
        seen = set()
        for name in orders.ENSEMBLE_ORDERS:
            order = orders.named(name, h, w)
            assert sorted(order.tolist()) == list(range(h * w))
            seen.add(tuple(order.tolist()))
        assert len(seen) == 8
    assert orders.named("raster", 2, 3).tolist() == [0, 1, 2, 3, 4, 5]
    assert orders.named("s-curve", 2, 3).tolist() == [0, 1, 2, 5, 4, 3]
    assert orders.named("raster:r180", 2, 3).tolist() == [5, 4, 3, 2, 1, 0]
    with pytest.raises(InputError):
        orders.named("zigzag", 4, 4)
    with pytest.raises(InputError):
        orders.check_order(torch.tensor([0, 0, 1]), 3)


def test_known_first_puts_known_pixels_first_then_grows_from_them():
    known = torch.zeros(5, 5, dtype=torch.bool)
    known[:, :2] = True  # the left two columns known
    order = orders.known_first(known).tolist()
    assert set(order[:10]) == {i * 5 + j for i in range(5) for j in range(2)}
    columns = [p % 5 for p in order[10:]]
    assert columns == sorted(columns)  # column 2 (distance 1) before 3 before 4


def test_local_masks_follow_the_order():
    rank = orders.rank_to_order(orders.named("s-curve", 3, 3))
    mask = local_masks(rank, 3, 3, 3, 1, strict=True)
    index = neighbour_index(3, 3, 3, 1)
    for p in range(9):
        for o in range(9):
            q = int(index[p, o])
            expected = q < 9 and rank[q] < rank[p]
            assert bool(mask[o, p]) == expected
    loose = local_masks(rank, 3, 3, 3, 1, strict=False)
    assert bool(loose[4].all())  # the centre tap: a later layer reads its own position


def test_layer_step_equals_forward_at_every_pixel():
    torch.manual_seed(1)
    layer = LocallyMaskedConv2d(3, 5, 3, dilation=2)
    x = torch.randn(2, 3, 5, 5)
    rank = orders.rank_to_order(orders.named("s-curve:r90", 5, 5))
    mask = layer.masks(rank, 5, 5)
    full = layer(x, mask).flatten(2)
    inputs = torch.cat([x.flatten(2), torch.zeros(2, 3, 1)], dim=2)
    index = neighbour_index(5, 5, 3, 2)
    for p in range(25):
        assert torch.allclose(layer.step(inputs, index[p], mask.mask[:, p]), full[:, :, p], atol=1e-5)


@pytest.mark.parametrize("name", ["raster", "s-curve", "s-curve:flip:r90", "random", "known-first"])
def test_dense_patterns_equal_the_general_path(name):
    torch.manual_seed(2)
    h = w = 12  # an interior for every dilation: the border alone leaves a few patterns
    if name == "random":
        order = torch.randperm(h * w)
    elif name == "known-first":
        known = torch.zeros(h, w, dtype=torch.bool)
        known[:3] = True
        order = orders.known_first(known)
    else:
        order = orders.named(name, h, w)
    rank = orders.rank_to_order(order)
    x = torch.randn(2, 3, h, w)
    for strict, dilation in [(True, 1), (False, 1), (False, 2), (False, 4)]:
        layer = LocallyMaskedConv2d(3, 4, 3, dilation=dilation, strict=strict)
        mask = layer.masks(rank, h, w)
        if name in ("raster", "s-curve", "s-curve:flip:r90"):
            assert mask.patterns is not None  # few distinct masks: the dense path
        assert torch.allclose(layer(x, mask), layer.general(x, mask.mask), atol=1e-5)


@pytest.mark.parametrize("order", ["s-curve", "raster:flip:r270", "random"])
@pytest.mark.parametrize(
    "shape,levels,extra", [((1, 4, 4), 2, {}), ((3, 3, 3), 8, {}), ((3, 3, 3), 8, {"head": "softmax"})]
)
def test_causal_in_any_order_and_cached_equals_naive(order, shape, levels, extra):
    model = tiny(shape, levels, **extra)
    chosen = (
        torch.randperm(shape[1] * shape[2], generator=torch.Generator().manual_seed(3)) if order == "random" else order
    )
    x = torch.randint(0, levels, (2, *shape))
    with model.ordered(chosen):
        flat_order = model.order
        per_dim = model.log_prob(x, reduction="none").flatten(1)[:, flat_order]
        for t in range(0, len(flat_order), 4):
            y = x.clone().flatten(1)
            y[:, flat_order[t]] = (y[:, flat_order[t]] + 1) % levels
            after = model.log_prob(y.view_as(x), reduction="none").flatten(1)[:, flat_order]
            assert torch.allclose(per_dim[:, :t], after[:, :t], atol=1e-5), t
        values = x.flatten(1)[:, flat_order]
        walked = []

        def choose(t, log_probs):
            walked.append(log_probs.gather(1, values[:, t : t + 1])[:, 0])
            return values[:, t]

        walk_conditionals(model, 2, choose)
        assert torch.allclose(torch.stack(walked, 1), per_dim, atol=1e-4)


def test_every_order_and_the_ensemble_are_normalised():
    model = tiny((1, 2, 3))
    xs = every_binary((1, 2, 3))
    for name in model.trained_orders:
        assert float(model.log_prob(xs, order=name).exp().sum()) == pytest.approx(1.0, abs=1e-5)
    ensemble = model.log_prob(xs, orders="ensemble")
    assert float(ensemble.exp().sum()) == pytest.approx(1.0, abs=1e-5)
    per = torch.stack([model.log_prob(xs, order=n) for n in model.trained_orders])
    assert torch.allclose(ensemble, torch.logsumexp(per, 0) - torch.log(torch.tensor(2.0)), atol=1e-6)
    with pytest.raises(InputError):
        model.log_prob(xs, orders="ensemble", reduction="none")


def test_completion_of_any_region_is_exact_ancestral_sampling():
    model = tiny((1, 3, 3))
    assert model.ordering is Ordering.ANY
    known = torch.full((1, 1, 3, 3), -1)
    known[0, 0, 2, 2], known[0, 0, 1, 0], known[0, 0, 0, 1] = 1, 0, 1  # scattered, some late in raster order
    assert not needs_particles(model, known)
    xs = every_binary((1, 3, 3))
    fits = ((xs == known) | (known < 0)).flatten(1).all(1)
    with model.ordered(orders.known_first(known[0, 0] >= 0)):
        target = torch.softmax(model.log_prob(xs[fits]), 0)
    n = 6000
    done = model.sample(n, known=known.expand(n, -1, -1, -1), generator=torch.Generator().manual_seed(0))
    assert bool((done.flatten(1)[:, known.flatten() >= 0] == known.flatten()[known.flatten() >= 0]).all())
    index = (done.flatten(1)[:, None, :] == xs[fits].flatten(1)[None]).all(2).float().argmax(1)
    freq = torch.bincount(index, minlength=len(target)).float() / n
    assert float((freq - target).abs().max()) < 0.02
    result = complete(model, known.expand(3, -1, -1, -1), 1)
    assert result.exact and result.particles == 1


def test_completion_groups_examples_by_their_known_pixels():
    model = tiny((1, 4, 4))
    x = torch.randint(0, 2, (4, 1, 4, 4))
    known = x.clone()
    known[0, :, :2] = -1
    known[1, :, :, 2:] = -1
    known[2, :, :2] = -1
    known[3, :, 1:3, 1:3] = -1
    done = model.sample(4, known=known, generator=torch.Generator().manual_seed(0))
    assert bool((done[known >= 0] == x[known >= 0]).all())
    assert bool(((done >= 0) & (done < 2)).all())


def test_hidden_bits_are_the_exact_conditional():
    model = tiny((1, 2, 3))
    xs = every_binary((1, 2, 3))
    known = torch.ones(1, 2, 3, dtype=torch.bool)
    known[0, 0, 1] = known[0, 1, 2] = False  # two hidden values
    x = xs[13:14]
    nats, hidden = cr.scoring.hidden_bits(model, x, known)
    assert int(hidden) == 2
    with model.ordered(orders.known_first(known[0])):
        fits = ((xs == x) | ~known).flatten(1).all(1)
        log_joint = model.log_prob(xs[fits])
        conditional = model.log_prob(x) - torch.logsumexp(log_joint, 0)
    assert float(nats) == pytest.approx(-float(conditional), abs=1e-4)
    bits = cr.score(model, x, known=known)
    assert float(bits) == pytest.approx(float(nats) / (2 * math.log(2)), abs=1e-6)


def test_training_orders_come_from_seed_and_step():
    model = create("lmconv", (1, 4, 4), 2, **TINY)  # the default: the 8 S-curves
    assert model.trained_orders == orders.ENSEMBLE_ORDERS
    drawn = [tuple(model.training_order(step).tolist()) for step in range(40)]
    assert drawn == [tuple(model.training_order(step).tolist()) for step in range(40)]
    assert len(set(drawn)) == 8
    other = create("lmconv", (1, 4, 4), 2, **TINY, seed=1)
    assert drawn != [tuple(other.training_order(step).tolist()) for step in range(40)]


def test_a_share_of_training_batches_walks_known_first_orders_of_random_regions():
    model = create("lmconv", (1, 6, 6), 2, **TINY, completion_orders=0.5)
    named = {tuple(o.tolist()) for o in model.trained}
    drawn = [model.training_order(step) for step in range(60)]
    assert [tuple(o.tolist()) for o in drawn] == [tuple(model.training_order(s).tolist()) for s in range(60)]
    regions = [o for o in drawn if tuple(o.tolist()) not in named]
    assert 15 <= len(regions) <= 45  # about half
    for order in drawn:
        assert torch.equal(order.sort().values, torch.arange(36))
    assert len({tuple(o.tolist()) for o in regions}) > 5  # many different regions
    # with no share, the draws of the named orders stay as they were
    plain = create("lmconv", (1, 6, 6), 2, **TINY)
    assert all(tuple(plain.training_order(s).tolist()) in named for s in range(20))
    with pytest.raises(cr.errors.ConfigError):
        create("lmconv", (1, 6, 6), 2, **TINY, completion_orders=1.5)


def test_random_regions_are_the_kinds_completion_meets():
    g = torch.Generator().manual_seed(0)
    maps = [random_known(8, 6, g) for _ in range(300)]
    hidden = [int((~m).sum()) for m in maps]
    assert min(hidden) >= 1 and max(hidden) <= 36  # something hidden, never everything of 48
    assert all(m.shape == (8, 6) and m.dtype == torch.bool for m in maps)
    halves = {"top", "bottom", "left", "right"}
    seen = set()
    for m in maps:
        rows, cols = (~m).any(1), (~m).any(0)
        if int((~m).sum()) == int(rows.sum()) * int(cols.sum()):  # a rectangle (a half is one too)
            if bool(cols.all()) and int(rows.sum()) == 4:
                seen.add("top" if bool(rows[0]) else "bottom")
            elif bool(rows.all()) and int(cols.sum()) == 3:
                seen.add("left" if bool(cols[0]) else "right")
            else:
                seen.add("rectangle")
        else:
            seen.add("scatter")
    assert seen == halves | {"rectangle", "scatter"}


def test_models_of_one_order_refuse_an_order():
    g = create("gated-pixelcnn", (1, 4, 4), 2, channels=6, layers=2, kernel=3, first_kernel=3, hidden=6)
    assert g.ordering is Ordering.RASTER
    with pytest.raises(InputError):
        with g.ordered("s-curve"):
            pass
    assert create("made", (1, 2, 2), 2, hidden=[8], order="random").ordering is Ordering.FIXED


def test_compression_round_trip_in_any_order_records_the_order():
    from chainrule.coding import codec, container
    from chainrule.errors import CompressedFileError

    model = tiny((1, 4, 4), 4)
    x = torch.randint(0, 4, (5, 1, 4, 4))
    for order in (None, "raster:r90", torch.randperm(16, generator=torch.Generator().manual_seed(0))):
        blob = codec.compress(model, x, order=order)
        assert torch.equal(codec.decompress(model, blob), x)
    header, _ = container.unpack(codec.compress(model, x, order="raster:r90"))
    assert header.extra[codec.ORDER] == "raster:r90"
    stats = {}
    codec.compress(model, x, order="raster:r90", stats=stats)
    assert stats["model_bits"] == pytest.approx(
        -float(model.log_prob(x, order="raster:r90").sum()) / 0.6931471805599453, rel=1e-5
    )
    g = create("gated-pixelcnn", (1, 4, 4), 4, channels=6, layers=2, kernel=3, first_kernel=3, hidden=6)
    with pytest.raises(InputError):
        codec.compress(g, x, order="s-curve")
    with pytest.raises(CompressedFileError):
        forged = container.pack(container.Header(**{**header.__dict__, "extra": {codec.ORDER: [0, 0]}}), b"\0" * 8)
        codec.decompress(model, forged)
