package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.Arrays;

/**
 * A backend that computes on the host: every activation is a Java float array ({@link HostArray}), and
 * each operation of the {@link Backend} seam unwraps its handles and runs the array form declared here.
 * The array forms are what a CPU backend implements or overrides (the Java kernels by default), so
 * wrapping costs nothing: no copy, no extra pass.
 */
public abstract class HostBackend implements Backend {

    /**
     * A host activation: the array itself. {@code recyclable}: the backend allocated the array, so it may
     * hand it out again once released (an uploaded array stays the caller's).
     */
    public record HostArray(float[] data, boolean recyclable) implements Activation {
        @Override
        public int length() {
            return data.length;
        }
    }

    /** The array under a host activation (null for null). */
    public static float[] array(Activation a) {
        if (a == null) {
            return null;
        }
        if (a instanceof HostArray h) {
            return h.data;
        }
        throw new IllegalArgumentException("an activation of another backend (" + a.getClass().getSimpleName()
                + ") was passed to a host backend");
    }

    /** The n values of a per-row vector (a modulation scale or gate) as the array kernels take it. */
    private static float[] vector(Activation a, int off, int n) {
        float[] v = array(a);
        return v == null || (off == 0 && v.length == n) ? v : Arrays.copyOfRange(v, off, off + n);
    }

    private static FlashAttention.Operand operand(Rows r) {
        return new FlashAttention.Operand(array(r.data()), r.offset(), r.stride());
    }

    // ---------------------------------------------------------------- the array forms

