package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.FloatFormats;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The streaming writer produces files our reader accepts, with the values the fillers gave, in name order. */
class StreamingSafeTensorsWriterTest {

    @TempDir
    Path tmp;

    @Test
    void writesWhatTheFillersProduce() throws IOException {
        Path file = tmp.resolve("t.safetensors");
        // Large enough to take several chunks: 3 × 2^21 floats = 24 MB.
        List<StreamingSafeTensorsWriter.Spec> specs = List.of(
                new StreamingSafeTensorsWriter.Spec("b.ramp", DType.F32, new long[]{3, 1 << 21}),
                new StreamingSafeTensorsWriter.Spec("a.bf16", DType.BF16, new long[]{5}));
        StreamingSafeTensorsWriter.write(file, specs, t -> {
            long[] next = {0};
            return out -> {
                while (out.hasRemaining()) {
                    if (t.dtype() == DType.F32) {
                        out.putFloat(next[0]++ % 1000);
                    } else {
                        out.putShort(FloatFormats.floatToBf16(0.5f * next[0]++));
                    }
                }
            };
        });
        try (SafeTensors st = SafeTensors.open(file)) {
            assertEquals(List.of("a.bf16", "b.ramp"), List.copyOf(st.names()));
            assertArrayEquals(new float[]{0f, 0.5f, 1f, 1.5f, 2f}, st.get("a.bf16").toFloats());
            float[] ramp = st.get("b.ramp", 3, 1 << 21).toFloats();
            for (int i = 0; i < ramp.length; i += 9973) {
                assertEquals(i % 1000, ramp[i], "element " + i);
            }
            assertEquals((ramp.length - 1) % 1000, ramp[ramp.length - 1]);
        }
    }

    @Test
    void aFillerThatStopsShortLeavesNoFile() {
        Path file = tmp.resolve("short.safetensors");
        List<StreamingSafeTensorsWriter.Spec> specs = List.of(new StreamingSafeTensorsWriter.Spec("x", DType.F32, new long[]{4}));
        assertThrows(IllegalStateException.class, () -> StreamingSafeTensorsWriter.write(file, specs, t -> out -> out.putFloat(1f)));
        assertFalse(Files.exists(file));
        assertFalse(Files.exists(tmp.resolve("short.safetensors.partial")));
    }
}
