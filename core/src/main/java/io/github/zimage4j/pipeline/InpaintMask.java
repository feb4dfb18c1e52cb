package io.github.zimage4j.pipeline;

import io.github.zimage4j.controlnet.Grayscale;
import io.github.zimage4j.image.LanczosResize;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.tensor.Tensor;

/**
 * An inpainting mask as diffusers' mask processor makes it ({@code do_binarize}, {@code do_convert_grayscale}):
 * resized to the image size with Pillow's Lanczos (an RGB mask converted to gray after the resize), then
 * {@code u/255 < 0.5 → 0, else 1}: 1 (white) = repaint, 0 (black) = keep.
 */
public final class InpaintMask {

    /** VAE downsampling between pixels and latents. */
    private static final int LATENT_SCALE = 8;

    private final int width;
    private final int height;
    private final float[] repaint;

    private InpaintMask(int width, int height, float[] repaint) {
        this.width = width;
        this.height = height;
        this.repaint = repaint;
    }

    /** {@code mask} (gray or RGB) at {@code width × height}, binarised. */
    public static InpaintMask of(UInt8Image mask, int width, int height) {
        UInt8Image gray = Grayscale.of(LanczosResize.resize(mask, width, height));
        byte[] px = gray.pixels();
        float[] m = new float[px.length];
        for (int i = 0; i < m.length; i++) {
            m[i] = (px[i] & 0xFF) / 255f < 0.5f ? 0f : 1f;
        }
        return new InpaintMask(width, height, m);
    }

    /** The binarised mask [H·W], 1 = repaint. */
    public float[] repaint() {
        return repaint.clone();
    }

    /**
     * The mask at latent resolution [H/8 · W/8] by nearest interpolation ({@code F.interpolate(mode="nearest")}):
     * latent (i, j) takes pixel (8i, 8j).
     */
    public float[] latentMask() {
        int lh = height / LATENT_SCALE;
        int lw = width / LATENT_SCALE;
        float[] out = new float[lh * lw];
        for (int i = 0; i < lh; i++) {
            for (int j = 0; j < lw; j++) {
                out[i * lw + j] = repaint[i * LATENT_SCALE * width + j * LATENT_SCALE];
            }
        }
        return out;
    }

    /** The model input [3, H, W] with the repaint pixels set to 0 (mid gray): {@code image · (mask < 0.5)}. */
    public Tensor keepOnly(Tensor image) {
        float[] src = image.data();
        float[] out = new float[src.length];
        int plane = width * height;
        if (src.length != 3 * plane) {
            throw new IllegalArgumentException("image " + java.util.Arrays.toString(image.shape()) + " is not " + width + "x" + height);
        }
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                out[c * plane + p] = src[c * plane + p] * (repaint[p] < 0.5f ? 1f : 0f);
            }
        }
        return new Tensor(out, image.shape());
    }

    /**
     * {@code latents = (1 − m)·known + m·latents}, float32, the latent mask {@code m} [h·w] broadcast over
     * the channels of {@code latents} [C·h·w].
     */
    public static void blend(float[] latentMask, float[] known, float[] latents) {
        int plane = latentMask.length;
        if (latents.length % plane != 0 || known.length != latents.length) {
            throw new IllegalArgumentException("mask of " + plane + " values does not fit latents of " + latents.length);
        }
        for (int k = 0; k < latents.length; k++) {
            float m = latentMask[k % plane];
            latents[k] = (1f - m) * known[k] + m * latents[k];
        }
    }
}
