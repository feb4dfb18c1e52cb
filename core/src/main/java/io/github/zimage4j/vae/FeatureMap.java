package io.github.zimage4j.vae;

import io.github.zimage4j.kernels.Activation;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;

/**
 * A channels-last activation {@code [height, width, channels]}, held by the backend: one pixel's channels
 * are contiguous, so a convolution's output rows land directly as GEMM rows and GroupNorm vectorizes across
 * channels. Only the model's boundaries convert to and from the planar {@code [C, H, W]} layout of
 * {@link Tensor}, on the host.
 */
record FeatureMap(Activation data, int height, int width, int channels) {

    FeatureMap {
        if ((long) height * width * channels != data.length()) {
            throw new IllegalArgumentException(height + "×" + width + "×" + channels + " does not fit " + data.length() + " floats");
        }
    }

    /** A map for an operation to write in full (its values are unspecified until then). */
    static FeatureMap output(Backend be, int height, int width, int channels) {
        return new FeatureMap(be.allocateForOutput(size(height, width, channels)), height, width, channels);
    }

    private static int size(int height, int width, int channels) {
        long n = (long) height * width * channels;
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("a " + height + "×" + width + "×" + channels + " activation exceeds 2^31"
                    + " floats; decode large images tiled");
        }
        return (int) n;
    }

    int pixels() {
        return height * width;
    }

    /** Planar [C, H, W] → channels-last. */
    static FeatureMap fromPlanar(Backend be, Tensor t) {
        int c = t.dim(0);
        int h = t.dim(1);
        int w = t.dim(2);
        float[] src = t.data();
        float[] dst = new float[size(h, w, c)];
        int plane = h * w;
        for (int ch = 0; ch < c; ch++) {
            for (int p = 0, s = ch * plane; p < plane; p++, s++) {
                dst[p * c + ch] = src[s];
            }
        }
        return new FeatureMap(be.upload(dst), h, w, c);
    }

    /** Channels-last → planar [C, H, W]. */
    Tensor toPlanar(Backend be) {
        return channelsToPlanar(be, 0, channels);
    }

    /** Channels [from, to) as a planar [to − from, H, W] tensor. */
    Tensor channelsToPlanar(Backend be, int from, int to) {
        float[] values = be.read(data, 0, data.length());
        int plane = height * width;
        float[] dst = new float[(to - from) * plane];
        for (int p = 0; p < plane; p++) {
            int s = p * channels + from;
            for (int ch = 0; ch < to - from; ch++) {
                dst[ch * plane + p] = values[s + ch];
            }
        }
        return new Tensor(dst, to - from, height, width);
    }

    @Override
    public String toString() {
        return "FeatureMap[" + height + "×" + width + "×" + channels + "]";
    }
}
