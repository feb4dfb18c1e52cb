package io.github.zimage4j.onednn;

import io.github.zimage4j.io.ResidentPages;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * bf16 weights copied into the blocked layout oneDNN's matmul chooses for them (format "any") instead of
 * being read in place from the memory-mapped file (stored [out, in], oneDNN's "ba"): the products skip
 * the per-call repacking of the weights (6-12 % faster GEMMs on AVX512-BF16, 4096×3840×3840 +9 %), with
 * the same results bit for bit.
 *
 * <p>A weight is packed the second time it is multiplied: weights used once (a text encoder encoding
 * one prompt) are not worth the copy, while the DiT's are reused every step. The copy costs time once,
 * mostly the kernel faulting in fresh memory (16-20 s for the 12 GB DiT on the 2-vCPU development VM,
 * which then runs a 256² forward in 5.4 instead of 6.3-6.9 s). Under {@link Prepack#AUTO}
 * it is packed only if the memory available ({@code MemAvailable}) exceeds its packed size plus
 * {@link #margin()}; {@link Prepack#ON} packs regardless, {@link Prepack#OFF} never. After packing, the
 * weight's mapped pages leave the resident set ({@link ResidentPages#releaseWithin}), so the process
 * holds one copy, not two; the file stays in the OS page cache. A notice line (the first decisions when a
 * decided weight is used again, then each batch once no weight seen is left undecided) says how many
 * bytes were packed, on what grounds, and whether any original could not be dropped. Each copy is also
 * reported to {@link WeightPreparation}'s listeners as it is made, so a benchmark can tell which stage paid for it.
 *
 * <p>A packed copy is keyed by the weight's address and shape and watches the source memory's scope: when
 * that memory is freed (the model closed, a merged LoRA copy collected), the copy is dropped instead of
 * being reused for whatever lands at the same address. Not thread-safe: the backend calls it under its lock.
 */
final class PackedWeights {

    /** Memory kept free under AUTO besides the heap's room to grow: native buffers and later stages (the VAE). */
    static final long MARGIN_BYTES = 2L << 30;
    /** What a copy is reported as ({@link WeightPreparation}). */
    static final String WHAT = "bf16 weights copied into oneDNN's blocked layout (prepack)";
    /** Rows of the product used to ask for a layout: oneDNN picks the same one for 8 to 4160 rows. */
    private static final int LAYOUT_ROWS = 256;

    /** A packed weight, ready for {@link #matmul}. */
    record Packed(MemorySegment data, Layout layout) {
    }

    record Layout(MemorySegment md, long bytes, Reorder reorder) {
    }

    private enum State { SEEN, PACKED, IN_PLACE }

    private static final class Entry {
        /** Weak, so that memory freed by the garbage collector (merged LoRA weights) is not kept alive here. */
        final WeakReference<MemorySegment.Scope> scope;
        State state = State.SEEN;
        HugePages memory;
        Packed packed;

        Entry(MemorySegment source) {
            this.scope = new WeakReference<>(source.scope());
        }

        boolean sourceFreed() {
            MemorySegment.Scope s = scope.get();
            return s == null || !s.isAlive();
        }
    }

    private record WeightKey(long address, long bytes, int k, int n) {
    }

    private record Shape(int k, int n) {
    }

    private record MatmulKey(int m, int k, int n, boolean bias) {
    }

    private final Dnnl dnnl;
    private final Arena arena = Arena.ofShared();
    private final Supplier<Prepack> mode;
    private final LongSupplier available;
    private final LongSupplier margin;
    private final Consumer<String> notices;
    private final Map<WeightKey, Entry> weights = new HashMap<>();
    private final Map<Shape, Layout> layouts = new HashMap<>();
    private final Map<MatmulKey, MatmulPrimitive> matmuls = new HashMap<>();

    // The decisions since the last notice.
    private int packedCount;
    private long packedBytes;
    private long releasedBytes;
    private int unmappedCount;
    private long unmappedBytes;
    private int inPlaceCount;
    private long inPlaceBytes;
    private String grounds;
    /** Whether a notice was printed yet. */
    private boolean noticed;
    private long releasedTotal;
    private long packNanos;

    PackedWeights(Dnnl dnnl) {
        this(dnnl, Prepack::current, PackedWeights::memAvailable, PackedWeights::margin,
                line -> System.err.println("zimage4j: " + line));
    }

    /** Tests: the mode, the memory figures and where the notices go. */
    PackedWeights(Dnnl dnnl, Supplier<Prepack> mode, LongSupplier available, LongSupplier margin, Consumer<String> notices) {
        this.dnnl = dnnl;
        this.mode = mode;
        this.available = available;
        this.margin = margin;
        this.notices = notices;
    }

    /** Whether a weight of {@code bytes} is packed: AUTO when {@code available} (−1: unknown) leaves the margin. */
    static boolean decide(Prepack mode, long bytes, long available, long margin) {
        return switch (mode) {
            case ON -> true;
            case OFF -> false;
            case AUTO -> available >= 0 && available - margin >= bytes;
        };
    }

    /** {@code MemAvailable} of a /proc/meminfo text in bytes, −1 if absent. */
    static long memAvailable(String meminfo) {
        for (String line : meminfo.split("\n")) {
            if (line.startsWith("MemAvailable:")) {
                String[] f = line.substring("MemAvailable:".length()).trim().split("\\s+");
                long v = Long.parseLong(f[0]);
                return f.length > 1 && f[1].equalsIgnoreCase("kB") ? v * 1024 : v;
            }
        }
        return -1;
    }

    /** This machine's available memory in bytes (Linux), −1 where unknown: AUTO then packs nothing. */
    static long memAvailable() {
        try {
            return memAvailable(Files.readString(Path.of("/proc/meminfo")));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** {@link #MARGIN_BYTES} plus what the Java heap may still grow by. */
    static long margin() {
        Runtime rt = Runtime.getRuntime();
        long heapRoom = rt.maxMemory() == Long.MAX_VALUE ? 0 : Math.max(0, rt.maxMemory() - rt.totalMemory());
        return MARGIN_BYTES + heapRoom;
    }

    /**
     * The packed copy of {@code w} (a native bf16 [n, k] weight), made now if this is its second use and
     * the mode and memory allow it; null: multiply it in place.
     */
    Packed get(StoredTensor w, int k, int n) {
        Prepack m = mode.get();
        if (m == Prepack.OFF) {
            return null;
        }
        MemorySegment src = w.data();
        WeightKey key = new WeightKey(src.address(), src.byteSize(), k, n);
        Entry e = weights.get(key);
        if (e != null && e.sourceFreed()) {
            drop(e);
            weights.remove(key);
            e = null;
        }
        if (e == null) {
            dropFreed();
            weights.put(key, new Entry(src));
            return null;
        }
        switch (e.state) {
            case SEEN -> pack(e, src, m, k, n);
            case PACKED, IN_PLACE -> {
                // The first decisions are reported at once (what the policy does); later ones once a whole pass over
                // the model is decided, not at every weight a layer reuses within the pass (one line, not one per layer).
                if (grounds != null && (!noticed || weights.values().stream().noneMatch(x -> x.state == State.SEEN))) {
                    notices.accept(notice());
                    grounds = null;
                    noticed = true;
                }
            }
        }
        return e.packed;
    }

    private void pack(Entry e, MemorySegment src, Prepack m, int k, int n) {
        Layout layout = layout(k, n);
        long avail = m == Prepack.AUTO ? available.getAsLong() : -1;
        long marg = m == Prepack.AUTO ? margin.getAsLong() : 0;
        if (grounds == null) {
            grounds = m == Prepack.ON ? "on" : avail < 0 ? "auto, available memory unknown"
                    : String.format(Locale.ROOT, "auto: %s available, margin %s", gb(avail), gb(marg));
        }
        if (!decide(m, layout.bytes(), avail, marg)) {
            e.state = State.IN_PLACE;
            inPlaceCount++;
            inPlaceBytes += layout.bytes();
            return;
        }
        long t0 = System.nanoTime();
        HugePages memory = new HugePages(layout.bytes());
        layout.reorder().execute(src, memory.data());
        long released = ResidentPages.releaseWithin(src);
        long nanos = System.nanoTime() - t0;
        packNanos += nanos;
        WeightPreparation.report(new WeightPreparation("onednn", WHAT, null, 1, layout.bytes(), nanos / 1e9));
        e.memory = memory;
        e.packed = new Packed(memory.data(), layout);
        e.state = State.PACKED;
        packedCount++;
        packedBytes += layout.bytes();
        releasedBytes += released;
        releasedTotal += released;
        if (!src.isMapped()) {
            unmappedCount++;
            unmappedBytes += src.byteSize();
        }
    }

    private String notice() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "prepack (%s): ", grounds));
        if (packedCount > 0) {
            sb.append(String.format(Locale.ROOT, "%d bf16 weights (%s) copied into oneDNN's blocked layout in %.1f s, their mapped "
                    + "pages (%s) dropped from the resident set", packedCount, gb(packedBytes), packNanos / 1e9, gb(releasedBytes)));
            if (unmappedCount > 0) {
                sb.append(String.format(Locale.ROOT, "; %d (%s) are not file-mapped, so their originals stay resident too",
                        unmappedCount, gb(unmappedBytes)));
            }
        }
        if (inPlaceCount > 0) {
            sb.append(packedCount > 0 ? "; " : "").append(String.format(Locale.ROOT,
                    "%d bf16 weights (%s) used in place: not enough memory for a packed copy", inPlaceCount, gb(inPlaceBytes)));
        }
        packedCount = 0;
        packedBytes = 0;
        packNanos = 0;
        releasedBytes = 0;
        unmappedCount = 0;
        unmappedBytes = 0;
        inPlaceCount = 0;
        inPlaceBytes = 0;
        return sb.toString();
    }

    private static String gb(long bytes) {
        return String.format(Locale.ROOT, "%.2f GB", bytes / 1e9);
    }

    /** Weights held packed now. */
    int packedCount() {
        return (int) weights.values().stream().filter(e -> e.state == State.PACKED).count();
    }

    /** Bytes of mapped pages released after packing, in all. */
    long releasedBytes() {
        return releasedTotal;
    }

    /**
     * Frees {@code w}'s packed copy, if any, and forgets the weight: it is multiplied in place again, and
     * packed anew from its second use after this. Returns the bytes freed.
     */
    long release(StoredTensor w, int k, int n) {
        MemorySegment src = w.data();
        Entry e = weights.remove(new WeightKey(src.address(), src.byteSize(), k, n));
        if (e == null) {
            return 0;
        }
        drop(e);
        return e.packed != null ? e.packed.layout().bytes() : 0;
    }

    /** Drops the copies whose source memory was freed. */
    private void dropFreed() {
        for (Iterator<Entry> it = weights.values().iterator(); it.hasNext(); ) {
            Entry e = it.next();
            if (e.sourceFreed()) {
                drop(e);
                it.remove();
            }
        }
    }

    private static void drop(Entry e) {
        if (e.memory != null) {
            e.memory.close();
        }
    }

    /** The blocked layout for [k, n] bf16 weights and the reorder into it from the stored [n, k] rows. */
    private Layout layout(int k, int n) {
        return layouts.computeIfAbsent(new Shape(k, n), s -> {
            try {
                MatmulPrimitive probe = new MatmulPrimitive(dnnl, arena, dnnl.md2(arena, LAYOUT_ROWS, k, Dnnl.BF16, Dnnl.TAG_AB),
                        dnnl.md2(arena, k, n, Dnnl.BF16, Dnnl.TAG_ANY), MemorySegment.NULL,
                        dnnl.md2(arena, LAYOUT_ROWS, n, Dnnl.F32, Dnnl.TAG_AB));
                MemorySegment md = probe.weightsMd();
                long bytes = (long) dnnl.mdGetSize.invokeExact(md);
                return new Layout(md, bytes, new Reorder(dnnl, arena, dnnl.md2(arena, k, n, Dnnl.BF16, Dnnl.TAG_BA), md));
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("cannot create a oneDNN weight layout for [" + n + ", " + k + "]", t);
            }
        });
    }

    /** The bf16 matmul {@code [m, k] · packed weights (+ bias) → [m, n]} float32. */
    MatmulPrimitive matmul(int m, int k, int n, boolean bias, Packed p) {
        return matmuls.computeIfAbsent(new MatmulKey(m, k, n, bias), key -> {
            try {
                return new MatmulPrimitive(dnnl, arena, dnnl.md2(arena, m, k, Dnnl.BF16, Dnnl.TAG_AB), p.layout().md(),
                        bias ? dnnl.md2(arena, 1, n, Dnnl.F32, Dnnl.TAG_AB) : MemorySegment.NULL,
                        dnnl.md2(arena, m, n, Dnnl.F32, Dnnl.TAG_AB));
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException("cannot create a oneDNN matmul on packed weights for " + key, t);
            }
        });
    }
}
