package io.github.zimage4j.kernels;

import jdk.incubator.vector.FloatVector;

/**
 * Sums of a vector's lanes in one fixed order (lane 0, then 1, …).
 *
 * <p>Why not {@code reduceLanes(ADD)}: its Java implementation adds the lanes in order, the JIT-compiled
 * one (C2, x86) pairwise, and float addition is not associative. The bits of every norm, dot product and
 * softmax sum then depended on when the JIT compiled the caller: a single-threaded run gave another image
 * than the run before.
 */
public final class Lanes {

    private Lanes() {
    }

    /** {@code v[0] + v[1] + … + v[VL−1]}, added left to right. */
    public static float sum(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < v.length(); i++) {
            s += v.lane(i);
        }
        return s;
    }
}
