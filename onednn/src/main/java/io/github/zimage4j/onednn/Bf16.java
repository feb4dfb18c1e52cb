package io.github.zimage4j.onednn;

import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.FloatFormats;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Copies of heap float32 activations into native memory, as bfloat16 (round to nearest even) or float32. */
final class Bf16 {

    private Bf16() {
    }

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 1 << 16;

    /** {@code dst[dstIndex + i] = bf16(x[off + i])} for i < count (element indices), parallel over chunks. */
    static void store(float[] x, int off, int count, MemorySegment dst, long dstIndex) {
        int tasks = (count + CHUNK - 1) / CHUNK;
        Parallel.get().forEach(tasks, t -> {
            int from = t * CHUNK;
            storeRun(x, off + from, Math.min(count, from + CHUNK) - from, dst, dstIndex + from);
        });
    }

    /** As {@link #store}, on the calling thread. */
    static void storeRun(float[] x, int off, int count, MemorySegment dst, long dstIndex) {
        int i = 0;
        for (; i + FS.length() <= count; i += FS.length()) {
            IntVector bits = FloatVector.fromArray(FS, x, off + i).reinterpretAsInts();
            IntVector lsb = bits.lanewise(VectorOperators.LSHR, 16).and(1);
            IntVector rounded = bits.add(0x7FFF).add(lsb).lanewise(VectorOperators.LSHR, 16);
            ((ShortVector) rounded.convertShape(VectorOperators.I2S, SS, 0))
                    .intoMemorySegment(dst, 2 * (dstIndex + i), ByteOrder.LITTLE_ENDIAN);
        }
        for (; i < count; i++) {
            dst.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * (dstIndex + i), FloatFormats.floatToBf16(x[off + i]));
        }
    }

    /** Copies {@code count} floats to native memory as bf16 or float32. */
    static void copy(float[] x, int off, int count, MemorySegment dst, boolean bf16) {
        if (bf16) {
            store(x, off, count, dst, 0);
        } else {
            MemorySegment.copy(x, off, dst, F32, 0, count);
        }
    }
}
