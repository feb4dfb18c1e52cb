package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.tensor.StoredTensor;

/** A Conv2d layer: weight {@code [Cout, Cin, k, k]} in its stored dtype, bias as floats. */
record Conv(StoredTensor weight, float[] bias) {

    static Conv load(TensorSource w, String prefix, int out, int in, int kernel) throws ModelFileException {
        return new Conv(w.get(prefix + ".weight", out, in, kernel, kernel), w.get(prefix + ".bias", out).toFloats());
    }

    int outChannels() {
        return (int) weight.dim(0);
    }

    int kernel() {
        return (int) weight.dim(2);
    }

    /** A new output map. */
    FeatureMap apply(Backend be, FeatureMap x, Conv2d.Geometry g) {
        FeatureMap out = FeatureMap.output(be, g.outHeight(x.height(), kernel()), g.outWidth(x.width(), kernel()), outChannels());
        be.conv2d(x.data(), 0, x.height(), x.width(), weight, bias, g, out.data(), 0, false);
        return out;
    }

    /** A new output map, {@code conv(norm(x))} (SiLU between if {@code silu}); x is unchanged. */
    FeatureMap applyNormed(Backend be, Norm norm, boolean silu, FeatureMap x, Conv2d.Geometry g) {
        FeatureMap out = FeatureMap.output(be, g.outHeight(x.height(), kernel()), g.outWidth(x.width(), kernel()), outChannels());
        be.normConv2d(x.data(), 0, x.height(), x.width(), norm.params(silu), weight, bias, g, out.data(), 0, false);
        return out;
    }

    /** {@code residual += conv(norm(x))} (SiLU between if {@code silu}). */
    void addNormedTo(Backend be, Norm norm, boolean silu, FeatureMap x, Conv2d.Geometry g, FeatureMap residual) {
        be.normConv2d(x.data(), 0, x.height(), x.width(), norm.params(silu), weight, bias, g, residual.data(), 0, true);
    }

    /** {@code residual += conv(x)}: the residual add fused into the convolution. */
    void addTo(Backend be, FeatureMap x, Conv2d.Geometry g, FeatureMap residual) {
        be.conv2d(x.data(), 0, x.height(), x.width(), weight, bias, g, residual.data(), 0, true);
    }
}
