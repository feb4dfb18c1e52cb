package io.github.zimage4j.vae;

import io.github.zimage4j.tensor.Tensor;

import java.util.Arrays;

/**
 * The encoder's diagonal Gaussian over latents, in VAE space ({@code [latent_channels, h, w]}):
 * diffusers' {@code DiagonalGaussianDistribution}. The log-variance is already clamped to [−30, 20].
 */
public record LatentDistribution(Tensor mean, Tensor logvar) {

    /** Clamp range of the log-variance, as the reference applies it. */
    public static final float LOGVAR_MIN = -30f;
    public static final float LOGVAR_MAX = 20f;

    public LatentDistribution {
        if (!Arrays.equals(mean.shape(), logvar.shape())) {
            throw new IllegalArgumentException("mean " + Arrays.toString(mean.shape()) + " and log-variance "
                    + Arrays.toString(logvar.shape()) + " differ in shape");
        }
    }

    /** {@code exp(0.5·logvar)}. */
    public Tensor std() {
        float[] lv = logvar.data();
        float[] s = new float[lv.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) StrictMath.exp(0.5f * lv[i]);
        }
        return new Tensor(s, logvar.shape());
    }

    /** The most likely latent: the mean (what the pipelines use for {@code sample_mode="argmax"}). */
    public Tensor mode() {
        return mean;
    }

    /**
     * {@code mean + std·eps}, with eps standard normal noise of the mean's shape supplied by the caller
     * (the pipeline draws it from its torch-compatible generator).
     */
    public Tensor sample(Tensor eps) {
        if (!Arrays.equals(eps.shape(), mean.shape())) {
            throw new IllegalArgumentException("noise of shape " + Arrays.toString(eps.shape()) + " cannot sample latents of shape "
                    + Arrays.toString(mean.shape()));
        }
        float[] m = mean.data();
        float[] s = std().data();
        float[] e = eps.data();
        float[] out = new float[m.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = m[i] + s[i] * e[i];
        }
        return new Tensor(out, mean.shape());
    }
}
