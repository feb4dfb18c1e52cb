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
 * size) and each key/value head,
 * <pre>
 *   S = Q_block[h] · K[h]ᵀ          (matmul, Q strided in place)
 *   P = exp(S·scale − max)          (row by row, vectorized Java, bf16 P where products are bf16)
 *   O_block[h] = P · V[h] / Σ P     (into the task's buffer, then divided into the output rows)
 * </pre>
 * K and V are packed once per call, head by head, into the blocked layouts the products read.
 * Each (block, head) is one task of the compute pool, and its products run on that thread alone
 * (OpenMP told to use one thread there): no fork and join per product, and a task's scores (4.3 MB at
 * L = 4160) stay in cache between the product that writes them, the exponentials and the product that
 * reads them, where one block of all heads in parallel products (30 MB) went through memory.
 * Grouped-query heads run together in one task, broadcasting their shared K and V. Products are bf16
 * (accumulated in float32) when the call allows it, float32 otherwise. Block sizes depend only on the
 * shapes and every task runs the same single-threaded primitives, so results do not depend on the
 * thread count.
 */
final class OneDnnAttention {

    /** Most query rows per block. */
    static final int BQ = 256;
    /** Most bytes of float32 scores per task: longer key sequences get shorter blocks. */
    static final long SCORE_BYTES = 8L << 20;
    private static final int MAX_PRIMITIVES = 16;
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
    private final NativeBuffer kPacked = new NativeBuffer();
    private final NativeBuffer vPacked = new NativeBuffer();

    private record Key(int bq, int keys, int rep, int headDim, long qw, long kw, boolean bf16) {
    }

    /**
     * A task's two products, with K and V in the blocked layouts the products read (a product given a
     * row-major head would repack it in every task), and the reorders that pack one head into them.
     */
    private record Pair(MatmulPrimitive scores, MatmulPrimitive values, Reorder packK, Reorder packV, long kBytes, long vBytes) {
    }

