package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The micro-kernel shared by the GEMM and the convolution: a 6 × NR tile of C (NR = four vectors)
 * updated with A[6, kc] · B[kc, NR], where B is a packed panel (row k at {@code bOff + k·NR}) and A rows
 * are {@code lda} apart. The 24 accumulators stay in vector registers for the whole depth.
 *
 * <p>Every tile starts from {@code init} (a packed bias row, when {@code initOff ≥ 0}) plus C itself (when
 * {@code loadC}), so callers express "overwrite", "add a bias" and "accumulate" with the same code.
 */
final class RegisterTile {

    private RegisterTile() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int VL = S.length();
    static final int MR = 6;
    static final int NR = 4 * VL;

    /** A full MR × NR tile. */
    static void full(float[] a, int a0, int lda, float[] b, int bOff, int kc, float[] c, int c0, int ldc,
                     float[] init, int initOff, boolean loadC) {
        FloatVector z = FloatVector.zero(S);
        FloatVector i0 = initOff >= 0 ? FloatVector.fromArray(S, init, initOff) : z;
        FloatVector i1 = initOff >= 0 ? FloatVector.fromArray(S, init, initOff + VL) : z;
        FloatVector i2 = initOff >= 0 ? FloatVector.fromArray(S, init, initOff + 2 * VL) : z;
        FloatVector i3 = initOff >= 0 ? FloatVector.fromArray(S, init, initOff + 3 * VL) : z;
        FloatVector c00 = i0, c01 = i1, c02 = i2, c03 = i3;
        FloatVector c10 = i0, c11 = i1, c12 = i2, c13 = i3;
        FloatVector c20 = i0, c21 = i1, c22 = i2, c23 = i3;
        FloatVector c30 = i0, c31 = i1, c32 = i2, c33 = i3;
        FloatVector c40 = i0, c41 = i1, c42 = i2, c43 = i3;
        FloatVector c50 = i0, c51 = i1, c52 = i2, c53 = i3;
        if (loadC) {
            int r = c0;
            c00 = c00.add(FloatVector.fromArray(S, c, r)); c01 = c01.add(FloatVector.fromArray(S, c, r + VL));
            c02 = c02.add(FloatVector.fromArray(S, c, r + 2 * VL)); c03 = c03.add(FloatVector.fromArray(S, c, r + 3 * VL));
            r += ldc;
            c10 = c10.add(FloatVector.fromArray(S, c, r)); c11 = c11.add(FloatVector.fromArray(S, c, r + VL));
            c12 = c12.add(FloatVector.fromArray(S, c, r + 2 * VL)); c13 = c13.add(FloatVector.fromArray(S, c, r + 3 * VL));
            r += ldc;
            c20 = c20.add(FloatVector.fromArray(S, c, r)); c21 = c21.add(FloatVector.fromArray(S, c, r + VL));
            c22 = c22.add(FloatVector.fromArray(S, c, r + 2 * VL)); c23 = c23.add(FloatVector.fromArray(S, c, r + 3 * VL));
            r += ldc;
            c30 = c30.add(FloatVector.fromArray(S, c, r)); c31 = c31.add(FloatVector.fromArray(S, c, r + VL));
            c32 = c32.add(FloatVector.fromArray(S, c, r + 2 * VL)); c33 = c33.add(FloatVector.fromArray(S, c, r + 3 * VL));
            r += ldc;
            c40 = c40.add(FloatVector.fromArray(S, c, r)); c41 = c41.add(FloatVector.fromArray(S, c, r + VL));
            c42 = c42.add(FloatVector.fromArray(S, c, r + 2 * VL)); c43 = c43.add(FloatVector.fromArray(S, c, r + 3 * VL));
            r += ldc;
            c50 = c50.add(FloatVector.fromArray(S, c, r)); c51 = c51.add(FloatVector.fromArray(S, c, r + VL));
            c52 = c52.add(FloatVector.fromArray(S, c, r + 2 * VL)); c53 = c53.add(FloatVector.fromArray(S, c, r + 3 * VL));
        }
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        int a4 = a3 + lda;
        int a5 = a4 + lda;
        for (int p = 0, bo = bOff; p < kc; p++, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + VL);
            FloatVector b2 = FloatVector.fromArray(S, b, bo + 2 * VL);
            FloatVector b3 = FloatVector.fromArray(S, b, bo + 3 * VL);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = b0.fma(x, c00); c01 = b1.fma(x, c01); c02 = b2.fma(x, c02); c03 = b3.fma(x, c03);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = b0.fma(x, c10); c11 = b1.fma(x, c11); c12 = b2.fma(x, c12); c13 = b3.fma(x, c13);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = b0.fma(x, c20); c21 = b1.fma(x, c21); c22 = b2.fma(x, c22); c23 = b3.fma(x, c23);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = b0.fma(x, c30); c31 = b1.fma(x, c31); c32 = b2.fma(x, c32); c33 = b3.fma(x, c33);
            x = FloatVector.broadcast(S, a[a4 + p]);
            c40 = b0.fma(x, c40); c41 = b1.fma(x, c41); c42 = b2.fma(x, c42); c43 = b3.fma(x, c43);
            x = FloatVector.broadcast(S, a[a5 + p]);
            c50 = b0.fma(x, c50); c51 = b1.fma(x, c51); c52 = b2.fma(x, c52); c53 = b3.fma(x, c53);
        }
        int r = c0;
        c00.intoArray(c, r); c01.intoArray(c, r + VL); c02.intoArray(c, r + 2 * VL); c03.intoArray(c, r + 3 * VL);
        r += ldc;
        c10.intoArray(c, r); c11.intoArray(c, r + VL); c12.intoArray(c, r + 2 * VL); c13.intoArray(c, r + 3 * VL);
        r += ldc;
        c20.intoArray(c, r); c21.intoArray(c, r + VL); c22.intoArray(c, r + 2 * VL); c23.intoArray(c, r + 3 * VL);
        r += ldc;
        c30.intoArray(c, r); c31.intoArray(c, r + VL); c32.intoArray(c, r + 2 * VL); c33.intoArray(c, r + 3 * VL);
        r += ldc;
        c40.intoArray(c, r); c41.intoArray(c, r + VL); c42.intoArray(c, r + 2 * VL); c43.intoArray(c, r + 3 * VL);
        r += ldc;
        c50.intoArray(c, r); c51.intoArray(c, r + VL); c52.intoArray(c, r + 2 * VL); c53.intoArray(c, r + 3 * VL);
    }

    /**
     * Up to MR rows and NR columns (matrix edges, e.g. the VAE's 3 output channels): the same arithmetic
     * one vector column at a time, through a scratch tile of MR × NR floats; only the valid part is written.
     * Rows past {@code rows} repeat the last real row (wasted work, never out of bounds).
     */
    static void edge(float[] a, int a0, int lda, int rows, float[] b, int bOff, int kc, float[] c, int c0, int ldc,
                     int cols, float[] init, int initOff, boolean loadC, float[] tile) {
        Arrays.fill(tile, 0f);
        if (loadC) {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(c, c0 + r * ldc, tile, r * NR, cols);
            }
        }
        int[] ar = new int[MR];
        for (int r = 0; r < MR; r++) {
            ar[r] = a0 + Math.min(r, rows - 1) * lda;
        }
        int vectors = (cols + VL - 1) / VL;
        for (int v = 0; v < vectors; v++) {
            int col = v * VL;
            FloatVector start = initOff >= 0 ? FloatVector.fromArray(S, init, initOff + col) : FloatVector.zero(S);
            // As in full(): C is added only when loaded (start + 0 would turn a −0 bias into +0), so an edge
            // tile gives the bits a full tile would; which rows form edges depends on how the work is split.
            FloatVector acc0 = loadC ? start.add(FloatVector.fromArray(S, tile, col)) : start;
            FloatVector acc1 = loadC ? start.add(FloatVector.fromArray(S, tile, NR + col)) : start;
            FloatVector acc2 = loadC ? start.add(FloatVector.fromArray(S, tile, 2 * NR + col)) : start;
            FloatVector acc3 = loadC ? start.add(FloatVector.fromArray(S, tile, 3 * NR + col)) : start;
            FloatVector acc4 = loadC ? start.add(FloatVector.fromArray(S, tile, 4 * NR + col)) : start;
            FloatVector acc5 = loadC ? start.add(FloatVector.fromArray(S, tile, 5 * NR + col)) : start;
            for (int p = 0, bi = bOff + col; p < kc; p++, bi += NR) {
                FloatVector bv = FloatVector.fromArray(S, b, bi);
                acc0 = bv.fma(FloatVector.broadcast(S, a[ar[0] + p]), acc0);
                acc1 = bv.fma(FloatVector.broadcast(S, a[ar[1] + p]), acc1);
                acc2 = bv.fma(FloatVector.broadcast(S, a[ar[2] + p]), acc2);
                acc3 = bv.fma(FloatVector.broadcast(S, a[ar[3] + p]), acc3);
                acc4 = bv.fma(FloatVector.broadcast(S, a[ar[4] + p]), acc4);
                acc5 = bv.fma(FloatVector.broadcast(S, a[ar[5] + p]), acc5);
            }
            acc0.intoArray(tile, col);
            acc1.intoArray(tile, NR + col);
            acc2.intoArray(tile, 2 * NR + col);
            acc3.intoArray(tile, 3 * NR + col);
            acc4.intoArray(tile, 4 * NR + col);
            acc5.intoArray(tile, 5 * NR + col);
        }
        for (int r = 0; r < rows; r++) {
            System.arraycopy(tile, r * NR, c, c0 + r * ldc, cols);
        }
    }
}
