package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Conv2d;

/**
 * The decoder, latent z [16, h, w] → image [3, 8h, 8w]:
 * <pre>
 *   conv_in → mid (resnet, attention, resnet)
 *   → up_blocks 0 … n−1 (layers_per_block+1 resnets each; all but the last end in nearest ×2 + conv)
 *   → GroupNorm, SiLU → conv_out
 * </pre>
 * Up block 0 is the coarsest (block_out_channels reversed).
 */
final class VaeDecoder {

    private static final Conv2d.Geometry SAME3 = Conv2d.Geometry.same(3);

    private final Conv convIn;
    private final MidBlock mid;
    private final ResnetBlock[][] upResnets;
    private final Conv[] upsamplers; // null for the last, full-resolution block
    private final Norm normOut;
    private final Conv convOut;

    VaeDecoder(TensorSource w, VaeConfig cfg) throws ModelFileException {
        int groups = cfg.normNumGroups();
        convIn = Conv.load(w, "decoder.conv_in", cfg.midChannels(), cfg.latentChannels(), 3);
        mid = new MidBlock(w, "decoder.mid_block", cfg);
        int levels = cfg.levels();
        upResnets = new ResnetBlock[levels][cfg.layersPerBlock() + 1];
        upsamplers = new Conv[levels];
        int channels = cfg.midChannels();
        for (int i = 0; i < levels; i++) {
            int out = cfg.upBlockChannels(i);
            String p = "decoder.up_blocks." + i;
            for (int j = 0; j <= cfg.layersPerBlock(); j++) {
                upResnets[i][j] = new ResnetBlock(w, p + ".resnets." + j, j == 0 ? channels : out, out, groups);
            }
            if (i < levels - 1) {
                upsamplers[i] = Conv.load(w, p + ".upsamplers.0.conv", out, out, 3);
            }
            channels = out;
        }
        normOut = Norm.load(w, "decoder.conv_norm_out", cfg.blockOutChannels()[0], groups);
        convOut = Conv.load(w, "decoder.conv_out", cfg.outChannels(), cfg.blockOutChannels()[0], 3);
    }

    /** z (channels-last) → image (channels-last). */
    FeatureMap forward(Backend be, FeatureMap z) {
        FeatureMap x = convIn.apply(be, z, SAME3);
        x = mid.forward(be, x);
        for (int i = 0; i < upResnets.length; i++) {
            for (ResnetBlock r : upResnets[i]) {
                x = r.forward(be, x);
            }
            if (upsamplers[i] != null) {
                // The ×2 nearest upsampling happens inside the convolution, never in memory.
                FeatureMap up = upsamplers[i].apply(be, x, Conv2d.Geometry.upsampled(3));
                be.release(x.data());
                x = up;
            }
        }
        FeatureMap image = convOut.applyNormed(be, normOut, true, x, SAME3);
        be.release(x.data());
        return image;
    }
}
