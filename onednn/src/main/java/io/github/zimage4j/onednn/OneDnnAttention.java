package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.FlashAttention.Operand;
import io.github.zimage4j.kernels.Exp;
import io.github.zimage4j.kernels.Lanes;
import io.github.zimage4j.kernels.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Attention as blocked products on oneDNN: for each block of BQ query rows, every head at once,
 * <pre>
 *   S[h] = Q_block[h] · K[h]ᵀ          (batched matmul, operands strided in place)
 *   P[h] = softmax(S[h]·scale + mask)   (row by row, in Java)
 *   O_block[h] = P[h] · V[h]            (written straight into the output rows)
 * </pre>
 * so memory is BQ × keys × heads scores, never keys × keys. Grouped-query heads broadcast K and V
 * over the query heads that share them. Products are bf16 (accumulated in float32) when the call
 * allows it, float32 otherwise.
 */
final class OneDnnAttention {

    /** Query rows per block: the score block is heads × BQ × keys floats. */
    static final int BQ = 128;
    private static final int MAX_PRIMITIVES = 48;
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));

    private final Dnnl dnnl;
    private final Arena arena = Arena.ofShared();
    private final NativeBuffer qBuf = new NativeBuffer();
    private final NativeBuffer kBuf = new NativeBuffer();
    private final NativeBuffer vBuf = new NativeBuffer();
    private final NativeBuffer sBuf = new NativeBuffer();
    private final NativeBuffer pBuf = new NativeBuffer();
    private final NativeBuffer oBuf = new NativeBuffer();

    private record Key(int bq, int keys, int kvHeads, int rep, int headDim, boolean bf16) {
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

    OneDnnAttention(Dnnl dnnl, NativeBuffer scratch) {
        this.dnnl = dnnl;
        this.scratch = scratch;
    }

    /** Whether this path suits the call: contiguous rows, no key mask, and enough work to pay for the calls. */
    static boolean suits(Operand q, Operand k, Operand v, Operand out, AttentionSpec s) {
        int qw = s.heads() * s.headDim();
        int kw = s.kvHeads() * s.headDim();
        long work = (long) s.queries() * s.keys() * qw;
        return s.keyMask() == null && q.stride() == qw && out.stride() == qw && k.stride() == kw && v.stride() == kw
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
        MemorySegment on = oBuf.ensure((long) sq * qw * 4);
        MemorySegment sn = sBuf.ensure((long) s.heads() * BQ * keys * 4);
        MemorySegment pn = pBuf.ensure((long) s.heads() * BQ * keys * es);
        int causalShift = s.causal() ? keys - sq : Integer.MIN_VALUE;
        float[] inverseSums = new float[s.heads() * BQ];
        for (int b0 = 0; b0 < sq; b0 += BQ) {
            int bq = Math.min(BQ, sq - b0);
            Pair mm = pair(new Key(bq, keys, kh, rep, hd, bf16));
            mm.scores().execute(qn.asSlice((long) b0 * qw * es), kn, MemorySegment.NULL, sn, scratch);
            exponentials(sn, pn, s.heads() * bq, bq, keys, b0, s.scale(), causalShift, bf16, inverseSums);
            mm.values().execute(pn, vn, MemorySegment.NULL, on.asSlice((long) b0 * qw * 4), scratch);
            normalize(on, b0, bq, s.heads(), hd, inverseSums);
        }
        MemorySegment.copy(on, Bf16.F32, 0, out.data(), out.offset(), sq * qw);
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
        long qw = kh * rep * hd;
        long kw = kh * hd;
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
     * {@code exp(s·scale − max)} as bf16 or float32, and the inverse of each row's sum (the division
     * happens on the much smaller output rows). Hidden keys (causal) get 0. Rows are copied to the heap
     * first: bulk copies and array loads are several times faster than vector loads from native memory.
     */
    private static void exponentials(MemorySegment sn, MemorySegment pn, int rows, int bq, int keys, int b0, float scale,
                                     int causalShift, boolean bf16, float[] inverseSums) {
        int perTask = Math.max(1, rows / (Parallel.get().threads() * 8));
        int tasks = (rows + perTask - 1) / perTask;
        int vl = FS.length();
        Parallel.get().forEach(tasks, t -> {
            int end = Math.min(rows, (t + 1) * perTask);
            float[] row = new float[keys];
            for (int r = t * perTask; r < end; r++) {
                int visible = causalShift == Integer.MIN_VALUE ? keys : Math.min(keys, b0 + r % bq + causalShift + 1);
                long base = (long) r * keys;
                MemorySegment.copy(sn, Bf16.F32, base * 4, row, 0, visible);
                FloatVector vmax = FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
                int j = 0;
                for (; j + vl <= visible; j += vl) {
                    vmax = vmax.max(FloatVector.fromArray(FS, row, j));
                }
                float max = vmax.reduceLanes(VectorOperators.MAX);
                for (; j < visible; j++) {
                    max = Math.max(max, row[j]);
                }
                FloatVector sc = FloatVector.broadcast(FS, scale);
                FloatVector shift = FloatVector.broadcast(FS, max * scale);
                FloatVector vsum = FloatVector.zero(FS);
                j = 0;
                // Vectors stay in this loop (no calls taking them), so they are never boxed.
                if (bf16) {
                    for (; j + vl <= visible; j += vl) {
                        FloatVector e = Exp.exp(FloatVector.fromArray(FS, row, j).mul(sc).sub(shift));
                        vsum = vsum.add(e);
                        IntVector bits = e.reinterpretAsInts();
                        IntVector rounded = bits.add(0x7FFF).add(bits.lanewise(VectorOperators.LSHR, 16).and(1))
                                .lanewise(VectorOperators.LSHR, 16);
                        ((ShortVector) rounded.convertShape(VectorOperators.I2S, SS, 0))
                                .intoMemorySegment(pn, 2 * (base + j), ByteOrder.LITTLE_ENDIAN);
                    }
                } else {
                    for (; j + vl <= visible; j += vl) {
                        FloatVector e = Exp.exp(FloatVector.fromArray(FS, row, j).mul(sc).sub(shift));
                        vsum = vsum.add(e);
                        e.intoArray(row, j);
                    }
                    MemorySegment.copy(row, 0, pn, Bf16.F32, 4 * base, j);
                }
                float sum = Lanes.sum(vsum);
                for (; j < visible; j++) {
                    float e = Exp.exp(row[j] * scale - max * scale);
                    sum += e;
                    storeScalar(e, pn, base + j, bf16);
                }
                for (; j < keys; j++) {
                    storeScalar(0f, pn, base + j, bf16);
                }
                inverseSums[r] = 1f / sum;
            }
        });
    }

    private static void storeScalar(float e, MemorySegment pn, long index, boolean bf16) {
        if (bf16) {
            pn.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, 2 * index, io.github.zimage4j.tensor.FloatFormats.floatToBf16(e));
        } else {
            pn.set(Bf16.F32, 4 * index, e);
        }
    }

    /** Divides each head's output row of this block by its probability sum. */
    private static void normalize(MemorySegment on, int b0, int bq, int heads, int hd, float[] inverseSums) {
        long qw = (long) heads * hd;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < bq; i++) {
                FloatVector inv = FloatVector.broadcast(FS, inverseSums[h * bq + i]);
                long off = 4 * ((b0 + i) * qw + (long) h * hd);
                int d = 0;
                for (; d + FS.length() <= hd; d += FS.length()) {
                    FloatVector.fromMemorySegment(FS, on, off + 4L * d, ByteOrder.LITTLE_ENDIAN).mul(inv)
                            .intoMemorySegment(on, off + 4L * d, ByteOrder.LITTLE_ENDIAN);
                }
                for (; d < hd; d++) {
                    on.set(Bf16.F32, off + 4L * d, on.get(Bf16.F32, off + 4L * d) * inverseSums[h * bq + i]);
                }
            }
        }
    }
}
