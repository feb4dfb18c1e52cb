package io.github.zimage4j.testing;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Two copies of a checkpoint for checking a bf16 weight path: every tensor rounded to bfloat16 (nearest
 * even) and stored as BF16, and the same rounded values stored as F32. A model must compute the same
 * thing from both, since its kernels decode BF16 to exactly these floats.
 */
public final class Bf16Copies {

    private Bf16Copies() {
    }

    public static void write(Path weights, Path bf16, Path roundedF32) throws IOException {
        try (SafeTensors w = SafeTensors.open(weights)) {
            SafeTensorsWriter asBf16 = new SafeTensorsWriter();
            SafeTensorsWriter asF32 = new SafeTensorsWriter();
            for (String name : w.names()) {
                StoredTensor t = w.get(name);
                float[] v = t.toFloats();
                short[] bits = new short[v.length];
                float[] rounded = new float[v.length];
                for (int i = 0; i < v.length; i++) {
                    bits[i] = FloatFormats.floatToBf16(v[i]);
                    rounded[i] = FloatFormats.bf16ToFloat(bits[i]);
                }
                asBf16.addBf16(name, t.shape(), bits);
                asF32.addF32(name, t.shape(), rounded);
            }
            asBf16.write(bf16);
            asF32.write(roundedF32);
        }
    }
}
