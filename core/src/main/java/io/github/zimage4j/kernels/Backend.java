package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;

/**
 * The one interface between models and kernels. Models call these operations and nothing below them, so a
 * native backend (oneDNN, CUDA) replaces the Java kernels without touching model code.
 *
 * <p><b>The seam.</b> Activations belong to the backend: a model allocates them here ({@link #allocate},
 * {@link #upload}), passes the handles to the operations and reads results back only at its boundaries
 * ({@link #read}: output latents, caption features, a decoded image, a trace). A CPU backend keeps a Java
 * array under each handle ({@link HostBackend}); a GPU backend keeps device memory, so activations stay on
 * the device from the first layer to the last. Weights are passed as stored tensors ({@link Linear},
 * {@link StoredTensor}) in their stored dtype, small parameter vectors (norm weights, biases) as float
 * arrays that never change: a device backend uploads those once and keeps them by identity. Offsets and
 * lengths count floats.
 */
public interface Backend {

    /** A short name for logs and benchmarks ("java", "onednn", …). */
    String name();

    /**
     * Whether products with weights of this dtype are computed exactly in float32 (activations not
     * rounded). False where the backend multiplies in bf16 (e.g. AMX), which parity tests then hold to
     * a 1e-2 relative RMS error instead of the float32 golden tolerances.
     */
    default boolean float32Products(DType weightDtype) {
        return true;
    }

    // ---------------------------------------------------------------- activations

    /** A new activation of {@code floats} zeros. */
    Activation allocate(int floats);

    /**
     * A new activation of {@code floats} unspecified values, for an operation that writes every one of them
     * before anything reads it (a convolution's or linear layer's output, a norm's destination): no pass
     * goes into clearing memory that is overwritten anyway. Default: {@link #allocate}.
     */
    default Activation allocateForOutput(int floats) {
        return allocate(floats);
    }

    /** A new activation holding {@code values}; the caller must not change the array afterwards (a CPU backend may keep it). */
    Activation upload(float[] values);

    /** {@code dst[dstOff, dstOff + n) = src[srcOff, srcOff + n)}: host values into an activation. */
    void write(float[] src, int srcOff, Activation dst, int dstOff, int n);

    /** {@code dst[dstOff, dstOff + n) = src[srcOff, srcOff + n)}: an activation's values back to the host. */
    void read(Activation src, int srcOff, float[] dst, int dstOff, int n);

    /** The n values at {@code off}, as a new host array. */
    default float[] read(Activation src, int off, int n) {
        float[] out = new float[n];
        read(src, off, out, 0, n);
        return out;
    }

    /** {@code dst[dstOff, dstOff + n) = src[srcOff, srcOff + n)} within the backend. */
    void copy(Activation src, int srcOff, Activation dst, int dstOff, int n);

    /**
     * The activation is not used any more, by anyone: the backend may hand its memory out again at once
     * (device memory is returned; the CPU backends reuse large arrays for later allocations of the same
     * length). Releasing it twice, or using it afterwards, corrupts whatever the memory was given to.
     */
    default void release(Activation a) {
    }

    // ---------------------------------------------------------------- operations

    /** {@code out[rows, layer.out] = x[rows, layer.in] · Wᵀ + b}; rows start at the given offsets. */
    void linear(Activation x, int xOff, int rows, Linear layer, Activation out, int outOff);

    /**
     * Lets the backend convert a model's weights once, before the first product, into the form its fastest
     * units multiply (oneDNN: 8-bit weights to per-row int8). Called by a model for its own linear layers, so
     * only that model's weights change precision; the stored weights stay untouched. Returns the layers'
     * prepared weights (converted now or by an earlier call), sent to {@link WeightPreparation}'s listeners
     * too where this call did work. Default: nothing.
     */
    default WeightPreparation prepareWeights(java.util.List<Linear> layers) {
        return prepareWeights(layers, java.util.List.of());
    }

    /**
     * {@link #prepareWeights(java.util.List)} for {@code layers}, while the model's {@code sensitive} layers
     * keep their stored weights (multiplied as unprepared weights are, e.g. bf16 on oneDNN): layers whose
     * error the model knows to weigh more than their share of the compute. The result counts the sensitive
     * weights that would otherwise have been prepared ({@link WeightPreparation#kept()}).
     */
    default WeightPreparation prepareWeights(java.util.List<Linear> layers, java.util.List<Linear> sensitive) {
        return WeightPreparation.NONE;
    }

