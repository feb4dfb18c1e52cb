package io.github.zimage4j.tensor;

import java.util.Arrays;

/**
 * A dense, row-major float32 activation tensor on the Java heap.
 *
 * <p>Activations are small next to the weights (at 1024² the DiT's widest is 4,160 × 10,240 floats), so
 * plain arrays keep every kernel simple and let the JIT vectorize them; weights never live here.
 */
public final class Tensor {

    private final float[] data;
    private final int[] shape;

    public Tensor(float[] data, int... shape) {
        long n = numel(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n
                    + " elements, got " + data.length);
        }
        this.data = data;
        this.shape = shape.clone();
    }

    public static Tensor zeros(int... shape) {
        return new Tensor(new float[Math.toIntExact(numel(shape))], shape);
    }

    public static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
            n *= d;
        }
        return n;
    }

    public float[] data() {
        return data;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public int rank() {
        return shape.length;
    }

    public int numel() {
        return data.length;
    }

    /** The same data viewed with another shape of equal size. */
    public Tensor reshape(int... newShape) {
        return new Tensor(data, newShape);
    }

    public Tensor copy() {
        return new Tensor(data.clone(), shape);
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape);
    }
}
