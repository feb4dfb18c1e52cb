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
     * Consumes x (its buffer is reused). Peak memory is three maps of the wider channel count, or
     * {@code 2·in + 2·out} channels' worth with a shortcut conv.
     */
    FeatureMap forward(Backend be, FeatureMap x) {
        FeatureMap out;
        FeatureMap h;
        if (convShortcut != null) {
            out = convShortcut.apply(be, x, POINTWISE);
            norm1.apply(be, x, true, x); // x is not needed any more: normalize in place
            h = x;
        } else {
            out = x; // the residual; conv2 accumulates into it
            h = FeatureMap.allocate(be, x.height(), x.width(), x.channels());
            norm1.apply(be, x, true, h);
        }
        FeatureMap h2 = conv1.apply(be, h, SAME3);
        be.release(h.data()); // not needed while conv2 runs
        h = null;
        norm2.apply(be, h2, true, h2);
        conv2.addTo(be, h2, SAME3, out);
        be.release(h2.data());
        return out;
    }
}
