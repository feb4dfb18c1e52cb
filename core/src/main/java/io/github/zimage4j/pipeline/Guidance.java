package io.github.zimage4j.pipeline;

/**
 * Classifier-free guidance as Z-Image applies it: {@code pred = pos + scale·(pos − neg)}, on only when
 * scale &gt; 0 (one forward per step when off).
 *
 * <p>Relation to the "CFG scale" w of other tools (A1111, ComfyUI, stable-diffusion.cpp), which mix
 * {@code neg + w·(pos − neg)}: the two agree for {@code w = scale + 1}. Z-Image's recommended base setting
 * scale = 4 is w = 5; Turbo's scale = 0 is w = 1 (no guidance).
 *
 * @param scale         diffusers' guidance_scale (≥ 0)
 * @param normalization cfg_normalization c: when c &gt; 0 and ‖pred‖ &gt; c·‖pos‖, pred is scaled down to
 *                      c·‖pos‖ (norms over the whole sample); 0 turns it off (diffusers' True is 1.0)
 * @param truncation    cfg_truncation: guidance is skipped for steps whose model time 1 − σ exceeds it;
 *                      1.0 (or more) never truncates
 */
public record Guidance(double scale, double normalization, double truncation) {

    public Guidance {
        if (!(scale >= 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException("guidance scale must be a finite number ≥ 0, got " + scale);
        }
        if (!(normalization >= 0) || Double.isInfinite(normalization)) {
            throw new IllegalArgumentException("cfg normalization must be a finite number ≥ 0 (0 = off), got " + normalization);
        }
        if (Double.isNaN(truncation)) {
            throw new IllegalArgumentException("cfg truncation must be a number");
        }
    }

    public static Guidance none() {
        return new Guidance(0, 0, 1);
    }

    public boolean enabled() {
        return scale > 0;
    }

    /** {@code out = pos + scale·(pos − neg)} in float32, then the optional norm cap. */
    void combine(float[] pos, float[] neg, float[] out) {
        float g = (float) scale;
        for (int i = 0; i < out.length; i++) {
            out[i] = pos[i] + g * (pos[i] - neg[i]);
        }
        if (normalization > 0) {
            double posNorm = norm(pos);
            double predNorm = norm(out);
            float maxNorm = (float) posNorm * (float) normalization;
            if (predNorm > maxNorm) {
                float f = (float) (maxNorm / (float) predNorm);
                for (int i = 0; i < out.length; i++) {
                    out[i] *= f;
                }
            }
        }
    }

    private static double norm(float[] x) {
        double s = 0;
        for (float v : x) {
            s += (double) v * v;
        }
        return (float) Math.sqrt(s);
    }
}
