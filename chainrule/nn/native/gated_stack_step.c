/* One generation step of a WaveNet stack of gated layers, for `chainrule.nn.causal_conv.GatedStackStep`.

   The same arithmetic as its PyTorch step, with the same folded weights: per layer the causal convolution
   (bias + past taps + the input at t), the gate [σ(2a) ⊙ σ(b), σ(b)], the residual product into the next layer's
   input, and at the end every layer's input pushed into its ring of past inputs and the skips summed. Plain
   loops over float32 arrays: at batch 1 the step is ~0.2 MFLOP spread over some forty small products, which in
   PyTorch costs more in per-operation overhead than in arithmetic. Everything is row-major and contiguous.

   Shapes: B rows, L layers, C channels, K taps of the past (kernel - 1), S skip channels, N ring slots.
     buffer (B, N, C)          ring slots of every layer's past inputs
     past_slots (K·L)          this step's slot of each layer's taps, layer-major
     push_slots (L)            the slot each layer's input at t goes to
     inputs (L, B, C)          each layer's input at t; inputs[0] is given
     now (L, C, 2C)            the kernel tap at t
     past (L, K·C, 2C)         the kernel taps at t - d, ..., t - K·d
     conv_bias (L, 2C)
     cond (L, B, 2C) or NULL   per-row gate biases of a condition
     residual (L, 2C, C)
     skip (L·2C, S), skip_bias (S)
     gated (B, L, 2C)          scratch: each layer's gate output
     skips (B, S)              the summed skips
   and, with a head (head_in non-NULL; WaveNet's output network ReLU, 1x1, ReLU, 1x1):
     head_in (S, H), head_in_bias (H), head_out (H, O), head_out_bias (O)
     hidden (B, S + H)         scratch
     params (B, O)             the head's output
*/
#include <math.h>
#include <stdint.h>

static inline void accumulate(float *restrict y, const float *restrict x, const float *restrict w, int64_t rows,
                              int64_t cols) {
    for (int64_t i = 0; i < rows; i++) {
        const float xi = x[i];
        const float *restrict wi = w + i * cols;
        for (int64_t j = 0; j < cols; j++) y[j] += xi * wi[j];
    }
}

void gated_stack_step(int64_t B, int64_t L, int64_t C, int64_t K, int64_t S, int64_t N, float *buffer,
                      const int64_t *past_slots, const int64_t *push_slots, float *inputs, const float *now,
                      const float *past, const float *conv_bias, const float *cond, const float *residual,
                      const float *skip, const float *skip_bias, float *gated, float *skips, int64_t H, int64_t O,
                      const float *head_in, const float *head_in_bias, const float *head_out,
                      const float *head_out_bias, float *hidden, float *params) {
    const int64_t C2 = 2 * C;
    for (int64_t b = 0; b < B; b++) {
        const float *rows = buffer + b * N * C;
        float *g_row = gated + b * L * C2;
        for (int64_t l = 0; l < L; l++) {
            float *z = g_row + l * C2;
            const float *h = inputs + (l * B + b) * C;
            for (int64_t j = 0; j < C2; j++) z[j] = conv_bias[l * C2 + j];
            if (cond != 0)
                for (int64_t j = 0; j < C2; j++) z[j] += cond[(l * B + b) * C2 + j];
            for (int64_t q = 0; q < K; q++)
                accumulate(z, rows + past_slots[l * K + q] * C, past + (l * K + q) * C * C2, C, C2);
            accumulate(z, h, now + l * C * C2, C, C2);
            for (int64_t j = 0; j < C2; j++) z[j] = 1.0f / (1.0f + expf(-z[j]));
            for (int64_t j = 0; j < C; j++) z[j] *= z[C + j];
            if (l + 1 < L) {
                float *next = inputs + ((l + 1) * B + b) * C;
                for (int64_t j = 0; j < C; j++) next[j] = h[j];
                accumulate(next, z, residual + l * C2 * C, C2, C);
            }
        }
        float *out = skips + b * S;
        for (int64_t j = 0; j < S; j++) out[j] = skip_bias[j];
        accumulate(out, g_row, skip, L * C2, S);
        if (head_in != 0) {
            float *relu = hidden + b * (S + H), *mid = relu + S;
            for (int64_t j = 0; j < S; j++) relu[j] = out[j] > 0.0f ? out[j] : 0.0f;
            for (int64_t j = 0; j < H; j++) mid[j] = head_in_bias[j];
            accumulate(mid, relu, head_in, S, H);
            for (int64_t j = 0; j < H; j++) mid[j] = mid[j] > 0.0f ? mid[j] : 0.0f;
            float *result = params + b * O;
            for (int64_t j = 0; j < O; j++) result[j] = head_out_bias[j];
            accumulate(result, mid, head_out, H, O);
        }
        float *ring = buffer + b * N * C;
        for (int64_t l = 0; l < L; l++) {
            const float *h = inputs + (l * B + b) * C;
            float *slot = ring + push_slots[l] * C;
            for (int64_t j = 0; j < C; j++) slot[j] = h[j];
        }
    }
}
