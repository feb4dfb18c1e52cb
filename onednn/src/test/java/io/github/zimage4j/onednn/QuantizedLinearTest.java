package io.github.zimage4j.onednn;

import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.tensor.Linear;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GGUF-quantized weights on oneDNN: decoded block by block into the bounded bf16 scratch and multiplied in
 * bf16, against the Java kernels' float32 product on the same weights, with one decode block and with many.
 */
class QuantizedLinearTest {

    @Test
    void blockDecodedBf16ProductsMatchTheJavaKernels() throws IOException {
        OneDnnBackend dnnl = new OneDnnBackend(Dnnl.get());
        try (Gguf g = Gguf.open(Golden.root().resolve("gguf/case-model-q4_k-dim256/z_image_tiny-Q4_K.gguf"));
             Gguf q8 = Gguf.open(Golden.root().resolve("gguf/case-model-q8_0/z_image_tiny-Q8_0.gguf"))) {
            StoredTensor[] weights = {g.get("layers.0.feed_forward.w1.weight"), g.get("layers.0.attention.qkv.weight"),
                    q8.get("layers.0.feed_forward.w1.weight")};
            Random rnd = new Random(5);
            for (StoredTensor w : weights) {
                assertTrue(w.dtype().isQuantized(), w + " is quantized");
                assertFalse(dnnl.float32Products(w.dtype()));
                int n = (int) w.dim(0);
                int k = (int) w.dim(1);
                float[] bias = new float[n];
                for (int i = 0; i < n; i++) {
                    bias[i] = (float) rnd.nextGaussian();
                }
                Linear layer = new Linear(w, bias);
                int m = 40;
                float[] x = new float[m * k];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                float[] want = new float[m * n];
                JavaBackend.INSTANCE.linear(x, 0, m, layer, want, 0);
                for (long scratch : new long[]{OneDnnBackend.DECODE_SCRATCH_BYTES, 16L * 2 * k}) {
                    dnnl.decodeScratchBytes(scratch);
                    float[] got = new float[m * n];
                    dnnl.linear(x, 0, m, layer, got, 0);
                    double rms = Compare.relativeRms(got, want);
                    assertTrue(rms < 1e-2, w + " with a " + scratch + "-byte scratch: relative RMS " + rms);
                }
            }
        }
    }
}
