package io.github.zimage4j.vae;

import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tiled decoding. The tile geometry and blending are exact for a decoder without global statistics
 * (a pointwise one); the real decoder's tiled result stays within a documented distance of the untiled
 * one (self-consistency: both are our own decodes). Backend modules rerun it on their backend.
 */
class VaeTilingTest {

    /** Decodes each latent pixel independently: an 8× nearest upsampling of a pointwise function. */
    static Tensor pointwiseDecode(Tensor z) {
        int h = z.dim(1);
        int w = z.dim(2);
        float[] out = new float[3 * 64 * h * w];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < 8 * h; y++) {
                for (int x = 0; x < 8 * w; x++) {
                    float v = z.data()[(c * h + y / 8) * w + x / 8];
                    out[(c * 8 * h + y) * 8 * w + x] = (float) Math.tanh(v) + 0.01f * (x % 8) - 0.02f * (y % 8);
                }
            }
        }
        return new Tensor(out, 3, 8 * h, 8 * w);
    }

    static Tensor randomLatent(int c, int h, int w, long seed) {
        Random rnd = new Random(seed);
        float[] v = new float[c * h * w];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return new Tensor(v, c, h, w);
    }

    @Test
    void geometryAndBlendingAreExactForAPointwiseDecoder() {
        Tensor z = randomLatent(4, 37, 21, 5);
        Tensor untiled = pointwiseDecode(z);
        // Exact overlaps, end-aligned last tiles, no overlap at all, one axis untiled.
        for (Tiling t : new Tiling[]{new Tiling(8, 4), new Tiling(10, 3), new Tiling(16, 0), new Tiling(25, 6), new Tiling(9, 8)}) {
            Tensor tiled = t.decode(z, 8, VaeTilingTest::pointwiseDecode);
            assertArrayEquals(untiled.shape(), tiled.shape());
            Compare.allClose(t.toString(), untiled.data(), tiled.data(), 1e-6, 1e-6);
        }
    }

    @Test
    void tilesCoverTheAxisAndEndAtItsEdge() {
        Tiling t = new Tiling(16, 4);
        assertArrayEquals(new int[]{0}, t.starts(16));
        assertArrayEquals(new int[]{0, 12, 14}, t.starts(30));
        assertArrayEquals(new int[]{0, 12, 24, 36, 48}, t.starts(64));
        // Ramps of two exactly overlapping tiles add up to one.
        float[] down = Tiling.ramps(32, 8, false, true);
        float[] up = Tiling.ramps(32, 8, true, false);
        for (int i = 0; i < 8; i++) {
            assertEquals(1f, down[24 + i] + up[i], 1e-6f);
            assertTrue(up[i] > 0);
        }
        assertThrows(IllegalArgumentException.class, () -> new Tiling(8, 8));
    }

    static AutoencoderKL tinyVae() throws IOException {
        Path dir = Golden.fixture("vae/case-flux-tiny-4level");
        return AutoencoderKL.load(dir.resolve("model.safetensors"), VaeConfig.read(dir.resolve("config.json")),
                TestBackend.get());
    }

    @Test
    void aLatentThatFitsOneTileIsDecodedWhole() throws IOException {
        Tensor z = randomLatent(4, 16, 12, 7);
        List<Tensor> calls = new ArrayList<>();
        Tensor result = new Tiling(16, 4).decode(z, 8, t -> {
            calls.add(t);
            return pointwiseDecode(t);
        });
        assertEquals(1, calls.size());
        assertSame(z, calls.get(0));
        assertArrayEquals(pointwiseDecode(z).data(), result.data());
        try (AutoencoderKL vae = tinyVae()) {
            Tensor latents = randomLatent(16, 16, 12, 7);
            // Same computation; only the last bits may move as the JIT recompiles between the two calls.
            double rel = Compare.relativeError(vae.decodeTiled(latents, new Tiling(16, 4)).data(), vae.decode(latents).data());
            assertTrue(rel <= 1e-6, "single-tile decode differs from the untiled one by " + rel + " relative");
        }
    }

    /**
     * The documented tolerance of tiled decoding, on the tiny 4-level golden VAE (random weights, its
     * worst case: a tile sees a small share of the image's statistics) with 16-pixel tiles overlapping
     * by 8 on a 32×24 latent: mean |difference| ≤ 0.05 and max ≤ 0.5 on images of RMS ≈ 0.5 (measured
     * 0.032 and 0.31). Misplaced tiles or a broken blend give mean differences near the image RMS.
     */
    @Test
    void tiledDecodeStaysCloseToTheUntiledOne() throws IOException {
        try (AutoencoderKL vae = tinyVae()) {
            Tensor latents = randomLatent(16, 32, 24, 1);
            float[] untiled = vae.decode(latents).data();
            float[] tiled = vae.decodeTiled(latents, new Tiling(16, 8)).data();
            double max = 0;
            double sum = 0;
            for (int i = 0; i < untiled.length; i++) {
                double d = Math.abs(untiled[i] - tiled[i]);
                max = Math.max(max, d);
                sum += d;
            }
            double mean = sum / untiled.length;
            assertTrue(mean <= 0.05 && max <= 0.5, "tiled vs untiled: mean |diff| " + mean + ", max " + max);
        }
    }
}