    /** One pool thread's primitives (their memory objects are per instance), stream and buffers. */
    private final class Worker {
        final MemorySegment stream = dnnl.newStream();
        final NativeBuffer s = new NativeBuffer();
        final NativeBuffer p = new NativeBuffer();
        final NativeBuffer o = new NativeBuffer();
        final NativeBuffer scratch = new NativeBuffer();
        float[] inverseSums = new float[0];
        final Map<Key, Pair> primitives = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Key, Pair> eldest) {
                return size() > MAX_PRIMITIVES;
            }
        };
    }

    private final ThreadLocal<Worker> workers = ThreadLocal.withInitial(Worker::new);
    private long scoreBytes = SCORE_BYTES;

    OneDnnAttention(Dnnl dnnl) {
        this.dnnl = dnnl;
    }

    /** Tests: a smaller score budget, so queries run in more, shorter blocks. */
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
        // Blocks of equal size, at most BQ rows and the score budget: a short last block would run its
        // products less efficiently.
        int most = (int) Math.clamp(scoreBytes / ((long) rep * keys * 4), 1, BQ);
        int blocks = (sq + most - 1) / most;
        int bq0 = (sq + blocks - 1) / blocks;
        int causalShift = s.causal() ? keys - sq : Integer.MIN_VALUE;
        // The packed layouts come from the full-size block's products; a shorter last block reads the same.
        Key full = new Key(bq0, keys, rep, hd, qw, kw, bf16);
        Pair first = singleThreaded(() -> pair(workers.get(), full, null, null));
        MemorySegment kp = kPacked.ensure(kh * first.kBytes());
        MemorySegment vp = vPacked.ensure(kh * first.vBytes());
        Parallel.get().forEach(2 * kh, t -> singleThreaded(() -> {
            Worker w = workers.get();
            Pair mm = pair(w, full, null, null);
            int g = t % kh;
            if (t < kh) {
                mm.packK().execute(kn.asSlice((long) g * hd * es), kp.asSlice(g * mm.kBytes(), mm.kBytes()), w.stream);
            } else {
                mm.packV().execute(vn.asSlice((long) g * hd * es), vp.asSlice(g * mm.vBytes(), mm.vBytes()), w.stream);
            }
            return null;
        }));
        // Head-major order: consecutive tasks on a thread share K and V.
        Parallel.get().forEach(blocks * kh, t -> singleThreaded(() -> {
            int g = t / blocks;
            int b0 = (t % blocks) * bq0;
            int bq = Math.min(bq0, sq - b0);
            Worker w = workers.get();
            Pair mm = pair(w, new Key(bq, keys, rep, hd, qw, kw, bf16), first.scores().weightsMd(), first.values().weightsMd());
            long qCol = (long) g * rep * hd;
            MemorySegment sn = w.s.ensure((long) rep * bq * keys * 4);
            MemorySegment pn = w.p.ensure((long) rep * bq * keys * es);
            MemorySegment on = w.o.ensure((long) rep * bq * hd * 4);
            if (w.inverseSums.length < rep * bq) {
                w.inverseSums = new float[rep * bq];
            }
            mm.scores().execute(qn.asSlice(((long) b0 * qw + qCol) * es), kp.asSlice(g * first.kBytes()), MemorySegment.NULL, sn,
                    w.scratch, w.stream);
            exponentials(sn, pn, rep * bq, bq, keys, b0, s.scale(), causalShift, bf16, w.inverseSums);
            mm.values().execute(pn, vp.asSlice(g * first.vBytes()), MemorySegment.NULL, on, w.scratch, w.stream);
            normalize(on, bq, rep, hd, w.inverseSums, out, b0, (int) qCol);
            return null;
        }));
    }

    /** Runs {@code work} with this thread's OpenMP team at one thread, so its oneDNN products stay on it. */
    private <T> T singleThreaded(java.util.function.Supplier<T> work) {
        int previous = ompThreads(1);
        try {
            return work.get();
        } finally {
            ompThreads(previous);
        }
    }

    /** Sets this thread's OpenMP team size, returning the previous one. */
    private int ompThreads(int n) {
        try {
            int previous = (int) dnnl.ompGetMaxThreads.invokeExact();
            if (previous != n) {
                dnnl.ompSetNumThreads.invokeExact(n);
            }
            return previous;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("cannot set the OpenMP thread count", t);
        }
    }

    /** This thread's primitives for the key, created (with OpenMP at one thread, so they plan for one) on first use. */
    private Pair pair(Worker w, Key key, MemorySegment kLayout, MemorySegment vLayout) {
        Pair p = w.primitives.get(key);
        if (p == null) {
            try {
                p = create(key, kLayout, vLayout);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("cannot create oneDNN attention primitives for " + key, t);
            }
            w.primitives.put(key, p);
        }
        return p;
    }

    /** The key's products, reading K and V in the given layouts, or (null) in the ones they choose. */
    private Pair create(Key key, MemorySegment kLayout, MemorySegment vLayout) throws Throwable {
        int dt = key.bf16() ? Dnnl.BF16 : Dnnl.F32;
        long rep = key.rep();
        long bq = key.bq();
        long keys = key.keys();
        long hd = key.headDim();
        long qw = key.qw();
        long kw = key.kw();
        // Query rows of head r of the task's group sit at columns r·hd (from the group's first) of the [rows, heads·hd] buffer.
        MemorySegment qMd = dnnl.mdStrided(arena, new long[]{rep, bq, hd}, new long[]{hd, qw, 1}, dt);
        MemorySegment kMd = dnnl.mdStrided(arena, new long[]{1, hd, keys}, new long[]{kw * keys, 1, kw}, dt);
        MemorySegment sMd = dnnl.mdStrided(arena, new long[]{rep, bq, keys}, new long[]{bq * keys, keys, 1}, Dnnl.F32);
        MemorySegment pMd = dnnl.mdStrided(arena, new long[]{rep, bq, keys}, new long[]{bq * keys, keys, 1}, dt);
        MemorySegment vMd = dnnl.mdStrided(arena, new long[]{1, keys, hd}, new long[]{kw * keys, kw, 1}, dt);
        MemorySegment oMd = dnnl.mdStrided(arena, new long[]{rep, bq, hd}, new long[]{bq * hd, hd, 1}, Dnnl.F32);
        MatmulPrimitive scores = new MatmulPrimitive(dnnl, arena, qMd,
                kLayout != null ? kLayout : dnnl.mdTag(arena, new long[]{1, hd, keys}, dt, Dnnl.TAG_ANY), MemorySegment.NULL, sMd);
        MatmulPrimitive values = new MatmulPrimitive(dnnl, arena, pMd,
                vLayout != null ? vLayout : dnnl.mdTag(arena, new long[]{1, keys, hd}, dt, Dnnl.TAG_ANY), MemorySegment.NULL, oMd);
        return new Pair(scores, values, new Reorder(dnnl, arena, kMd, scores.weightsMd()), new Reorder(dnnl, arena, vMd, values.weightsMd()),
                (long) dnnl.mdGetSize.invokeExact(scores.weightsMd()), (long) dnnl.mdGetSize.invokeExact(values.weightsMd()));
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
                                     int causalShift, boolean bf16, float[] inverseSums) {
        float log2Scale = scale * LOG2E;
        for (int r = 0; r < rows; r++) {
            int visible = causalShift == Integer.MIN_VALUE ? keys : Math.min(keys, b0 + r % bq + causalShift + 1);
            long base = (long) r * keys;
            float max = rowMax(sn, 4 * base, visible);
            float sum = bf16 ? exponentialsBf16(sn, pn, base, visible, log2Scale, -max * log2Scale)
                    : exponentialsF32(sn, pn, base, visible, log2Scale, -max * log2Scale);
            if (visible < keys) {
                int es = bf16 ? 2 : 4;
                pn.asSlice(es * (base + visible), (long) es * (keys - visible)).fill((byte) 0);
            }
            inverseSums[r] = 1f / sum;
        }
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

    /** Rows b0.. of the task's heads (from column col): each P·V row divided by its probability sum, into {@code out}. */
    private static void normalize(MemorySegment on, int bq, int rep, int hd, float[] inverseSums, Operand out, int b0, int col) {
        float[] dst = out.data();
        for (int h = 0; h < rep; h++) {
            for (int i = 0; i < bq; i++) {
                int o = out.offset() + (b0 + i) * out.stride() + col + h * hd;
                float inv = inverseSums[h * bq + i];
                FloatVector vinv = FloatVector.broadcast(FS, inv);
                long off = 4L * ((long) h * bq + i) * hd;
                int d = 0;
                for (; d + VL <= hd; d += VL) {
                    FloatVector.fromMemorySegment(FS, on, off + 4L * d, ByteOrder.LITTLE_ENDIAN).mul(vinv).intoArray(dst, o + d);
                }
                for (; d < hd; d++) {
                    dst[o + d] = on.get(Bf16.F32, off + 4L * d) * inv;
                }
            }
        }
    }
}
