package io.github.zimage4j.onednn;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The row kernels around an int8 product: per-row quantization (weights symmetric to int8, activations
 * asymmetric to uint8) and the float epilogue of the int32 result. Vector lanes and the scalar tail do the same float operations, so a value's result
 * does not depend on where in the row it sits, and a row's on which other rows are in the call.
 */
final class Int8Rows {

    private Int8Rows() {
    }

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, FS.length() * 8)));
    private static final boolean VECTOR = BS.length() == FS.length();
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Whether {@link #quantizeQ8_0} can run: whole vectors per 32-value block. */
    static final boolean READS_Q8_0 = VECTOR && 32 % FS.length() == 0;

    /**
     * {@code dst[dstOff + i] = round(x[off + i] · 127 / max|x|)} for i &lt; count (half away from zero),
     * as int8 in [-127, 127]; returns the scale {@code max|x| / 127} that restores the values (0 for a row of
     * zeros, NaN for a row with a NaN or infinity; their quants are all 0).
     */
    static float quantize(float[] x, int off, int count, MemorySegment dst, long dstOff) {
        float max = 0f;
        int i = 0;
        if (VECTOR) {
            FloatVector m = FloatVector.zero(FS);
            for (int bound = FS.loopBound(count); i < bound; i += FS.length()) {
                m = m.max(FloatVector.fromArray(FS, x, off + i).abs());
            }
            max = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < count; i++) {
            max = Math.max(max, Math.abs(x[off + i]));
        }
        if (!(max > 0f && max < Float.POSITIVE_INFINITY)) {
            // Zeros stay zeros; a NaN or infinity makes the whole row NaN, as a float product would, so
            // the model's non-finite checks still see it.
            dst.asSlice(dstOff, count).fill((byte) 0);
            return max == 0f ? 0f : Float.NaN;
        }
        float inv = 127f / max;
        i = 0;
        if (VECTOR) {
            FloatVector half = FloatVector.broadcast(FS, 0.5f);
            FloatVector minusHalf = FloatVector.broadcast(FS, -0.5f);
            for (int bound = FS.loopBound(count); i < bound; i += FS.length()) {
                FloatVector t = FloatVector.fromArray(FS, x, off + i).mul(inv);
                VectorMask<Float> negative = t.lt(0f);
                t = t.add(half.blend(minusHalf, negative));
                IntVector q = (IntVector) t.convertShape(VectorOperators.F2I, IS, 0);
                ByteVector b = (ByteVector) q.convertShape(VectorOperators.I2B, BS, 0);
                b.intoMemorySegment(dst, dstOff + i, ByteOrder.LITTLE_ENDIAN);
            }
        }
        for (; i < count; i++) {
            float t = x[off + i] * inv;
            t = t + (t < 0f ? -0.5f : 0.5f);
            dst.set(ValueLayout.JAVA_BYTE, dstOff + i, (byte) (int) t);
        }
        return max / 127f;
    }

    /**
     * {@link #quantize} of a row of {@code count} values stored as Q8_0 blocks (34 bytes: an fp16 scale d,
     * 32 int8 quants) from byte {@code offset} of {@code blocks}, decoded as {@code WeightRows.decode} decodes
     * them: {@code q · d}, then {@code · tensorScale} unless that is 1. The same float operations value by
     * value as decoding into a float row and quantizing that, so the same bytes and scale, but read straight
     * from the blocks: no float row to write and read back. Also stores the row's sum of quants in
     * {@code sums[sumIndex]}. Needs {@link #READS_Q8_0} and {@code count % 32 == 0}.
     */
    static float quantizeQ8_0(MemorySegment blocks, long offset, int count, float tensorScale, MemorySegment dst, long dstOff,
                              int[] sums, int sumIndex) {
        boolean scaled = tensorScale != 1f;
        long end = offset + count / 32 * 34L;
        FloatVector m = FloatVector.zero(FS);
        for (long b = offset; b < end; b += 34) {
            float d = Float.float16ToFloat(blocks.get(I16, b));
            for (int j = 0; j < 32; j += FS.length()) {
                FloatVector x = decoded(blocks, b + 2 + j, d, scaled, tensorScale);
                m = m.max(x.abs());
            }
        }
        float max = m.reduceLanes(VectorOperators.MAX);
        if (!(max > 0f && max < Float.POSITIVE_INFINITY)) {
            dst.asSlice(dstOff, count).fill((byte) 0);
            sums[sumIndex] = 0;
            return max == 0f ? 0f : Float.NaN;
        }
        float inv = 127f / max;
        FloatVector half = FloatVector.broadcast(FS, 0.5f);
        FloatVector minusHalf = FloatVector.broadcast(FS, -0.5f);
        IntVector sum = IntVector.zero(IS);
        long o = dstOff;
        for (long b = offset; b < end; b += 34) {
            float d = Float.float16ToFloat(blocks.get(I16, b));
            for (int j = 0; j < 32; j += FS.length(), o += FS.length()) {
                FloatVector t = decoded(blocks, b + 2 + j, d, scaled, tensorScale).mul(inv);
                t = t.add(half.blend(minusHalf, t.lt(0f)));
                IntVector q = (IntVector) t.convertShape(VectorOperators.F2I, IS, 0);
                sum = sum.add(q);
                ((ByteVector) q.convertShape(VectorOperators.I2B, BS, 0)).intoMemorySegment(dst, o, ByteOrder.LITTLE_ENDIAN);
            }
        }
        sums[sumIndex] = sum.reduceLanes(VectorOperators.ADD);
        return max / 127f;
    }

    /** One vector of a Q8_0 block's values: quants · d (· tensorScale), two roundings as the decoder does. */
    private static FloatVector decoded(MemorySegment blocks, long at, float d, boolean scaled, float tensorScale) {
        FloatVector x = ((FloatVector) ByteVector.fromMemorySegment(BS, blocks, at, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2F, FS, 0)).mul(d);
        return scaled ? x.mul(tensorScale) : x;
    }

    /**
     * Asymmetric quantization to uint8 for the activation side of the product ({@code u8 × s8} is what
     * VNNI and AMX multiply natively): {@code x ≈ scale · (q − zero)} with the range [min(x, 0), max(x, 0)]
     * spread over 0…255, a quarter of a bit finer than int8's symmetric ±127 for rows centred on zero and
     * up to a bit finer for one-sided rows. Writes q to {@code dst}, returns the scale (0 for a row of zeros,
     * NaN for a row with a NaN or infinity: then q = 0 and the row's products become NaN, as float
     * products would) and stores the zero point in {@code zero[zeroIndex]}.
     */
    static float quantizeU8(float[] x, int off, int count, MemorySegment dst, long dstOff, int[] zero, int zeroIndex) {
        float lo = 0f;
        float hi = 0f;
        int i = 0;
        if (VECTOR) {
            FloatVector vlo = FloatVector.zero(FS);
            FloatVector vhi = FloatVector.zero(FS);
            for (int bound = FS.loopBound(count); i < bound; i += FS.length()) {
                FloatVector v = FloatVector.fromArray(FS, x, off + i);
                vlo = vlo.min(v);
                vhi = vhi.max(v);
            }
            lo = vlo.reduceLanes(VectorOperators.MIN);
            hi = vhi.reduceLanes(VectorOperators.MAX);
        }
        for (; i < count; i++) {
            lo = Math.min(lo, x[off + i]);
            hi = Math.max(hi, x[off + i]);
        }
        float range = hi - lo;
        if (!(range > 0f && range < Float.POSITIVE_INFINITY)) {
            dst.asSlice(dstOff, count).fill((byte) 0);
            zero[zeroIndex] = 0;
            return range == 0f ? 0f : Float.NaN;
        }
        float scale = range / 255f;
        float inv = 255f / range;
        // lo ≤ 0 ≤ hi: zero lies in [0, 255] and every q = x·inv + zero rounds into [0, 255].
        int z = Math.min(255, (int) (-lo * inv + 0.5f));
        float zf = z + 0.5f;
        i = 0;
        if (VECTOR) {
            for (int bound = FS.loopBound(count); i < bound; i += FS.length()) {
                FloatVector t = FloatVector.fromArray(FS, x, off + i).fma(inv, zf).max(0f).min(255.5f);
                IntVector q = (IntVector) t.convertShape(VectorOperators.F2I, IS, 0);
                ByteVector b = (ByteVector) q.convertShape(VectorOperators.I2B, BS, 0);
                b.intoMemorySegment(dst, dstOff + i, ByteOrder.LITTLE_ENDIAN);
            }
        }
        for (; i < count; i++) {
            float t = Math.min(Math.max(Math.fma(x[off + i], inv, zf), 0f), 255.5f);
            dst.set(ValueLayout.JAVA_BYTE, dstOff + i, (byte) (int) t);
        }
        zero[zeroIndex] = z;
        return scale;
    }

    /**
     * {@code out[outOff + j] = (acc[j] − zero · colSum[j]) · (rowScale · colScale[j]) + bias[j]} for j &lt; n:
     * the int32 products {@code acc} of a {@link #quantizeU8} row, read from {@code src} at byte offset
     * {@code srcOff}, less the zero point's share (exact in int32), scaled; {@code bias} may be null.
     */
    static void epilogue(MemorySegment src, long srcOff, int n, float rowScale, int zero, int[] colSum, float[] colScale,
                         float[] bias, float[] out, int outOff) {
        int j = 0;
        if (VECTOR) {
            for (int bound = FS.loopBound(n); j < bound; j += FS.length()) {
                IntVector a = IntVector.fromMemorySegment(IS, src, srcOff + 4L * j, ByteOrder.LITTLE_ENDIAN)
                        .sub(IntVector.fromArray(IS, colSum, j).mul(zero));
                FloatVector acc = (FloatVector) a.convertShape(VectorOperators.I2F, FS, 0);
                FloatVector s = FloatVector.fromArray(FS, colScale, j).mul(rowScale);
                FloatVector r = bias == null ? acc.mul(s) : acc.fma(s, FloatVector.fromArray(FS, bias, j));
                r.intoArray(out, outOff + j);
            }
        }
        for (; j < n; j++) {
            float acc = src.get(I32, srcOff + 4L * j) - zero * colSum[j];
            float s = colScale[j] * rowScale;
            out[outOff + j] = bias == null ? acc * s : Math.fma(acc, s, bias[j]);
        }
    }
}
