package io.github.zimage4j.vae;

import io.github.zimage4j.io.CheckpointCheck;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * BFL's {@code ae.safetensors} layout: every VAE case under golden/single_file against the reference
 * (diffusers' from_single_file), and proof that the BFL and diffusers layouts of the same weights decode
 * and encode identically.
 */
class BflVaeGoldenTest {

    @TempDir
    Path tmp;

    static List<Path> vaeCases() {
        return Golden.cases("single_file").stream().filter(d -> "vae".equals(Golden.meta(d).get("kind"))).toList();
    }

    @TestFactory
    Stream<DynamicTest> parity() {
        List<Path> cases = vaeCases();
        assertTrue(!cases.isEmpty(), "no single_file case of kind vae");
        return cases.stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkCase(dir)));
    }

    /** The file as a ComfyUI user has it; its config comes from the config.json beside it. */
    static void checkCase(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        Path file = dir.resolve((String) meta.get("file"));
        // The README gives atol only: "Use atol 1e-4".
        double decodeAtol = Golden.tolerance(meta, "decode_atol");
        double encodeAtol = Golden.tolerance(meta, "encode_atol");
        try (SafeTensors raw = SafeTensors.open(file)) {
            assertEquals(VaeCheckpoint.Layout.BFL, VaeCheckpoint.detect(raw));
        }
        try (AutoencoderKL vae = io.github.zimage4j.pipeline.ModelFiles.openVae(file, TestBackend.get());
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            assertEquals(VaeConfig.read(dir.resolve("config.json")), vae.config());
            Tensor decoded = vae.decode(VaeGoldenTest.single(in, "latents"));
            Tensor expected = VaeGoldenTest.single(out, "decoded");
            assertEquals(Arrays.toString(expected.shape()), Arrays.toString(decoded.shape()), "decoded shape");
            Compare.allClose("decoded", expected.data(), decoded.data(), decodeAtol, 0);
            LatentDistribution dist = vae.encode(VaeGoldenTest.single(in, "image"));
            Compare.allClose("latent_mean", VaeGoldenTest.single(out, "latent_mean").data(), dist.mean().data(), encodeAtol, 0);
            Compare.allClose("latent_logvar", VaeGoldenTest.single(out, "latent_logvar").data(), dist.logvar().data(),
                    encodeAtol, 0);
        }
    }

    /**
     * The diffusers layout of the same weights, written with the reference converter's own mapping
     * (meta.json), decodes and encodes like the BFL file. Not bit for bit: the Vector API's exp and lane
     * sums differ in the last bit between interpreted and JIT-compiled code, so two runs in one JVM can
     * differ by ~1e-7; a wrong mapping differs by O(1).
     */
    @Test
    void bflAndDiffusersLayoutsOfTheSameWeightsAgree() throws IOException {
        Path dir = vaeCases().get(0);
        Map<String, Object> meta = Golden.meta(dir);
        Path bflFile = dir.resolve((String) meta.get("file"));
        Path diffusersFile = tmp.resolve("diffusion_pytorch_model.safetensors");
        try (SafeTensors bfl = SafeTensors.open(bflFile)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            List<?> mapping = (List<?>) meta.get("mapping");
            assertEquals(bfl.names().size(), mapping.size(), "mapping covers every tensor");
            for (Object o : mapping) {
                Map<?, ?> m = (Map<?, ?>) o;
                StoredTensor t = bfl.get((String) m.get("original"));
                long[] shape = t.shape();
                if (m.get("transform") != null) {
                    assertEquals("reshape [C,C,1,1] -> [C,C]", m.get("transform"));
                    shape = new long[]{shape[0], shape[1]};
                }
                w.addF32((String) m.get("diffusers"), shape, t.toFloats());
            }
            w.write(diffusersFile);
        }
        VaeConfig cfg = VaeConfig.read(dir.resolve("config.json"));
        try (AutoencoderKL fromBfl = AutoencoderKL.load(bflFile, cfg, TestBackend.get());
             AutoencoderKL fromDiffusers = AutoencoderKL.load(diffusersFile, cfg, TestBackend.get());
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            try (SafeTensors check = SafeTensors.open(diffusersFile)) {
                assertEquals(VaeCheckpoint.Layout.DIFFUSERS, VaeCheckpoint.detect(check));
            }
            Tensor latents = VaeGoldenTest.single(in, "latents");
            assertSame("decoded", fromDiffusers.decode(latents), fromBfl.decode(latents));
            Tensor image = VaeGoldenTest.single(in, "image");
            LatentDistribution a = fromBfl.encode(image);
            LatentDistribution b = fromDiffusers.encode(image);
            assertSame("latent_mean", b.mean(), a.mean());
            assertSame("latent_logvar", b.logvar(), a.logvar());
        }
    }

    static void assertSame(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double rel = Compare.relativeError(actual.data(), expected.data());
        assertTrue(rel <= 1e-6, what + ": the layouts differ by " + rel + " relative");
    }

    /** The view renames and reshapes without copying: the attention weights are the file's own bytes. */
    @Test
    void viewHasTheDiffusersNamesAndSharesTheFilesBytes() throws IOException {
        Path dir = vaeCases().get(0);
        VaeConfig cfg = VaeConfig.read(dir.resolve("config.json"));
        try (SafeTensors raw = SafeTensors.open(dir.resolve((String) Golden.meta(dir).get("file")))) {
            BflVaeLayout view = BflVaeLayout.of(raw);
            CheckpointCheck.Report report = CheckpointCheck.compare(view.description(), cfg.expectedTensors(), view.shapes(),
                    List.of());
            assertTrue(report.ok(), report.toString());
            StoredTensor q = view.get("decoder.mid_block.attentions.0.to_q.weight");
            StoredTensor inFile = raw.get("decoder.mid.attn_1.q.weight");
            assertArrayEquals(new long[]{inFile.dim(0), inFile.dim(1)}, q.shape());
            assertEquals(inFile.data().address(), q.data().address());
            assertEquals(inFile.data().byteSize(), q.data().byteSize());
            // The finest diffusers up block is BFL's up.0.
            assertEquals(raw.get("decoder.up.0.block.0.conv1.weight").data().address(),
                    view.get("decoder.up_blocks." + (cfg.levels() - 1) + ".resnets.0.conv1.weight").data().address());
            assertEquals(raw.get("encoder.down.2.block.0.nin_shortcut.weight").data().address(),
                    view.get("encoder.down_blocks.2.resnets.0.conv_shortcut.weight").data().address());
        }
    }

    @Test
    void namesOutsideBothLayoutsAreRefusedClearly() throws IOException {
        Path transformer = Golden.cases("transformer").get(0).resolve("model.safetensors");
        try (SafeTensors st = SafeTensors.open(transformer)) {
            ModelFileException e = assertThrows(ModelFileException.class, () -> VaeCheckpoint.detect(st));
            assertTrue(e.getMessage().contains(transformer.toString()) && e.getMessage().contains("no VAE tensors"),
                    e.getMessage());
        }
    }

    @Test
    void aMissingTensorIsReportedUnderItsDiffusersName() throws IOException {
        Path dir = vaeCases().get(0);
        Path file = tmp.resolve("ae-incomplete.safetensors");
        try (SafeTensors raw = SafeTensors.open(dir.resolve((String) Golden.meta(dir).get("file")))) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String n : raw.names()) {
                if (!n.equals("decoder.up.1.upsample.conv.weight") && !n.equals("decoder.mid.attn_1.q.weight")) {
                    w.addF32(n, raw.get(n).shape(), raw.get(n).toFloats());
                }
            }
            w.write(file);
        }
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> AutoencoderKL.load(file, VaeConfig.read(dir.resolve("config.json")), TestBackend.get()));
        String up = "decoder.up_blocks." + (VaeConfig.read(dir.resolve("config.json")).levels() - 2) + ".upsamplers.0.conv.weight";
        assertTrue(e.getMessage().contains("BFL VAE layout") && e.getMessage().contains("missing (2)")
                && e.getMessage().contains("decoder.mid_block.attentions.0.to_q.weight") && e.getMessage().contains(up),
                e.getMessage());
    }

    @Test
    void layoutOfASourceIsItsOwnWhenAlreadyDiffusers() throws IOException {
        Path model = Golden.cases("vae").get(0).resolve("model.safetensors");
        try (SafeTensors st = SafeTensors.open(model)) {
            TensorSource same = VaeCheckpoint.inDiffusersNames(st);
            assertEquals(st, same);
        }
    }
}
