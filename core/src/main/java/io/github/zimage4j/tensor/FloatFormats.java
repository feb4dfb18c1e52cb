package io.github.zimage4j.tensor;

/** Bit-level conversions between float32 and the narrow float formats weights are stored in. */
public final class FloatFormats {

    private FloatFormats() {
    }

    private static final float[] E4M3 = new float[256];
    private static final float[] E5M2 = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            E4M3[b] = decodeE4M3(b);
            // E5M2 is the upper byte of an IEEE half.
            E5M2[b] = Float.float16ToFloat((short) (b << 8));
        }
    }

    /** bfloat16 bits (the upper half of a float32) to float. Exact. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /** float to bfloat16 bits, rounding to nearest even (as torch and ggml do); NaN stays NaN. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7FFFFFFF) > 0x7F800000) {
            return (short) ((x >>> 16) | 0x0040); // quiet NaN
        }
        int rounding = 0x7FFF + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    /** float rounded to the nearest bfloat16 value, as a float. */
    public static float roundToBf16(float f) {
        return bf16ToFloat(floatToBf16(f));
    }

    /** IEEE half bits to float. Exact. */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float8 e4m3fn (bias 7, no infinities, S.1111.111 is NaN) to float. Exact. */
    public static float f8e4m3ToFloat(byte bits) {
        return E4M3[bits & 0xFF];
    }

    /** float8 e5m2 (IEEE-style, bias 15) to float. Exact. */
    public static float f8e5m2ToFloat(byte bits) {
        return E5M2[bits & 0xFF];
    }

    private static float decodeE4M3(int b) {
        int sign = (b >> 7) & 1;
        int exp = (b >> 3) & 0xF;
        int man = b & 0x7;
        float v;
        if (exp == 0xF && man == 0x7) {
            v = Float.NaN;
        } else if (exp == 0) {
            v = man / 8f * (float) Math.pow(2, -6); // subnormal
        } else {
            v = (1 + man / 8f) * (float) Math.pow(2, exp - 7);
        }
        return sign == 1 ? -v : v;
    }
}
