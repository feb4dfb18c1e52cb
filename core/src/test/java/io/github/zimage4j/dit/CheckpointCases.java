package io.github.zimage4j.dit;

import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs a golden case whose transformer is one checkpoint file in another tool's layout (ComfyUI single
 * file, GGUF): opened by {@link Checkpoints#open}, its config derived from the tensor shapes and checked
 * against the case's config.json, then the {@code transformer/} call on the case inputs against
 * {@code out.i} at the case's tolerance.
 */
final class CheckpointCases {

    private CheckpointCases() {
    }

    static void check(Path dir, Path file) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double atol = Golden.tolerance(meta, "atol");
        double rtol = Golden.tolerance(meta, "rtol");
        Backend backend = TestBackend.get();
        try (TensorSource raw = Checkpoints.open(file);
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            assertEquals(TransformerCheckpoint.Layout.ORIGINAL, TransformerCheckpoint.detect(raw));
            TensorSource view = TransformerCheckpoint.inDiffusersNames(raw);
            ZImageTransformerConfig derived = TransformerCheckpoint.deriveConfig(view);
            assertEquals(ZImageTransformerConfig.read(dir.resolve("config.json")), derived, "config derived from shapes");
            ZImageTransformer model = new ZImageTransformer(raw, derived, backend);
            List<ZImageTransformer.Input> inputs = TransformerGoldenTest.inputs(in);
            List<Tensor> out = model.forward(inputs);
            DType weights = view.get("layers.0.attention.to_q.weight").dtype();
            for (int i = 0; i < inputs.size(); i++) {
                float[] want = Golden.tensor(expected, "out." + i).data();
                if (backend.float32Products(weights)) {
                    Compare.allClose("out." + i, want, out.get(i).data(), atol, rtol);
                } else {
                    // The backend multiplies this dtype in bf16: the bf16 contract (see Backend#float32Products).
                    double rms = Compare.relativeRms(out.get(i).data(), want);
                    assertTrue(rms <= 1e-2, "out." + i + ": relative RMS error " + rms + " with bf16 products");
                }
            }
        }
    }
}
