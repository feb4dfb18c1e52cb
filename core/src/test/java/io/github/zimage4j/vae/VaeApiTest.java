package io.github.zimage4j.vae;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The public surface around the networks: latent scaling, sampling, loading and input checks. */
class VaeApiTest {

    @TempDir
    Path tmp;

    static Path tinyCase() {
        return Golden.root().resolve("vae/case-flux-tiny-4level");
    }

    @Test
    void scalingHelpersAreInverse() throws IOException {
        try (AutoencoderKL vae = AutoencoderKL.load(tinyCase().resolve("model.safetensors"),
                VaeConfig.read(tinyCase().resolve("config.json")), JavaBackend.INSTANCE)) {
            Tensor latents = new Tensor(new float[]{-2f, -0.5f, 0f, 0.25f, 1f, 3f}, 1, 2, 3);
            Tensor z = vae.toVaeSpace(latents);
            assertEquals(-2f / 0.3611f + 0.1159f, z.data()[0]);
            Tensor back = vae.toPipelineSpace(z);
            for (int i = 0; i < 6; i++) {
                assertEquals(latents.data()[i], back.data()[i], 1e-6f);
            }
        }
    }

    @Test
    void sampleIsMeanPlusStdTimesNoise() {
        Tensor mean = new Tensor(new float[]{0.5f, -1f}, 2, 1, 1);
        Tensor logvar = new Tensor(new float[]{-2f, 1f}, 2, 1, 1);
        LatentDistribution d = new LatentDistribution(mean, logvar);
        Tensor eps = new Tensor(new float[]{1.5f, -0.25f}, 2, 1, 1);
        Tensor s = d.sample(eps);
        assertEquals(0.5f + (float) Math.exp(-1.0) * 1.5f, s.data()[0], 1e-7f);
        assertEquals(-1f + (float) Math.exp(0.5) * -0.25f, s.data()[1], 1e-7f);
        assertEquals(mean, d.mode());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> d.sample(new Tensor(new float[3], 3, 1, 1)));
        assertTrue(e.getMessage().contains("[3, 1, 1]"), e.getMessage());
    }

    @Test
    void encodeClampsTheLogVarianceAndChecksTheImage() throws IOException {
        try (AutoencoderKL vae = AutoencoderKL.load(tinyCase().resolve("model.safetensors"),
                VaeConfig.read(tinyCase().resolve("config.json")), JavaBackend.INSTANCE)) {
            // A wildly out-of-range image drives the log-variance against its clamp.
            float[] px = new float[3 * 16 * 16];
            for (int i = 0; i < px.length; i++) {
                px[i] = (i % 2 == 0 ? 1 : -1) * 1e4f;
            }
            LatentDistribution d = vae.encode(new Tensor(px, 3, 16, 16));
            for (float v : d.logvar().data()) {
                assertTrue(v >= -30f && v <= 20f, "log-variance " + v + " outside [-30, 20]");
            }
            assertArrayEquals(new int[]{16, 2, 2}, d.mean().shape());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> vae.encode(new Tensor(new float[3 * 12 * 16], 3, 12, 16)));
            assertTrue(e.getMessage().contains("multiples of 8") && e.getMessage().contains("[3, 12, 16]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> vae.decode(new Tensor(new float[4 * 16], 4, 4, 4)));
            assertTrue(e.getMessage().contains("[16, h, w]") && e.getMessage().contains("[4, 4, 4]"), e.getMessage());
        }
    }

    @Test
    void aFolderNeedsItsConfigAndAFileWithoutOneIsTheFluxVae() throws IOException {
        Path folder = tmp.resolve("vae");
        Files.createDirectories(folder);
        Files.copy(tinyCase().resolve("model.safetensors"), folder.resolve("diffusion_pytorch_model.safetensors"));
        ModelFileException e = assertThrows(ModelFileException.class, () -> io.github.zimage4j.pipeline.ModelFiles.openVae(folder, JavaBackend.INSTANCE));
        assertTrue(e.getMessage().contains("no config.json"), e.getMessage());
        Files.copy(tinyCase().resolve("config.json"), folder.resolve("config.json"));
        try (AutoencoderKL vae = io.github.zimage4j.pipeline.ModelFiles.openVae(folder, JavaBackend.INSTANCE)) {
            assertEquals(VaeConfig.read(tinyCase().resolve("config.json")), vae.config());
        }
        // A lone file is taken for the full-size Flux VAE, so the tiny weights are reported as mis-shaped.
        Path lone = tmp.resolve("lone/ae.safetensors");
        Files.createDirectories(lone.getParent());
        Files.copy(tinyCase().resolve("model.safetensors"), lone);
        e = assertThrows(ModelFileException.class, () -> io.github.zimage4j.pipeline.ModelFiles.openVae(lone, JavaBackend.INSTANCE));
        assertTrue(e.getMessage().contains("does not match its config") && e.getMessage().contains("wrong shape"),
                e.getMessage());
    }
}
