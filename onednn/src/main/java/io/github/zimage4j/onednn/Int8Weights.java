package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.ResidentPages;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.kernels.WeightRows;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;

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
                HugePages memory) {
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

    /** Weights read ahead of the one converting. */
    private static final int PREFETCH_AHEAD = 2;

    /** What {@link #convert(List, List, String)} reports. */
    static final String WHAT = "Q8_0 weights to per-row int8";

    /**
     * Converts every layer weight this class converts and does not hold yet. Returns all the layers' converted
     * weights (once each, converted now or earlier), reported to {@link WeightPreparation}'s listeners where
     * any was converted now, with the number of {@code sensitive} layers' weights it would have converted
     * but leaves as stored.
     */
    WeightPreparation convert(List<Linear> layers, List<Linear> sensitive, String backend) {
        long t0 = System.nanoTime();
        freeClosed();
        int convertedNow = 0;
        Set<Rows> held = Collections.newSetFromMap(new IdentityHashMap<>());
        List<StoredTensor> weights = layers.stream().map(Linear::weight).filter(Int8Weights::converts).toList();
        int prefetched = -1;
        for (int i = 0; i < weights.size(); i++) {
            StoredTensor w = weights.get(i);
            Rows r = find(w);
            if (r == null) {
                // The file's next weights are read ahead while this one converts: from a cold page cache the
                // conversion is otherwise bound by reading 128 KB per page fault.
                for (int next = Math.max(prefetched + 1, i); next < weights.size() && next <= i + PREFETCH_AHEAD; next++) {
                    ResidentPages.prefetch(weights.get(next).data());
                    prefetched = next;
                }
                r = convert(w);
                // The converted rows are what the products read from now on: the file's pages leave the resident
                // set (they stay in the page cache for the few-row calls that still decode them), so memory holds
                // the 8-bit weights once, not twice.
                ResidentPages.releaseWithin(w.data());
                convertedNow++;
                Rows old = byAddress.put(w.data().address(), r);
                if (old != null) {
                    old.memory.close();
                }
            }
            held.add(r);
        }
        long bytes = held.stream().mapToLong(Rows::bytes).sum();
        Set<Long> kept = new java.util.HashSet<>();
        for (Linear l : sensitive) {
            StoredTensor w = l.weight();
            if (converts(w) && find(w) == null) {
                kept.add(w.data().address());
            }
        }
        if (held.isEmpty()) {
            return WeightPreparation.NONE;
        }
        WeightPreparation done = new WeightPreparation(backend, WHAT, "int8", held.size(), bytes, (System.nanoTime() - t0) / 1e9,
                kept.size());
        return convertedNow > 0 ? WeightPreparation.report(done) : done;
    }

    /** Frees {@code w}'s converted rows, if held; returns their bytes. */
    long release(StoredTensor w) {
        Rows r = find(w);
        if (r == null) {
            return 0;
        }
        byAddress.remove(w.data().address());
        r.memory.close();
        return r.bytes();
    }

    private void freeClosed() {
        for (Iterator<Rows> it = byAddress.values().iterator(); it.hasNext(); ) {
            Rows r = it.next();
            if (!r.source.scope().isAlive()) {
                r.memory.close();
                it.remove();
            }
        }
    }

    /** Rows per task of the conversion: enough work per task to amortize handing it out. */
    private static final int ROWS_PER_TASK = 8;

    /**
     * Rows in parallel over the compute pool, each quantized on its own, into fresh huge pages (see
     * {@link HugePages}: writing 6 GB of small pages was a storm of page faults). Each value is the float
     * the Java kernels decode; on vector hardware ({@link Int8Rows#READS_Q8_0}) the row is requantized
     * straight from its blocks, else decoded into a float row first: the same bytes either way.
     */
    static Rows convert(StoredTensor w) {
        int n = (int) w.dim(0);
        int k = (int) w.dim(1);
        HugePages memory = new HugePages((long) n * k);
        MemorySegment q = memory.data();
        float[] scales = new float[n];
        int[] sums = new int[n];
        boolean direct = Int8Rows.READS_Q8_0 && k % 32 == 0;
        long rowBytes = k / 32 * 34L;
        Parallel.get().forEach((n + ROWS_PER_TASK - 1) / ROWS_PER_TASK, task -> {
            for (int j = task * ROWS_PER_TASK, end = Math.min(n, j + ROWS_PER_TASK); j < end; j++) {
                if (direct) {
                    scales[j] = Int8Rows.quantizeQ8_0(w.data(), j * rowBytes, k, w.scale(), q, (long) j * k, sums, j);
                } else {
                    scales[j] = decodeAndQuantize(w, j, k, q);
                    sums[j] = sum(q, (long) j * k, k);
                }
            }
        });
        return new Rows(w.data(), w.scale(), n, k, q, scales, sums, memory);
    }

    private static float decodeAndQuantize(StoredTensor w, int j, int k, MemorySegment q) {
        float[][] holder = ROW.get();
        if (holder[0].length < k) {
            holder[0] = new float[k];
        }
        WeightRows.decode(w, (long) j * k, k, holder[0], 0);
        return Int8Rows.quantize(holder[0], 0, k, q, (long) j * k);
    }

    private static int sum(MemorySegment q, long off, int count) {
        int sum = 0;
        for (int i = 0; i < count; i++) {
            sum += q.get(ValueLayout.JAVA_BYTE, off + i);
        }
        return sum;
    }
}
