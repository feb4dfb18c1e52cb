package io.github.zimage4j.jmh;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Benchmark inputs: uniform random values, seeded so runs are comparable. Weights live in native
 * memory, as they do when memory-mapped from a checkpoint; a heap segment would send the oneDNN backend
 * to its Java fallback and measure the wrong thing.
 */
final class RandomData {

    private RandomData() {
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * A weight of the given dtype in {@code arena}: BF16 or F32 values uniform in [-bound, bound), or Q8_0 /
     * Q4_K blocks of random quants whose scales (d, dmin) are about bound / 64.
     */
    static StoredTensor weight(Arena arena, String name, DType dtype, float bound, long seed, long... shape) {
        long n = StoredTensor.numel(shape);
        MemorySegment data = arena.allocate(dtype.byteSize(n), 64);
        SplittableRandom random = new SplittableRandom(seed);
        switch (dtype) {
            case F32 -> {
                for (long i = 0; i < n; i++) {
                    data.setAtIndex(F32, i, uniform(random, bound));
                }
            }
            case BF16 -> {
                for (long i = 0; i < n; i++) {
                    data.setAtIndex(BF16, i, FloatFormats.floatToBf16(uniform(random, bound)));
                }
            }
            case Q8_0, Q4_K -> {
                for (long i = 0; i < data.byteSize(); i++) {
                    data.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
                }
                short scale = Float.floatToFloat16(bound / 64);
                for (long b = 0; b < data.byteSize(); b += dtype.blockBytes()) {
                    data.set(BF16, b, scale);
                    if (dtype == DType.Q4_K) {
                        data.set(BF16, b + 2, scale);
                    }
                }
            }
            default -> throw new IllegalArgumentException("benchmark weights are BF16, F32, Q8_0 or Q4_K, not " + dtype);
        }
        return new StoredTensor(name, "random weights", dtype, shape, data);
    }

    /** {@code n} activations uniform in [-1, 1). */
    static float[] activations(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = uniform(random, 1f);
        }
        return x;
    }

    private static float uniform(SplittableRandom random, float bound) {
        return (float) random.nextDouble(-bound, bound);
    }
}
