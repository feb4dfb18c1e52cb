package io.github.zimage4j.tensor;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;

import java.util.Arrays;

/**
 * A linear layer {@code y = x·Wᵀ + b}: the weight stays in its stored dtype and layout {@code [out, in]};
 * the bias (small) is a float copy or null.
 */
public record Linear(StoredTensor weight, float[] bias) {

    public Linear {
        if (weight.rank() != 2) {
            throw new IllegalArgumentException(weight.where() + ": a linear weight must be 2-D, found "
                    + Arrays.toString(weight.shape()));
        }
        if (!io.github.zimage4j.kernels.WeightRows.decodes(weight.dtype())) {
            throw new IllegalArgumentException(weight.where() + ": the matrix kernels cannot multiply " + weight.dtype()
                    + " weights (they take F32, BF16, F16, F8 and the GGUF block types); convert the checkpoint with zimage4j convert");
        }
        if (bias != null && bias.length != weight.dim(0)) {
            throw new IllegalArgumentException(weight.where() + ": bias of " + bias.length + " for " + weight.dim(0) + " outputs");
        }
    }

    public int in() {
        return (int) weight.dim(1);
    }

    public int out() {
        return (int) weight.dim(0);
    }

    /** {@code prefix.weight} [out, in] and, if {@code withBias}, {@code prefix.bias} [out]. */
    public static Linear load(TensorSource src, String prefix, int out, int in, boolean withBias) throws ModelFileException {
        StoredTensor w = src.get(prefix + ".weight", out, in);
        float[] b = withBias ? src.get(prefix + ".bias", out).toFloats() : null;
        return new Linear(w, b);
    }
}
