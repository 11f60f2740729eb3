"""Causal dilated 1-D convolution (WaveNet, arXiv 1609.03499) and, for fast generation (Paine et al. 2016,
arXiv 1611.09482), ring buffers of each layer's last (k - 1)·d inputs, so a new output costs one kernel application
instead of a pass over the receptive field; `GatedStackStep` steps a whole WaveNet stack with them.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn import native


class CausalConv1d(nn.Conv1d):
    """Output t reads inputs t - (k-1)·d, ..., t - d, t (zeros before the start)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 2, dilation: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left, 0)))

    def step_weights(self) -> tuple[Tensor, Tensor]:
        """The kernel as two matrices for one-step use: (C_in, C_out) for the input at t, and
        ((k-1)·C_in, C_out) for the inputs at t - d, t - 2d, ..., t - (k-1)·d, in that order."""
        k = self.kernel_size[0]
        now = self.weight[:, :, k - 1].t().contiguous()
        past = torch.cat([self.weight[:, :, k - 1 - j].t() for j in range(1, k)], dim=0)
        return now, past


class StackQueues:
    """The past inputs of a stack of causal convolutions (same input width), for one-step generation.

    Each layer has a ring buffer of its last (k-1)·d inputs; all rings live in one tensor, so one step reads every
    layer's past taps with a single gather (`past`) and stores every layer's new input with a single scatter
    (`push`). Slots not yet written hold zeros: the padding before the start.
    """

    def __init__(
        self, convs: Sequence[CausalConv1d], batch: int, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> None:
        sizes = [max(1, conv.left) for conv in convs]
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        taps = [
            (offset, j * conv.dilation[0], size)
            for conv, offset, size in zip(convs, offsets, sizes, strict=True)
            for j in range(1, conv.kernel_size[0])
        ]
        self.layers = len(convs)
        self.buffer = torch.zeros(batch, sum(sizes), convs[0].in_channels, device=device, dtype=dtype)
        self._tap_offset, self._tap_lag, self._tap_size = (
            torch.tensor(column, device=device) for column in zip(*taps, strict=True)
        )
        self._offset = torch.tensor(offsets, device=device)
        self._size = torch.tensor(sizes, device=device)
        # the slots repeat with period lcm(sizes): tabulated once when short, so a step indexes a row
        self.period = math.lcm(*sizes)
        self._past_slots = self._push_slots = None
        if self.period <= 4096:
            t = torch.arange(self.period, device=device)[:, None]
            self._past_slots = self._tap_offset + (t - self._tap_lag).remainder(self._tap_size)
            self._push_slots = self._offset + t % self._size

    def fill(self, values: Tensor) -> None:
        """Set every slot of layer i to values[i], (layers, C_in): the padding before the start (zero by default)."""
        for i, (offset, size) in enumerate(zip(self._offset.tolist(), self._size.tolist(), strict=True)):
            self.buffer[:, offset : offset + size] = values[i]

    def past(self, t: int) -> Tensor:
        """Inputs at t - j·d for every layer and tap j = 1 .. k-1: (layers, B, (k-1)·C_in)."""
        if self._past_slots is not None:
            slots = self._past_slots[t % self.period]
        else:
            slots = self._tap_offset + (t - self._tap_lag).remainder(self._tap_size)
        batch = self.buffer.shape[0]
        return self.buffer[:, slots].reshape(batch, self.layers, -1).transpose(0, 1)

    def push(self, t: int, inputs: Tensor) -> None:
        """Store the inputs at t of every layer, (layers, B, C_in)."""
        slots = self._push_slots[t % self.period] if self._push_slots is not None else self._offset + t % self._size
        self.buffer[:, slots] = inputs.transpose(0, 1)


class GatedStackStep:
    """One-step generation through WaveNet's stack of layers (arXiv 1609.03499, Figure 4): per layer a causal
    convolution, the gate tanh(a) ⊙ σ(b), a 1x1 residual back into the stream and a 1x1 skip; the skips summed.

    Built once per generation from the layers' modules: the weights become matrices, every layer's past taps
    come from one `StackQueues` gather and one batched product, and the gate costs one sigmoid and one in-place
    product, with tanh(a) = 2σ(2a) − 1 folded into the weights: the a-half of each convolution is doubled, and the
    residual and skip matrices W become [2W; −W] applied to [σ(2a) ⊙ σ(b), σ(b)] (= W (2σ(2a) − 1) ⊙ σ(b)).
    """

    def __init__(
        self,
        convs: Sequence[CausalConv1d],
        residual: Sequence[nn.Conv1d],
        skip: Sequence[nn.Conv1d],
        batch: int,
        head: tuple[nn.Conv1d, nn.Conv1d] | None = None,
        compiled: bool = True,
    ) -> None:
        weight = convs[0].weight
        # WaveNet's output network on the summed skips, ReLU, 1x1, ReLU, 1x1: ((W1, b1), (W2, b2)), or None
        self.head = None if head is None else tuple((h.weight[:, :, 0].detach(), h.bias.detach()) for h in head)
        c = convs[0].in_channels
        double = torch.cat([weight.new_full((c,), 2.0), weight.new_ones(c)])  # scales the a-half of 2C outputs
        self.double = double.detach()
        self.queues = StackQueues(convs, batch, weight.device, weight.dtype)
        steps = [conv.step_weights() for conv in convs]
        self.now = [(now * double).detach() for now, _ in steps]
        self.past = torch.stack([past * double for _, past in steps]).detach()  # (layers, (k-1)·C, 2C)
        self.conv_bias = torch.stack([conv.bias * double for conv in convs])[:, None].detach()  # (layers, 1, 2C)

        def folded(w: Tensor) -> Tensor:  # (out, C, 1) → (2C, out): [2W; −W]
            m = w[:, :, 0].t()
            return torch.cat([2 * m, -m]).detach()

        # the residual biases folded away: layer i's stream is kept as h_i − B_i, B_i = Σ_{k<i} b_k, and B_i's
        # share of its convolution goes into the convolution's bias (the queues' padding holds −B_i, i.e. h = 0)
        layers = len(convs)
        self.residual = [folded(res.weight) for res in residual]
        shifts = torch.cumsum(torch.stack([weight.new_zeros(c)] + [res.bias for res in residual[:-1]]), 0)
        taps = self.past.shape[1] // c
        shift_in = torch.einsum("lc,lcd->ld", shifts, torch.stack(self.now))
        shift_in = shift_in + torch.einsum("lc,lcd->ld", shifts.repeat(1, taps), self.past)
        self.conv_bias = (self.conv_bias + shift_in[:, None]).detach()
        self.queues.fill(-shifts.detach())
        self.skip = torch.cat([folded(s.weight) for s in skip])  # (layers · 2C, S)
        self.skip_bias = sum(s.bias for s in skip).detach()
        self.inputs = weight.new_zeros(layers, batch, c)  # this step's input of each layer
        self.input_views = self.inputs.unbind(0)
        self.gated = weight.new_zeros(batch, layers, 2 * c)  # [σ(2a) ⊙ σ(b), σ(b)] per layer
        self.gated_views = self.gated.unbind(1)
        self.halves = [(g[:, :c], g[:, c:]) for g in self.gated_views]
        self.kernel = self.native_kernel(weight) if compiled else None

    def native_kernel(self, weight: Tensor):
        """The compiled step (`nn.native`, gated_stack_step.c) with this stack's arrays, or None: float32 on the CPU
        with tabulated ring slots only, and where a C compiler is installed."""
        queues = self.queues
        if weight.dtype != torch.float32 or weight.device.type != "cpu" or queues._past_slots is None:
            return None
        lib = native.library("gated_stack_step")
        if lib is None:
            return None
        function = lib.gated_stack_step
        function.restype = None
        pointer, size = ctypes.c_void_p, ctypes.c_int64
        function.argtypes = [size] * 6 + [pointer] * 13 + [size] * 2 + [pointer] * 6
        layers, batch, c = self.inputs.shape
        self.arrays = {  # contiguous copies the kernel reads (kept alive here)
            "now": torch.stack(self.now).contiguous(),
            "past": self.past.contiguous(),
            "conv_bias": self.conv_bias.contiguous(),
            "residual": torch.stack(self.residual).contiguous(),
            "skip": self.skip.contiguous(),
            "skip_bias": self.skip_bias.contiguous(),
            "past_slots": queues._past_slots.to(torch.int64).contiguous(),
            "push_slots": queues._push_slots.to(torch.int64).contiguous(),
        }
        self.skips_out = weight.new_zeros(batch, self.skip.shape[1])
        if self.head is not None:
            (w1, b1), (w2, b2) = self.head
            self.arrays.update(head_in=w1.t().contiguous(), head_out=w2.t().contiguous())
            self.arrays.update(head_in_bias=b1.contiguous(), head_out_bias=b2.contiguous())
            self.hidden_out = weight.new_zeros(batch, w1.shape[1] + w1.shape[0])
            self.params_out = weight.new_zeros(batch, w2.shape[0])
        taps = self.past.shape[1] // c
        if self.head is None:
            self.head_arguments = [0, 0] + [None] * 6
        else:
            a = self.arrays
            names = ("head_in", "head_in_bias", "head_out", "head_out_bias")
            self.head_arguments = [self.head[0][0].shape[0], self.head[1][0].shape[0]]
            self.head_arguments += [a[k].data_ptr() for k in names] + [
                self.hidden_out.data_ptr(),
                self.params_out.data_ptr(),
            ]
        return function, taps

    def native_step(self, t: int, biases: Tensor | None) -> Tensor:
        function, taps = self.kernel
        a, queues = self.arrays, self.queues
        layers, batch, c = self.inputs.shape
        row = t % queues.period
        cond = None
        if biases is not None:
            cond = (biases * self.double).to(torch.float32).contiguous()
        function(
            batch,
            layers,
            c,
            taps,
            self.skips_out.shape[1],
            queues.buffer.shape[1],
            queues.buffer.data_ptr(),
            a["past_slots"][row].data_ptr(),
            a["push_slots"][row].data_ptr(),
            self.inputs.data_ptr(),
            a["now"].data_ptr(),
            a["past"].data_ptr(),
            a["conv_bias"].data_ptr(),
            None if cond is None else cond.data_ptr(),
            a["residual"].data_ptr(),
            a["skip"].data_ptr(),
            a["skip_bias"].data_ptr(),
            self.gated.data_ptr(),
            self.skips_out.data_ptr(),
            *self.head_arguments,
        )
        return self.skips_out if self.head is None else self.params_out

    def step(self, t: int, biases: Tensor | None) -> Tensor:
        """Step t, the first layer's input already in `input_views[0]` (n, C) (B_0 = 0); `biases`: per-layer gate biases
        (layers, n, 2C) of a condition, or None. Returns the summed skips (n, S), or with a head its output (n, O);
        the compiled step, where there is one, returns them in a tensor that the next step overwrites."""
        if self.kernel is not None:
            return self.native_step(t, biases)
        z_past = torch.baddbmm(self.conv_bias, self.queues.past(t), self.past)
        if biases is not None:
            z_past = z_past + biases * self.double
        h, g, last = self.input_views, self.gated_views, len(self.now) - 1
        for i, (z_i, now) in enumerate(zip(z_past.unbind(0), self.now, strict=True)):
            torch.sigmoid(torch.addmm(z_i, h[i], now), out=g[i])
            a, b = self.halves[i]
            a.mul_(b)
            if i < last:  # the last layer's residual output is not used
                torch.addmm(h[i], g[i], self.residual[i], out=h[i + 1])
        self.queues.push(t, self.inputs)
        skips = torch.addmm(self.skip_bias, self.gated.view(self.gated.shape[0], -1), self.skip)
        if self.head is None:
            return skips
        (w1, b1), (w2, b2) = self.head
        return F.linear(F.relu(F.linear(F.relu(skips), w1, b1)), w2, b2)

    def reorder(self, index: Tensor) -> None:
        """Rows regrouped: row r continues row index[r] (only the queues of past inputs are per row)."""
        self.queues.buffer = self.queues.buffer[index]
