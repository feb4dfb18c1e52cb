package io.github.zimage4j.server;

import io.github.zimage4j.pipeline.Denoiser;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A cheap preview of a step: the clean-image estimate x0 projected from the Flux VAE's 16 latent channels to
 * RGB by a fixed linear map (ComfyUI's "latent2rgb" factors for the Flux latent space, which Z-Image shares),
 * at latent resolution (1/8 of the image). A full VAE decode per step would cost as much as a step.
 */
final class LatentPreview {

    private LatentPreview() {
    }

    /** Rows: latent channel; columns: R, G, B. */
    private static final float[][] FACTORS = {
            {-0.0346f, 0.0244f, 0.0681f}, {0.0034f, 0.0210f, 0.0687f}, {0.0275f, -0.0668f, -0.0433f},
            {-0.0174f, 0.0160f, 0.0617f}, {0.0859f, 0.0721f, 0.0329f}, {0.0004f, 0.0383f, 0.0115f},
            {0.0405f, 0.0861f, 0.0915f}, {-0.0236f, -0.0185f, -0.0259f}, {-0.0245f, 0.0250f, 0.1180f},
            {0.1008f, 0.0755f, -0.0421f}, {-0.0515f, 0.0201f, 0.0011f}, {0.0428f, -0.0012f, -0.0036f},
            {0.0817f, 0.0765f, 0.0749f}, {-0.1264f, -0.0522f, -0.1103f}, {-0.0280f, -0.0881f, -0.0499f},
            {-0.1262f, -0.0982f, -0.0778f}};
    private static final float[] BIAS = {-0.0329f, -0.0718f, -0.0851f};

    /**
     * The x0 estimate of image {@code image} after {@code step}: the latents sit at σ_next and the velocity is
     * noise − x0, so x0 = latents − σ_next · velocity.
     */
    static float[] x0(Denoiser.Step step, int image) {
        float[] lat = step.latents().get(image);
        float[] v = step.noisePred().get(image);
        float s = step.sigmaNext();
        float[] x0 = new float[lat.length];
        for (int i = 0; i < x0.length; i++) {
            x0[i] = lat[i] - s * v[i];
        }
        return x0;
    }

    /** PNG bytes of the RGB projection of latents laid out [16, h, w]. */
    static byte[] png(float[] latents, int h, int w) {
        int plane = h * w;
        if (latents.length != FACTORS.length * plane) {
            throw new IllegalArgumentException("expected 16 x " + h + " x " + w + " latents, got " + latents.length + " values");
        }
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int p = 0; p < plane; p++) {
            int rgb = 0;
            for (int c = 0; c < 3; c++) {
                float v = BIAS[c];
                for (int k = 0; k < FACTORS.length; k++) {
                    v += FACTORS[k][c] * latents[k * plane + p];
                }
                int b = Math.round((Math.clamp(v, -1f, 1f) + 1f) * 127.5f);
                rgb = (rgb << 8) | b;
            }
            img.setRGB(p % w, p / w, rgb);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
