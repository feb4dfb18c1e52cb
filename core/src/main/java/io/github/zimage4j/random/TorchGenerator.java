package io.github.zimage4j.random;

import io.github.zimage4j.tensor.Tensor;

/**
 * A re-implementation of PyTorch's CPU generator ({@code torch.Generator("cpu").manual_seed(seed)}) and
 * its {@code randn} / {@code rand}, so a seed gives the same initial latents here as in diffusers with a
 * CPU generator. Successive calls continue one stream, as successive draws from one torch generator do
 * (image-to-image draws the VAE posterior noise first, then the latent noise).
 *
 * <p>How torch draws:
 * <ul>
 *   <li>The engine is MT19937 seeded with the low 32 bits of the seed: seeds that agree modulo 2³² give the
 *       same stream.</li>
 *   <li>A float32 uniform is 24 random bits · 2⁻²⁴; a float64 uniform is 53 bits of two draws (high word
 *       first) · 2⁻⁵³.</li>
 *   <li>{@code randn} of 16 or more values first fills the whole tensor with float uniforms, turns each block
 *       of 16 into normals (Box–Muller, pairs j and j+8), and when the count is not a multiple of 16 draws 16
 *       new uniforms for the last 16 values and transforms those again. For float32 the transform is
 *       {@link Avx2NormalKernel}'s.</li>
 *   <li>{@code randn} of fewer than 16 values uses double-precision Box–Muller per value; the second value
 *       of each pair is kept in the generator and returned by the next such draw, across calls.</li>
 * </ul>
 * Not thread-safe, like a torch generator used from one thread.
 */
public final class TorchGenerator {

    /** Below this many values torch draws normals one by one in double precision. */
    private static final int BLOCK = 16;

    private long seed;
    private Mt19937 engine;
    private double cachedNormal;
    private boolean hasCachedNormal;

    public TorchGenerator(long seed) {
        manualSeed(seed);
    }

    /** Restarts the stream, as {@code manual_seed}; also drops the cached normal. */
    public void manualSeed(long seed) {
        this.seed = seed;
        engine = new Mt19937(seed & 0xffffffffL);
        hasCachedNormal = false;
    }

    /** The seed last given to {@link #manualSeed} or the constructor. */
    public long initialSeed() {
        return seed;
    }

    /** {@code torch.randn(shape, generator=g, dtype=torch.float32)}. */
    public Tensor randn(int... shape) {
        Tensor t = Tensor.zeros(shape);
        randn(t.data());
        return t;
    }

    /** Fills {@code out} as {@code torch.randn(out.length, generator=g)} would (float32). */
    public void randn(float[] out) {
        int n = out.length;
        if (n < BLOCK) {
            for (int i = 0; i < n; i++) {
                out[i] = (float) nextNormal();
            }
            return;
        }
        for (int i = 0; i < n; i++) {
            out[i] = nextFloat();
        }
        for (int i = 0; i + BLOCK <= n; i += BLOCK) {
            Avx2NormalKernel.fill16(out, i);
        }
        if (n % BLOCK != 0) {
            int last = n - BLOCK;
            for (int i = last; i < n; i++) {
                out[i] = nextFloat();
            }
            Avx2NormalKernel.fill16(out, last);
        }
    }

    /** {@code torch.randn(n, generator=g, dtype=torch.float64)}. */
    public double[] randnDouble(int n) {
        double[] out = new double[n];
        if (n < BLOCK) {
            for (int i = 0; i < n; i++) {
                out[i] = nextNormal();
            }
            return out;
        }
        for (int i = 0; i < n; i++) {
            out[i] = nextDouble();
        }
        for (int i = 0; i + BLOCK <= n; i += BLOCK) {
            fill16(out, i);
        }
        if (n % BLOCK != 0) {
            int last = n - BLOCK;
            for (int i = last; i < n; i++) {
                out[i] = nextDouble();
            }
            fill16(out, last);
        }
        return out;
    }

    /** {@code torch.rand(shape, generator=g)}: uniforms in [0, 1), float32. */
    public Tensor rand(int... shape) {
        Tensor t = Tensor.zeros(shape);
        rand(t.data());
        return t;
    }

    public void rand(float[] out) {
        for (int i = 0; i < out.length; i++) {
            out[i] = nextFloat();
        }
    }

    private float nextFloat() {
        return (engine.nextInt() & 0xFFFFFF) * 0x1p-24f;
    }

    private double nextDouble() {
        long hi = engine.nextInt() & 0xffffffffL;
        long lo = engine.nextInt() & 0xffffffffL;
        return (((hi << 32) | lo) & ((1L << 53) - 1)) * 0x1p-53;
    }

    /** {@code at::normal_distribution<double>} with its per-generator cache of the pair's second value. */
    private double nextNormal() {
        // Each value leaves as value·std + mean with mean 0, which turns −0 into +0.
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal + 0.0;
        }
        double u1 = nextDouble();
        double u2 = nextDouble();
        double r = StrictMath.sqrt(-2.0 * StrictMath.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * StrictMath.sin(theta);
        hasCachedNormal = true;
        return r * StrictMath.cos(theta) + 0.0;
    }

    /** torch's scalar double-precision {@code normal_fill_16}. */
    private static void fill16(double[] data, int k) {
        for (int j = 0; j < 8; j++) {
            double u1 = 1 - data[k + j];
            double u2 = data[k + j + 8];
            double radius = StrictMath.sqrt(-2 * StrictMath.log(u1));
            double theta = 2.0 * Math.PI * u2;
            data[k + j] = radius * StrictMath.cos(theta) + 0.0;
            data[k + j + 8] = radius * StrictMath.sin(theta) + 0.0;
        }
    }
}
