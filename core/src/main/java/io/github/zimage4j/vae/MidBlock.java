package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;

/** diffusers' UNetMidBlock2D as the VAE uses it: resnet, attention (unless disabled), resnet. */
final class MidBlock {

    private final ResnetBlock first;
    private final AttentionBlock attention; // null when mid_block_add_attention is false
    private final ResnetBlock second;

    MidBlock(TensorSource w, String p, VaeConfig cfg) throws ModelFileException {
        int c = cfg.midChannels();
        first = new ResnetBlock(w, p + ".resnets.0", c, c, cfg.normNumGroups());
        attention = cfg.midBlockAddAttention() ? new AttentionBlock(w, p + ".attentions.0", c, cfg.normNumGroups()) : null;
        second = new ResnetBlock(w, p + ".resnets.1", c, c, cfg.normNumGroups());
    }

    FeatureMap forward(Backend be, FeatureMap x) {
        x = first.forward(be, x);
        if (attention != null) {
            attention.forward(be, x);
        }
        return second.forward(be, x);
    }
}
