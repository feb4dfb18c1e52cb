package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Conv2d;

/**
 * diffusers' ResnetBlock2D without a time embedding:
 * <pre>
 *   h   = conv2( SiLU(norm2( conv1( SiLU(norm1(x)) ) )) )
 *   out = shortcut(x) + h          shortcut = 1×1 conv_shortcut when the channel count changes, else x
 * </pre>
 */
final class ResnetBlock {

    private static final Conv2d.Geometry SAME3 = Conv2d.Geometry.same(3);
    private static final Conv2d.Geometry POINTWISE = Conv2d.Geometry.same(1);

    private final Norm norm1;
    private final Conv conv1;
    private final Norm norm2;
    private final Conv conv2;
    private final Conv convShortcut; // null when in == out

    ResnetBlock(TensorSource w, String p, int in, int out, int groups) throws ModelFileException {
        norm1 = Norm.load(w, p + ".norm1", in, groups);
        conv1 = Conv.load(w, p + ".conv1", out, in, 3);
        norm2 = Norm.load(w, p + ".norm2", out, groups);
        conv2 = Conv.load(w, p + ".conv2", out, out, 3);
        convShortcut = in != out ? Conv.load(w, p + ".conv_shortcut", out, in, 1) : null;
    }

    /**
     * Consumes x (its buffer becomes the output, or is released). The normalized maps never exist in memory
     * ({@link Backend#normConv2d}): peak memory is x, h and, with a shortcut conv, the output.
     */
    FeatureMap forward(Backend be, FeatureMap x) {
        FeatureMap out = convShortcut != null ? convShortcut.apply(be, x, POINTWISE) : x; // conv2 accumulates into it
        FeatureMap h = conv1.applyNormed(be, norm1, true, x, SAME3);
        if (convShortcut != null) {
            be.release(x.data());
        }
        conv2.addNormedTo(be, norm2, true, h, SAME3, out);
        be.release(h.data());
        return out;
    }
}
