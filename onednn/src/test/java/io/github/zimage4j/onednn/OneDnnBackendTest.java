package io.github.zimage4j.onednn;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.kernels.HostBackend;
import io.github.zimage4j.kernels.Backends;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.Linear;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OneDnnBackendTest {

    @TempDir
    Path tmp;

    @Test
    void loadsOnThisPlatformAndIsChosenByAuto() {
        assertNull(Dnnl.failure(), "oneDNN must load on linux-x86_64");
        assertEquals("onednn", Backends.select("auto").name());
    }

    /** bf16 weights in place (activations rounded to bf16) and f32 weights, against the Java GEMM. */
    @Test
    void linearMatchesJavaKernels() throws IOException {
        int m = 37;
        int k = 300;
        int n = 130;
        Random rnd = new Random(3);
        float[] w = new float[n * k];
        short[] bits = new short[n * k];
        for (int i = 0; i < w.length; i++) {
            bits[i] = FloatFormats.floatToBf16((float) rnd.nextGaussian() / 17);
            w[i] = FloatFormats.bf16ToFloat(bits[i]);
        }
        float[] bias = new float[n];
        for (int i = 0; i < n; i++) {
            bias[i] = (float) rnd.nextGaussian();
        }
        Path file = tmp.resolve("w.safetensors");
        new SafeTensorsWriter().addBf16("wb", new long[]{n, k}, bits).addF32("wf", new long[]{n, k}, w).write(file);
        float[] x = new float[m * k + 4];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        HostBackend dnnl = (HostBackend) Backends.select("onednn");
        try (SafeTensors st = SafeTensors.open(file)) {
            for (String name : new String[]{"wb", "wf"}) {
                Linear layer = new Linear(st.get(name), bias);
                float[] want = new float[m * n];
                float[] got = new float[m * n + 3];
                JavaBackend.INSTANCE.linear(x, 4, m, layer, want, 0);
                dnnl.linear(x, 4, m, layer, got, 3);
                double err = 0;
                double ref = 0;
                for (int i = 0; i < want.length; i++) {
                    err += Math.pow(got[i + 3] - want[i], 2);
                    ref += want[i] * (double) want[i];
                }
                double rel = Math.sqrt(err / ref);
                boolean bf16 = layer.weight().dtype() == DType.BF16;
                assertEquals(!bf16, dnnl.float32Products(layer.weight().dtype()));
                assertTrue(rel < (bf16 ? 1e-2 : 1e-6), name + ": relative RMS error " + rel);
            }
        }
    }
}
