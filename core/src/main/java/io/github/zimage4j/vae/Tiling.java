package io.github.zimage4j.vae;

import io.github.zimage4j.tensor.Tensor;

import java.util.function.UnaryOperator;

/**
 * Tiled decoding: the latent is cut into overlapping square tiles of {@code tile} latent pixels, each
 * decoded on its own, and the images are blended where they overlap with weights that ramp linearly
 * over {@code overlap}·8 image pixels from each interior tile edge (normalized, so any overlap blends
 * smoothly). Tiles sit on a grid of stride {@code tile − overlap}; the last row and column of tiles
 * are moved back to end at the image edge, so every tile is full-size.
 *
 * <p><b>Memory:</b> one tile's decode plus the output. For the Flux VAE widths the decode of a tile of
 * T latent pixels peaks at about 512 floats per tile image pixel, 2 KiB · (8T)² (the first resnet of the
 * last up block: 256-channel input, 128-channel shortcut and conv1 outputs), so the default 64-pixel
 * tiles need ≈ 512 MiB; the output and its blend weights add 16 bytes per image pixel (64 MiB at 2048²).
 * The tile part of the bound does not grow with the image.
 *
 * <p><b>Accuracy:</b> tiling is not exact. GroupNorm statistics and the mid-block attention see one tile
 * instead of the whole image, and tile borders see zero padding instead of their neighbours, so a tiled
 * decode differs from the untiled one (as diffusers' and ComfyUI's tiled decodes do); the overlap
 * blending hides seams. A latent that fits in one tile is decoded untiled, exactly.
 *
 * @param tile    tile size in latent pixels
 * @param overlap overlap between neighbouring tiles in latent pixels, {@code 0 ≤ overlap < tile}
 */
public record Tiling(int tile, int overlap) {

    /** 64-latent-pixel (512-image-pixel) tiles overlapping by 16 (128 image pixels). */
    public static final Tiling DEFAULT = new Tiling(64, 16);

    public Tiling {
        if (tile < 1 || overlap < 0 || overlap >= tile) {
            throw new IllegalArgumentException("tiling needs tile ≥ 1 and 0 ≤ overlap < tile, got tile " + tile
                    + ", overlap " + overlap);
        }
    }

    /** Start positions of the tiles along an axis of {@code length} latent pixels. */
    int[] starts(int length) {
        if (length <= tile) {
            return new int[]{0};
        }
        int stride = tile - overlap;
        int n = (length - tile + stride - 1) / stride + 1;
        int[] s = new int[n];
        for (int i = 0; i < n; i++) {
            s[i] = Math.min(i * stride, length - tile);
        }
        return s;
    }

    /**
     * Decodes z [C, h, w] tile by tile with {@code decodeTile} ([C, th, tw] → [3, th·scale, tw·scale]) and
     * blends the results.
     */
    Tensor decode(Tensor z, int scale, UnaryOperator<Tensor> decodeTile) {
        int c = z.dim(0);
        int h = z.dim(1);
        int w = z.dim(2);
        int[] ys = starts(h);
        int[] xs = starts(w);
        if (ys.length == 1 && xs.length == 1) {
            return decodeTile.apply(z);
        }
        int th = Math.min(tile, h);
        int tw = Math.min(tile, w);
        int outH = h * scale;
        int outW = w * scale;
        int ramp = overlap * scale;
        float[] out = null;
        int outC = 0;
        float[] weightSum = new float[outH * outW];
        for (int iy = 0; iy < ys.length; iy++) {
            float[] wy = ramps(th * scale, ramp, iy > 0, iy < ys.length - 1);
            for (int ix = 0; ix < xs.length; ix++) {
                float[] wx = ramps(tw * scale, ramp, ix > 0, ix < xs.length - 1);
                Tensor img = decodeTile.apply(crop(z, c, ys[iy], xs[ix], th, tw));
                if (out == null) {
                    outC = img.dim(0);
                    out = new float[outC * outH * outW];
                }
                accumulate(img, wy, wx, ys[iy] * scale, xs[ix] * scale, out, outC, outH, outW, weightSum);
            }
        }
        int plane = outH * outW;
        for (int ch = 0; ch < outC; ch++) {
            for (int p = 0; p < plane; p++) {
                out[ch * plane + p] /= weightSum[p];
            }
        }
        return new Tensor(out, outC, outH, outW);
    }

    /** Blend weights along one tile axis: ramps (i + ½)/ramp at edges shared with a neighbour, else 1. */
    static float[] ramps(int length, int ramp, boolean rampStart, boolean rampEnd) {
        float[] r = new float[length];
        for (int i = 0; i < length; i++) {
            float v = 1f;
            if (rampStart && i < ramp) {
                v = Math.min(v, (i + 0.5f) / ramp);
            }
            if (rampEnd && length - 1 - i < ramp) {
                v = Math.min(v, (length - 1 - i + 0.5f) / ramp);
            }
            r[i] = v;
        }
        return r;
    }

    private static Tensor crop(Tensor z, int c, int y0, int x0, int th, int tw) {
        int h = z.dim(1);
        int w = z.dim(2);
        float[] src = z.data();
        float[] dst = new float[c * th * tw];
        for (int ch = 0; ch < c; ch++) {
            for (int y = 0; y < th; y++) {
                System.arraycopy(src, (ch * h + y0 + y) * w + x0, dst, (ch * th + y) * tw, tw);
            }
        }
        return new Tensor(dst, c, th, tw);
    }

    private static void accumulate(Tensor img, float[] wy, float[] wx, int oy, int ox, float[] out, int outC, int outH,
                                   int outW, float[] weightSum) {
        int ih = img.dim(1);
        int iw = img.dim(2);
        float[] src = img.data();
        for (int y = 0; y < ih; y++) {
            int row = (oy + y) * outW + ox;
            for (int x = 0; x < iw; x++) {
                float wgt = wy[y] * wx[x];
                weightSum[row + x] += wgt;
                for (int ch = 0; ch < outC; ch++) {
                    out[ch * outH * outW + row + x] += wgt * src[(ch * ih + y) * iw + x];
                }
            }
        }
    }
}
