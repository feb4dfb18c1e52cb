package io.github.zimage4j.dit;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Bf16Check;
import io.github.zimage4j.testing.Bf16Copies;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every case under golden/transformer: outputs and every per-block intermediate at the case's own
 * tolerance, in float32; and the bf16 weight path, which must give what the float32 path gives on the
 * same bf16-rounded values.
 */
class TransformerGoldenTest {

    @TempDir
    Path tmp;

    static Backend backend() {
        return TestBackend.get();
    }

    @TestFactory
    Stream<DynamicTest> float32() {
        return Golden.cases("transformer").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkCase(dir)));
    }

    @TestFactory
    Stream<DynamicTest> bf16WeightPath() {
        return Golden.cases("transformer").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkBf16(dir)));
    }

    record Run(List<Tensor> outputs, Map<String, List<float[]>> trace) {
    }

    static List<ZImageTransformer.Input> inputs(SafeTensors in) {
        Tensor t = Golden.tensor(in, "t");
        List<ZImageTransformer.Input> list = new ArrayList<>();
        for (int i = 0; i < t.numel(); i++) {
            list.add(new ZImageTransformer.Input(Golden.tensor(in, "x." + i), Golden.tensor(in, "cap_feats." + i), t.data()[i]));
        }
        return list;
    }

    static Run run(Path weights, Path config, List<ZImageTransformer.Input> inputs) throws IOException {
        try (SafeTensors w = SafeTensors.open(weights)) {
            ZImageTransformer model = new ZImageTransformer(w, ZImageTransformerConfig.read(config), backend());
            Map<String, List<float[]>> trace = new HashMap<>();
            List<Tensor> out = model.forward(inputs, (name, sample, data, off, rows, cols) -> {
                List<float[]> l = trace.computeIfAbsent(name, k -> new ArrayList<>());
                while (l.size() <= sample) {
                    l.add(null);
                }
                float[] copy = new float[rows * cols];
                System.arraycopy(data, off, copy, 0, copy.length);
                l.set(sample, copy);
            });
            return new Run(out, trace);
        }
    }

    static void checkCase(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double atol = Golden.tolerance(meta, "atol");
        double rtol = Golden.tolerance(meta, "rtol");
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"));
             SafeTensors inter = SafeTensors.open(dir.resolve("intermediates.safetensors"))) {
            List<ZImageTransformer.Input> inputs = inputs(in);
            Run run = run(dir.resolve("model.safetensors"), dir.resolve("config.json"), inputs);
            for (int i = 0; i < inputs.size(); i++) {
                Tensor e = Golden.tensor(expected, "out." + i);
                Tensor a = run.outputs().get(i);
                assertEquals(java.util.Arrays.toString(e.shape()), java.util.Arrays.toString(a.shape()), "out." + i + " shape");
                Compare.allClose("out." + i, e.data(), a.data(), atol, rtol);
            }
            int checked = 0;
            for (String name : inter.names()) {
                StoredTensor ref = inter.get(name);
                List<float[]> ours = run.trace().get(name);
                assertTrue(ours != null, "no trace for intermediate " + name);
                float[] refData = ref.toFloats();
                if (ref.rank() == 3) {
                    // [B, S, cols], batch-padded: compare each sample's own rows.
                    int s = (int) ref.dim(1);
                    int cols = (int) ref.dim(2);
                    for (int b = 0; b < ours.size(); b++) {
                        int rows = ours.get(b).length / cols;
                        Compare.allClose(name + "[sample " + b + "]", refData, b * s * cols, ours.get(b), 0, rows * cols, atol, rtol);
                    }
                } else {
                    // [Σ rows, cols] or [B, cols]: samples one after another.
                    int off = 0;
                    for (int b = 0; b < ours.size(); b++) {
                        Compare.allClose(name + "[sample " + b + "]", refData, off, ours.get(b), 0, ours.get(b).length, atol, rtol);
                        off += ours.get(b).length;
                    }
                    assertEquals(refData.length, off, name + ": row count");
                }
                checked++;
            }
            assertTrue(checked >= 5, "only " + checked + " intermediates checked");
        }
    }

    /** The bf16 weight path: see {@link Bf16Check}. */
    void checkBf16(Path dir) throws IOException {
        Bf16Copies.Paths copies = Bf16Copies.write(dir.resolve("model.safetensors"), tmp, dir.getFileName().toString());
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            List<ZImageTransformer.Input> inputs = inputs(in);
            List<float[]> reference = new ArrayList<>();
            for (int i = 0; i < inputs.size(); i++) {
                reference.add(Golden.tensor(expected, "out." + i).data());
            }
            Bf16Check.verify(backend(), copies, weights -> run(weights, dir.resolve("config.json"), inputs).outputs()
                    .stream().map(Tensor::data).toList(), reference);
        }
    }
}
