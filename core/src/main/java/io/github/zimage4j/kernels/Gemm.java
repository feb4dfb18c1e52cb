package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.StoredTensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code C[m,n] = A[m,k] · W[n,k]ᵀ + bias[n]}: float32 activations times a weight in its stored dtype,
 * accumulated in float32. Pure Java (Vector API).
 *
 * <p>Blocking follows BLIS: a block of W (KC × NC) is decoded and packed once into panels NR columns
 * wide (so the dtype costs one conversion per weight element per call), A is read in place, and a
 * 6 × NR register tile (24 accumulators) runs over each KC-deep slice. Work is split over column
 * blocks (and row chunks when the matrix is narrow) on the shared pool.
 *
 * <p>For few rows (text prompts, timestep MLP, modulation) packing would cost as much as the product,
 * so those take a dot-product path instead: weight rows are decoded (no transpose) into a per-thread
 * buffer and a 4 × 4 tile of (activation row, weight row) dot products runs along k.
 */
public final class Gemm {

    private Gemm() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    static final int MR = RegisterTile.MR;
    static final int NR = RegisterTile.NR;
    /** Depth of one packed slice (KC × NR floats per panel); tuned by measurement: 512 beat 128–768. */
    static final int KC = 512;
    /** Columns per task: NC/NR panels of KC × NR are packed together. */
    static final int NC = 4 * NR;
    /** Rows of A swept per packed block, so the A slice (MC × KC) stays in L2. */
    static final int MC = 32 * MR;
    /** Fewer rows than this take the dot-product path. */
    static final int DOT_M = 48;
    /** Weight rows decoded together per dot-product task. */
    private static final int DOT_NB = 16;

