package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.StoredTensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * 2-D convolution on channels-last activations ({@code [H, W, C]}, one pixel's channels contiguous),
 * computed as an implicit GEMM: {@code out[pixel, cout] = Σ_k A[pixel, k] · W[cout, k] + bias}, with
 * k running over (input channel, tap). The weight {@code [Cout, Cin, kh, kw]} stays in its stored dtype.
 *
 * <p>Nothing the size of an im2col matrix is ever built. The reduction is cut into blocks of a few input
 * channels × all taps; per block, a slice of the weight (KC × NC) is decoded and packed into panels, and
 * the matching slice of A is gathered for MC output pixels at a time ({@link #packA}: one contiguous
 * channel run per tap, zeros outside the image). A 6 × NR register tile then runs over each panel, as in
 * {@link Gemm}. Inside a block the packed order is (tap, channel), so the gather copies whole channel runs.
 *
 * <p>Nearest-neighbour upsampling and asymmetric zero padding are part of the {@link Geometry}: the
 * upsampled input is never materialized, the gather simply reads pixel {@code (y/2, x/2)}.
 *
 * <p>Work is split over (output-channel block, run of output pixels); every task owns its output tile,
 * so results do not depend on the thread count.
 */
public final class Conv2d {

    private Conv2d() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    static final int MR = RegisterTile.MR;
    static final int NR = RegisterTile.NR;
    /** Output channels per task: NC/NR packed panels. */
    static final int NC = 4 * NR;
    /** Output pixels per gathered A block (MC × KC floats, in L2). */
    static final int MC = 32 * MR;
    /** Target reduction depth of one block: a 3×3 kernel takes 64 channels (KC = 576), a 1×1 one 576. */
    static final int KC_TARGET = 576;
    /** Output pixels per task: the task's output tile (TASK_PIXELS × NC floats) stays in L2 across blocks. */
    static final int TASK_PIXELS = 1020;

    /**
     * Where each output pixel reads its input: the input is first repeated {@code upsample}× in both
     * directions (nearest neighbour), then zero-padded by the four pads, then sampled every
     * {@code stride} pixels.
     */
    public record Geometry(int upsample, int stride, int padTop, int padLeft, int padBottom, int padRight) {

        public Geometry {
            if (upsample < 1 || stride < 1 || padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
                throw new IllegalArgumentException("invalid convolution geometry " + this);
            }
        }

        /** Stride 1, symmetric padding that keeps the size (odd kernels). */
        public static Geometry same(int kernel) {
            return new Geometry(1, 1, kernel / 2, kernel / 2, kernel / 2, kernel / 2);
        }

        /** Nearest ×2 upsampling, then a size-keeping convolution. */
        public static Geometry upsampled(int kernel) {
            return new Geometry(2, 1, kernel / 2, kernel / 2, kernel / 2, kernel / 2);
        }

        public int outHeight(int height, int kernelH) {
            return Math.floorDiv(height * upsample + padTop + padBottom - kernelH, stride) + 1;
        }

        public int outWidth(int width, int kernelW) {
            return Math.floorDiv(width * upsample + padLeft + padRight - kernelW, stride) + 1;
        }
    }

    private static final class Scratch {
        float[] a = new float[0];
        float[] b = new float[0];
        float[] row = new float[0];
        final float[] edge = new float[MR * NR];

        void ensure(int kc) {
            if (a.length < MC * kc) {
                a = new float[MC * kc];
                b = new float[NC * kc];
                row = new float[kc];
            }
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code out = conv(x) + bias}, or {@code out += conv(x) + bias} when {@code accumulate} (a fused
     * residual add).
     *
     * @param x      input [height, width, Cin] channels-last, from {@code xOff}
     * @param weight [Cout, Cin, kh, kw] in F32, BF16, F16 or F8
     * @param bias   Cout floats, or null
     * @param out    output [outHeight, outWidth, Cout] channels-last, from {@code outOff}; must not overlap x
     */
    public static void conv2d(float[] x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                              Geometry g, float[] out, int outOff, boolean accumulate) {
        checkArguments(x, xOff, height, width, weight, bias, g, out, outOff);
        int cout = Math.toIntExact(weight.dim(0));
        int cin = Math.toIntExact(weight.dim(1));
        int kh = Math.toIntExact(weight.dim(2));
        int kw = Math.toIntExact(weight.dim(3));
        int oh = g.outHeight(height, kh);
        int ow = g.outWidth(width, kw);
        int taps = kh * kw;
        int cb = Math.max(1, KC_TARGET / taps);
        if (cb >= VL) {
            cb = cb / VL * VL; // whole vectors per gathered channel run
        }
        cb = Math.min(cb, cin);
        Plan p = new Plan(x, xOff, height, width, cin, weight, cout, kh, kw, taps, cb, g, oh, ow,
                bias != null ? bias : new float[cout], out, outOff, accumulate);
        int m = oh * ow;
        int colBlocks = (cout + NC - 1) / NC;
        int threads = Parallel.get().threads();
        // Enough pixel runs that every thread has work, but each long enough to amortize packing the weight.
        int wanted = Math.max(1, (4 * threads + colBlocks - 1) / colBlocks);
        int perTask = Math.max(MR, Math.min(TASK_PIXELS, (m + wanted - 1) / wanted));
        perTask = (perTask + MR - 1) / MR * MR;
        int runs = (m + perTask - 1) / perTask;
        int pixelsPerTask = perTask;
        Parallel.get().forEach(colBlocks * runs, t -> {
            int jc = (t % colBlocks) * NC;
            int m0 = (t / colBlocks) * pixelsPerTask;
            task(p, jc, Math.min(NC, cout - jc), m0, Math.min(m, m0 + pixelsPerTask));
        });
    }

    /**
     * The checks of {@link #conv2d} on its arguments, for other implementations of the same contract: a
     * [Cout, Cin, kh, kw] weight, a bias of Cout floats, a kernel that fits, buffers large enough.
     */
    public static void checkArguments(float[] x, int xOff, int height, int width, StoredTensor weight, float[] bias,
                                      Geometry g, float[] out, int outOff) {
        if (weight.rank() != 4) {
            throw new IllegalArgumentException(weight.where() + ": a convolution weight must be [Cout, Cin, kh, kw], found "
                    + Arrays.toString(weight.shape()));
        }
        int cout = Math.toIntExact(weight.dim(0));
        int cin = Math.toIntExact(weight.dim(1));
        int kh = Math.toIntExact(weight.dim(2));
        int kw = Math.toIntExact(weight.dim(3));
        if (bias != null && bias.length != cout) {
            throw new IllegalArgumentException(weight.where() + ": bias has " + bias.length + " entries, expected " + cout);
        }
        int oh = g.outHeight(height, kh);
        int ow = g.outWidth(width, kw);
        if (oh < 1 || ow < 1) {
            throw new IllegalArgumentException(weight.where() + ": a " + kh + "×" + kw + " kernel does not fit a "
                    + height + "×" + width + " input with " + g);
        }
        if (xOff + (long) height * width * cin > x.length || outOff + (long) oh * ow * cout > out.length) {
            throw new IllegalArgumentException(weight.where() + ": buffers too small for a " + height + "×" + width + "×"
                    + cin + " input and a " + oh + "×" + ow + "×" + cout + " output");
        }
    }

    /** Everything one call needs, shared by its tasks. */
    private record Plan(float[] x, int xOff, int height, int width, int cin, StoredTensor weight, int cout,
                        int kh, int kw, int taps, int cb, Geometry g, int oh, int ow, float[] bias,
                        float[] out, int outOff, boolean accumulate) {
    }

    private static void task(Plan p, int jc, int nc, int mStart, int mEnd) {
        Scratch sc = SCRATCH.get();
        sc.ensure(p.cb() * p.taps());
        int panels = (nc + NR - 1) / NR;
        float[] init = new float[panels * NR];
        System.arraycopy(p.bias(), jc, init, 0, nc);
        for (int c0 = 0; c0 < p.cin(); c0 += p.cb()) {
            int cbk = Math.min(p.cb(), p.cin() - c0);
            int kc = cbk * p.taps();
            for (int q = 0; q < panels; q++) {
                packB(p, jc + q * NR, Math.min(NR, nc - q * NR), c0, cbk, sc.b, q * kc * NR, sc.row);
            }
            boolean first = c0 == 0;
            boolean loadC = !first || p.accumulate();
            for (int m0 = mStart; m0 < mEnd; m0 += MC) {
                int mc = Math.min(MC, mEnd - m0);
                packA(p, m0, mc, c0, cbk, sc.a, kc);
                for (int q = 0; q < panels; q++) {
                    int n0 = jc + q * NR;
                    int cols = Math.min(NR, nc - q * NR);
                    int bOff = q * kc * NR;
                    int initOff = first ? q * NR : -1;
                    for (int r = 0; r < mc; r += MR) {
                        int rows = Math.min(MR, mc - r);
                        int cOff = p.outOff() + (m0 + r) * p.cout() + n0;
                        if (rows == MR && cols == NR) {
                            RegisterTile.full(sc.a, r * kc, kc, sc.b, bOff, kc, p.out(), cOff, p.cout(), init, initOff, loadC);
                        } else {
                            RegisterTile.edge(sc.a, r * kc, kc, rows, sc.b, bOff, kc, p.out(), cOff, p.cout(), cols, init,
                                    initOff, loadC, sc.edge);
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs W[n0 .. n0+cols, channels c0 .. c0+cbk, all taps] as {@code dst[off + k*NR + j]} with
     * k = tap·cbk + channel (the gather order of {@link #packA}); zero columns pad a narrow panel.
     */
    private static void packB(Plan p, int n0, int cols, int c0, int cbk, float[] dst, int off, float[] row) {
        int taps = p.taps();
        int kc = cbk * taps;
        long rowLen = (long) p.cin() * taps;
        for (int j = 0; j < cols; j++) {
            // The stored row is (channel, tap) ordered and contiguous for these channels.
            WeightRows.decode(p.weight(), (n0 + j) * rowLen + (long) c0 * taps, kc, row, 0);
            for (int t = 0; t < taps; t++) {
                int d = off + t * cbk * NR + j;
                for (int c = 0; c < cbk; c++, d += NR) {
                    dst[d] = row[c * taps + t];
                }
            }
        }
        for (int j = cols; j < NR; j++) {
            for (int k = 0, d = off + j; k < kc; k++, d += NR) {
                dst[d] = 0f;
            }
        }
    }

    /**
     * Gathers A for output pixels m0 .. m0+mc: row i holds, tap after tap, the cbk input channels from c0
     * at the pixel that tap reads (zeros in the padding). Rows past mc up to a multiple of MR are zero.
     */
    private static void packA(Plan p, int m0, int mc, int c0, int cbk, float[] a, int kc) {
        Geometry g = p.g();
        int up = g.upsample();
        int inH = p.height() * up;
        int inW = p.width() * up;
        int cin = p.cin();
        float[] x = p.x();
        boolean vectorRuns = cbk % VL == 0;
        for (int i = 0; i < mc; i++) {
            int pix = m0 + i;
            int oy = pix / p.ow();
            int ox = pix - oy * p.ow();
            int y0 = oy * g.stride() - g.padTop();
            int x0 = ox * g.stride() - g.padLeft();
            int d = i * kc;
            for (int ky = 0; ky < p.kh(); ky++) {
                int iy = y0 + ky;
                boolean rowInside = iy >= 0 && iy < inH;
                int srcRow = rowInside ? (iy / up) * p.width() : 0;
                for (int kx = 0; kx < p.kw(); kx++, d += cbk) {
                    int ix = x0 + kx;
                    if (!rowInside || ix < 0 || ix >= inW) {
                        Arrays.fill(a, d, d + cbk, 0f);
                        continue;
                    }
                    int src = p.xOff() + (srcRow + ix / up) * cin + c0;
                    if (vectorRuns) {
                        for (int c = 0; c < cbk; c += VL) {
                            FloatVector.fromArray(S, x, src + c).intoArray(a, d + c);
                        }
                    } else {
                        System.arraycopy(x, src, a, d, cbk);
                    }
                }
            }
        }
        int padded = (mc + MR - 1) / MR * MR;
        Arrays.fill(a, mc * kc, padded * kc, 0f);
    }
}
