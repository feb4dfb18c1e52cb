package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Element-wise activations, vectorized, parallel over chunks. */
public final class Activations {

    private Activations() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final int CHUNK = 1 << 14;

    private static void chunks(int n, ChunkBody body) {
        int tasks = (n + CHUNK - 1) / CHUNK;
        if (tasks <= 1) {
            body.run(0, n);
            return;
        }
        Parallel.get().forEach(tasks, t -> body.run(t * CHUNK, Math.min(n, (t + 1) * CHUNK)));
    }

    @FunctionalInterface
    private interface ChunkBody {
        void run(int from, int to);
    }

    public static float silu(float x) {
        return Exp.silu(x);
    }

    /** {@code x = silu(x)} in place over {@code x[off … off+n)}. */
    public static void silu(float[] x, int off, int n) {
        chunks(n, (from, to) -> {
            int i = from;
            for (; i + VL <= to; i += VL) {
                FloatVector v = FloatVector.fromArray(S, x, off + i);
                Exp.silu(v).intoArray(x, off + i);
            }
            for (; i < to; i++) {
                x[off + i] = silu(x[off + i]);
            }
        });
    }

    /** SwiGLU gate: {@code a = silu(a) · b} in place over n elements. */
    public static void swiglu(float[] a, int aOff, float[] b, int bOff, int n) {
        chunks(n, (from, to) -> {
            int i = from;
            for (; i + VL <= to; i += VL) {
                FloatVector v = FloatVector.fromArray(S, a, aOff + i);
                FloatVector g = Exp.silu(v);
                g.mul(FloatVector.fromArray(S, b, bOff + i)).intoArray(a, aOff + i);
            }
            for (; i < to; i++) {
                a[aOff + i] = silu(a[aOff + i]) * b[bOff + i];
            }
        });
    }

    /** {@code x += y} element-wise over n elements (residual connections). */
    public static void add(float[] x, int xOff, float[] y, int yOff, int n) {
        chunks(n, (from, to) -> {
            int i = from;
            for (; i + VL <= to; i += VL) {
                FloatVector.fromArray(S, x, xOff + i).add(FloatVector.fromArray(S, y, yOff + i)).intoArray(x, xOff + i);
            }
            for (; i < to; i++) {
                x[xOff + i] += y[yOff + i];
            }
        });
    }

    /** {@code x = tanh(x)} in place over n elements (small vectors: gates). */
    public static void tanh(float[] x, int off, int n) {
        for (int i = 0; i < n; i++) {
            x[off + i] = (float) StrictMath.tanh(x[off + i]);
        }
    }
}
