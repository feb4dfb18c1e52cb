package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.Linear;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.List;

/**
 * The run-time part of a linear layer's adapters: {@code out += Σ x·ΔWᵀ} after the base product, for every
 * backend. It runs in two halves because a caller may write the output over its input: {@link #prepare}
 * reads the input (for a low-rank update only the narrow {@code t = x·downᵀ}, rows × r), {@link #addTo}
 * adds {@code scale · t·upᵀ} once the base product is in place.
 */
public final class AdapterProducts {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Rows per task when adding the updates. */
    private static final int ROWS_PER_TASK = 16;

    private AdapterProducts() {
    }

    /** What {@link #prepare} keeps for {@link #addTo}: one entry per adapter. */
    public static final class Pending {
        private final Linear layer;
        private final int rows;
        private final float[][] parts;

        private Pending(Linear layer, int rows, float[][] parts) {
            this.layer = layer;
            this.rows = rows;
            this.parts = parts;
        }
    }

    /** Reads {@code x} for every adapter of the layer; null when it has none. */
    public static Pending prepare(float[] x, int xOff, int rows, Linear layer) {
        List<Adapter> adapters = layer.adapters();
        if (adapters.isEmpty() || rows == 0) {
            return null;
        }
        float[][] parts = new float[adapters.size()][];
        for (int i = 0; i < parts.length; i++) {
            parts[i] = switch (adapters.get(i)) {
                case Adapter.LowRank lr -> {
                    float[] t = new float[rows * lr.rank()];
                    Gemm.matmul(x, xOff, rows, lr.in(), lr.down(), null, t, 0);
                    yield t;
                }
                case Adapter.Kronecker kr -> kronecker(x, xOff, rows, kr);
            };
        }
        return new Pending(layer, rows, parts);
    }

    /** Adds the prepared updates to the base product {@code out[rows, layer.out]}. */
    public static void addTo(Pending p, float[] out, int outOff) {
        if (p == null) {
            return;
        }
        int n = p.layer.out();
        List<Adapter> adapters = p.layer.adapters();
        for (int i = 0; i < p.parts.length; i++) {
            float[] part = p.parts[i];
            switch (adapters.get(i)) {
                case Adapter.LowRank lr -> addLowRank(part, p.rows, lr, out, outOff);
                case Adapter.Kronecker kr -> Activations.add(out, outOff, part, 0, p.rows * n);
            }
        }
    }

    /** {@code out += scale · t·upᵀ}: each output row sums its r scaled up-columns, then is added once. */
    private static void addLowRank(float[] t, int rows, Adapter.LowRank lr, float[] out, int outOff) {
        int n = lr.out();
        int r = lr.rank();
        float[] up = new float[n * r];
        WeightRows.decode(lr.up(), 0, n * r, up, 0);
        float[] upT = new float[r * n]; // [r, out]: row j is up's column j, so a row update is r vector axpys
        for (int o = 0; o < n; o++) {
            for (int j = 0; j < r; j++) {
                upT[j * n + o] = up[o * r + j];
            }
        }
        float scale = lr.scale();
        int tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        Parallel.get().forEach(tasks, task -> {
            float[] acc = new float[n];
            int end = Math.min(rows, (task + 1) * ROWS_PER_TASK);
            for (int row = task * ROWS_PER_TASK; row < end; row++) {
                java.util.Arrays.fill(acc, 0f);
                for (int j = 0; j < r; j++) {
                    axpy(t[row * r + j], upT, j * n, acc, n);
                }
                int o0 = outOff + row * n;
                int o = 0;
                int bound = S.loopBound(n);
                FloatVector sv = FloatVector.broadcast(S, scale);
                for (; o < bound; o += S.length()) {
                    FloatVector.fromArray(S, acc, o).fma(sv, FloatVector.fromArray(S, out, o0 + o)).intoArray(out, o0 + o);
                }
                for (; o < n; o++) {
                    out[o0 + o] += scale * acc[o];
                }
            }
        });
    }

    private static void axpy(float a, float[] x, int xOff, float[] y, int n) {
        if (a == 0f) {
            return;
        }
        FloatVector av = FloatVector.broadcast(S, a);
        int i = 0;
        int bound = S.loopBound(n);
        for (; i < bound; i += S.length()) {
            FloatVector.fromArray(S, x, xOff + i).fma(av, FloatVector.fromArray(S, y, i)).intoArray(y, i);
        }
        for (; i < n; i++) {
            y[i] += a * x[xOff + i];
        }
    }

    /**
     * {@code scale · x·kron(w1, w2)ᵀ} without forming the Kronecker product: a row of x viewed as
     * {@code X [b, d]} maps to {@code w1 · X · w2ᵀ [a, c]}, flattened.
     */
    private static float[] kronecker(float[] x, int xOff, int rows, Adapter.Kronecker k) {
        int a = k.a(), b = k.b(), c = k.c(), d = k.d();
        float[] y = new float[rows * a * c];
        float[] w1 = k.w1(), w2 = k.w2();
        Parallel.get().forEach(rows, row -> {
            float[] tmp = new float[b * c];
            int x0 = xOff + row * b * d;
            for (int j = 0; j < b; j++) {
                for (int kk = 0; kk < c; kk++) {
                    float s = 0;
                    for (int l = 0; l < d; l++) {
                        s += x[x0 + j * d + l] * w2[kk * d + l];
                    }
                    tmp[j * c + kk] = s;
                }
            }
            int y0 = row * a * c;
            for (int i = 0; i < a; i++) {
                for (int kk = 0; kk < c; kk++) {
                    float s = 0;
                    for (int j = 0; j < b; j++) {
                        s += w1[i * b + j] * tmp[j * c + kk];
                    }
                    y[y0 + i * c + kk] = k.scale() * s;
                }
            }
        });
        return y;
    }
}
