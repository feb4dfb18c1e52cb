package io.github.zimage4j.image;

import io.github.zimage4j.tensor.Tensor;

import java.util.Arrays;

/**
 * Between images and the tensors the VAE sees, in the reference's float32 order of operations
 * (diffusers' {@code VaeImageProcessor}), so the bytes equal diffusers' output.
 */
public final class ImageTensors {

    private ImageTensors() {
    }

    /**
     * The VAE decoder's output {@code [3, H, W]} (channel-major, nominally in [−1, 1]) as an RGB image:
     * {@code clamp(x·0.5 + 0.5, 0, 1)}, then {@code round(v·255)} with ties to even (numpy's round), all in
     * float32. Fails on NaN, which only a broken decode produces.
     */
    public static UInt8Image fromDecoded(Tensor decoded) {
        int[] hw = rgbPlanes(decoded);
        int h = hw[0];
        int w = hw[1];
        float[] x = decoded.data();
        int plane = h * w;
        byte[] out = new byte[plane * 3];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                float v = unitRange(x[c * plane + p], c, p, w);
                out[p * 3 + c] = (byte) (int) Math.rint(v * 255f);
            }
        }
        return new UInt8Image(w, h, 3, out);
    }

    /**
     * The decoded {@code [3, H, W]} as the float image diffusers returns with {@code output_type="np"}:
     * {@code clamp(x·0.5 + 0.5, 0, 1)}, laid out {@code [H, W, 3]}.
     */
    public static Tensor unitRangeHwc(Tensor decoded) {
        int[] hw = rgbPlanes(decoded);
        int h = hw[0];
        int w = hw[1];
        float[] x = decoded.data();
        int plane = h * w;
        float[] out = new float[plane * 3];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                out[p * 3 + c] = unitRange(x[c * plane + p], c, p, w);
            }
        }
        return new Tensor(out, h, w, 3);
    }

    /**
     * An RGB image as the VAE encoder's input {@code [3, H, W]} in [−1, 1]: {@code 2·(u/255) − 1} in
     * float32, as the img2img and ControlNet pipelines preprocess.
     */
    public static Tensor toModelInput(UInt8Image image) {
        if (image.channels() != 3) {
            throw new IllegalArgumentException("the VAE takes an RGB image, got " + image);
        }
        int plane = image.width() * image.height();
        byte[] px = image.pixels();
        float[] out = new float[3 * plane];
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < 3; c++) {
                out[c * plane + p] = 2f * ((px[p * 3 + c] & 0xFF) / 255f) - 1f;
            }
        }
        return new Tensor(out, 3, image.height(), image.width());
    }

    private static int[] rgbPlanes(Tensor decoded) {
        if (decoded.rank() != 3 || decoded.dim(0) != 3) {
            throw new IllegalArgumentException("expected a decoded image [3, H, W], got " + Arrays.toString(decoded.shape())
                    + (decoded.rank() == 4 ? "; take one image of the batch" : ""));
        }
        return new int[]{decoded.dim(1), decoded.dim(2)};
    }

    private static float unitRange(float x, int c, int p, int w) {
        if (Float.isNaN(x)) {
            throw new IllegalArgumentException("decoded image holds NaN (channel " + c + ", y " + p / w + ", x " + p % w
                    + "): the VAE decode overflowed");
        }
        return Math.min(Math.max(x * 0.5f + 0.5f, 0f), 1f);
    }
}
