package io.github.zimage4j.tensor;

import io.github.zimage4j.io.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A read-only, row-major tensor in its stored dtype, usually a slice of a memory-mapped file.
 *
 * <p>Weights stay in this form: kernels decode them (bf16, f16, f8, …) while they compute. Only small
 * tensors (norm scales, biases, test inputs) are ever copied to a {@code float[]}.
 */
public final class StoredTensor {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Largest tensor {@link #toFloats()} copies: guards against materializing a weight matrix by mistake. */
    public static final long MAX_COPY_ELEMENTS = 1L << 28;

    private final String name;
    private final String file;
    private final DType dtype;
    private final long[] shape;
    private final MemorySegment data;
    private final float scale;

    public StoredTensor(String name, String file, DType dtype, long[] shape, MemorySegment data) {
        this(name, file, dtype, shape, data, 1f);
    }

    /**
     * @param scale a per-tensor factor every decoded value is multiplied by (fp8 checkpoints store their
     *              weights scaled down); 1 for none
     */
    public StoredTensor(String name, String file, DType dtype, long[] shape, MemorySegment data, float scale) {
        this.name = name;
        this.file = file;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data;
        this.scale = scale;
        if (dtype.isQuantized() && (shape.length == 0 || shape[shape.length - 1] % dtype.blockElements() != 0)) {
            throw new IllegalArgumentException(where() + ": shape " + Arrays.toString(shape) + " of " + dtype
                    + " needs rows that are whole blocks of " + dtype.blockElements());
        }
        long need = dtype.byteSize(numel(shape));
        if (data.byteSize() != need) {
            throw new IllegalArgumentException(where() + ": " + data.byteSize() + " bytes for shape "
                    + Arrays.toString(shape) + " " + dtype + " (needs " + need + ")");
        }
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public String name() {
        return name;
    }

    /** The file this tensor came from (for error messages). */
    public String file() {
        return file;
    }

    public String where() {
        return file + ": tensor '" + name + "'";
    }

    public DType dtype() {
        return dtype;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public long numel() {
        return numel(shape);
    }

    public MemorySegment data() {
        return data;
    }

    /** The factor decoded values are multiplied by (1 unless the checkpoint stores a per-tensor scale). */
    public float scale() {
        return scale;
    }

    /** The same stored bytes read with a per-tensor scale (see {@link #scale()}). */
    public StoredTensor withScale(float newScale) {
        return new StoredTensor(name, file, dtype, shape, data, newScale);
    }

    /** The same bytes under another name (a renaming view). */
    public StoredTensor named(String newName) {
        return new StoredTensor(newName, file, dtype, shape, data, scale);
    }

    /** Rows {@code [start, start+count)} along dimension 0, without copying. */
    public StoredTensor rows(long start, long count) {
        if (shape.length == 0 || start < 0 || count < 0 || start + count > shape[0]) {
            throw new IndexOutOfBoundsException(where() + ": rows [" + start + "," + (start + count)
                    + ") of shape " + Arrays.toString(shape));
        }
        long rowBytes = dtype.byteSize(numel(shape) / Math.max(1, shape[0]));
        long[] s = shape.clone();
        s[0] = count;
        return new StoredTensor(name, file, dtype, s, data.asSlice(start * rowBytes, count * rowBytes), scale);
    }

    /** The same bytes viewed with another shape of the same element count. */
    public StoredTensor reshape(String newName, long... newShape) {
        if (numel(newShape) != numel()) {
            throw new IllegalArgumentException(where() + ": cannot view shape " + Arrays.toString(shape)
                    + " as " + Arrays.toString(newShape));
        }
        return new StoredTensor(newName, file, dtype, newShape, data, scale);
    }

    /** Element {@code i} (flat, row-major) converted to float. Slow: for small tensors and tests. */
    public float getFloat(long i) {
        return scale == 1f ? storedFloat(i) : storedFloat(i) * scale;
    }

    private float storedFloat(long i) {
        if (dtype.isQuantized()) {
            float[] block = new float[dtype.blockElements()];
            BlockFormats.decodeBlock(dtype, data, i / dtype.blockElements() * dtype.blockBytes(), block, 0);
            return block[(int) (i % dtype.blockElements())];
        }
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, i);
            case F64 -> (float) data.getAtIndex(F64, i);
            case BF16 -> FloatFormats.bf16ToFloat(data.getAtIndex(I16, i));
            case F16 -> FloatFormats.f16ToFloat(data.getAtIndex(I16, i));
            case F8_E4M3 -> FloatFormats.f8e4m3ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case F8_E5M2 -> FloatFormats.f8e5m2ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            case I16 -> data.getAtIndex(I16, i);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            default -> throw new IllegalStateException(where() + ": no element decoder for " + dtype);
        };
    }

    /** Element {@code i} of an integer tensor. */
    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> data.getAtIndex(I64, i);
            case I32 -> data.getAtIndex(I32, i);
            case I16 -> data.getAtIndex(I16, i);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            default -> throw new IllegalStateException(where() + " is " + dtype + ", not an integer tensor");
        };
    }

    /** A float32 copy, for small tensors (norm scales, biases, inputs). */
    public float[] toFloats() {
        long n = numel();
        if (n > MAX_COPY_ELEMENTS) {
            throw new IllegalStateException(where() + ": refusing to copy " + n + " elements to the heap");
        }
        float[] out = new float[(int) n];
        if (dtype == DType.F32 && scale == 1f) {
            MemorySegment.copy(data, F32, 0, out, 0, out.length);
        } else if (dtype.isQuantized()) {
            for (int b = 0; b < out.length; b += dtype.blockElements()) {
                BlockFormats.decodeBlock(dtype, data, (long) b / dtype.blockElements() * dtype.blockBytes(), out, b);
            }
            if (scale != 1f) {
                for (int i = 0; i < out.length; i++) {
                    out[i] *= scale;
                }
            }
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = getFloat(i);
            }
        }
        return out;
    }

    /** A long copy of an integer tensor. */
    public long[] toLongs() {
        long n = numel();
        if (n > MAX_COPY_ELEMENTS) {
            throw new IllegalStateException(where() + ": refusing to copy " + n + " elements to the heap");
        }
        long[] out = new long[(int) n];
        for (int i = 0; i < out.length; i++) {
            out[i] = getLong(i);
        }
        return out;
    }

    /** A heap tensor with the same shape and float values (small tensors only). */
    public Tensor toTensor() {
        int[] s = new int[shape.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = Math.toIntExact(shape[i]);
        }
        return new Tensor(toFloats(), s);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + (scale != 1f ? " ×" + scale : "");
    }
}
