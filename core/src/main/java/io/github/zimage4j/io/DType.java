package io.github.zimage4j.io;

/**
 * Element types of stored tensors: their safetensors and ggml names and their block geometry.
 *
 * <p>Plain types are blocks of one element. Quantized (ggml) types store a row in blocks of
 * {@link #blockElements()} values taking {@link #blockBytes()} bytes each (scales and quants together), so
 * sizes and strides must go through {@link #byteSize(long)}: a quantized type has no per-element size.
 * The geometry is ggml's type traits ({@code ggml.c}: {@code blck_size}, {@code type_size}).
 */
public enum DType {
    F64("F64", 28, 1, 8),
    F32("F32", 0, 1, 4),
    F16("F16", 1, 1, 2),
    BF16("BF16", 30, 1, 2),
    F8_E4M3("F8_E4M3", -1, 1, 1),
    F8_E5M2("F8_E5M2", -1, 1, 1),
    I64("I64", 27, 1, 8),
    I32("I32", 26, 1, 4),
    I16("I16", 25, 1, 2),
    I8("I8", 24, 1, 1),
    U8("U8", -1, 1, 1),
    BOOL("BOOL", -1, 1, 1),
    /** f16 d, 32 × int8. */
    Q8_0(null, 8, 32, 34),
    /** f16 d, 16 bytes of 4-bit quants (offset 8). */
    Q4_0(null, 2, 32, 18),
    /** f16 d, f16 m, 16 bytes of 4-bit quants. */
    Q4_1(null, 3, 32, 20),
    /** f16 d, u32 high bits, 16 bytes of low nibbles (offset 16). */
    Q5_0(null, 6, 32, 22),
    /** f16 d, f16 m, u32 high bits, 16 bytes of low nibbles. */
    Q5_1(null, 7, 32, 24),
    /** Super-blocks of 8 × 32: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles. */
    Q4_K(null, 12, 256, 144),
    /** As Q4_K plus 32 bytes of fifth bits. */
    Q5_K(null, 13, 256, 176),
    /** 128 bytes low nibbles, 64 bytes of 2-bit highs, 16 int8 scales, f16 d. */
    Q6_K(null, 14, 256, 210);

    private final String safetensorsName;
    private final int ggmlType;
    private final int blockElements;
    private final int blockBytes;

    DType(String safetensorsName, int ggmlType, int blockElements, int blockBytes) {
        this.safetensorsName = safetensorsName;
        this.ggmlType = ggmlType;
        this.blockElements = blockElements;
        this.blockBytes = blockBytes;
    }

    /** The safetensors header name, or null for types safetensors cannot hold (the ggml block types). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The ggml type id used in GGUF files, or -1 when GGUF has none. */
    public int ggmlType() {
        return ggmlType;
    }

    /** Elements per block: 1 for plain types, 32 or 256 for ggml's quantized types. */
    public int blockElements() {
        return blockElements;
    }

    /** Bytes per block. */
    public int blockBytes() {
        return blockBytes;
    }

    public boolean isQuantized() {
        return blockElements > 1;
    }

    /**
     * Bytes per element of a plain type.
     *
     * @throws IllegalStateException for a quantized type, whose elements have no size of their own
     */
    public int bytes() {
        if (isQuantized()) {
            throw new IllegalStateException(this + " is stored in blocks of " + blockElements + " elements ("
                    + blockBytes + " bytes); use byteSize");
        }
        return blockBytes;
    }

    /**
     * Bytes taken by {@code elements} values: a tensor's size, or a row's stride when given the row length.
     *
     * @throws IllegalArgumentException if {@code elements} is not a whole number of blocks
     * @throws ArithmeticException on overflow
     */
    public long byteSize(long elements) {
        if (elements % blockElements != 0) {
            throw new IllegalArgumentException(elements + " elements are not a whole number of " + this + " blocks of "
                    + blockElements);
        }
        return Math.multiplyExact(elements / blockElements, (long) blockBytes);
    }

    public boolean isFloatingPoint() {
        return this != I64 && this != I32 && this != I16 && this != I8 && this != U8 && this != BOOL;
    }

    /** The dtype for a safetensors header name, or null when unknown. */
    public static DType fromSafetensors(String name) {
        for (DType d : values()) {
            if (name.equals(d.safetensorsName)) {
                return d;
            }
        }
        return null;
    }

    /** The dtype for a ggml type id, or null when unknown or unsupported. */
    public static DType fromGgml(long id) {
        for (DType d : values()) {
            if (d.ggmlType >= 0 && d.ggmlType == id) {
                return d;
            }
        }
        return null;
    }

    /** The ggml type name of an id (for messages), including types this reader does not support. */
    public static String ggmlName(long id) {
        DType d = fromGgml(id);
        if (d != null) {
            return d.name();
        }
        String[] names = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K",
                "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",
                "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8",
                "TQ1_0", "TQ2_0"};
        return id >= 0 && id < names.length ? names[(int) id] : "type " + id;
    }
}