    /**
     * Frees every copy this backend made of these layers' weights ({@link #prepareWeights}'s conversions,
     * packed layouts), for a model whose remaining work no longer needs them: a one-shot run's transformer
     * before its VAE decode, so that the copies' memory (anonymous, unlike the mapped file) is not held
     * through the decode. The layers stay usable: until {@link #prepareWeights} is called again their weights
     * are multiplied as stored. Returns the bytes freed. Default: nothing to free.
     */
    default long releasePreparedWeights(java.util.List<Linear> layers) {
        return 0;
    }

    /** Scaled dot-product attention (no S×S matrix is ever materialized). */
    void attention(Rows q, Rows k, Rows v, Rows out, AttentionSpec spec);

    /** {@code out = rmsnorm(x)·weight·scale}, scale ({@code dim} values at scaleOff) optional; see {@link Norms#rmsNorm}. */
    void rmsNorm(Activation x, int xOff, int rows, int dim, float[] weight, float eps, Activation scale, int scaleOff,
                 Activation out, int outOff);

    /** {@code x += gate·rmsnorm(y)·weight}, gate ({@code dim} values at gateOff) optional; see {@link Norms#addRmsNormed}. */
    void addRmsNormed(Activation x, int xOff, Activation y, int yOff, int rows, int dim, float[] weight, float eps,
                      Activation gate, int gateOff);

    /** {@code out = layernorm(x)·scale} without affine parameters, scale optional; see {@link Norms#layerNorm}. */
    void layerNorm(Activation x, int xOff, int rows, int dim, float eps, Activation scale, int scaleOff,
                   Activation out, int outOff);

    /** Interleaved-pair (complex) RoPE in place, tables [position, headDim/2]; see {@link Rope#interleaved}. */
    void ropeInterleaved(Activation x, int off, int rows, int stride, int heads, int headDim,
                         Activation cos, Activation sin, int tableRow0);

    /** Rotate-half RoPE in place; see {@link Rope#rotateHalf}. */
    void ropeRotateHalf(Activation x, int off, int rows, int stride, int heads, int headDim,
                        Activation cos, Activation sin, int tableRow0);

    /** {@code a = silu(a)·b}. */
    void swiglu(Activation a, int aOff, Activation b, int bOff, int n);

    /** {@code x += y} over n elements: a plain residual connection. */
    void add(Activation x, int xOff, Activation y, int yOff, int n);

    /** {@code x = silu(x)}. */
    void silu(Activation x, int off, int n);

    /** {@code x = tanh(x)} (an adaLN gate). */
    void tanh(Activation x, int off, int n);

    /** {@code x = x·scale + shift} (an adaLN scale {@code 1 + s}, a ControlNet hint's strength). */
    void scaleShift(Activation x, int off, int n, float scale, float shift);

    /**
     * Channels-last 2-D convolution, {@code out = conv(x) + bias} ({@code out +=} when accumulating, a fused
     * residual add), with nearest upsampling, stride and padding given by the geometry; see
     * {@link Conv2d#conv2d}.
     */
    void conv2d(Activation x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                Conv2d.Geometry geometry, Activation out, int outOff, boolean accumulate);

    /**
     * {@code out = conv(groupNorm(x)) + bias} ({@code out +=} when accumulating): {@link #groupNorm} (with its
     * SiLU) feeding {@link #conv2d}, x unchanged, with no normalized map in memory: a backend that copies x
     * into its convolution's input anyway applies the normalization in that copy. The VAE's large maps are
     * memory-bound, and this saves writing and reading the normalized one. Default: through a temporary.
     */
    default void normConv2d(Activation x, int xOff, int height, int width, GroupNorm.Params norm, StoredTensor weight,
                            float[] bias, Conv2d.Geometry geometry, Activation out, int outOff, boolean accumulate) {
        int channels = Math.toIntExact(weight.dim(1));
        Activation normed = allocateForOutput(height * width * channels);
        groupNorm(x, xOff, height * width, channels, norm.groups(), norm.weight(), norm.bias(), norm.eps(), norm.silu(),
                normed, 0);
        conv2d(normed, 0, height, width, weight, bias, geometry, out, outOff, accumulate);
        release(normed);
    }

    /** Channels-last GroupNorm with per-channel scale and shift, optionally then SiLU; see {@link GroupNorm#groupNorm}. */
    void groupNorm(Activation x, int xOff, int pixels, int channels, int groups, float[] weight, float[] bias,
                   float eps, boolean silu, Activation out, int outOff);
}
