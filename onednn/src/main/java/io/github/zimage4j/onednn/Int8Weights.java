package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.kernels.WeightConversion;
import io.github.zimage4j.kernels.WeightRows;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * 8-bit weights (GGUF Q8_0) converted once into what oneDNN's int8 matmul reads: per output row, int8 values
 * and one float scale, {@code w[n, k] ≈ scale[n] · q[n, k]}, in native memory beside the mapped file.
 *
 * <p>Why per row rather than Q8_0's own scale per 32 values: an int8 product is only int8-fast when one
 * scale covers its whole reduction. oneDNN 3.13 can apply a scale per 32-value group (int8 "grouped
 * quantization", brg_matmul:avx512_core_vnni), but measured at 1088 × 3840 × 3840 on the AVX512-VNNI EPYC it
 * took 277 ms against 180 ms for the bf16 product and 90 ms for the per-row int8 one: it leaves the integer
 * accumulators every 32 values. Re-quantizing each row to one scale costs at most half a step of the row's
 * largest value per weight (the same as int8 per-channel weights); the golden tests bound the result.
 *
 * <p>Converted weights are found again by their source's address, as long as the mapping they came from is
 * open; entries of closed mappings are freed at the next conversion.
 */
final class Int8Weights {

    /**
     * A converted weight: {@code quants} [out, in] int8 rows, {@code scales} [out], and {@code sums} [out] of
     * each row's quants (for the activations' zero points, see {@link Int8Rows#epilogue}).
     */
    record Rows(MemorySegment source, float sourceScale, int out, int in, MemorySegment quants, float[] scales, int[] sums,
                Arena arena) {
        long bytes() {
            return quants.byteSize() + 8L * scales.length;
        }
    }

    /** The dtypes converted: 8-bit weights, whose int8 products lose least and gain most. */
    static boolean converts(StoredTensor w) {
        return w.dtype() == DType.Q8_0 && w.rank() == 2 && w.data().isNative();
    }

    private final Map<Long, Rows> byAddress = new HashMap<>();
    private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[1][0]);

    /** The converted form of {@code w}, or null if it was never converted (or its mapping changed). */
    Rows find(StoredTensor w) {
        Rows r = byAddress.get(w.data().address());
        return r != null && same(r, w) ? r : null;
    }

    private static boolean same(Rows r, StoredTensor w) {
        MemorySegment s = w.data();
        return r.source.scope().isAlive() && r.source.scope().equals(s.scope()) && r.source.byteSize() == s.byteSize()
                && r.sourceScale == w.scale() && r.out == w.dim(0) && r.in == w.dim(1);
    }

    /** Converts every layer weight this class converts and does not hold yet; reports all the layers' converted weights (once each). */
    WeightConversion convert(List<Linear> layers) {
        long t0 = System.nanoTime();
        freeClosed();
        Set<Rows> held = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Linear layer : layers) {
            StoredTensor w = layer.weight();
            if (!converts(w)) {
                continue;
            }
            Rows r = find(w);
            if (r == null) {
                r = convert(w);
                Rows old = byAddress.put(w.data().address(), r);
                if (old != null) {
                    old.arena.close();
                }
            }
            held.add(r);
        }
        long bytes = held.stream().mapToLong(Rows::bytes).sum();
        return held.isEmpty() ? WeightConversion.NONE : new WeightConversion("int8", held.size(), bytes, System.nanoTime() - t0);
    }

    private void freeClosed() {
        for (Iterator<Rows> it = byAddress.values().iterator(); it.hasNext(); ) {
            Rows r = it.next();
            if (!r.source.scope().isAlive()) {
                r.arena.close();
                it.remove();
            }
        }
    }

    /** Rows in parallel; each row is decoded exactly as the Java kernels decode it, then quantized on its own. */
    static Rows convert(StoredTensor w) {
        int n = (int) w.dim(0);
        int k = (int) w.dim(1);
        Arena arena = Arena.ofShared();
        MemorySegment q = arena.allocate((long) n * k, 64);
        float[] scales = new float[n];
        int[] sums = new int[n];
        Parallel.get().forEach(n, j -> {
            float[][] holder = ROW.get();
            if (holder[0].length < k) {
                holder[0] = new float[k];
            }
            WeightRows.decode(w, (long) j * k, k, holder[0], 0);
            scales[j] = Int8Rows.quantize(holder[0], 0, k, q, (long) j * k);
            int sum = 0;
            for (int i = 0; i < k; i++) {
                sum += q.get(ValueLayout.JAVA_BYTE, (long) j * k + i);
            }
            sums[j] = sum;
        });
        return new Rows(w.data(), w.scale(), n, k, q, scales, sums, arena);
    }
}
