import math

import pytest
import torch

import chainrule as cr
from chainrule import serialization
from chainrule.errors import CheckpointError, ConfigError, TrainingError
from chainrule.train import TrainConfig, Trainer, train_model
from chainrule.train.baseline import independent_nll
from chainrule.train.schedules import warmup_cosine


def splits():
    return cr.data.load_splits("digits", levels=2)


def trainer(out, **train):
    torch.manual_seed(0)
    data = splits()
    model = cr.models.create("made", shape=data["train"].shape, levels=2, hidden=(32,), num_masks=2, direct=True)
    config = TrainConfig(
        **{"batch_size": 64, "lr": 1e-2, "checkpoint_every": 5, "warmup_steps": 5, "log_every": 5, **train}
    )
    return Trainer(model, data, config, out, progress=False)


def test_schedule_warms_up_then_decays_to_the_floor():
    assert warmup_cosine(0, 0.0, 10, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 0.0, 10, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(50, 0.5, 10, 0.1) == pytest.approx(0.55)
    assert warmup_cosine(99, 1.0, 10, 0.1) == pytest.approx(0.1)


def test_training_lowers_the_test_nll_and_writes_the_run(tmp_path):
    results = trainer(tmp_path / "run", epochs=6).fit()
    baseline = independent_nll(*(splits()[s] for s in ("train", "test")))
    assert results["test_nats"] < baseline["nats"] - 1
    for name in ("config.json", "model.safetensors", "metrics.csv", "loss.png", "results.json"):
        assert (tmp_path / "run" / name).is_file()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,seconds,lr,train_bpd,val_bpd" and len(rows) > 5
    assert results["steps"] == 6 * math.ceil(1258 / 64)


class Killed(Exception):
    """Stands in for SIGKILL: no handler runs, nothing is saved on the way out."""


def test_resume_after_a_kill_continues_from_the_last_checkpoint_exactly(tmp_path, monkeypatch):
    straight = trainer(tmp_path / "a", steps=25)
    straight.fit()

    interrupted = trainer(tmp_path / "b", steps=25)
    original = Trainer.train_step

    def dying_step(self, train, index):
        if self.state["step"] == 13:  # after the checkpoint at step 10, mid-epoch
            raise Killed
        original(self, train, index)

    monkeypatch.setattr(Trainer, "train_step", dying_step)
    with pytest.raises(Killed):
        interrupted.fit()
    monkeypatch.setattr(Trainer, "train_step", original)

    resumed = trainer(tmp_path / "b", steps=25)
    resumed.fit(resume=True)
    assert resumed.state["step"] == 25
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    steps = [int(r.split(",")[0]) for r in (tmp_path / "b" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps)  # rows after the checkpoint were dropped, not duplicated


def test_a_resumed_run_keeps_the_precision_auto_chose_at_its_start(tmp_path, monkeypatch):
    monkeypatch.setattr("chainrule.train.precision.cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    monkeypatch.setattr("chainrule.train.trainer.PROBE_WORTH_STEPS", 0)  # these short runs are timed too
    monkeypatch.setattr(Trainer, "time_pass", lambda self, p: 1.0 if p == "bf16" else 2.0)  # bf16 measured faster
    first = trainer(tmp_path / "p", steps=6)
    first.fit()
    assert first.precision == "bf16"
    monkeypatch.setattr(Trainer, "time_pass", lambda self, p: 2.0 if p == "bf16" else 1.0)  # now fp32 is faster
    resumed = trainer(tmp_path / "p", steps=12)
    resumed.fit(resume=True)
    assert resumed.precision == "bf16" and resumed.state["step"] == 12
    assert trainer(tmp_path / "q", steps=6).fit()["precision"] == "fp32"  # a new run measures again


def test_a_run_shorter_than_the_precision_probe_is_not_timed(tmp_path, monkeypatch):
    monkeypatch.setattr("chainrule.train.precision.cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))

    def probe(self, precision):
        raise AssertionError("a 6-step run must not be timed")

    monkeypatch.setattr(Trainer, "time_pass", probe)
    assert trainer(tmp_path / "s", steps=6).fit()["precision"] == "fp32"


def test_nan_loss_is_skipped_then_stops_keeping_the_checkpoint(tmp_path, monkeypatch):
    t = trainer(tmp_path / "n", steps=40, max_bad_steps=3)
    real = type(t.model).training_log_prob

    def poisoned(self, x, cond, step):
        value = real(self, x, cond, step)
        return value * float("nan") if step >= 12 else value

    monkeypatch.setattr(type(t.model), "training_log_prob", poisoned)
    with pytest.raises(TrainingError, match="NaN/inf for 4 consecutive steps"):
        t.fit()
    assert (tmp_path / "n" / "checkpoint" / "latest.json").is_file()
    assert all(torch.isfinite(p).all() for p in t.model.parameters())


def test_train_model_refuses_to_overwrite_and_resumes_by_name(tmp_path):
    out = tmp_path / "r"
    first = train_model("made", "digits", out, levels=2, hparams={"hidden": [16]}, train={"steps": 6}, progress=False)
    with pytest.raises(cr.errors.ConfigError, match="already holds a run"):
        train_model("made", "digits", out, levels=2, train={"steps": 6}, progress=False)
    again = train_model(out=out, resume=True, train={"steps": 12}, progress=False)
    assert first["steps"] == 6 and again["steps"] == 12


def test_corrupt_checkpoints_are_reported(tmp_path):
    t = trainer(tmp_path / "c", steps=5)
    t.fit()
    weights = next((tmp_path / "c" / "checkpoint").glob("step-*/model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        trainer(tmp_path / "c", steps=10).fit(resume=True)
    (tmp_path / "c" / "model.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError):
        cr.load(tmp_path / "c")


def test_bf16_training_reaches_the_fp32_loss_at_equal_steps(tmp_path):
    fp32 = trainer(tmp_path / "fp", steps=60, precision="fp32").fit()
    bf16 = trainer(tmp_path / "bf", steps=60, precision="bf16").fit()
    uniform = 64 * math.log(2)  # where training starts, near enough
    assert bf16["precision"] == "bf16" and fp32["precision"] == "fp32"
    assert bf16["test_nats"] < uniform - 10
    assert abs(bf16["test_nats"] - fp32["test_nats"]) < 0.03 * fp32["test_nats"]  # within 3 %


def test_auto_precision_follows_the_reported_capability(tmp_path):
    from chainrule.train.precision import cpu_flags, has_bf16_units, training_precision

    cpu = torch.device("cpu")
    assert training_precision("auto", cpu, frozenset({"avx2", "avx512f", "amx_bf16", "amx_tile"})) == "bf16"
    assert training_precision("auto", cpu, frozenset({"avx2", "avx512f", "avx512_bf16"})) == "fp32"  # no AMX: slower
    assert training_precision("auto", cpu, frozenset({"avx2"})) == "fp32"
    assert training_precision("fp32", cpu, frozenset({"amx_bf16"})) == "fp32"
    assert training_precision("bf16", cpu, frozenset()) == "bf16"
    with pytest.raises(ValueError):
        training_precision("fp16", cpu)
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"} and cpu_flags(tmp_path / "missing") == frozenset()
    # a CPU with bf16 instructions but no AMX: measured (bf16 only when at least 5 % faster)
    avx512 = frozenset({"avx2", "avx512f", "avx512_bf16"})
    assert training_precision("auto", cpu, avx512, probe={"fp32": 1.0, "bf16": 0.8}.get) == "bf16"
    assert training_precision("auto", cpu, avx512, probe={"fp32": 1.0, "bf16": 0.97}.get) == "fp32"
    assert training_precision("auto", cpu, frozenset({"avx2"}), probe={"fp32": 1.0, "bf16": 0.1}.get) == "fp32"
    # with AMX too: measured where a probe is given (the small Transformer trains slower in bf16 on AMX)
    amx = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    assert training_precision("auto", cpu, amx, probe={"fp32": 1.0, "bf16": 1.27}.get) == "fp32"
    assert training_precision("auto", cpu, amx, probe={"fp32": 1.0, "bf16": 0.7}.get) == "bf16"
    # timed twice each way, alternately, the faster of each kept: one slow pass does not decide
    calls, slow_first = [], iter([1.0, 1.5, 1.0, 0.7])  # fp32, bf16 (an outlier), fp32, bf16
    assert training_precision("auto", cpu, amx, probe=lambda p: calls.append(p) or next(slow_first)) == "bf16"
    assert calls == ["fp32", "bf16", "fp32", "bf16"]

    def untimed(precision):
        raise AssertionError("CUDA goes by the device's capability, not by timing the CPU")

    cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert training_precision("auto", torch.device("cuda"), amx, probe=untimed) == ("bf16" if cuda_bf16 else "fp32")
    # the trainer resolves auto for its device, and its probe leaves no trace: the run equals one asked for the
    # precision auto picked
    auto = trainer(tmp_path / "auto", steps=6)
    results = auto.fit()
    picked = auto.precision  # resolved by fit: bf16 on a CPU with AMX, else fp32 (a 6-step run is not timed)
    assert picked == ("bf16" if has_bf16_units(torch.device("cpu"), cpu_flags()) else "fp32")
    same = trainer(tmp_path / "fixed", steps=6, precision=picked).fit()
    assert results.pop("train_seconds") > 0 and same.pop("train_seconds") > 0
    assert results == same
    with pytest.raises(ConfigError):
        TrainConfig(precision="half")


def test_ema_weights_differ_from_the_raw_ones_and_are_the_ones_evaluated_and_kept(tmp_path):
    from chainrule.train.evaluate import evaluate

    t = trainer(tmp_path / "ema", steps=30, ema=0.9, eval_every=10)
    results = t.fit()
    raw = {k: v.clone() for k, v in t.model.state_dict().items()}  # finish() loaded the kept (EMA) weights
    saved = cr.load(tmp_path / "ema")
    folder = next((tmp_path / "ema" / "checkpoint").glob("step-*"))
    checkpoint_raw = serialization.read_tensors(folder / "model.safetensors")
    name = next(iter(t.ema.shadow))
    assert not torch.allclose(checkpoint_raw[name], t.ema.shadow[name])  # the average is not the last step
    kept = saved.state_dict()
    assert torch.equal(kept[name], raw[name])
    assert evaluate(saved, splits()["test"])["nats"] == pytest.approx(results["test_nats"], rel=1e-6)
    with t.ema.applied(t.model):
        assert torch.equal(t.model.state_dict()[name], t.ema.shadow[name])
    assert torch.equal(t.model.state_dict()[name], raw[name])


def test_ema_resumes_from_the_checkpoint(tmp_path):
    first = trainer(tmp_path / "r", steps=10, ema=0.9)
    first.fit()
    again = trainer(tmp_path / "r", steps=20, ema=0.9)
    again.fit(resume=True)
    assert again.ema.updates == 20
    with pytest.raises(cr.errors.ConfigError, match="ema"):
        TrainConfig(ema=1.0)


def test_stream_epochs_use_whole_batches_of_parallel_streams(tmp_path):
    (tmp_path / "t.txt").write_text("".join(f"line {i}: the quick brown fox\n" for i in range(80)))
    data = cr.data.load_splits(str(tmp_path / "t.txt"), vocab="chars", length=16)
    rows = len(data["train"]) - 1  # one row fewer, so that every epoch can start at another offset
    batch = next(b for b in range(3, rows) if rows % b)  # rows not a multiple of the batch
    model = cr.models.create("char-rnn", shape=(16,), levels=data["train"].levels, hidden=8, layers=1, embedding=4)
    t = Trainer(model, data, TrainConfig(epochs=1, batch_size=batch, warmup_steps=1), tmp_path / "run", progress=False)
    t.fit()
    assert t.steps_per_epoch == rows // batch == t.state["step"]


def test_tensorboard_logs_the_csv_scalars_and_a_sample_grid_per_validation(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer(tmp_path / "run", epochs=2, tensorboard=True).fit()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert {"train_bpd", "val_bpd", "lr"} <= set(events.Tags()["scalars"])
    rows = [r.split(",") for r in (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]]
    val = {int(r[0]): float(r[5]) for r in rows if r[5]}
    assert {e.step: round(e.value, 5) for e in events.Scalars("val_bpd")} == pytest.approx(val)
    grids = events.Images("samples")
    assert [g.step for g in grids] == sorted(val) and grids[0].width >= 3 * 8 <= grids[0].height  # 8 digits, 3x3


def test_tensorboard_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    from chainrule.errors import ConfigError

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match="needs the tensorboard package"):
        trainer(tmp_path / "run", steps=2, tensorboard=True).fit()


def test_tensorboard_writer_is_closed_when_training_fails(tmp_path, monkeypatch):
    from chainrule.train import tensorboard

    closed = []
    monkeypatch.setattr(tensorboard.TensorBoardLog, "close", lambda self: closed.append(self))

    def broken(self, bar):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Trainer, "run_epochs", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer(tmp_path / "run", steps=2, tensorboard=True).fit()
    assert len(closed) == 1


def test_a_transformer_trains_on_windows_at_random_offsets_a_char_rnn_on_its_streams(tmp_path):
    (tmp_path / "t.txt").write_text("".join(f"line {i}: the quick brown fox\n" for i in range(80)))
    data = cr.data.load_splits(str(tmp_path / "t.txt"), vocab="chars", length=16)
    levels, config = data["train"].levels, TrainConfig(steps=1, batch_size=4, warmup_steps=1)
    gpt = cr.models.create("transformer", shape=(16,), levels=levels, width=8, layers=1, heads=2)
    t = Trainer(gpt, data, config, tmp_path / "gpt", progress=False)
    assert t.splits["train"].random_crops and not data["train"].random_crops  # the caller's dataset is untouched
    x, _ = t.splits["train"].batch(torch.arange(4), generator=torch.Generator().manual_seed(0))
    stream = data["train"].tokens
    starts = [next(s for s in range(len(stream) - 15) if torch.equal(stream[s : s + 16], row)) for row in x]
    assert any(s % 16 for s in starts)  # not the fixed chunk boundaries
    rnn = cr.models.create("char-rnn", shape=(16,), levels=levels, hidden=8, layers=1, embedding=4)
    assert not Trainer(rnn, data, config, tmp_path / "rnn", progress=False).splits["train"].random_crops


def test_char_rnn_epochs_cut_the_stream_at_other_offsets_and_each_batch_continues_the_last(tmp_path):
    letters = torch.randint(0, 20, (3000,), generator=torch.Generator().manual_seed(0))
    (tmp_path / "t.txt").write_text("".join(chr(97 + int(c)) for c in letters))  # every 16-window is unique
    data = cr.data.load_splits(str(tmp_path / "t.txt"), vocab="chars", length=16)
    model = cr.models.create("char-rnn", shape=(16,), levels=data["train"].levels, hidden=8, layers=1, embedding=4)
    t = Trainer(model, data, TrainConfig(epochs=1, batch_size=3), tmp_path / "run", progress=False)
    stream = data["train"].tokens

    def start(row):
        return next(s for s in range(len(stream) - 15) if torch.equal(stream[s : s + 16], row))

    offsets = []
    for epoch in range(5):
        train, order = t.epoch_train(epoch), t.epoch_order(epoch).reshape(-1, 3)
        assert len(train) == len(data["train"]) - 1
        offsets.append(start(train.x[0]))
        for previous, batch in zip(order[:-1], order[1:], strict=True):  # row i of a batch continues row i
            assert [start(r) + 16 for r in train.x[previous]] == [start(r) for r in train.x[batch]]
    assert len(set(offsets)) > 1 and all(0 <= o < 16 for o in offsets)  # not the same cut every epoch
    assert torch.equal(t.epoch_train(3).x, t.epoch_train(3).x)  # the same cut after a resume
    assert len(data["train"]) == len(data["train"].x)  # the caller's split is untouched


def test_weight_decay_applies_to_matrices_only_with_the_given_betas():
    from chainrule.train.speed import optimizer

    model = cr.models.create("transformer", shape=(8,), levels=5, width=8, layers=1, heads=2)
    opt = optimizer(model, 1e-3, weight_decay=0.1, betas=(0.9, 0.99))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] == 0.1 for p in g["params"]}
    for name, p in model.named_parameters():
        assert (id(p) in decayed) == (p.dim() >= 2), name
    assert all(g["betas"] == (0.9, 0.99) for g in opt.param_groups)
    with pytest.raises(cr.errors.ConfigError, match="betas"):
        TrainConfig(betas=(0.9, 1.5))


@pytest.mark.parametrize("model", ["transformer", "char-rnn"])
def test_a_text_preset_sets_the_context_length_and_recipe_it_was_tuned_for(tmp_path, model):
    (tmp_path / "t.txt").write_text("".join(f"line {i}: the quick brown fox\n" for i in range(300)))
    preset = cr.models.presets(model)["cpu"]
    steps = {"steps": 1, "eval_batch_size": 8}
    results = train_model(model, str(tmp_path / "t.txt"), tmp_path / "a", preset="cpu", train=steps, progress=False)
    info = serialization.read_json(tmp_path / "a" / "run.json")
    assert info["data"]["length"] == preset["data"]["length"] != 256  # not the generic default
    assert {k: results["train_config"][k] for k in preset["train"]} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in preset["train"].items()
    }
    train_model(model, str(tmp_path / "t.txt"), tmp_path / "b", preset="cpu", length=32, train=steps, progress=False)
    assert serialization.read_json(tmp_path / "b" / "run.json")["data"]["length"] == 32  # --length still wins


def test_a_likelihood_model_trains_as_before_step_for_step(tmp_path):
    """The objective interface changes nothing for likelihood models: the trainer's losses are those of a plain loop
    minimising −log p / D with the same optimizer, schedule, clipping and batches."""
    import copy

    from chainrule.train import speed

    t = trainer(tmp_path / "f", steps=6, log_every=1, precision="fp32")
    model, config, data = copy.deepcopy(t.model), t.config, t.splits["train"]
    optimizer = speed.optimizer(model, config.lr, config.weight_decay, config.fused, config.betas)
    order, expected = t.epoch_order(0), []
    for step in range(6):
        x, _ = data.batch(order[step * 64 : (step + 1) * 64], torch.Generator().manual_seed(step))
        lr = config.lr * warmup_cosine(step, step / 6, config.warmup_steps, config.final_lr_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = -model.training_log_prob(x, None, step).mean() / model.dims
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        expected.append(loss.item() / math.log(2))
    t.fit()
    rows = [r.split(",") for r in (tmp_path / "f" / "metrics.csv").read_text().splitlines()[1:]]
    logged = [float(r[4]) for r in rows if r[4]]
    assert logged == pytest.approx(expected, abs=2e-5)
    assert (tmp_path / "f" / "metrics.csv").read_text().splitlines()[0] == "step,epoch,seconds,lr,train_bpd,val_bpd"


def test_after_step_runs_after_accepted_steps_only(tmp_path, monkeypatch):
    t = trainer(tmp_path / "h", steps=10, max_bad_steps=5, precision="fp32")
    real, calls = type(t.model).training_log_prob, []

    def poisoned(self, x, cond, step):
        value = real(self, x, cond, step)
        return value * float("nan") if step in (3, 4) else value

    monkeypatch.setattr(type(t.model), "training_log_prob", poisoned)
    monkeypatch.setattr(type(t.model), "after_step", lambda self: calls.append(t.state["step"]))
    t.fit()
    assert calls == [1, 2, 3, 6, 7, 8, 9, 10]  # the step count after each accepted step; steps 3 and 4 rejected


def test_the_l2_penalty_is_lambda_sum_of_squares_per_example_and_shrinks_the_weights(tmp_path):
    from chainrule.train.trainer import l2_penalty

    matrices = [torch.nn.Parameter(torch.full((2, 3), 2.0)), torch.nn.Parameter(torch.ones(4, 1, 1))]
    # (6 · 4 + 4 · 1) = 28; per example λ · 28, per dimension of 64 values λ · 28 / 64
    assert float(l2_penalty(matrices, 10.0, 64)) == pytest.approx(10 * 28 / 64)

    def weights(l2):
        t = trainer(tmp_path / f"l2-{l2}", steps=30, l2=l2)
        t.fit()
        assert t.matrices and all(p.dim() >= 2 for p in t.matrices)
        return sum(float(p.square().sum()) for p in t.matrices)

    free, penalised = weights(0.0), weights(50.0)
    assert penalised < 0.8 * free  # the penalty pulls the matrices in
    with pytest.raises(ConfigError, match="l2"):
        TrainConfig(l2=-1.0)
