package io.github.zimage4j.kernels;

import io.github.zimage4j.tensor.BlockFormats;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Decodes runs of a stored weight into float32, one kernel per dtype (ggml block types block by block,
 * per-tensor scales applied). Every GEMM path goes through here, native backends' tile decoders included,
 * so a given weight value always becomes the same float whichever path reads it.
 */
public final class WeightRows {

    private WeightRows() {
    }

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> SS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(FS.vectorBitSize() / 2));
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Decodes {@code count} elements starting at flat element {@code index} into {@code dst[dstOff…]}. */
    public static void decode(StoredTensor w, long index, int count, float[] dst, int dstOff) {
        decodeStored(w, index, count, dst, dstOff);
        float scale = w.scale();
        if (scale != 1f) {
            scale(dst, dstOff, count, scale);
        }
    }

    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[256]);

    private static void decodeStored(StoredTensor w, long index, int count, float[] dst, int dstOff) {
        MemorySegment seg = w.data();
        switch (w.dtype()) {
            case Q8_0 -> QuantRows.q8_0(seg, index, count, dst, dstOff, BLOCK.get());
            case Q4_K -> QuantRows.q4_k(seg, index, count, dst, dstOff, BLOCK.get());
            case Q4_0, Q4_1, Q5_0, Q5_1, Q5_K, Q6_K ->
                    BlockFormats.decode(w.dtype(), seg, index, count, dst, dstOff, BLOCK.get());
            case F32 -> MemorySegment.copy(seg, F32, index * 4, dst, dstOff, count);
            case BF16 -> decodeBf16(seg, index * 2, count, dst, dstOff);
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOff + i] = Float.float16ToFloat(seg.get(I16, (index + i) * 2));
                }
            }
            case F8_E4M3 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOff + i] = FloatFormats.f8e4m3ToFloat(seg.get(ValueLayout.JAVA_BYTE, index + i));
                }
            }
            case F8_E5M2 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOff + i] = FloatFormats.f8e5m2ToFloat(seg.get(ValueLayout.JAVA_BYTE, index + i));
                }
            }
            default -> throw new IllegalArgumentException(w.where() + ": dtype " + w.dtype() + " is not a weight type");
        }
    }

    private static void scale(float[] x, int off, int n, float s) {
        int i = 0;
        int bound = n - n % FS.length();
        for (; i < bound; i += FS.length()) {
            FloatVector.fromArray(FS, x, off + i).mul(s).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= s;
        }
    }

    private static void decodeBf16(MemorySegment seg, long byteOff, int count, float[] dst, int dstOff) {
        int i = 0;
        int bound = count - count % FS.length();
        for (; i < bound; i += FS.length()) {
            ShortVector s = ShortVector.fromMemorySegment(SS, seg, byteOff + 2L * i, ByteOrder.LITTLE_ENDIAN);
            IntVector widened = (IntVector) s.convertShape(VectorOperators.S2I, IS, 0);
            widened.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOff + i);
        }
        for (; i < count; i++) {
            dst[dstOff + i] = FloatFormats.bf16ToFloat(seg.get(I16, byteOff + 2L * i));
        }
    }
}
