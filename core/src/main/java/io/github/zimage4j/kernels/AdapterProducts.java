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
    private static final int ROWS_PER_TASK = 32;

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

    /**
     * {@code out += scale · t·upᵀ} as a register-tiled micro-kernel: a tile of 4 rows × 2 vectors of outputs
     * sums its r products in registers (each up-vector load feeds 4 rows), then is added to {@code out} once.
     * up is decoded once per call into {@code upT [r, out]}, so a tile reads r short contiguous vectors that
     * stay in L1 while the row tiles pass; {@code out} is read and written once.
     */
    private static void addLowRank(float[] t, int rows, Adapter.LowRank lr, float[] out, int outOff) {
        int n = lr.out();
        int r = lr.rank();
        float[] up = new float[n * r];
        WeightRows.decode(lr.up(), 0, n * r, up, 0);
        float[] upT = new float[r * n];
        for (int o = 0; o < n; o++) {
            for (int j = 0; j < r; j++) {
                upT[j * n + o] = up[o * r + j];
            }
        }
        float scale = lr.scale();
        int tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        Parallel.get().forEach(tasks, task -> {
            int r0 = task * ROWS_PER_TASK;
            int r1 = Math.min(rows, r0 + ROWS_PER_TASK);
            addRows(t, r0, r1, r, upT, n, scale, out, outOff);
        });
    }

    private static final int VL = S.length();

    private static void addRows(float[] t, int r0, int r1, int r, float[] upT, int n, float scale, float[] out, int outOff) {
        FloatVector sv = FloatVector.broadcast(S, scale);
        int vecEnd = n - n % (2 * VL);
        for (int o = 0; o < vecEnd; o += 2 * VL) {
            int row = r0;
            for (; row + 4 <= r1; row += 4) {
                FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S);
                FloatVector a10 = FloatVector.zero(S), a11 = FloatVector.zero(S);
                FloatVector a20 = FloatVector.zero(S), a21 = FloatVector.zero(S);
                FloatVector a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
                int t0 = row * r;
                for (int j = 0; j < r; j++) {
                    FloatVector u0 = FloatVector.fromArray(S, upT, j * n + o);
                    FloatVector u1 = FloatVector.fromArray(S, upT, j * n + o + VL);
                    FloatVector b0 = FloatVector.broadcast(S, t[t0 + j]);
                    FloatVector b1 = FloatVector.broadcast(S, t[t0 + r + j]);
                    FloatVector b2 = FloatVector.broadcast(S, t[t0 + 2 * r + j]);
                    FloatVector b3 = FloatVector.broadcast(S, t[t0 + 3 * r + j]);
                    a00 = u0.fma(b0, a00);
                    a01 = u1.fma(b0, a01);
                    a10 = u0.fma(b1, a10);
                    a11 = u1.fma(b1, a11);
                    a20 = u0.fma(b2, a20);
                    a21 = u1.fma(b2, a21);
                    a30 = u0.fma(b3, a30);
                    a31 = u1.fma(b3, a31);
                }
                addScaled(out, outOff + row * n + o, a00, a01, sv);
                addScaled(out, outOff + (row + 1) * n + o, a10, a11, sv);
                addScaled(out, outOff + (row + 2) * n + o, a20, a21, sv);
                addScaled(out, outOff + (row + 3) * n + o, a30, a31, sv);
            }
            for (; row < r1; row++) {
                FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S);
                for (int j = 0; j < r; j++) {
                    FloatVector b = FloatVector.broadcast(S, t[row * r + j]);
                    a0 = FloatVector.fromArray(S, upT, j * n + o).fma(b, a0);
                    a1 = FloatVector.fromArray(S, upT, j * n + o + VL).fma(b, a1);
                }
                addScaled(out, outOff + row * n + o, a0, a1, sv);
            }
        }
        for (int row = r0; row < r1; row++) {
            for (int o = vecEnd; o < n; o++) {
                float s = 0;
                for (int j = 0; j < r; j++) {
                    s += t[row * r + j] * upT[j * n + o];
                }
                out[outOff + row * n + o] += scale * s;
            }
        }
    }

    private static void addScaled(float[] out, int off, FloatVector a0, FloatVector a1, FloatVector scale) {
        a0.fma(scale, FloatVector.fromArray(S, out, off)).intoArray(out, off);
        a1.fma(scale, FloatVector.fromArray(S, out, off + VL)).intoArray(out, off + VL);
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
