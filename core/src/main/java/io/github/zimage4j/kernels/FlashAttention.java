package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Scaled dot-product attention, {@code softmax(Q·Kᵀ·scale + mask)·V}, computed block by block with an
 * online softmax so the S × S score matrix never exists: memory is O(block²) per thread whatever the
 * sequence length. Supports grouped-query heads, a causal mask and a key mask.
 *
 * <p>Rows are addressed with strides, so Q, K and V can be column ranges of one fused buffer. Work is
 * split over (head, query block) pairs.
 */
public final class FlashAttention {

    private FlashAttention() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Keys per block: four vectors of scores per query row. */
    static final int BK = 4 * VL;
    /** Query rows per task. */
    static final int BQ = 32;

    /** Where one operand lives: element (row r, column c) is {@code data[offset + r*stride + c]}. */
    public record Operand(float[] data, int offset, int stride) {
    }

    private static final class Scratch {
        final float[] kt;
        final float[] s = new float[BQ * BK];
        final float[] o;
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];

        Scratch(int hd) {
            kt = new float[hd * BK];
            o = new float[BQ * hd];
        }
    }

    private static final ThreadLocal<Scratch[]> SCRATCH = ThreadLocal.withInitial(() -> new Scratch[1]);

    private static Scratch scratch(int hd) {
        Scratch[] holder = SCRATCH.get();
        if (holder[0] == null || holder[0].kt.length != hd * BK) {
            holder[0] = new Scratch(hd);
        }
        return holder[0];
    }

    /**
     * @param q   [queries, heads·headDim]
     * @param k   [keys, kvHeads·headDim]
     * @param v   [keys, kvHeads·headDim]
     * @param out [queries, heads·headDim]
     */
    public static void attention(Operand q, Operand k, Operand v, Operand out, AttentionSpec spec) {
        int sq = spec.queries();
        int heads = spec.heads();
        int rep = heads / spec.kvHeads();
        int qBlocks = (sq + BQ - 1) / BQ;
        int causalShift = spec.causal() ? spec.keys() - sq : Integer.MIN_VALUE;
        Parallel.get().forEach(heads * qBlocks, t -> {
            int h = t / qBlocks;
            int q0 = (t % qBlocks) * BQ;
            block(q, k, v, out, Math.min(BQ, sq - q0), q0, spec.keys(), h, h / rep, spec.headDim(), spec.scale(),
                    causalShift, spec.keyMask(), spec.maskOffset());
        });
    }

    /** One head, rows q0 .. q0+rows. {@code causalShift} is MIN_VALUE for no causal mask. */
    private static void block(Operand q, Operand k, Operand v, Operand out, int rows, int q0, int skv, int h, int kvh,
                              int hd, float scale, int causalShift, boolean[] keyMask, int maskOff) {
        Scratch sc = scratch(hd);
        float[] kt = sc.kt;
        float[] s = sc.s;
        float[] o = sc.o;
        float[] mRow = sc.m;
        float[] lRow = sc.l;
        java.util.Arrays.fill(o, 0, rows * hd, 0f);
        java.util.Arrays.fill(mRow, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(lRow, 0f);
        boolean causal = causalShift != Integer.MIN_VALUE;
        int kvEnd = causal ? Math.min(skv, q0 + rows - 1 + causalShift + 1) : skv;
        int qBase = q.offset() + h * hd;
        int kBase = k.offset() + kvh * hd;
        int vBase = v.offset() + kvh * hd;
        for (int kb = 0; kb < kvEnd; kb += BK) {
            int bk = Math.min(BK, kvEnd - kb);
            // Kᵀ for this block: scores then vectorize over keys.
            for (int j = 0; j < BK; j++) {
                if (j < bk) {
                    int src = kBase + (kb + j) * k.stride();
                    for (int d = 0; d < hd; d++) {
                        kt[d * BK + j] = k.data()[src + d];
                    }
                } else {
                    for (int d = 0; d < hd; d++) {
                        kt[d * BK + j] = 0f;
                    }
                }
            }
            scores(q.data(), qBase, q.stride(), q0, rows, kt, hd, s);
            for (int i = 0; i < rows; i++) {
                int si = i * BK;
                int limit = causal ? Math.min(bk, q0 + i + causalShift - kb + 1) : bk;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < BK; j++) {
                    boolean visible = j < limit && (keyMask == null || keyMask[maskOff + kb + j]);
                    float x = visible ? s[si + j] * scale : Float.NEGATIVE_INFINITY;
                    s[si + j] = x;
                    max = Math.max(max, x);
                }
                float mOld = mRow[i];
                float mNew = Math.max(mOld, max);
                if (mNew == Float.NEGATIVE_INFINITY) {
                    java.util.Arrays.fill(s, si, si + BK, 0f); // nothing visible yet
                    continue;
                }
                FloatVector mv = FloatVector.broadcast(S, mNew);
                FloatVector sum = FloatVector.zero(S);
                for (int j = 0; j < BK; j += VL) {
                    FloatVector p = Exp.exp(FloatVector.fromArray(S, s, si + j).sub(mv));
                    p.intoArray(s, si + j);
                    sum = sum.add(p);
                }
                float alpha = mOld == Float.NEGATIVE_INFINITY ? 0f : Exp.exp(mOld - mNew);
                lRow[i] = lRow[i] * alpha + Lanes.sum(sum);
                mRow[i] = mNew;
                if (alpha != 1f) {
                    scaleRow(o, i * hd, hd, alpha);
                }
            }
            accumulatePV(s, rows, bk, v.data(), vBase + kb * v.stride(), v.stride(), o, hd);
        }
        float[] od = out.data();
        for (int i = 0; i < rows; i++) {
            float inv = lRow[i] == 0f ? 0f : 1f / lRow[i];
            int dst = out.offset() + (q0 + i) * out.stride() + h * hd;
            int d = 0;
            FloatVector iv = FloatVector.broadcast(S, inv);
            for (; d + VL <= hd; d += VL) {
                FloatVector.fromArray(S, o, i * hd + d).mul(iv).intoArray(od, dst + d);
            }
            for (; d < hd; d++) {
                od[dst + d] = o[i * hd + d] * inv;
            }
        }
    }

    /** s[i, 0..BK) = q[q0+i] · kt[:, 0..BK): four query rows × four key vectors per register tile. */
    private static void scores(float[] q, int qBase, int qStride, int q0, int rows, float[] kt, int hd, float[] s) {
        int i = 0;
        for (; i + 3 < rows; i += 4) {
            int qa = qBase + (q0 + i) * qStride;
            int qb = qa + qStride;
            int qc = qb + qStride;
            int qd = qc + qStride;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            FloatVector d0 = a0, d1 = a0, d2 = a0, d3 = a0;
            for (int d = 0, kr = 0; d < hd; d++, kr += BK) {
                FloatVector k0 = FloatVector.fromArray(S, kt, kr);
                FloatVector k1 = FloatVector.fromArray(S, kt, kr + VL);
                FloatVector k2 = FloatVector.fromArray(S, kt, kr + 2 * VL);
                FloatVector k3 = FloatVector.fromArray(S, kt, kr + 3 * VL);
                FloatVector x = FloatVector.broadcast(S, q[qa + d]);
                a0 = k0.fma(x, a0); a1 = k1.fma(x, a1); a2 = k2.fma(x, a2); a3 = k3.fma(x, a3);
                x = FloatVector.broadcast(S, q[qb + d]);
                b0 = k0.fma(x, b0); b1 = k1.fma(x, b1); b2 = k2.fma(x, b2); b3 = k3.fma(x, b3);
                x = FloatVector.broadcast(S, q[qc + d]);
                c0 = k0.fma(x, c0); c1 = k1.fma(x, c1); c2 = k2.fma(x, c2); c3 = k3.fma(x, c3);
                x = FloatVector.broadcast(S, q[qd + d]);
                d0 = k0.fma(x, d0); d1 = k1.fma(x, d1); d2 = k2.fma(x, d2); d3 = k3.fma(x, d3);
            }
            int so = i * BK;
            a0.intoArray(s, so); a1.intoArray(s, so + VL); a2.intoArray(s, so + 2 * VL); a3.intoArray(s, so + 3 * VL);
            so += BK;
            b0.intoArray(s, so); b1.intoArray(s, so + VL); b2.intoArray(s, so + 2 * VL); b3.intoArray(s, so + 3 * VL);
            so += BK;
            c0.intoArray(s, so); c1.intoArray(s, so + VL); c2.intoArray(s, so + 2 * VL); c3.intoArray(s, so + 3 * VL);
            so += BK;
            d0.intoArray(s, so); d1.intoArray(s, so + VL); d2.intoArray(s, so + 2 * VL); d3.intoArray(s, so + 3 * VL);
        }
        for (; i < rows; i++) {
            int qa = qBase + (q0 + i) * qStride;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0, kr = 0; d < hd; d++, kr += BK) {
                FloatVector x = FloatVector.broadcast(S, q[qa + d]);
                a0 = FloatVector.fromArray(S, kt, kr).fma(x, a0);
                a1 = FloatVector.fromArray(S, kt, kr + VL).fma(x, a1);
                a2 = FloatVector.fromArray(S, kt, kr + 2 * VL).fma(x, a2);
                a3 = FloatVector.fromArray(S, kt, kr + 3 * VL).fma(x, a3);
            }
            int so = i * BK;
            a0.intoArray(s, so); a1.intoArray(s, so + VL); a2.intoArray(s, so + 2 * VL); a3.intoArray(s, so + 3 * VL);
        }
    }

    /**
     * o[i, :] += Σ_j p[i, j] · v[j, :] over the block's keys: four rows × four value vectors per register
     * tile where the head is wide enough, masked single vectors for the rest.
     */
    private static void accumulatePV(float[] p, int rows, int bk, float[] v, int vBase, int vStride, float[] o, int hd) {
        int wide = hd - hd % (4 * VL);
        int i = 0;
        for (; i + 3 < rows; i += 4) {
            int pa = i * BK;
            int oa = i * hd;
            for (int d = 0; d < wide; d += 4 * VL) {
                pv4x4(p, pa, bk, v, vBase + d, vStride, o, oa + d, hd);
            }
        }
        for (int r = 0; r < rows; r++) {
            int from = r < i ? wide : 0; // rows in a four-row tile only lack the narrow tail
            for (int d = from; d < hd; d += VL) {
                VectorMask<Float> mask = S.indexInRange(d, hd);
                FloatVector acc = FloatVector.fromArray(S, o, r * hd + d, mask);
                int pa = r * BK;
                for (int j = 0; j < bk; j++) {
                    acc = FloatVector.fromArray(S, v, vBase + j * vStride + d, mask).fma(FloatVector.broadcast(S, p[pa + j]), acc);
                }
                acc.intoArray(o, r * hd + d, mask);
            }
        }
    }

    /** Four rows (p rows at pa, pa+BK, …; o rows at oa, oa+hd, …) × four vectors of columns starting at vCol. */
    private static void pv4x4(float[] p, int pa, int bk, float[] v, int vCol, int vStride, float[] o, int oa, int hd) {
        FloatVector a0 = FloatVector.fromArray(S, o, oa), a1 = FloatVector.fromArray(S, o, oa + VL);
        FloatVector a2 = FloatVector.fromArray(S, o, oa + 2 * VL), a3 = FloatVector.fromArray(S, o, oa + 3 * VL);
        int ob = oa + hd;
        FloatVector b0 = FloatVector.fromArray(S, o, ob), b1 = FloatVector.fromArray(S, o, ob + VL);
        FloatVector b2 = FloatVector.fromArray(S, o, ob + 2 * VL), b3 = FloatVector.fromArray(S, o, ob + 3 * VL);
        int oc = ob + hd;
        FloatVector c0 = FloatVector.fromArray(S, o, oc), c1 = FloatVector.fromArray(S, o, oc + VL);
        FloatVector c2 = FloatVector.fromArray(S, o, oc + 2 * VL), c3 = FloatVector.fromArray(S, o, oc + 3 * VL);
        int od = oc + hd;
        FloatVector d0 = FloatVector.fromArray(S, o, od), d1 = FloatVector.fromArray(S, o, od + VL);
        FloatVector d2 = FloatVector.fromArray(S, o, od + 2 * VL), d3 = FloatVector.fromArray(S, o, od + 3 * VL);
        for (int j = 0, vr = vCol; j < bk; j++, vr += vStride) {
            FloatVector v0 = FloatVector.fromArray(S, v, vr);
            FloatVector v1 = FloatVector.fromArray(S, v, vr + VL);
            FloatVector v2 = FloatVector.fromArray(S, v, vr + 2 * VL);
            FloatVector v3 = FloatVector.fromArray(S, v, vr + 3 * VL);
            FloatVector x = FloatVector.broadcast(S, p[pa + j]);
            a0 = v0.fma(x, a0); a1 = v1.fma(x, a1); a2 = v2.fma(x, a2); a3 = v3.fma(x, a3);
            x = FloatVector.broadcast(S, p[pa + BK + j]);
            b0 = v0.fma(x, b0); b1 = v1.fma(x, b1); b2 = v2.fma(x, b2); b3 = v3.fma(x, b3);
            x = FloatVector.broadcast(S, p[pa + 2 * BK + j]);
            c0 = v0.fma(x, c0); c1 = v1.fma(x, c1); c2 = v2.fma(x, c2); c3 = v3.fma(x, c3);
            x = FloatVector.broadcast(S, p[pa + 3 * BK + j]);
            d0 = v0.fma(x, d0); d1 = v1.fma(x, d1); d2 = v2.fma(x, d2); d3 = v3.fma(x, d3);
        }
        a0.intoArray(o, oa); a1.intoArray(o, oa + VL); a2.intoArray(o, oa + 2 * VL); a3.intoArray(o, oa + 3 * VL);
        b0.intoArray(o, ob); b1.intoArray(o, ob + VL); b2.intoArray(o, ob + 2 * VL); b3.intoArray(o, ob + 3 * VL);
        c0.intoArray(o, oc); c1.intoArray(o, oc + VL); c2.intoArray(o, oc + 2 * VL); c3.intoArray(o, oc + 3 * VL);
        d0.intoArray(o, od); d1.intoArray(o, od + VL); d2.intoArray(o, od + 2 * VL); d3.intoArray(o, od + 3 * VL);
    }

    private static void scaleRow(float[] o, int off, int len, float f) {
        FloatVector fv = FloatVector.broadcast(S, f);
        int d = 0;
        for (; d + VL <= len; d += VL) {
            FloatVector.fromArray(S, o, off + d).mul(fv).intoArray(o, off + d);
        }
        for (; d < len; d++) {
            o[off + d] *= f;
        }
    }
}
