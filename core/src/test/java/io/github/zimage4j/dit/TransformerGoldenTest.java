package io.github.zimage4j.dit;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
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

    /**
     * The bf16 weight path must be exact: weights stored as BF16 give (≤ 1e-5 relative) what the float32
     * path gives on float32 weights holding the same bf16-rounded values.
     */
    void checkBf16(Path dir) throws IOException {
        Path bf16 = tmp.resolve(dir.getFileName() + "-bf16.safetensors");
        Path rounded = tmp.resolve(dir.getFileName() + "-rounded-f32.safetensors");
        try (SafeTensors w = SafeTensors.open(dir.resolve("model.safetensors"))) {
            SafeTensorsWriter asBf16 = new SafeTensorsWriter();
            SafeTensorsWriter asF32 = new SafeTensorsWriter();
            for (String name : w.names()) {
                StoredTensor t = w.get(name);
                float[] v = t.toFloats();
                short[] bits = new short[v.length];
                float[] r = new float[v.length];
                for (int i = 0; i < v.length; i++) {
                    bits[i] = FloatFormats.floatToBf16(v[i]);
                    r[i] = FloatFormats.bf16ToFloat(bits[i]);
                }
                asBf16.addBf16(name, t.shape(), bits);
                asF32.addF32(name, t.shape(), r);
            }
            asBf16.write(bf16);
            asF32.write(rounded);
        }
        try (SafeTensors check = SafeTensors.open(bf16)) {
            assertEquals(DType.BF16, check.get("x_pad_token").dtype());
        }
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            List<ZImageTransformer.Input> inputs = inputs(in);
            Run a = run(bf16, dir.resolve("config.json"), inputs);
            if (backend().float32Products(DType.BF16)) {
                Run b = run(rounded, dir.resolve("config.json"), inputs);
                for (int i = 0; i < inputs.size(); i++) {
                    double rel = Compare.relativeError(a.outputs().get(i).data(), b.outputs().get(i).data());
                    assertTrue(rel <= 1e-5, "out." + i + ": bf16 path differs from the float32 path by " + rel + " relative");
                }
            } else {
                // The backend multiplies bf16 weights in bf16: hold it to 1e-2 relative RMS error of the reference.
                for (int i = 0; i < inputs.size(); i++) {
                    double rms = Compare.relativeRms(a.outputs().get(i).data(), Golden.tensor(expected, "out." + i).data());
                    assertTrue(rms <= 1e-2, "out." + i + ": relative RMS error " + rms + " against the reference");
                }
            }
        }
    }
}
