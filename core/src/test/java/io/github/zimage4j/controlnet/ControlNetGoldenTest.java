package io.github.zimage4j.controlnet;

import io.github.zimage4j.controlnet.ZImageControlNet.RefinerRouting;
import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every golden/controlnet component case (own transformer/ and controlnet/ folders): the transformer
 * without control, then per scale the main-layer hints, the 2.x refiner hints and the output with the
 * hints (diffusers routing), and the VideoX-Fun routing against the original implementation's output.
 */
class ControlNetGoldenTest {

    static List<Path> componentCases() {
        return Golden.cases("controlnet").stream().filter(d -> Files.isDirectory(d.resolve("controlnet"))).toList();
    }

    @TestFactory
    Stream<DynamicTest> diffusersRouting() {
        return componentCases().stream().map(d -> DynamicTest.dynamicTest(d.getFileName().toString(), () -> check(d, RefinerRouting.DIFFUSERS)));
    }

    @TestFactory
    Stream<DynamicTest> videoxRouting() {
        return componentCases().stream().map(d -> DynamicTest.dynamicTest(d.getFileName().toString(), () -> check(d, RefinerRouting.VIDEOX)));
    }

    /** A scale as the case names it: 0.75 → "0.75", 1.0 → "1". */
    static String scaleKey(double s) {
        return BigDecimal.valueOf(s).stripTrailingZeros().toPlainString();
    }

    void check(Path dir, RefinerRouting routing) throws Exception {
        Map<String, Object> meta = Golden.meta(dir);
        double atol = Golden.tolerance(meta, "atol");
        double rtol = Golden.tolerance(meta, "rtol");
        Backend backend = TestBackend.get();
        ZImageTransformerConfig cfg = ZImageTransformerConfig.read(dir.resolve("transformer/config.json"));
        try (SafeTensors weights = SafeTensors.open(dir.resolve("transformer"));
             ZImageControlNet control = ZImageControlNet.load(dir.resolve("controlnet"), cfg);
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            ZImageTransformer transformer = new ZImageTransformer(weights, cfg, backend);
            String layout = (String) meta.get("layout");
            assertEquals(layout.equals("union1.0") ? "Union 1.0" : "Union 2.1", control.describeLayout(), "detected layout");
            float[] t = Golden.tensor(in, "t").data();
            List<ZImageTransformer.Input> inputs = new ArrayList<>();
            List<Tensor> contexts = new ArrayList<>();
            for (int i = 0; i < t.length; i++) {
                inputs.add(new ZImageTransformer.Input(Golden.tensor(in, "x." + i), Golden.tensor(in, "cap_feats." + i), t[i]));
                contexts.add(Golden.tensor(in, "control_context." + i));
            }
            List<Tensor> base = transformer.forward(inputs);
            for (int i = 0; i < t.length; i++) {
                Compare.allClose("base.out." + i, Golden.tensor(out, "base.out." + i).data(), base.get(i).data(), atol, rtol);
            }
            Map<?, ?> videox = (Map<?, ?>) meta.get("videox_fun");
            for (Object so : (List<?>) meta.get("scales")) {
                double scale = ((Number) so).doubleValue();
                String key = "scale" + scaleKey(scale);
                Map<Integer, float[]> hints = new HashMap<>();
                Map<Integer, float[]> refinerHints = new HashMap<>();
                ZImageTransformer.ResidualHook hook = control.hook(contexts, scale, routing, new ZImageControlNet.HintListener() {
                    @Override
                    public void hint(int layer, float[] rows) {
                        hints.put(layer, rows.clone());
                    }

                    @Override
                    public void refinerHint(int layer, float[] rows) {
                        refinerHints.put(layer, rows.clone());
                    }
                });
                List<Tensor> result = transformer.forward(inputs, null, hook);

                // Hints: ours are packed sample after sample; the reference's are [B, S_max, dim].
                int dim = cfg.dim();
                for (String name : out.names()) {
                    if (!name.startsWith(key + ".hint.") && !name.startsWith(key + ".refiner_hint.")) {
                        continue;
                    }
                    boolean refiner = name.startsWith(key + ".refiner_hint.");
                    int layer = Integer.parseInt(name.substring(name.lastIndexOf('.') + 1));
                    float[] ours = (refiner ? refinerHints : hints).get(layer);
                    assertTrue(ours != null, "no hint for " + name);
                    Tensor expected = Golden.tensor(out, name);
                    int sMax = expected.dim(1);
                    int offset = 0;
                    for (int s = 0; s < t.length; s++) {
                        int rows = refiner ? imageRows(inputs.get(s)) : imageRows(inputs.get(s)) + capRows(inputs.get(s));
                        Compare.allClose(name + " sample " + s, expected.data(), s * sMax * dim, ours, offset * dim, rows * dim, atol, rtol);
                        offset += rows;
                    }
                }
                assertEquals(layout.equals("union1.0") ? 0 : cfg.nRefinerLayers(), refinerHints.size(), "refiner hints");

                Map<?, ?> vx = (Map<?, ?>) videox.get(scaleKey(scale));
                List<?> perSample = (List<?>) vx.get("max_abs_vs_diffusers_per_sample");
                for (int i = 0; i < t.length; i++) {
                    String expectedName = key + ".out." + i;
                    if (routing == RefinerRouting.VIDEOX && out.contains("videox_fun." + key + ".out." + i)) {
                        if (layout.equals("union1.0")) {
                            // VideoX-Fun's 1.0 RoPE quirk (control positions of every sample from sample 0's caption
                            // length, golden README): not reproduced, so such samples match diffusers instead.
                            assertTrue(((Number) perSample.get(i)).doubleValue() == 0 || i > 0,
                                    "a 1.0 difference is only expected for later samples");
                        } else {
                            expectedName = "videox_fun." + key + ".out." + i;
                        }
                    }
                    Compare.allClose(routing + " " + expectedName, Golden.tensor(out, expectedName).data(), result.get(i).data(), atol, rtol);
                }
            }
        }
    }

    static int imageRows(ZImageTransformer.Input in) {
        return ZImageTransformerConfig.padded(in.latent().dim(1) * (in.latent().dim(2) / 2) * (in.latent().dim(3) / 2));
    }

    static int capRows(ZImageTransformer.Input in) {
        return ZImageTransformerConfig.padded(in.capFeats().dim(0));
    }
}
