package io.github.zimage4j.kernels;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.tensor.BlockFormats;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Vectorized dequantization of the block types the GEMM meets most (Q8_0 and Q4_K), with the same
 * operations in the same order as {@link BlockFormats}, so both give identical floats. Runs that start or
 * end inside a block, and the other block types, go through {@link BlockFormats}.
 */
final class QuantRows {

    private QuantRows() {
    }

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final int VL = FS.length();
    /** Bytes holding one float vector's worth of 8-bit quants. */
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, VL * 8)));
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final boolean VECTOR = VL >= 8 && 32 % VL == 0 && BS.length() == VL;

    static void q8_0(MemorySegment s, long index, int count, float[] dst, int off, float[] scratch) {
        if (!VECTOR || index % 32 != 0 || count % 32 != 0) {
            BlockFormats.decode(DType.Q8_0, s, index, count, dst, off, scratch);
            return;
        }
        long b = index / 32 * 34;
        for (int done = 0; done < count; done += 32, b += 34) {
            float d = Float.float16ToFloat(s.get(I16, b));
            for (int j = 0; j < 32; j += VL) {
                ByteVector q = ByteVector.fromMemorySegment(BS, s, b + 2 + j, ByteOrder.LITTLE_ENDIAN);
                ((FloatVector) q.convertShape(VectorOperators.B2F, FS, 0)).mul(d).intoArray(dst, off + done + j);
            }
        }
    }

    static void q4_k(MemorySegment s, long index, int count, float[] dst, int off, float[] scratch) {
        if (!VECTOR || index % 256 != 0 || count % 256 != 0) {
            BlockFormats.decode(DType.Q4_K, s, index, count, dst, off, scratch);
            return;
        }
        long b = index / 256 * 144;
        for (int done = 0; done < count; done += 256, b += 144) {
            float d = Float.float16ToFloat(s.get(I16, b));
            float min = Float.float16ToFloat(s.get(I16, b + 2));
            long scales = b + 4;
            long q = b + 16;
            for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
                int sm1 = BlockFormats.scaleMinK4(s, scales, is);
                int sm2 = BlockFormats.scaleMinK4(s, scales, is + 1);
                float d1 = d * (sm1 & 0xFF);
                float m1 = min * (sm1 >> 8);
                float d2 = d * (sm2 & 0xFF);
                float m2 = min * (sm2 >> 8);
                int o = off + done + j;
                for (int l = 0; l < 32; l += VL) {
                    ByteVector v = ByteVector.fromMemorySegment(BS, s, q + l, ByteOrder.LITTLE_ENDIAN);
                    FloatVector lo = (FloatVector) v.and((byte) 0x0F).convertShape(VectorOperators.B2F, FS, 0);
                    FloatVector hi = (FloatVector) v.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)
                            .convertShape(VectorOperators.B2F, FS, 0);
                    lo.mul(d1).sub(m1).intoArray(dst, o + l);
                    hi.mul(d2).sub(m2).intoArray(dst, o + 32 + l);
                }
            }
        }
    }
}
