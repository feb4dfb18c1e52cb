package io.github.zimage4j.scheduler;

/**
 * The two {@code linspace}s the reference schedule is built from, reproduced to the bit: the sigma table
 * starts from them, and one ulp there moves every timestep the model sees.
 */
final class Linspace {

    /** Float lanes of one AVX2 vector: torch's CPU kernel fills this many values per vector op. */
    private static final int AVX2_FLOAT_LANES = 8;

    private Linspace() {
    }

    /**
     * {@code torch.linspace(start, end, steps)} in float32 as the reference's CPU build computes it.
     *
     * <p>torch fills the first half forwards from {@code start} and the second half backwards from
     * {@code end}, each value as one fused multiply-add (the AVX2 build contracts {@code start + step·i}).
     * The bulk is written two 8-lane vectors at a time, each vector as {@code base + k·step} from its first
     * value (not fused); the tail that does not fill two vectors takes the scalar path.
     *
     * @param end a double, rounded to float32 here as torch's Scalar conversion does
     */
    static float[] torchFloat32(float start, double end, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("linspace needs at least one step, got " + steps);
        }
        float e = (float) end;
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (e - start) / (float) (steps - 1);
        int halfway = steps / 2;
        int i = 0;
        for (; i <= steps - 2 * AVX2_FLOAT_LANES; i += 2 * AVX2_FLOAT_LANES) {
            for (int vector = i; vector < i + 2 * AVX2_FLOAT_LANES; vector += AVX2_FLOAT_LANES) {
                float base = torchScalar(start, e, step, halfway, steps, vector);
                for (int k = 0; k < AVX2_FLOAT_LANES; k++) {
                    out[vector + k] = base + k * step;
                }
            }
        }
        for (; i < steps; i++) {
            out[i] = torchScalar(start, e, step, halfway, steps, i);
        }
        return out;
    }

    private static float torchScalar(float start, float end, float step, int halfway, int steps, int idx) {
        return idx < halfway
                ? Math.fma(step, (float) idx, start)
                : Math.fma(-step, (float) (steps - idx - 1), end);
    }

    /**
     * {@code numpy.linspace(start, stop, num)} in float64: {@code i·step + start}, with the last value set
     * to {@code stop} exactly.
     */
    static double[] numpyFloat64(double start, double stop, int num) {
        if (num < 1) {
            throw new IllegalArgumentException("linspace needs at least one value, got " + num);
        }
        double[] out = new double[num];
        if (num == 1) {
            out[0] = start;
            return out;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) {
            out[i] = i * step + start;
        }
        out[num - 1] = stop;
        return out;
    }
}
