package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.AdapterProducts;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.Linear;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * A linear layer on the int8 units (AMX-INT8 or AVX512-VNNI, whichever oneDNN finds) with a converted
 * weight ({@link Int8Weights.Rows}): each activation row is quantized on its own to uint8 with one scale
 * and zero point, oneDNN multiplies uint8 × int8 into int32, and the epilogue removes the zero point's
 * share (in int32) and applies row scale × weight-row scale and the bias in float.
 *
 * <p>The int32 sums are exact whatever order oneDNN adds them in (|sum| ≤ k · 255 · 127 stays below 2³¹ up
 * to k = 66 000), so with the per-row quantization and the element-wise epilogue a row's output
 * depends on nothing but that row and the weight: not on the thread count, the blocking oneDNN picks, or
 * the other rows of the call.
 */
final class Int8Matmul {

    private record Key(int m, int k, int n) {
    }

    /** Rows per task of the quantization and epilogue passes. */
    private static final int ROWS_PER_TASK = 16;

    private final Dnnl dnnl;
    private final Arena arena = Arena.ofShared();
    private final Map<Key, MatmulPrimitive> matmuls = new HashMap<>();
    private final NativeBuffer src = new NativeBuffer();
    private final NativeBuffer dst = new NativeBuffer();
    private final NativeBuffer scratch;
    private float[] rowScales = new float[0];
    private int[] rowZeros = new int[0];

    /**
     * Whether the CPU has int8 dot-product units (AVX-VNNI, AVX512-VNNI or AMX; dnnl_cpu_isa_t bits 0x8 and
     * 0x40). Without them oneDNN multiplies uint8 × int8 pairs into saturating 16-bit sums (vpmaddubsw), so
     * the products would not be exact, and not faster than bf16 either.
     */
    static boolean hasInt8Units(Dnnl dnnl) {
        try {
            int isa = dnnl.isa();
            return (isa & 0x8) != 0 || (isa & 0x40) != 0;
        } catch (Throwable t) {
            return false;
        }
    }

    /** {@code scratch}: oneDNN's scratch memory, shared with the backend's other primitives. */
    Int8Matmul(Dnnl dnnl, NativeBuffer scratch) {
        this.dnnl = dnnl;
        this.scratch = scratch;
    }

    /** {@code out[rows, n] = x[rows, k] · Wᵀ + b} (+ the layer's adapters) with {@code w} the layer's converted weight. */
    void linear(float[] x, int xOff, int rows, Linear layer, Int8Weights.Rows w, float[] out, int outOff) {
        AdapterProducts.Pending adapters = AdapterProducts.prepare(x, xOff, rows, layer);
        int k = w.in();
        int n = w.out();
        MemorySegment s = src.ensure((long) rows * k);
        if (rowScales.length < rows) {
            rowScales = new float[rows];
        }
        if (rowZeros.length < rows) {
            rowZeros = new int[rows];
        }
        float[] xs = rowScales;
        int[] zs = rowZeros;
        int tasks = (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
        Parallel.get().forEach(tasks, t -> {
            for (int r = t * ROWS_PER_TASK, end = Math.min(rows, r + ROWS_PER_TASK); r < end; r++) {
                xs[r] = Int8Rows.quantizeU8(x, xOff + r * k, k, s, (long) r * k, zs, r);
            }
        });
        MemorySegment d = dst.ensure((long) rows * n * 4);
        primitive(rows, k, n).execute(s, w.quants(), MemorySegment.NULL, d, scratch);
        float[] bias = layer.bias();
        float[] ws = w.scales();
        Parallel.get().forEach(tasks, t -> {
            for (int r = t * ROWS_PER_TASK, end = Math.min(rows, r + ROWS_PER_TASK); r < end; r++) {
                Int8Rows.epilogue(d, (long) r * n * 4, n, xs[r], zs[r], w.sums(), ws, bias, out, outOff + r * n);
            }
        });
        AdapterProducts.addTo(adapters, out, outOff);
    }

    private MatmulPrimitive primitive(int m, int k, int n) {
        Key key = new Key(m, k, n);
        MatmulPrimitive mm = matmuls.get(key);
        if (mm == null) {
            try {
                MemorySegment srcMd = dnnl.md2(arena, m, k, Dnnl.U8, Dnnl.TAG_AB);
                // The converted [n, k] rows are the transposed layout "ba" of oneDNN's [k, n] weights.
                MemorySegment weiMd = dnnl.md2(arena, k, n, Dnnl.S8, Dnnl.TAG_BA);
                MemorySegment dstMd = dnnl.md2(arena, m, n, Dnnl.S32, Dnnl.TAG_AB);
                mm = new MatmulPrimitive(dnnl, arena, srcMd, weiMd, MemorySegment.NULL, dstMd);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("cannot create a oneDNN int8 matmul for " + key, t);
            }
            matmuls.put(key, mm);
        }
        return mm;
    }

    /** The implementation oneDNN chose for a shape, e.g. "brg_matmul:avx512_core_vnni", or null if not created yet. */
    String implementation(int m, int k, int n) {
        MatmulPrimitive mm = matmuls.get(new Key(m, k, n));
        return mm == null ? null : mm.implementation();
    }
}
