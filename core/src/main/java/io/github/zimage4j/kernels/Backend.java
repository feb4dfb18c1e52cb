package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;

/**
 * The one interface between models and kernels. Models call these operations and nothing below them,
 * so a native backend (oneDNN GEMM on AMX, later CUDA) replaces the Java kernels without touching model
 * code. The dense products are abstract; the element-wise stages have Java defaults that a backend
 * may override.
 *
 * <p>Activations are row-major float32 arrays addressed by offset; weights stay in their stored dtype.
 */
public interface Backend {

    /** A short name for logs and benchmarks ("java", "onednn", …). */
    String name();

    /**
     * Whether products with weights of this dtype are computed exactly in float32 (activations not
     * rounded). False where the backend multiplies in bf16 (e.g. AMX), which parity tests then hold to
     * a 1e-2 relative RMS error instead of the float32 golden tolerances.
     */
    default boolean float32Products(io.github.zimage4j.io.DType weightDtype) {
        return true;
    }

    /** {@code out[rows, layer.out] = x[rows, layer.in] · Wᵀ + b}; rows start at the given offsets. */
    void linear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff);

    /**
     * Lets the backend convert a model's weights once, before the first product, into the form its fastest
     * units multiply (oneDNN: 8-bit weights to per-row int8). Called by a model for its own linear layers, so
     * only that model's weights change precision; the stored weights stay untouched. Default: nothing.
     */
    default WeightConversion prepareWeights(java.util.List<Linear> layers) {
        return WeightConversion.NONE;
    }

    /** Scaled dot-product attention (no S×S matrix is ever materialized); rows addressed by the operands. */
    void attention(FlashAttention.Operand q, FlashAttention.Operand k, FlashAttention.Operand v,
                   FlashAttention.Operand out, AttentionSpec spec);

    /** {@code out = rmsnorm(x)·weight·rowScale}; see {@link Norms#rmsNorm}. */
    default void rmsNorm(float[] x, int xOff, int rows, int dim, float[] weight, float eps, float[] rowScale,
                         float[] out, int outOff) {
        Norms.rmsNorm(x, xOff, rows, dim, weight, eps, rowScale, out, outOff);
    }

    /** {@code x += gate·rmsnorm(y)·weight}; see {@link Norms#addRmsNormed}. */
    default void addRmsNormed(float[] x, int xOff, float[] y, int yOff, int rows, int dim, float[] weight, float eps,
                              float[] gate) {
        Norms.addRmsNormed(x, xOff, y, yOff, rows, dim, weight, eps, gate);
    }

    /** {@code out = layernorm(x)·rowScale} without affine parameters; see {@link Norms#layerNorm}. */
    default void layerNorm(float[] x, int xOff, int rows, int dim, float eps, float[] rowScale, float[] out, int outOff) {
        Norms.layerNorm(x, xOff, rows, dim, eps, rowScale, out, outOff);
    }

    /** Interleaved-pair (complex) RoPE in place; see {@link Rope#interleaved}. */
    default void ropeInterleaved(float[] x, int off, int rows, int stride, int heads, int headDim,
                                 float[] cos, float[] sin, int tableRow0) {
        Rope.interleaved(x, off, rows, stride, heads, headDim, cos, sin, tableRow0);
    }

    /** Rotate-half RoPE in place; see {@link Rope#rotateHalf}. */
    default void ropeRotateHalf(float[] x, int off, int rows, int stride, int heads, int headDim,
                                float[] cos, float[] sin, int tableRow0) {
        Rope.rotateHalf(x, off, rows, stride, heads, headDim, cos, sin, tableRow0);
    }

    /** {@code a = silu(a)·b}. */
    default void swiglu(float[] a, int aOff, float[] b, int bOff, int n) {
        Activations.swiglu(a, aOff, b, bOff, n);
    }

    /** {@code x += y} over n elements: a plain residual connection. */
    default void add(float[] x, int xOff, float[] y, int yOff, int n) {
        Activations.add(x, xOff, y, yOff, n);
    }

    /** {@code x = silu(x)}. */
    default void silu(float[] x, int off, int n) {
        Activations.silu(x, off, n);
    }

    /**
     * Channels-last 2-D convolution, {@code out = conv(x) + bias} ({@code out +=} when accumulating, a fused
     * residual add), with nearest upsampling, stride and padding given by the geometry; see
     * {@link Conv2d#conv2d}.
     */
    default void conv2d(float[] x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                        Conv2d.Geometry geometry, float[] out, int outOff, boolean accumulate) {
        Conv2d.conv2d(x, xOff, height, width, weight, bias, geometry, out, outOff, accumulate);
    }

    /** Channels-last GroupNorm with per-channel scale and shift, optionally then SiLU; see {@link GroupNorm#groupNorm}. */
    default void groupNorm(float[] x, int xOff, int pixels, int channels, int groups, float[] weight, float[] bias,
                           float eps, boolean silu, float[] out, int outOff) {
        GroupNorm.groupNorm(x, xOff, pixels, channels, groups, weight, bias, eps, silu, out, outOff);
    }
}