    /** {@code out[rows, layer.out] = x[rows, layer.in] · Wᵀ + b}; rows start at the given offsets. */
    public abstract void linear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff);

    /** Scaled dot-product attention on array operands. */
    public abstract void attention(FlashAttention.Operand q, FlashAttention.Operand k, FlashAttention.Operand v,
                                   FlashAttention.Operand out, AttentionSpec spec);

    public void rmsNorm(float[] x, int xOff, int rows, int dim, float[] weight, float eps, float[] rowScale,
                        float[] out, int outOff) {
        Norms.rmsNorm(x, xOff, rows, dim, weight, eps, rowScale, out, outOff);
    }

    public void addRmsNormed(float[] x, int xOff, float[] y, int yOff, int rows, int dim, float[] weight, float eps,
                             float[] gate) {
        Norms.addRmsNormed(x, xOff, y, yOff, rows, dim, weight, eps, gate);
    }

    public void layerNorm(float[] x, int xOff, int rows, int dim, float eps, float[] rowScale, float[] out, int outOff) {
        Norms.layerNorm(x, xOff, rows, dim, eps, rowScale, out, outOff);
    }

    public void ropeInterleaved(float[] x, int off, int rows, int stride, int heads, int headDim,
                                float[] cos, float[] sin, int tableRow0) {
        Rope.interleaved(x, off, rows, stride, heads, headDim, cos, sin, tableRow0);
    }

    public void ropeRotateHalf(float[] x, int off, int rows, int stride, int heads, int headDim,
                               float[] cos, float[] sin, int tableRow0) {
        Rope.rotateHalf(x, off, rows, stride, heads, headDim, cos, sin, tableRow0);
    }

    public void swiglu(float[] a, int aOff, float[] b, int bOff, int n) {
        Activations.swiglu(a, aOff, b, bOff, n);
    }

    public void add(float[] x, int xOff, float[] y, int yOff, int n) {
        Activations.add(x, xOff, y, yOff, n);
    }

    public void silu(float[] x, int off, int n) {
        Activations.silu(x, off, n);
    }

    public void conv2d(float[] x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                       Conv2d.Geometry geometry, float[] out, int outOff, boolean accumulate) {
        Conv2d.conv2d(x, xOff, height, width, weight, bias, geometry, out, outOff, accumulate);
    }

    public void groupNorm(float[] x, int xOff, int pixels, int channels, int groups, float[] weight, float[] bias,
                          float eps, boolean silu, float[] out, int outOff) {
        GroupNorm.groupNorm(x, xOff, pixels, channels, groups, weight, bias, eps, silu, out, outOff);
    }

    /** {@link Backend#normConv2d} on arrays: GroupNorm into a recycled temporary, then the convolution. */
    public void normConv2d(float[] x, int xOff, int height, int width, GroupNorm.Params norm, StoredTensor weight,
                           float[] bias, Conv2d.Geometry geometry, float[] out, int outOff, boolean accumulate) {
        int channels = Math.toIntExact(weight.dim(1));
        int pixels = height * width;
        float[] normed = pool.take(pixels * channels, false);
        groupNorm(x, xOff, pixels, channels, norm.groups(), norm.weight(), norm.bias(), norm.eps(), norm.silu(), normed, 0);
        conv2d(normed, 0, height, width, weight, bias, geometry, out, outOff, accumulate);
        pool.give(normed);
    }

    // ---------------------------------------------------------------- the seam, on arrays

    /** Released activations, reused by later allocations of the same length; a quarter of the heap at most. */
    private final ArrayPool pool = new ArrayPool(Runtime.getRuntime().maxMemory() / 4);

    @Override
    public final Activation allocate(int floats) {
        return new HostArray(pool.take(floats, true), true);
    }

    /** A recycled array keeps its old values (or a new one its zeros). */
    @Override
    public final Activation allocateForOutput(int floats) {
        return new HostArray(pool.take(floats, false), true);
    }

    @Override
    public final Activation upload(float[] values) {
        return new HostArray(values, false);
    }

    /** Keeps a large released activation for reuse ({@link ArrayPool}); the collector takes the rest. */
    @Override
    public final void release(Activation a) {
        if (a instanceof HostArray h && h.recyclable()) {
            pool.give(h.data());
        }
    }

    @Override
    public final void write(float[] src, int srcOff, Activation dst, int dstOff, int n) {
        System.arraycopy(src, srcOff, array(dst), dstOff, n);
    }

    @Override
    public final void read(Activation src, int srcOff, float[] dst, int dstOff, int n) {
        System.arraycopy(array(src), srcOff, dst, dstOff, n);
    }

    @Override
    public final void copy(Activation src, int srcOff, Activation dst, int dstOff, int n) {
        System.arraycopy(array(src), srcOff, array(dst), dstOff, n);
    }

    @Override
    public final void linear(Activation x, int xOff, int rows, Linear layer, Activation out, int outOff) {
        linear(array(x), xOff, rows, layer, array(out), outOff);
    }

    @Override
    public final void attention(Rows q, Rows k, Rows v, Rows out, AttentionSpec spec) {
        attention(operand(q), operand(k), operand(v), operand(out), spec);
    }

    @Override
    public final void rmsNorm(Activation x, int xOff, int rows, int dim, float[] weight, float eps, Activation scale,
                              int scaleOff, Activation out, int outOff) {
        rmsNorm(array(x), xOff, rows, dim, weight, eps, vector(scale, scaleOff, dim), array(out), outOff);
    }

    @Override
    public final void addRmsNormed(Activation x, int xOff, Activation y, int yOff, int rows, int dim, float[] weight,
                                   float eps, Activation gate, int gateOff) {
        addRmsNormed(array(x), xOff, array(y), yOff, rows, dim, weight, eps, vector(gate, gateOff, dim));
    }

    @Override
    public final void layerNorm(Activation x, int xOff, int rows, int dim, float eps, Activation scale, int scaleOff,
                                Activation out, int outOff) {
        layerNorm(array(x), xOff, rows, dim, eps, vector(scale, scaleOff, dim), array(out), outOff);
    }

    @Override
    public final void ropeInterleaved(Activation x, int off, int rows, int stride, int heads, int headDim,
                                      Activation cos, Activation sin, int tableRow0) {
        ropeInterleaved(array(x), off, rows, stride, heads, headDim, array(cos), array(sin), tableRow0);
    }

    @Override
    public final void ropeRotateHalf(Activation x, int off, int rows, int stride, int heads, int headDim,
                                     Activation cos, Activation sin, int tableRow0) {
        ropeRotateHalf(array(x), off, rows, stride, heads, headDim, array(cos), array(sin), tableRow0);
    }

    @Override
    public final void swiglu(Activation a, int aOff, Activation b, int bOff, int n) {
        swiglu(array(a), aOff, array(b), bOff, n);
    }

    @Override
    public final void add(Activation x, int xOff, Activation y, int yOff, int n) {
        add(array(x), xOff, array(y), yOff, n);
    }

    @Override
    public final void silu(Activation x, int off, int n) {
        silu(array(x), off, n);
    }

    @Override
    public final void tanh(Activation x, int off, int n) {
        Activations.tanh(array(x), off, n);
    }

    @Override
    public final void scaleShift(Activation x, int off, int n, float scale, float shift) {
        float[] a = array(x);
        for (int i = off; i < off + n; i++) {
            a[i] = shift == 0f ? a[i] * scale : a[i] * scale + shift; // a zero shift adds nothing, not even to −0
        }
    }

    @Override
    public final void conv2d(Activation x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                             Conv2d.Geometry geometry, Activation out, int outOff, boolean accumulate) {
        conv2d(array(x), xOff, height, width, weight, bias, geometry, array(out), outOff, accumulate);
    }

    @Override
    public final void normConv2d(Activation x, int xOff, int height, int width, GroupNorm.Params norm,
                                 StoredTensor weight, float[] bias, Conv2d.Geometry geometry, Activation out, int outOff,
                                 boolean accumulate) {
        normConv2d(array(x), xOff, height, width, norm, weight, bias, geometry, array(out), outOff, accumulate);
    }

    @Override
    public final void groupNorm(Activation x, int xOff, int pixels, int channels, int groups, float[] weight,
                                float[] bias, float eps, boolean silu, Activation out, int outOff) {
        groupNorm(array(x), xOff, pixels, channels, groups, weight, bias, eps, silu, array(out), outOff);
    }
}
