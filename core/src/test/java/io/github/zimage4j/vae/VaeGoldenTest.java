package io.github.zimage4j.vae;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Bf16Check;
import io.github.zimage4j.testing.Bf16Copies;
import io.github.zimage4j.testing.TestBackend;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every case under golden/vae: the decode ({@code decoded}) and the encode ({@code latent_mean},
 * {@code latent_logvar}, {@code latent_std}, {@code latent_mean_pipeline_space}) at the case's own
 * tolerance in float32; and the bf16 weight path, which must give what the float32 path gives on the
 * same bf16-rounded values.
 */
class VaeGoldenTest {

    @TempDir
    Path tmp;

    static Backend backend() {
        return TestBackend.get();
    }

    @TestFactory
    Stream<DynamicTest> decode() {
        return Golden.cases("vae").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkDecode(dir)));
    }

    @TestFactory
    Stream<DynamicTest> encode() {
        return Golden.cases("vae").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkEncode(dir)));
    }

    @TestFactory
    Stream<DynamicTest> bf16WeightPath() {
        return Golden.cases("vae").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkBf16(dir)));
    }

    /** A golden [1, C, H, W] tensor as the model's [C, H, W]. */
    static Tensor single(SafeTensors st, String name) {
        Tensor t = Golden.tensor(st, name);
        assertEquals(1, t.dim(0), name + ": batch of one expected");
        return t.reshape(t.dim(1), t.dim(2), t.dim(3));
    }

    static AutoencoderKL open(Path dir) throws IOException {
        return AutoencoderKL.load(dir.resolve("model.safetensors"), VaeConfig.read(dir.resolve("config.json")), backend());
    }

    static void checkDecode(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double atol = Golden.tolerance(meta, "decode_atol");
        double rtol = Golden.tolerance(meta, "rtol");
        try (AutoencoderKL vae = open(dir);
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            Tensor latents = single(in, "latents");
            // The scaling into VAE space is plain float32 arithmetic: it matches to the last bits.
            Compare.allClose("z", single(in, "z").data(), vae.toVaeSpace(latents).data(), 1e-6, 1e-6);
            Tensor expected = single(out, "decoded");
            Tensor decoded = vae.decode(latents);
            assertEquals(Arrays.toString(expected.shape()), Arrays.toString(decoded.shape()), "decoded shape");
            Compare.allClose("decoded", expected.data(), decoded.data(), atol, rtol);
        }
    }

    static void checkEncode(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double atol = Golden.tolerance(meta, "encode_atol");
        double rtol = Golden.tolerance(meta, "rtol");
        try (AutoencoderKL vae = open(dir);
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            LatentDistribution dist = vae.encode(single(in, "image"));
            Map<String, Tensor> ours = Map.of("latent_mean", dist.mean(), "latent_logvar", dist.logvar(),
                    "latent_std", dist.std(), "latent_mean_pipeline_space", vae.toPipelineSpace(dist.mode()));
            for (Map.Entry<String, Tensor> e : ours.entrySet()) {
                Tensor expected = single(out, e.getKey());
                assertEquals(Arrays.toString(expected.shape()), Arrays.toString(e.getValue().shape()), e.getKey() + " shape");
                Compare.allClose(e.getKey(), expected.data(), e.getValue().data(), atol, rtol);
            }
        }
    }

    /** The bf16 weight path (decode and encode): see {@link Bf16Check}. */
    void checkBf16(Path dir) throws IOException {
        Bf16Copies.Paths copies = Bf16Copies.write(dir.resolve("model.safetensors"), tmp, dir.getFileName().toString());
        VaeConfig cfg = VaeConfig.read(dir.resolve("config.json"));
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            Tensor latents = single(in, "latents");
            Tensor image = single(in, "image");
            List<float[]> reference = List.of(single(out, "decoded").data(), single(out, "latent_mean").data(),
                    single(out, "latent_logvar").data());
            Bf16Check.verify(backend(), copies, weights -> {
                try (AutoencoderKL vae = AutoencoderKL.load(weights, cfg, backend())) {
                    LatentDistribution d = vae.encode(image);
                    return List.of(vae.decode(latents).data(), d.mean().data(), d.logvar().data());
                }
            }, reference);
        }
    }
}
