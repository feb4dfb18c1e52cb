package io.github.zimage4j.tensor;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;

import java.util.Arrays;
import java.util.List;

/**
 * A linear layer {@code y = x·Wᵀ + b + Σ x·ΔWᵀ}: the weight stays in its stored dtype and layout
 * {@code [out, in]}; the bias (small) is a float copy or null; the adapters (LoRA updates, usually none)
 * are added by the backend after the base product, so the weight itself is never written.
 */
public record Linear(StoredTensor weight, float[] bias, List<Adapter> adapters) {

    public Linear(StoredTensor weight, float[] bias) {
        this(weight, bias, List.of());
    }

    public Linear {
        adapters = List.copyOf(adapters);
        for (Adapter a : adapters) {
            if (a.out() != weight.dim(0) || a.in() != weight.dim(1)) {
                throw new IllegalArgumentException(weight.where() + ": an adapter of [" + a.out() + ", " + a.in()
                        + "] does not fit the weight " + Arrays.toString(weight.shape()));
            }
        }
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

    /**
     * {@code prefix.weight} [out, in], if {@code withBias}, {@code prefix.bias} [out], and the adapters the
     * source supplies for the weight.
     */
    public static Linear load(TensorSource src, String prefix, int out, int in, boolean withBias) throws ModelFileException {
        StoredTensor w = src.get(prefix + ".weight", out, in);
        float[] b = withBias ? src.get(prefix + ".bias", out).toFloats() : null;
        return new Linear(w, b, src.adapters(prefix + ".weight"));
    }
}
