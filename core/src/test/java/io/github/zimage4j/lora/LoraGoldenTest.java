package io.github.zimage4j.lora;

import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every case under golden/lora, each read from its meta.json (base case, files, effective strengths,
 * tolerances): the merged weights ({@code merged.safetensors}, exactly the changed tensors), the transformer
 * output in merged and in runtime mode against both reference outputs ({@code out} fused, {@code out_unfused}
 * run by PEFT at run time), and the factors against the reference converter's ({@code converted.safetensors}).
 * A case without LoRA files (the base) must reproduce its output unchanged.
 */
class LoraGoldenTest {

    /**
     * The section's output tolerance (golden README, lora/ "Tolerance"), for the base case, whose meta.json
     * carries none: the LoRA cases read theirs from meta.json.
     */
    private static final double SECTION_OUT_TOLERANCE = 1e-4;

    @TestFactory
    Stream<DynamicContainer> cases() {
        return Golden.cases("lora").stream().map(dir -> {
            Stream<DynamicTest> tests = Golden.meta(dir).containsKey("files")
                    ? Stream.of(
                            DynamicTest.dynamicTest("merged", () -> check(dir, LoraMode.MERGED)),
                            DynamicTest.dynamicTest("runtime", () -> check(dir, LoraMode.RUNTIME)),
                            DynamicTest.dynamicTest("converted factors", () -> checkConverted(dir)))
                    : Stream.of(DynamicTest.dynamicTest("no LoRA", () -> check(dir, LoraMode.RUNTIME)));
            return DynamicContainer.dynamicContainer(dir.getFileName().toString(), tests);
        });
    }

    private record Case(Path dir, Path base, Map<String, Object> meta, List<LoraTensorSource.Applied> loras) {
    }

    @SuppressWarnings("unchecked")
    private static Case read(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        Path base = meta.get("base") instanceof String b ? dir.resolveSibling(b) : dir;
        List<LoraTensorSource.Applied> loras = new ArrayList<>();
        for (Object o : (List<Object>) meta.getOrDefault("files", List.of())) {
            Map<String, Object> f = (Map<String, Object>) o;
            double strength = ((Number) f.get("effective_strength")).doubleValue();
            loras.add(new LoraTensorSource.Applied(LoraFile.read(dir.resolve((String) f.get("file"))), strength));
        }
        return new Case(dir, base, meta, loras);
    }

    private static void check(Path dir, LoraMode mode) throws IOException {
        Case c = read(dir);
        Map<String, Object> meta = c.meta();
        boolean hasLoras = !c.loras().isEmpty();
        try (SafeTensors model = SafeTensors.open(c.base().resolve("model.safetensors"));
             SafeTensors in = SafeTensors.open(c.base().resolve("inputs.safetensors"));
             SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            LoraTensorSource bound = LoraTensorSource.bind(model, c.loras(), mode, false);
            assertTrue(bound.report().unplacedKeys().isEmpty(), "unplaced: " + bound.report().unplacedKeys());
            if (hasLoras) {
                try (SafeTensors mergedRef = SafeTensors.open(dir.resolve("merged.safetensors"))) {
                    // Exactly the tensors the reference changed carry an update.
                    assertEquals(new TreeSet<>(mergedRef.names()), new TreeSet<>(bound.touchedWeights()), "touched weights");
                    if (mode == LoraMode.MERGED) {
                        double atol = Golden.tolerance(meta, "merged_atol");
                        for (String name : mergedRef.names()) {
                            StoredTensor ours = bound.find(name);
                            assertEquals(model.find(name).dtype(), ours.dtype(), name + " keeps its stored dtype");
                            Compare.allClose(name, mergedRef.find(name).toFloats(), ours.toFloats(), atol, 0);
                        }
                    }
                }
                int expectedSkips = 0;
                for (LoraTensorSource.Applied a : c.loras()) {
                    expectedSkips += ignoredByReference(meta, a.file());
                }
                assertEquals(expectedSkips, bound.report().skippedDuplicates(), "duplicates skipped as the reference skips them");
            }
            ZImageTransformer dit = new ZImageTransformer(bound, ZImageTransformerConfig.read(c.base().resolve("config.json")),
                    TestBackend.get());
            Tensor t = Golden.tensor(in, "t");
            List<ZImageTransformer.Input> inputs = new ArrayList<>();
            for (int i = 0; i < t.numel(); i++) {
                inputs.add(new ZImageTransformer.Input(Golden.tensor(in, "x." + i), Golden.tensor(in, "cap_feats." + i), t.data()[i]));
            }
            List<Tensor> out = dit.forward(inputs);
            double atol = hasLoras ? Golden.tolerance(meta, "out_atol") : SECTION_OUT_TOLERANCE;
            double rtol = hasLoras ? Golden.tolerance(meta, "rtol") : SECTION_OUT_TOLERANCE;
            int compared = 0;
            for (String kind : List.of("out", "out_unfused")) {
                for (int i = 0; i < inputs.size(); i++) {
                    if (expected.find(kind + "." + i) != null) {
                        Compare.allClose(mode + " " + kind + "." + i, Golden.tensor(expected, kind + "." + i).data(),
                                out.get(i).data(), atol, rtol);
                        compared++;
                    }
                }
            }
            assertTrue(compared >= inputs.size() * (hasLoras ? 2 : 1), "only " + compared + " outputs compared");
        }
    }

    @SuppressWarnings("unchecked")
    private static int ignoredByReference(Map<String, Object> meta, LoraFile file) {
        for (Object o : (List<Object>) meta.get("files")) {
            Map<String, Object> f = (Map<String, Object>) o;
            if (file.path().getFileName().toString().equals(f.get("file"))) {
                return ((List<Object>) f.getOrDefault("ignored_keys_by_reference", List.of())).size();
            }
        }
        fail("no meta entry for " + file.path());
        return 0;
    }

    /** The folded factors equal the reference converter's, bit for bit after widening to float. */
    @SuppressWarnings("unchecked")
    private static void checkConverted(Path dir) throws IOException {
        Case c = read(dir);
        try (SafeTensors conv = SafeTensors.open(dir.resolve("converted.safetensors"))) {
            int pairs = 0;
            List<Object> files = (List<Object>) c.meta().get("files");
            for (int i = 0; i < c.loras().size(); i++) {
                String adapter = (String) ((Map<String, Object>) files.get(i)).get("adapter_name");
                for (LoraFile.Module m : c.loras().get(i).file().modules()) {
                    Adapter.LowRank lr = (Adapter.LowRank) m.adapter();
                    String key = "transformer." + m.target() + ".lora_A.weight";
                    if (conv.find(key) == null) {
                        key = adapter + "/" + key;
                    }
                    StoredTensor a = conv.find(key);
                    StoredTensor b = conv.find(key.replace(".lora_A.", ".lora_B."));
                    assertTrue(a != null && b != null, "no converted factors for " + m.target());
                    Compare.allClose(key, a.toFloats(), lr.down().toFloats(), 0, 0);
                    Compare.allClose(key.replace(".lora_A.", ".lora_B."), b.toFloats(), lr.up().toFloats(), 0, 0);
                    pairs++;
                }
            }
            assertEquals(conv.names().size() / 2, pairs, "every converted module is read");
        }
    }
}
