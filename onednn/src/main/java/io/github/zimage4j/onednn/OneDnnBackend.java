package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.FlashAttention;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Linear layers on oneDNN's matmul. A BF16 weight is used in place, straight from the memory-mapped
 * file (oneDNN reads the [out, in] rows as a transposed [in, out] matrix): activations are rounded to
 * bf16, products accumulate in float32 (AMX tiles or AVX512-BF16 dot products, whichever the CPU has).
 * F32 weights run oneDNN's float32 matmul. Other dtypes, heap-backed weights and tiny row counts use
 * the Java kernels; so do attention and the element-wise stages.
 */
final class OneDnnBackend implements Backend {

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Below this many rows a matmul call costs more than the Java dot products. */
    private static final int MIN_ROWS = 8;

    private final Dnnl dnnl;
    private final Backend fallback = JavaBackend.INSTANCE;
    private final Map<Key, Matmul> matmuls = new HashMap<>();
    private final Map<float[], MemorySegment> biases = new IdentityHashMap<>();
    private final Arena arena = Arena.ofShared();
    private Buffer src = new Buffer();
    private Buffer dst = new Buffer();

    OneDnnBackend(Dnnl dnnl) {
        this.dnnl = dnnl;
    }

    @Override
    public String name() {
        return "onednn";
    }

    @Override
    public boolean float32Products(DType weightDtype) {
        return weightDtype != DType.BF16;
    }

    private record Key(int m, int k, int n, DType weight, boolean bias) {
    }

    /** A primitive for one shape, with memory objects whose data pointers are set per call. */
    private record Matmul(MemorySegment primitive, MemorySegment srcMem, MemorySegment weiMem, MemorySegment biasMem,
                          MemorySegment dstMem, MemorySegment args, int nargs, String impl) {
    }

    /** A growable native scratch buffer. */
    private static final class Buffer {
        Arena arena;
        MemorySegment seg = MemorySegment.NULL;

        MemorySegment ensure(long bytes) {
            if (seg.byteSize() < bytes) {
                if (arena != null) {
                    arena.close();
                }
                arena = Arena.ofShared();
                seg = arena.allocate(bytes, 64);
            }
            return seg;
        }
    }

    private static boolean supported(StoredTensor w) {
        return (w.dtype() == DType.BF16 || w.dtype() == DType.F32) && w.data().isNative();
    }

    @Override
    public synchronized void linear(float[] x, int xOff, int rows, Linear layer, float[] out, int outOff) {
        StoredTensor w = layer.weight();
        if (rows < MIN_ROWS || !supported(w)) {
            fallback.linear(x, xOff, rows, layer, out, outOff);
            return;
        }
        int k = layer.in();
        int n = layer.out();
        try {
            Matmul mm = matmuls.get(new Key(rows, k, n, w.dtype(), layer.bias() != null));
            if (mm == null) {
                mm = create(rows, k, n, w.dtype(), layer.bias() != null);
                matmuls.put(new Key(rows, k, n, w.dtype(), layer.bias() != null), mm);
            }
            boolean bf16 = w.dtype() == DType.BF16;
            MemorySegment s = src.ensure((long) rows * k * (bf16 ? 2 : 4));
            if (bf16) {
                toBf16(x, xOff, rows * k, s);
            } else {
                MemorySegment.copy(x, xOff, s, F32, 0, rows * k);
            }
            MemorySegment d = dst.ensure((long) rows * n * 4);
            set(mm.srcMem(), s);
            set(mm.weiMem(), w.data());
            set(mm.dstMem(), d);
            if (layer.bias() != null) {
                set(mm.biasMem(), bias(layer.bias()));
            }
            Dnnl.check((int) dnnl.primitiveExecute.invokeExact(mm.primitive(), dnnl.stream, mm.nargs(), mm.args()), "dnnl_primitive_execute");
            Dnnl.check((int) dnnl.streamWait.invokeExact(dnnl.stream), "dnnl_stream_wait");
            MemorySegment.copy(d, F32, 0, out, outOff, rows * n);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("oneDNN matmul failed", t);
        }
    }

    private void set(MemorySegment mem, MemorySegment data) throws Throwable {
        Dnnl.check((int) dnnl.memorySetDataHandle.invokeExact(mem, data), "dnnl_memory_set_data_handle");
    }

    private MemorySegment bias(float[] b) {
        return biases.computeIfAbsent(b, key -> {
            MemorySegment seg = arena.allocate((long) key.length * 4, 64);
            MemorySegment.copy(key, 0, seg, F32, 0, key.length);
            return seg;
        });
    }

