package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Conv2d;

/**
 * The encoder, image [3, H, W] → moments [2·16, H/8, W/8] (mean, then log-variance):
 * <pre>
 *   conv_in → down_blocks 0 … n−1 (layers_per_block resnets each; all but the last end in a stride-2 conv
 *   after zero-padding one column right and one row bottom) → mid (resnet, attention, resnet)
 *   → GroupNorm, SiLU → conv_out
 * </pre>
 */
final class VaeEncoder {

    private static final Conv2d.Geometry SAME3 = Conv2d.Geometry.same(3);
    /** diffusers' Downsample2D with padding 0: F.pad(x, (0, 1, 0, 1)), then a 3×3 conv with stride 2. */
    private static final Conv2d.Geometry DOWNSAMPLE = new Conv2d.Geometry(1, 2, 0, 0, 1, 1);

    private final Conv convIn;
    private final ResnetBlock[][] downResnets;
    private final Conv[] downsamplers; // null for the last, coarsest block
    private final MidBlock mid;
    private final Norm normOut;
    private final Conv convOut;

    VaeEncoder(TensorSource w, VaeConfig cfg) throws ModelFileException {
        int groups = cfg.normNumGroups();
        int[] boc = cfg.blockOutChannels();
        convIn = Conv.load(w, "encoder.conv_in", boc[0], cfg.inChannels(), 3);
        int levels = cfg.levels();
        downResnets = new ResnetBlock[levels][cfg.layersPerBlock()];
        downsamplers = new Conv[levels];
        int channels = boc[0];
        for (int i = 0; i < levels; i++) {
            String p = "encoder.down_blocks." + i;
            for (int j = 0; j < cfg.layersPerBlock(); j++) {
                downResnets[i][j] = new ResnetBlock(w, p + ".resnets." + j, j == 0 ? channels : boc[i], boc[i], groups);
            }
            if (i < levels - 1) {
                downsamplers[i] = Conv.load(w, p + ".downsamplers.0.conv", boc[i], boc[i], 3);
            }
            channels = boc[i];
        }
        mid = new MidBlock(w, "encoder.mid_block", cfg);
        normOut = Norm.load(w, "encoder.conv_norm_out", cfg.midChannels(), groups);
        convOut = Conv.load(w, "encoder.conv_out", 2 * cfg.latentChannels(), cfg.midChannels(), 3);
    }

    /** image (channels-last) → moments (channels-last, mean channels first). */
    FeatureMap forward(Backend be, FeatureMap image) {
        FeatureMap x = convIn.apply(be, image, SAME3);
        for (int i = 0; i < downResnets.length; i++) {
            for (ResnetBlock r : downResnets[i]) {
                x = r.forward(be, x);
            }
            if (downsamplers[i] != null) {
                FeatureMap down = downsamplers[i].apply(be, x, DOWNSAMPLE);
                be.release(x.data());
                x = down;
            }
        }
        x = mid.forward(be, x);
        FeatureMap moments = convOut.applyNormed(be, normOut, true, x, SAME3);
        be.release(x.data());
        return moments;
    }
}
