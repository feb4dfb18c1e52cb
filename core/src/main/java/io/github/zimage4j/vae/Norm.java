package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.GroupNorm;

/** A GroupNorm layer (eps {@link VaeConfig#NORM_EPS}, affine), optionally fused with the SiLU that follows it. */
record Norm(float[] weight, float[] bias, int groups) {

    static Norm load(TensorSource w, String prefix, int channels, int groups) throws ModelFileException {
        return new Norm(w.get(prefix + ".weight", channels).toFloats(), w.get(prefix + ".bias", channels).toFloats(), groups);
    }

    /** The layer's parameters for an operation that applies it on the way ({@link Backend#normConv2d}). */
    GroupNorm.Params params(boolean silu) {
        return new GroupNorm.Params(groups, weight, bias, VaeConfig.NORM_EPS, silu);
    }

    /** Normalizes x into out (may be x itself). */
    void apply(Backend be, FeatureMap x, boolean silu, FeatureMap out) {
        be.groupNorm(x.data(), 0, x.pixels(), x.channels(), groups, weight, bias, VaeConfig.NORM_EPS, silu, out.data(), 0);
    }
}