    private Matmul create(int m, int k, int n, DType weight, boolean withBias) throws Throwable {
        int wt = weight == DType.BF16 ? Dnnl.BF16 : Dnnl.F32;
        MemorySegment srcMd = dnnl.md2(arena, m, k, wt, Dnnl.TAG_AB);
        // The stored [n, k] rows are the transposed layout "ba" of oneDNN's [k, n] weights.
        MemorySegment weiMd = dnnl.md2(arena, k, n, wt, Dnnl.TAG_BA);
        MemorySegment biasMd = withBias ? dnnl.md2(arena, 1, n, Dnnl.F32, Dnnl.TAG_AB) : MemorySegment.NULL;
        MemorySegment dstMd = dnnl.md2(arena, m, n, Dnnl.F32, Dnnl.TAG_AB);
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.matmulPdCreate.invokeExact(out, dnnl.engine, srcMd, weiMd, biasMd, dstMd, MemorySegment.NULL),
                "dnnl_matmul_primitive_desc_create");
        MemorySegment pd = out.get(ADDRESS, 0);
        Dnnl.check((int) dnnl.pdQuery.invokeExact(pd, Dnnl.QUERY_IMPL_INFO_STR, 0, out), "dnnl_primitive_desc_query");
        String impl = out.get(ADDRESS, 0).reinterpret(256).getString(0);
        Dnnl.check((int) dnnl.primitiveCreate.invokeExact(out, pd), "dnnl_primitive_create");
        MemorySegment prim = out.get(ADDRESS, 0);
        MemorySegment srcMem = memory(srcMd);
        MemorySegment weiMem = memory(weiMd);
        MemorySegment dstMem = memory(dstMd);
        MemorySegment biasMem = withBias ? memory(biasMd) : MemorySegment.NULL;
        int nargs = withBias ? 4 : 3;
        MemorySegment args = arena.allocate(16L * nargs, 8);
        arg(args, 0, Dnnl.ARG_SRC, srcMem);
        arg(args, 1, Dnnl.ARG_WEIGHTS, weiMem);
        arg(args, 2, Dnnl.ARG_DST, dstMem);
        if (withBias) {
            arg(args, 3, Dnnl.ARG_BIAS, biasMem);
        }
        Dnnl.check((int) dnnl.pdDestroy.invokeExact(pd), "dnnl_primitive_desc_destroy");
        return new Matmul(prim, srcMem, weiMem, biasMem, dstMem, args, nargs, impl);
    }

    private MemorySegment memory(MemorySegment md) throws Throwable {
        MemorySegment out = arena.allocate(ADDRESS);
        Dnnl.check((int) dnnl.memoryCreate.invokeExact(out, md, dnnl.engine, MemorySegment.NULL), "dnnl_memory_create");
        return out.get(ADDRESS, 0);
    }

    private static void arg(MemorySegment args, int i, int kind, MemorySegment mem) {
        args.set(JAVA_INT, 16L * i, kind);
        args.set(ADDRESS, 16L * i + 8, mem);
    }

    /** float32 → bfloat16 bits, round to nearest even, into native memory; parallel over chunks. */
    static void toBf16(float[] x, int off, int count, MemorySegment dst) {
        int chunk = 1 << 16;
        int tasks = (count + chunk - 1) / chunk;
        Parallel.get().forEach(tasks, t -> {
            int from = t * chunk;
            int to = Math.min(count, from + chunk);
            int i = from;
            IntVector one = IntVector.broadcast(IS, 1);
            IntVector bias = IntVector.broadcast(IS, 0x7FFF);
            for (; i + FS.length() <= to; i += FS.length()) {
                IntVector bits = FloatVector.fromArray(FS, x, off + i).reinterpretAsInts();
                IntVector lsb = bits.lanewise(VectorOperators.LSHR, 16).and(one);
                IntVector rounded = bits.add(bias).add(lsb).lanewise(VectorOperators.LSHR, 16);
                ShortVector s = (ShortVector) rounded.convertShape(VectorOperators.I2S, SS, 0);
                s.intoMemorySegment(dst, 2L * i, ByteOrder.LITTLE_ENDIAN);
            }
            for (; i < to; i++) {
                dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, io.github.zimage4j.tensor.FloatFormats.floatToBf16(x[off + i]));
            }
        });
    }

    @Override
    public void attention(FlashAttention.Operand q, FlashAttention.Operand k, FlashAttention.Operand v,
                          FlashAttention.Operand out, int sq, int skv, int heads, int kvHeads, int headDim, float scale,
                          boolean causal, boolean[] keyMask, int maskOff) {
        fallback.attention(q, k, v, out, sq, skv, heads, kvHeads, headDim, scale, causal, keyMask, maskOff);
    }

    /** The implementation oneDNN chose for a shape (for logs and benchmarks), e.g. "brg_matmul:avx10_1_512_amx". */
    synchronized String implementation(int m, int k, int n, DType weight) {
        Matmul mm = matmuls.get(new Key(m, k, n, weight, false));
        return mm == null ? null : mm.impl();
    }
}
