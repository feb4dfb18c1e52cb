package io.github.zimage4j.kernels;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Iterator;

/**
 * Released host activations kept for the next allocation of the same length. A model that frees an
 * activation usually allocates one of the same shape soon after (the VAE's 512 MB maps at 1024², layer
 * after layer); a fresh array there costs the collector's zeroing plus a page fault per 4 KB on first
 * touch, and leaves garbage the collector copies or scans. A recycled array is only cleared.
 *
 * <p>Only large arrays are kept (small ones are cheap to allocate), at most {@code maxBytes} of them,
 * the least recently released going first. They are held softly, so they never cause an out-of-memory
 * error: the collector clears them before it would throw.
 */
final class ArrayPool {

    /** Smaller arrays are left to the collector. */
    static final int MIN_FLOATS = 1 << 20;
    /** Floats cleared per parallel task. */
    private static final int CHUNK = 1 << 18;

    private final long maxBytes;
    /** A kept array; its length is counted in {@link #bytes} until the entry goes, cleared or not. */
    private record Entry(SoftReference<float[]> array, int length) {
    }

    /** Oldest first. */
    private final ArrayDeque<Entry> free = new ArrayDeque<>();
    private long bytes;

    ArrayPool(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    /**
     * An array of {@code floats}: a released one if the pool holds one of that length (cleared if
     * {@code zeros}, else with its old values), else a new one.
     */
    float[] take(int floats, boolean zeros) {
        float[] a = floats >= MIN_FLOATS ? reuse(floats) : null;
        if (a == null) {
            return new float[floats];
        }
        if (!zeros) {
            return a;
        }
        float[] cleared = a;
        Parallel.get().forEach((floats + CHUNK - 1) / CHUNK,
                t -> Arrays.fill(cleared, t * CHUNK, Math.min(floats, (t + 1) * CHUNK), 0f));
        return a;
    }

    private synchronized float[] reuse(int floats) {
        for (Iterator<Entry> it = free.descendingIterator(); it.hasNext(); ) {
            Entry e = it.next();
            float[] a = e.array().get();
            if (a == null || e.length() == floats) {
                it.remove();
                bytes -= 4L * e.length();
                if (a != null) {
                    return a;
                }
            }
        }
        return null;
    }

    /** Keeps a released array for reuse; the caller must not touch it afterwards. */
    synchronized void give(float[] a) {
        if (a.length < MIN_FLOATS || 4L * a.length > maxBytes) {
            return;
        }
        for (Entry e : free) {
            if (e.array().get() == a) {
                return; // released twice
            }
        }
        free.addLast(new Entry(new SoftReference<>(a), a.length));
        bytes += 4L * a.length;
        while (bytes > maxBytes) {
            bytes -= 4L * free.removeFirst().length();
        }
    }

    /** Bytes held (tests). */
    synchronized long bytes() {
        return bytes;
    }
}
