package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.FlashAttention.Operand;
import io.github.zimage4j.kernels.Exp;
import io.github.zimage4j.kernels.Lanes;
import io.github.zimage4j.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Attention as blocked products on oneDNN: for each block of at most BQ query rows (blocks of equal
 * size) and each group of heads,
 * <pre>
 *   S[h] = Q_block[h] · K[h]ᵀ          (batched matmul, operands strided in place)
 *   P[h] = exp(S[h]·scale − max)        (row by row, vectorized Java, bf16 P where products are bf16)
 *   O_block[h] = P[h] · V[h] / Σ P[h]   (into one block's buffer, then divided into the output rows)
 * </pre>
 * so memory is at most {@link #SCORE_BYTES} of scores, never keys × keys. Heads go in groups as large
 * as that budget allows (all 30 DiT heads at 512², 7 at 1024²). Grouped-query heads broadcast K and V
 * over the query heads that share them. Products are bf16 (accumulated in float32) when the call
 * allows it, float32 otherwise. Block and group sizes depend only on the shapes, and every row is
 * computed on its own, so results do not depend on the thread count.
 */
final class OneDnnAttention {

    /** Most query rows per block: the score block is heads × block rows × keys floats. */
    static final int BQ = 256;
    /** Most bytes of float32 scores per block: heads are taken in groups that fit. */
    static final long SCORE_BYTES = 32L << 20;
    private static final int MAX_PRIMITIVES = 48;
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    private static final int VL = FS.length();
    private static final float LOG2E = 1.44269504088896341f;

    private final Dnnl dnnl;
    private final Arena arena = Arena.ofShared();
    private final NativeBuffer qBuf = new NativeBuffer();
    private final NativeBuffer kBuf = new NativeBuffer();
    private final NativeBuffer vBuf = new NativeBuffer();
    private final NativeBuffer sBuf = new NativeBuffer();
    private final NativeBuffer pBuf = new NativeBuffer();
    private final NativeBuffer oBuf = new NativeBuffer();

    private record Key(int bq, int keys, int kvHeads, int rep, int headDim, long qw, long kw, boolean bf16) {
    }

    private record Pair(MatmulPrimitive scores, MatmulPrimitive values) {
    }

    private final Map<Key, Pair> primitives = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Pair> eldest) {
            return size() > MAX_PRIMITIVES;
        }
    };

    private final NativeBuffer scratch;
    private long scoreBytes = SCORE_BYTES;

    OneDnnAttention(Dnnl dnnl, NativeBuffer scratch) {
        this.dnnl = dnnl;
        this.scratch = scratch;
    }

    /** Tests: a smaller score budget, so heads run in several groups. */
    void scoreBytes(long bytes) {
        scoreBytes = bytes;
    }

    /**
     * Whether this path suits the call: contiguous rows, no key mask, a positive scale (the exponent's
     * argument is then ≤ 0 after the row maximum), and enough work to pay for the calls.
     */
    static boolean suits(Operand q, Operand k, Operand v, Operand out, AttentionSpec s) {
        int qw = s.heads() * s.headDim();
        int kw = s.kvHeads() * s.headDim();
        long work = (long) s.queries() * s.keys() * qw;
        return s.keyMask() == null && s.scale() > 0 && q.stride() == qw && out.stride() == qw && k.stride() == kw && v.stride() == kw
                && work >= (1L << 22);
    }

    void run(Operand q, Operand k, Operand v, Operand out, AttentionSpec s) {
        int sq = s.queries();
        int keys = s.keys();
        int kh = s.kvHeads();
        int rep = s.heads() / kh;
        int hd = s.headDim();
        int qw = s.heads() * hd;
        int kw = kh * hd;
        boolean bf16 = s.bf16();
        int es = bf16 ? 2 : 4;
        MemorySegment qn = qBuf.ensure((long) sq * qw * es);
        MemorySegment kn = kBuf.ensure((long) keys * kw * es);
        MemorySegment vn = vBuf.ensure((long) keys * kw * es);
        Bf16.copy(q.data(), q.offset(), sq * qw, qn, bf16);
        Bf16.copy(k.data(), k.offset(), keys * kw, kn, bf16);
        Bf16.copy(v.data(), v.offset(), keys * kw, vn, bf16);
        // Blocks of equal size, at most BQ rows: a short last block would run its products less efficiently.
        int blocks = (sq + BQ - 1) / BQ;
        int bq0 = (sq + blocks - 1) / blocks;
        // One block's unnormalized output rows: small enough to stay in cache until they are divided into out.
        MemorySegment on = oBuf.ensure((long) bq0 * qw * 4);
        // Key/value heads per group: as many as keep the score block within its budget.
        int group = (int) Math.clamp(scoreBytes / ((long) rep * bq0 * keys * 4), 1, kh);
        MemorySegment sn = sBuf.ensure((long) group * rep * bq0 * keys * 4);
        MemorySegment pn = pBuf.ensure((long) group * rep * bq0 * keys * es);
        int causalShift = s.causal() ? keys - sq : Integer.MIN_VALUE;
        float[] inverseSums = new float[s.heads() * bq0];
        for (int b0 = 0; b0 < sq; b0 += bq0) {
            int bq = Math.min(bq0, sq - b0);
            for (int g0 = 0; g0 < kh; g0 += group) {
                int gn = Math.min(group, kh - g0);
                Pair mm = pair(new Key(bq, keys, gn, rep, hd, qw, kw, bf16));
                long qCol = (long) g0 * rep * hd;
                mm.scores().execute(qn.asSlice(((long) b0 * qw + qCol) * es), kn.asSlice((long) g0 * hd * es), MemorySegment.NULL, sn, scratch);
                exponentials(sn, pn, gn * rep * bq, bq, keys, b0, s.scale(), causalShift, bf16, inverseSums, g0 * rep * bq);
                mm.values().execute(pn, vn.asSlice((long) g0 * hd * es), MemorySegment.NULL, on.asSlice(qCol * 4), scratch);
            }
            normalize(on, bq, s.heads(), hd, qw, inverseSums, out, b0);
        }
    }

    private Pair pair(Key key) {
        Pair p = primitives.get(key);
        if (p == null) {
            try {
                p = create(key);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("cannot create oneDNN attention primitives for " + key, t);
            }
            primitives.put(key, p);
        }
        return p;
    }

    private Pair create(Key key) throws Throwable {
        int dt = key.bf16() ? Dnnl.BF16 : Dnnl.F32;
        long kh = key.kvHeads();
        long rep = key.rep();
        long bq = key.bq();
        long keys = key.keys();
        long hd = key.headDim();
        long qw = key.qw();
        long kw = key.kw();
        // Query rows of head (g, r) sit at columns (g·rep + r)·hd of the [rows, heads·hd] buffer.
        MemorySegment qMd = dnnl.mdStrided(arena, new long[]{kh, rep, bq, hd}, new long[]{rep * hd, hd, qw, 1}, dt);
        MemorySegment kMd = dnnl.mdStrided(arena, new long[]{kh, 1, hd, keys}, new long[]{hd, kw * keys, 1, kw}, dt);
        MemorySegment sMd = dnnl.mdStrided(arena, new long[]{kh, rep, bq, keys}, new long[]{rep * bq * keys, bq * keys, keys, 1}, Dnnl.F32);
        MemorySegment pMd = dnnl.mdStrided(arena, new long[]{kh, rep, bq, keys}, new long[]{rep * bq * keys, bq * keys, keys, 1}, dt);
        MemorySegment vMd = dnnl.mdStrided(arena, new long[]{kh, 1, keys, hd}, new long[]{hd, kw * keys, kw, 1}, dt);
        MemorySegment oMd = dnnl.mdStrided(arena, new long[]{kh, rep, bq, hd}, new long[]{rep * hd, hd, qw, 1}, Dnnl.F32);
        return new Pair(new MatmulPrimitive(dnnl, arena, qMd, kMd, MemorySegment.NULL, sMd),
                new MatmulPrimitive(dnnl, arena, pMd, vMd, MemorySegment.NULL, oMd));
    }

    /**
     * Row r of the [heads·bq, keys] scores (query b0 + r % bq) → unnormalized probabilities
     * {@code 2^((s − max)·scale·log2 e)} = {@code e^((s − max)·scale)}, stored as bf16 or float32, and the
     * inverse of each row's sum (the division happens on the much smaller output rows). Hidden keys
     * (causal) get 0. One pass finds the maximum (on order-preserving integer keys: an integer max is one
     * instruction, a float max that honours NaN and −0 several), a second computes, sums and stores.
     * The last partial vector of a row runs masked, so every key goes through the same lane arithmetic
     * and a row's values do not depend on where it falls in a vector.
     */
    private static void exponentials(MemorySegment sn, MemorySegment pn, int rows, int bq, int keys, int b0, float scale,
                                     int causalShift, boolean bf16, float[] inverseSums, int sumsOff) {
        int perTask = Math.max(1, rows / (Parallel.get().threads() * 8));
        int tasks = (rows + perTask - 1) / perTask;
        float log2Scale = scale * LOG2E;
        Parallel.get().forEach(tasks, t -> {
            int end = Math.min(rows, (t + 1) * perTask);
            for (int r = t * perTask; r < end; r++) {
                int visible = causalShift == Integer.MIN_VALUE ? keys : Math.min(keys, b0 + r % bq + causalShift + 1);
                long base = (long) r * keys;
                float max = rowMax(sn, 4 * base, visible);
                float sum = bf16 ? exponentialsBf16(sn, pn, base, visible, log2Scale, -max * log2Scale)
                        : exponentialsF32(sn, pn, base, visible, log2Scale, -max * log2Scale);
                if (visible < keys) {
                    int es = bf16 ? 2 : 4;
                    pn.asSlice(es * (base + visible), (long) es * (keys - visible)).fill((byte) 0);
                }
                inverseSums[sumsOff + r] = 1f / sum;
            }
        });
    }

    /** The largest of n floats at byte offset off, NaN if any is a positive NaN, −∞ if n = 0. */
    private static float rowMax(MemorySegment sn, long off, int n) {
        IntVector m0 = IntVector.broadcast(IS, Integer.MIN_VALUE);
        IntVector m1 = m0;
        IntVector m2 = m0;
        IntVector m3 = m0;
        int j = 0;
        // Four accumulators: the loop is bound by throughput, not by one max's latency.
        for (; j + 4 * VL <= n; j += 4 * VL) {
            m0 = m0.max(orderKey(FloatVector.fromMemorySegment(FS, sn, off + 4L * j, ByteOrder.LITTLE_ENDIAN)));
            m1 = m1.max(orderKey(FloatVector.fromMemorySegment(FS, sn, off + 4L * (j + VL), ByteOrder.LITTLE_ENDIAN)));
            m2 = m2.max(orderKey(FloatVector.fromMemorySegment(FS, sn, off + 4L * (j + 2 * VL), ByteOrder.LITTLE_ENDIAN)));
            m3 = m3.max(orderKey(FloatVector.fromMemorySegment(FS, sn, off + 4L * (j + 3 * VL), ByteOrder.LITTLE_ENDIAN)));
        }
        int key = m0.max(m1).max(m2.max(m3)).reduceLanes(VectorOperators.MAX);
        for (; j < n; j++) {
            int bits = Float.floatToRawIntBits(sn.get(Bf16.F32, off + 4L * j));
            key = Math.max(key, bits ^ ((bits >> 31) >>> 1));
        }
        float max = Float.intBitsToFloat(key ^ ((key >> 31) >>> 1));
        return n == 0 ? Float.NEGATIVE_INFINITY : max;
    }

    /** Float bits as integers that sort like the floats: negative values get their magnitude bits flipped. */
    private static IntVector orderKey(FloatVector v) {
        IntVector bits = v.reinterpretAsInts();
        return bits.lanewise(VectorOperators.XOR, bits.lanewise(VectorOperators.ASHR, 31).lanewise(VectorOperators.LSHR, 1));
    }

    // Vectors stay in these loops (no calls taking or returning them but Exp.exp2, which inlines), so they
    // are never boxed: a helper for the bf16 rounding was left out of line by C2's node limit. The last
    // partial vector runs masked, through the same lane arithmetic as the rest.
    private static float exponentialsBf16(MemorySegment sn, MemorySegment pn, long base, int n, float scale, float shift) {
        FloatVector sc = FloatVector.broadcast(FS, scale);
        FloatVector sh = FloatVector.broadcast(FS, shift);
        FloatVector vsum = FloatVector.zero(FS);
        int j = 0;
        for (; j + VL <= n; j += VL) {
            FloatVector e = Exp.exp2(FloatVector.fromMemorySegment(FS, sn, 4 * (base + j), ByteOrder.LITTLE_ENDIAN).fma(sc, sh));
            vsum = vsum.add(e);
            // Round to nearest even (e ≥ 0; a NaN stays a NaN).
            IntVector bits = e.reinterpretAsInts();
            IntVector rounded = bits.add(0x7FFF).add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).lanewise(VectorOperators.LSHR, 16);
            ((ShortVector) rounded.convertShape(VectorOperators.I2S, SS, 0)).intoMemorySegment(pn, 2 * (base + j), ByteOrder.LITTLE_ENDIAN);
        }
        if (j < n) {
            VectorMask<Float> m = FS.indexInRange(j, n);
            FloatVector e = Exp.exp2(FloatVector.fromMemorySegment(FS, sn, 4 * (base + j), ByteOrder.LITTLE_ENDIAN, m).fma(sc, sh))
                    .blend(0f, m.not());
            vsum = vsum.add(e);
            IntVector bits = e.reinterpretAsInts();
            IntVector rounded = bits.add(0x7FFF).add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).lanewise(VectorOperators.LSHR, 16);
            ((ShortVector) rounded.convertShape(VectorOperators.I2S, SS, 0))
                    .intoMemorySegment(pn, 2 * (base + j), ByteOrder.LITTLE_ENDIAN, m.cast(SS));
        }
        return Lanes.sum(vsum);
    }

    private static float exponentialsF32(MemorySegment sn, MemorySegment pn, long base, int n, float scale, float shift) {
        FloatVector sc = FloatVector.broadcast(FS, scale);
        FloatVector sh = FloatVector.broadcast(FS, shift);
        FloatVector vsum = FloatVector.zero(FS);
        int j = 0;
        for (; j + VL <= n; j += VL) {
            FloatVector e = Exp.exp2(FloatVector.fromMemorySegment(FS, sn, 4 * (base + j), ByteOrder.LITTLE_ENDIAN).fma(sc, sh));
            vsum = vsum.add(e);
            e.intoMemorySegment(pn, 4 * (base + j), ByteOrder.LITTLE_ENDIAN);
        }
        if (j < n) {
            VectorMask<Float> m = FS.indexInRange(j, n);
            FloatVector e = Exp.exp2(FloatVector.fromMemorySegment(FS, sn, 4 * (base + j), ByteOrder.LITTLE_ENDIAN, m).fma(sc, sh))
                    .blend(0f, m.not());
            vsum = vsum.add(e);
            e.intoMemorySegment(pn, 4 * (base + j), ByteOrder.LITTLE_ENDIAN, m);
        }
        return Lanes.sum(vsum);
    }

    /** Output rows b0.. of this block: each head's P·V row divided by its probability sum, into {@code out}. */
    private static void normalize(MemorySegment on, int bq, int heads, int hd, int qw, float[] inverseSums, Operand out, int b0) {
        float[] dst = out.data();
        Parallel.get().forEach(bq, i -> {
            int o = out.offset() + (b0 + i) * out.stride();
            for (int h = 0; h < heads; h++) {
                float inv = inverseSums[h * bq + i];
                FloatVector vinv = FloatVector.broadcast(FS, inv);
                long off = 4L * ((long) i * qw + (long) h * hd);
                int d = 0;
                for (; d + VL <= hd; d += VL) {
                    FloatVector.fromMemorySegment(FS, on, off + 4L * d, ByteOrder.LITTLE_ENDIAN).mul(vinv).intoArray(dst, o + h * hd + d);
                }
                for (; d < hd; d++) {
                    dst[o + h * hd + d] = on.get(Bf16.F32, off + 4L * d) * inv;
                }
            }
        });
    }
}
