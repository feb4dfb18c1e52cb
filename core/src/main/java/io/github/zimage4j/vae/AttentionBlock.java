package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.AttentionSpec;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.kernels.Conv2d;
import io.github.zimage4j.kernels.Rows;
import io.github.zimage4j.tensor.Linear;

/**
 * The mid block's single-head self-attention over all pixels (diffusers' Attention in its
 * VAE form):
 * <pre>
 *   h   = group_norm(x)                    pixels as tokens, channels as features
 *   out = x + to_out( softmax(q·kᵀ/√C)·v ),  q, k, v = to_q(h), to_k(h), to_v(h)
 * </pre>
 */
final class AttentionBlock {

    private final Norm groupNorm;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    /** to_out.0 viewed as a 1×1 convolution, so the residual add fuses into it. */
    private final Conv toOut;
    private final int channels;

    AttentionBlock(TensorSource w, String p, int channels, int groups) throws ModelFileException {
        this.channels = channels;
        groupNorm = Norm.load(w, p + ".group_norm", channels, groups);
        toQ = Linear.load(w, p + ".to_q", channels, channels, true);
        toK = Linear.load(w, p + ".to_k", channels, channels, true);
        toV = Linear.load(w, p + ".to_v", channels, channels, true);
        Linear out = Linear.load(w, p + ".to_out.0", channels, channels, true);
        toOut = new Conv(out.weight().reshape(out.weight().name(), channels, channels, 1, 1), out.bias());
    }

    /** Adds the attention output to x in place. */
    void forward(Backend be, FeatureMap x) {
        int tokens = x.pixels();
        FeatureMap h = FeatureMap.output(be, x.height(), x.width(), channels);
        groupNorm.apply(be, x, false, h);
        Activation q = be.allocateForOutput(tokens * channels);
        Activation k = be.allocateForOutput(tokens * channels);
        Activation v = be.allocateForOutput(tokens * channels);
        be.linear(h.data(), 0, tokens, toQ, q, 0);
        be.linear(h.data(), 0, tokens, toK, k, 0);
        be.linear(h.data(), 0, tokens, toV, v, 0);
        be.attention(new Rows(q, 0, channels), new Rows(k, 0, channels), new Rows(v, 0, channels),
                new Rows(h.data(), 0, channels),
                AttentionSpec.self(tokens, 1, channels).withBf16(!be.float32Products(toQ.weight().dtype())));
        for (Activation a : new Activation[] {q, k, v}) {
            be.release(a);
        }
        toOut.addTo(be, h, Conv2d.Geometry.same(1), x);
        be.release(h.data());
    }
}
