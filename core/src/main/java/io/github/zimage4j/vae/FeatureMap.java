package io.github.zimage4j.vae;

import io.github.zimage4j.tensor.Tensor;

/**
 * A channels-last activation {@code [height, width, channels]}: one pixel's channels are contiguous,
 * so a convolution's output rows land directly as GEMM rows and GroupNorm vectorizes across channels.
 * Only the model's boundaries convert to and from the planar {@code [C, H, W]} layout of {@link Tensor}.
 */
record FeatureMap(float[] data, int height, int width, int channels) {

    FeatureMap {
        if ((long) height * width * channels != data.length) {
            throw new IllegalArgumentException(height + "×" + width + "×" + channels + " does not fit " + data.length + " floats");
        }
    }

    static FeatureMap allocate(int height, int width, int channels) {
        long n = (long) height * width * channels;
        if (n > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("a " + height + "×" + width + "×" + channels + " activation exceeds one Java"
                    + " array (2^31 floats); decode large images tiled");
        }
        return new FeatureMap(new float[(int) n], height, width, channels);
    }

    int pixels() {
        return height * width;
    }

    /** Planar [C, H, W] → channels-last. */
    static FeatureMap fromPlanar(Tensor t) {
        int c = t.dim(0);
        int h = t.dim(1);
        int w = t.dim(2);
        FeatureMap m = allocate(h, w, c);
        float[] src = t.data();
        float[] dst = m.data;
        int plane = h * w;
        for (int ch = 0; ch < c; ch++) {
            for (int p = 0, s = ch * plane; p < plane; p++, s++) {
                dst[p * c + ch] = src[s];
            }
        }
        return m;
    }

    /** Channels-last → planar [C, H, W]. */
    Tensor toPlanar() {
        return channelsToPlanar(0, channels);
    }

    /** Channels [from, to) as a planar [to − from, H, W] tensor. */
    Tensor channelsToPlanar(int from, int to) {
        int plane = height * width;
        float[] dst = new float[(to - from) * plane];
        for (int p = 0; p < plane; p++) {
            int s = p * channels + from;
            for (int ch = 0; ch < to - from; ch++) {
                dst[ch * plane + p] = data[s + ch];
            }
        }
        return new Tensor(dst, to - from, height, width);
    }

    @Override
    public String toString() {
        return "FeatureMap[" + height + "×" + width + "×" + channels + "]";
    }
}
