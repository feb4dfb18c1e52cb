package io.github.zimage4j.dit;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Linear;

import static io.github.zimage4j.dit.ZImageTransformerConfig.T_EMBED_MID;
import static io.github.zimage4j.dit.ZImageTransformerConfig.T_FREQ_DIM;

/**
 * {@code t_embedder}: the time value becomes a 256-wide sinusoid (cos half first), then
 * Linear → SiLU → Linear to the modulation width. Its output {@code c} drives every adaLN.
 */
final class TimestepEmbedder {

    private static final double MAX_PERIOD = 10000.0;

    private final Linear mlp0;
    private final Linear mlp2;
    private final float tScale;

    TimestepEmbedder(TensorSource w, ZImageTransformerConfig cfg) throws ModelFileException {
        mlp0 = Linear.load(w, "t_embedder.mlp.0", T_EMBED_MID, T_FREQ_DIM, true);
        mlp2 = Linear.load(w, "t_embedder.mlp.2", cfg.adalnDim(), T_EMBED_MID, true);
        tScale = cfg.tScale();
    }

    java.util.List<Linear> linears() {
        return java.util.List.of(mlp0, mlp2);
    }

    /** @param t per sample, in the model convention t = 1 − σ; returns [B, adalnDim]. */
    Activation forward(Backend be, float[] t) {
        int b = t.length;
        int half = T_FREQ_DIM / 2;
        float[] freqs = new float[half];
        // float32 throughout, as the reference: exp(-ln(P) · i / half).
        float negLog = (float) -StrictMath.log(MAX_PERIOD);
        for (int i = 0; i < half; i++) {
            freqs[i] = (float) StrictMath.exp((negLog * i) / half);
        }
        float[] sinusoid = new float[b * T_FREQ_DIM];
        for (int s = 0; s < b; s++) {
            float scaled = t[s] * tScale;
            for (int i = 0; i < half; i++) {
                float arg = scaled * freqs[i];
                sinusoid[s * T_FREQ_DIM + i] = (float) StrictMath.cos(arg);
                sinusoid[s * T_FREQ_DIM + half + i] = (float) StrictMath.sin(arg);
            }
        }
        Activation hidden = be.allocate(b * T_EMBED_MID);
        be.linear(be.upload(sinusoid), 0, b, mlp0, hidden, 0);
        be.silu(hidden, 0, hidden.length());
        Activation c = be.allocate(b * mlp2.out());
        be.linear(hidden, 0, b, mlp2, c, 0);
        be.release(hidden);
        return c;
    }
}
