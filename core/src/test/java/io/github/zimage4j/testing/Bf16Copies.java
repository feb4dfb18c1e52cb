package io.github.zimage4j.testing;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Two copies of a small float checkpoint for the bf16 self-consistency checks: one stored as BF16, one
 * stored as float32 holding exactly the same bf16-rounded values. A model must give the same result
 * from both (up to summation order): the bf16 path may only differ by how weights are stored.
 */
public final class Bf16Copies {

    private Bf16Copies() {
    }

    /** The copy stored as BF16 and the float32 copy of the same rounded values. */
    public record Paths(Path bf16, Path roundedF32) {
    }

    /**
     * Writes {@code dir/stem-bf16.safetensors} and {@code dir/stem-rounded-f32.safetensors} from every
     * floating-point tensor of {@code source} (round to nearest even, as torch does), names unchanged.
     */
    public static Paths write(Path source, Path dir, String stem) throws IOException {
        Paths out = new Paths(dir.resolve(stem + "-bf16.safetensors"), dir.resolve(stem + "-rounded-f32.safetensors"));
        try (SafeTensors w = SafeTensors.open(source)) {
            SafeTensorsWriter asBf16 = new SafeTensorsWriter();
            SafeTensorsWriter asF32 = new SafeTensorsWriter();
            for (String name : w.names()) {
                StoredTensor t = w.get(name);
                if (!t.dtype().isFloatingPoint()) {
                    throw new IllegalArgumentException(t.where() + " is " + t.dtype() + ", not a float weight");
                }
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
            asBf16.write(out.bf16());
            asF32.write(out.roundedF32());
        }
        try (SafeTensors check = SafeTensors.open(out.bf16())) {
            for (String name : check.names()) {
                if (check.get(name).dtype() != DType.BF16) {
                    throw new IllegalStateException(check.get(name).where() + " was not written as BF16");
                }
            }
        }
        return out;
    }
}
