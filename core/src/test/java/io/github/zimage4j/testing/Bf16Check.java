package io.github.zimage4j.testing;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.kernels.Backend;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bf16 weight-path check shared by the model parity tests. On a backend that computes bf16 weights
 * in float32, the BF16-stored copy must give (≤ 1e-5 relative) what the float32 copy of the same rounded
 * values gives: storage may only change decoding. On a backend that multiplies in bf16, the BF16 copy is
 * held to 1e-2 relative RMS error against the reference outputs.
 */
public final class Bf16Check {

    private Bf16Check() {
    }

    /** Runs a model on one weight file and returns its outputs. */
    @FunctionalInterface
    public interface Model {
        List<float[]> run(Path weights) throws IOException;
    }

    public static void verify(Backend backend, Bf16Copies.Paths copies, Model model, List<float[]> reference) throws IOException {
        List<float[]> bf16 = model.run(copies.bf16());
        if (backend.float32Products(DType.BF16)) {
            List<float[]> f32 = model.run(copies.roundedF32());
            assertEquals(f32.size(), bf16.size());
            for (int i = 0; i < bf16.size(); i++) {
                double rel = Compare.relativeError(bf16.get(i), f32.get(i));
                assertTrue(rel <= 1e-5, "output " + i + ": bf16 path differs from the float32 path by " + rel + " relative");
            }
        } else {
            assertEquals(reference.size(), bf16.size());
            for (int i = 0; i < bf16.size(); i++) {
                double rms = Compare.relativeRms(bf16.get(i), reference.get(i));
                assertTrue(rms <= 1e-2, "output " + i + " on " + backend.name() + ": relative RMS error " + rms + " against the reference");
            }
        }
    }
}
