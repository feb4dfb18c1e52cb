package io.github.zimage4j.tensor;

import java.util.Arrays;

/**
 * A weight update {@code ΔW [out, in]} that a linear layer carries beside its stored weight (LoRA and its
 * relatives). Backends add {@code x·ΔWᵀ} after the base product, so the stored weight is never written.
 */
public sealed interface Adapter {

    int out();

    int in();

    /** The same update with its scale multiplied by {@code factor} (a user strength). */
    Adapter scaled(float factor);

    /**
     * Low rank: {@code ΔW = scale · up · down}, {@code down [r, in]}, {@code up [out, r]}, both kept in
     * their stored dtype.
     */
    record LowRank(StoredTensor down, StoredTensor up, float scale) implements Adapter {
        public LowRank {
            if (down.rank() != 2 || up.rank() != 2 || up.dim(1) != down.dim(0)) {
                throw new IllegalArgumentException("low-rank factors do not chain: down " + Arrays.toString(down.shape())
                        + " (" + down.where() + "), up " + Arrays.toString(up.shape()) + " (" + up.where() + ")");
            }
        }

        public int rank() {
            return (int) down.dim(0);
        }

        @Override
        public int out() {
            return (int) up.dim(0);
        }

        @Override
        public int in() {
            return (int) down.dim(1);
        }

        @Override
        public LowRank scaled(float factor) {
            return new LowRank(down, up, scale * factor);
        }

        /** Output rows {@code [start, start+count)} only: one part of an update on a fused matrix. */
        public LowRank outputRows(long start, long count) {
            return new LowRank(down, up.rows(start, count), scale);
        }
    }

    /**
     * Kronecker product (LoKr): {@code ΔW = scale · kron(w1, w2)}, {@code w1 [a, b]}, {@code w2 [c, d]},
     * {@code ΔW [a·c, b·d]}; the factors are small and kept as float32.
     */
    record Kronecker(float[] w1, int a, int b, float[] w2, int c, int d, float scale) implements Adapter {
        public Kronecker {
            if (w1.length != a * b || w2.length != c * d) {
                throw new IllegalArgumentException("Kronecker factors of " + w1.length + " and " + w2.length
                        + " values for shapes [" + a + "," + b + "] and [" + c + "," + d + "]");
            }
        }

        @Override
        public int out() {
            return a * c;
        }

        @Override
        public int in() {
            return b * d;
        }

        @Override
        public Kronecker scaled(float factor) {
            return new Kronecker(w1, a, b, w2, c, d, scale * factor);
        }
    }
}
