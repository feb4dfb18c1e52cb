package io.github.zimage4j.tensor;

import io.github.zimage4j.io.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Dequantization of ggml's block types, one block at a time: ggml's {@code dequantize_row_*}
 * ({@code ggml-quants.c}) operation for operation. Every product before the last operation is exact in
 * float32, and Java never fuses a multiply with an add, so the values are ggml's bit for bit.
 */
public final class BlockFormats {

    private BlockFormats() {
    }

    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    static float f16(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(I16, off));
    }

    private static int u8(MemorySegment s, long off) {
        return s.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    /** Decodes the block at byte offset {@code b} into {@code dst[off … off + blockElements)}. */
    public static void decodeBlock(DType type, MemorySegment s, long b, float[] dst, int off) {
        switch (type) {
            case Q8_0 -> q8_0(s, b, dst, off);
            case Q4_0 -> q4_0(s, b, dst, off);
            case Q4_1 -> q4_1(s, b, dst, off);
            case Q5_0 -> q5(s, b, dst, off, false);
            case Q5_1 -> q5(s, b, dst, off, true);
            case Q4_K -> q4_k(s, b, dst, off);
            case Q5_K -> q5_k(s, b, dst, off);
            case Q6_K -> q6_k(s, b, dst, off);
            default -> throw new IllegalArgumentException(type + " is not a block type");
        }
    }

    /**
     * Decodes elements {@code [index, index + count)} of a row-major block-typed tensor; runs that start
     * or end inside a block decode that block into {@code scratch} (at least one block long) first.
     */
    public static void decode(DType type, MemorySegment s, long index, int count, float[] dst, int dstOff, float[] scratch) {
        int qk = type.blockElements();
        int bb = type.blockBytes();
        long block = index / qk;
        int done = 0;
        int skip = (int) (index % qk);
        while (done < count) {
            int take = Math.min(qk - skip, count - done);
            if (skip == 0 && take == qk) {
                decodeBlock(type, s, block * bb, dst, dstOff + done);
            } else {
                decodeBlock(type, s, block * bb, scratch, 0);
                System.arraycopy(scratch, skip, dst, dstOff + done, take);
            }
            done += take;
            skip = 0;
            block++;
        }
    }

    private static void q8_0(MemorySegment s, long b, float[] y, int o) {
        float d = f16(s, b);
        for (int j = 0; j < 32; j++) {
            y[o + j] = s.get(ValueLayout.JAVA_BYTE, b + 2 + j) * d;
        }
    }

    private static void q4_0(MemorySegment s, long b, float[] y, int o) {
        float d = f16(s, b);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, b + 2 + j);
            y[o + j] = ((q & 0x0F) - 8) * d;
            y[o + j + 16] = ((q >> 4) - 8) * d;
        }
    }

    private static void q4_1(MemorySegment s, long b, float[] y, int o) {
        float d = f16(s, b);
        float m = f16(s, b + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(s, b + 4 + j);
            y[o + j] = (q & 0x0F) * d + m;
            y[o + j + 16] = (q >> 4) * d + m;
        }
    }

    private static void q5(MemorySegment s, long b, float[] y, int o, boolean withMin) {
        float d = f16(s, b);
        float m = withMin ? f16(s, b + 2) : 0f;
        long hOff = withMin ? b + 4 : b + 2;
        int qh = s.get(I32, hOff);
        long qs = hOff + 4;
        int offset = withMin ? 0 : 16;
        for (int j = 0; j < 16; j++) {
            int q = u8(s, qs + j);
            int h0 = ((qh >>> j) << 4) & 0x10;
            int h1 = (qh >>> (j + 12)) & 0x10;
            int x0 = ((q & 0x0F) | h0) - offset;
            int x1 = ((q >> 4) | h1) - offset;
            if (withMin) {
                y[o + j] = x0 * d + m;
                y[o + j + 16] = x1 * d + m;
            } else {
                y[o + j] = x0 * d;
                y[o + j + 16] = x1 * d;
            }
        }
    }

    /** ggml's get_scale_min_k4: the 6-bit scale (low int) and min (high int) of sub-block j. */
    public static int scaleMinK4(MemorySegment s, long scales, int j) {
        int sc;
        int mn;
        if (j < 4) {
            sc = u8(s, scales + j) & 63;
            mn = u8(s, scales + j + 4) & 63;
        } else {
            sc = (u8(s, scales + j + 4) & 0xF) | ((u8(s, scales + j - 4) >> 6) << 4);
            mn = (u8(s, scales + j + 4) >> 4) | ((u8(s, scales + j) >> 6) << 4);
        }
        return sc | mn << 8;
    }

    private static void q4_k(MemorySegment s, long b, float[] y, int o) {
        float d = f16(s, b);
        float min = f16(s, b + 2);
        long scales = b + 4;
        long q = b + 16;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
            int sm1 = scaleMinK4(s, scales, is);
            int sm2 = scaleMinK4(s, scales, is + 1);
            float d1 = d * (sm1 & 0xFF);
            float m1 = min * (sm1 >> 8);
            float d2 = d * (sm2 & 0xFF);
            float m2 = min * (sm2 >> 8);
            for (int l = 0; l < 32; l++) {
                int v = u8(s, q + l);
                y[o + j + l] = d1 * (v & 0xF) - m1;
                y[o + j + 32 + l] = d2 * (v >> 4) - m2;
            }
        }
    }

    private static void q5_k(MemorySegment s, long b, float[] y, int o) {
        float d = f16(s, b);
        float min = f16(s, b + 2);
        long scales = b + 4;
        long qh = b + 16;
        long ql = b + 48;
        int u1 = 1;
        int u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            int sm1 = scaleMinK4(s, scales, is);
            int sm2 = scaleMinK4(s, scales, is + 1);
            float d1 = d * (sm1 & 0xFF);
            float m1 = min * (sm1 >> 8);
            float d2 = d * (sm2 & 0xFF);
            float m2 = min * (sm2 >> 8);
            for (int l = 0; l < 32; l++) {
                int v = u8(s, ql + l);
                int h = u8(s, qh + l);
                y[o + j + l] = d1 * ((v & 0xF) + ((h & u1) != 0 ? 16 : 0)) - m1;
                y[o + j + 32 + l] = d2 * ((v >> 4) + ((h & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }

    private static void q6_k(MemorySegment s, long b, float[] y, int o) {
        float d = f16(s, b + 208);
        long ql = b;
        long qh = b + 128;
        long sc = b + 192;
        for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int h = u8(s, qh + l);
                int lo = u8(s, ql + l);
                int hi = u8(s, ql + l + 32);
                int q1 = ((lo & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((hi & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((lo >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((hi >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[o + n + l] = d * s.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                y[o + n + l + 32] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                y[o + n + l + 64] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                y[o + n + l + 96] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
        }
    }
}