    private static final ThreadLocal<float[]> PACK = ThreadLocal.withInitial(() -> new float[KC * NC]);
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[KC]);
    private static final ThreadLocal<float[]> EDGE = ThreadLocal.withInitial(() -> new float[MR * NR]);

    /**
     * @param a    activations, row-major, row r at {@code aOff + r*k}
     * @param w    weight [n, k] in F32, BF16, F16, F8_E4M3 or F8_E5M2
     * @param bias n floats, or null
     * @param c    output, row-major, row r at {@code cOff + r*n}; overwritten
     */
    public static void matmul(float[] a, int aOff, int m, int k, StoredTensor w, float[] bias, float[] c, int cOff) {
        if (w.rank() != 2 || w.dim(1) != k) {
            throw new IllegalArgumentException(w.where() + ": shape " + java.util.Arrays.toString(w.shape())
                    + " cannot multiply activations with " + k + " features");
        }
        int n = Math.toIntExact(w.dim(0));
        if (bias != null && bias.length != n) {
            throw new IllegalArgumentException(w.where() + ": bias has " + bias.length + " entries, expected " + n);
        }
        if (m == 0 || n == 0) {
            return;
        }
        if (m < DOT_M) {
            dotProducts(a, aOff, m, k, w, n, bias, c, cOff);
        } else {
            blocked(a, aOff, m, k, w, n, bias, c, cOff);
        }
    }

    // ---------------------------------------------------------------- few rows: dot products along k

    private static final ThreadLocal<float[][]> DOT_BUF = ThreadLocal.withInitial(() -> new float[1][0]);

    private static void dotProducts(float[] a, int aOff, int m, int k, StoredTensor w, int n, float[] bias,
                                    float[] c, int cOff) {
        int tasks = (n + DOT_NB - 1) / DOT_NB;
        Parallel.get().forEach(tasks, t -> {
            float[][] holder = DOT_BUF.get();
            if (holder[0].length < DOT_NB * k) {
                holder[0] = new float[DOT_NB * k];
            }
            float[] wb = holder[0];
            int n0 = t * DOT_NB;
            int rows = Math.min(DOT_NB, n - n0);
            for (int j = 0; j < rows; j++) {
                WeightRows.decode(w, (long) (n0 + j) * k, k, wb, j * k);
            }
            float[] sums = new float[16];
            for (int m0 = 0; m0 < m; m0 += 4) {
                int mr = Math.min(4, m - m0);
                for (int j0 = 0; j0 < rows; j0 += 4) {
                    int nr = Math.min(4, rows - j0);
                    if (mr == 4 && nr == 4) {
                        dot4x4(a, aOff + m0 * k, k, wb, j0 * k, sums);
                    } else {
                        for (int i = 0; i < mr; i++) {
                            for (int j = 0; j < nr; j++) {
                                sums[i * 4 + j] = dot(a, aOff + (m0 + i) * k, wb, (j0 + j) * k, k);
                            }
                        }
                    }
                    for (int i = 0; i < mr; i++) {
                        for (int j = 0; j < nr; j++) {
                            int col = n0 + j0 + j;
                            float v = sums[i * 4 + j];
                            c[cOff + (m0 + i) * n + col] = bias != null ? v + bias[col] : v;
                        }
                    }
                }
            }
        });
    }

    /** sums[i·4 + j] = a_row(i) · w_row(j) for 4 activation rows (stride k) and 4 decoded weight rows. */
    private static void dot4x4(float[] a, int a0, int k, float[] wb, int w0, float[] sums) {
        FloatVector s00 = FloatVector.zero(S), s01 = s00, s02 = s00, s03 = s00;
        FloatVector s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        FloatVector s20 = s00, s21 = s00, s22 = s00, s23 = s00;
        FloatVector s30 = s00, s31 = s00, s32 = s00, s33 = s00;
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
        int w1 = w0 + k;
        int w2 = w1 + k;
        int w3 = w2 + k;
        int bound = k - k % VL;
        for (int p = 0; p < bound; p += VL) {
            FloatVector x0 = FloatVector.fromArray(S, a, a0 + p);
            FloatVector x1 = FloatVector.fromArray(S, a, a1 + p);
            FloatVector x2 = FloatVector.fromArray(S, a, a2 + p);
            FloatVector x3 = FloatVector.fromArray(S, a, a3 + p);
            FloatVector y = FloatVector.fromArray(S, wb, w0 + p);
            s00 = x0.fma(y, s00); s10 = x1.fma(y, s10); s20 = x2.fma(y, s20); s30 = x3.fma(y, s30);
            y = FloatVector.fromArray(S, wb, w1 + p);
            s01 = x0.fma(y, s01); s11 = x1.fma(y, s11); s21 = x2.fma(y, s21); s31 = x3.fma(y, s31);
            y = FloatVector.fromArray(S, wb, w2 + p);
            s02 = x0.fma(y, s02); s12 = x1.fma(y, s12); s22 = x2.fma(y, s22); s32 = x3.fma(y, s32);
            y = FloatVector.fromArray(S, wb, w3 + p);
            s03 = x0.fma(y, s03); s13 = x1.fma(y, s13); s23 = x2.fma(y, s23); s33 = x3.fma(y, s33);
        }
        // Reduce each accumulator directly: storing vectors into an array would defeat their scalar replacement.
        sums[0] = Lanes.sum(s00);
        sums[1] = Lanes.sum(s01);
        sums[2] = Lanes.sum(s02);
        sums[3] = Lanes.sum(s03);
        sums[4] = Lanes.sum(s10);
        sums[5] = Lanes.sum(s11);
        sums[6] = Lanes.sum(s12);
        sums[7] = Lanes.sum(s13);
        sums[8] = Lanes.sum(s20);
        sums[9] = Lanes.sum(s21);
        sums[10] = Lanes.sum(s22);
        sums[11] = Lanes.sum(s23);
        sums[12] = Lanes.sum(s30);
        sums[13] = Lanes.sum(s31);
        sums[14] = Lanes.sum(s32);
        sums[15] = Lanes.sum(s33);
        if (bound < k) {
            for (int t = 0; t < 16; t++) {
                int ar = a0 + (t / 4) * k;
                int wr = w0 + (t % 4) * k;
                for (int p = bound; p < k; p++) {
                    sums[t] += a[ar + p] * wb[wr + p];
                }
            }
        }
    }

    /**
     * One (activation row, weight row) product with exactly the arithmetic of a {@link #dot4x4} lane set
     * (one accumulator, lanes reduced, then the scalar tail), so a result does not depend on whether its
     * row and column fell into a full 4 × 4 tile: that depends on the row count, e.g. on the batch.
     */
    private static float dot(float[] x, int xOff, float[] y, int yOff, int len) {
        FloatVector acc = FloatVector.zero(S);
        int bound = len - len % VL;
        for (int i = 0; i < bound; i += VL) {
            acc = FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), acc);
        }
        float s = Lanes.sum(acc);
        for (int i = bound; i < len; i++) {
            s += x[xOff + i] * y[yOff + i];
        }
        return s;
    }

    // ---------------------------------------------------------------- blocked path

    private static void blocked(float[] a, int aOff, int m, int k, StoredTensor w, int n, float[] bias,
                                float[] c, int cOff) {
        int colBlocks = (n + NC - 1) / NC;
        int threads = Parallel.get().threads();
        // Narrow matrices (few column blocks) also split the rows so every thread gets work.
        int rowChunks = 1;
        if (colBlocks < 4 * threads) {
            rowChunks = Math.max(1, Math.min((4 * threads + colBlocks - 1) / colBlocks, m / (4 * MR)));
        }
        int rowsPerChunk = ((m + rowChunks - 1) / rowChunks + MR - 1) / MR * MR;
        int chunks = (m + rowsPerChunk - 1) / rowsPerChunk;
        Parallel.get().forEach(colBlocks * chunks, t -> {
            int jc = (t % colBlocks) * NC;
            int rc = (t / colBlocks) * rowsPerChunk;
            blockTask(a, aOff, k, w, n, bias, c, cOff, jc, Math.min(NC, n - jc), rc, Math.min(m, rc + rowsPerChunk));
        });
    }

    private static void blockTask(float[] a, int aOff, int k, StoredTensor w, int n, float[] bias, float[] c, int cOff,
                                  int jc, int nc, int mStart, int mEnd) {
        float[] pack = PACK.get();
        float[] row = ROW.get();
        float[] edge = EDGE.get();
        int panels = (nc + NR - 1) / NR;
        float[] init = new float[panels * NR]; // bias (or zeros) per packed column, the accumulators' start
        if (bias != null) {
            System.arraycopy(bias, jc, init, 0, nc);
        }
        for (int k0 = 0; k0 < k; k0 += KC) {
            int kc = Math.min(KC, k - k0);
            for (int p = 0; p < panels; p++) {
                packPanel(w, k, jc + p * NR, Math.min(NR, nc - p * NR), k0, kc, pack, p * KC * NR, row);
            }
            boolean first = k0 == 0;
            for (int m0 = mStart; m0 < mEnd; m0 += MC) {
                int mc = Math.min(MC, mEnd - m0);
                for (int p = 0; p < panels; p++) {
                    int n0 = jc + p * NR;
                    int cols = Math.min(NR, nc - p * NR);
                    int bOff = p * KC * NR;
                    int initOff = first ? p * NR : -1;
                    for (int r = 0; r < mc; r += MR) {
                        int rows = Math.min(MR, mc - r);
                        int a0 = aOff + (m0 + r) * k + k0;
                        int c0 = cOff + (m0 + r) * n + n0;
                        if (rows == MR && cols == NR) {
                            RegisterTile.full(a, a0, k, pack, bOff, kc, c, c0, n, init, initOff, initOff < 0);
                        } else {
                            RegisterTile.edge(a, a0, k, rows, pack, bOff, kc, c, c0, n, cols, init, initOff, initOff < 0, edge);
                        }
                    }
                }
            }
        }
    }

    /** Packs W[n0 .. n0+cols, k0 .. k0+kc] transposed: {@code dst[off + p*NR + j] = W[n0+j, k0+p]}; zero-pads columns. */
    private static void packPanel(StoredTensor w, int k, int n0, int cols, int k0, int kc, float[] dst, int off, float[] row) {
        for (int j = 0; j < cols; j++) {
            WeightRows.decode(w, (long) (n0 + j) * k + k0, kc, row, 0);
            for (int p = 0, d = off + j; p < kc; p++, d += NR) {
                dst[d] = row[p];
            }
        }
        for (int j = cols; j < NR; j++) {
            for (int p = 0, d = off + j; p < kc; p++, d += NR) {
                dst[d] = 0f;
            }
        }
    }
}
