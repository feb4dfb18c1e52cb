package io.github.zimage4j.io;

import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every case under golden/gguf, read back through {@link Gguf}: the header, every metadata pair with its
 * type, every tensor's type, shape (ggml's reversed order) and offset as {@code meta.json} lists them, and
 * every tensor's dequantized values bit for bit (against {@code expected.safetensors} where the case has
 * it, and against the SHA-256 of the float32 bytes in {@code meta.json} for every tensor).
 */
class GgufGoldenTest {

    @TestFactory
    Stream<DynamicTest> fileStructureAndDequantizedValues() {
        return Golden.cases("gguf").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkFile(dir)));
    }

    static Path ggufFile(Path caseDir) throws IOException {
        Map<String, Object> meta = Golden.meta(caseDir);
        Path f = caseDir.resolve((String) meta.get("file"));
        assertTrue(Files.isRegularFile(f), "case file " + f);
        return f;
    }

    static void checkFile(Path dir) throws Exception {
        Map<String, Object> meta = Golden.meta(dir);
        try (Gguf g = Gguf.open(ggufFile(dir))) {
            assertEquals(((Number) meta.get("alignment")).longValue(), g.alignment(), "alignment");
            assertEquals(((Number) meta.get("data_section_offset")).longValue(), g.dataStart(), "data section offset");
            if (meta.get("gguf_version") instanceof Number v) {
                assertEquals(v.intValue(), g.version(), "version");
            }
            checkMetadata(meta, g);
            List<?> tensors = (List<?>) meta.get("tensors");
            assertEquals(tensors.size(), g.names().size(), "tensor count");
            SafeTensors expected = Files.isRegularFile(dir.resolve("expected.safetensors"))
                    ? SafeTensors.open(dir.resolve("expected.safetensors")) : null;
            int exact = 0;
            try {
                for (Object o : tensors) {
                    Map<?, ?> t = (Map<?, ?>) o;
                    String name = (String) t.get("name");
                    StoredTensor st = g.get(name);
                    assertEquals(t.get("ggml_type"), st.dtype().name(), name + " type");
                    assertArrayEquals(longs(t.get("numpy_shape")), st.shape(), name + " shape");
                    assertEquals(((Number) t.get("n_bytes")).longValue(), st.data().byteSize(), name + " bytes");
                    assertEquals(((Number) t.get("n_bytes")).longValue(), st.dtype().byteSize(st.numel()), name + " geometry");
                    float[] values = st.toFloats();
                    List<?> first8 = (List<?>) t.get("dequantized_first8");
                    for (int i = 0; i < first8.size(); i++) {
                        assertEquals(((Number) first8.get(i)).floatValue(), values[i], name + "[" + i + "]");
                    }
                    assertEquals(t.get("dequantized_sha256"), sha256(values), name + ": SHA-256 of the dequantized float32 values");
                    if (expected != null && expected.contains(name)) {
                        float[] want = expected.get(name).toFloats();
                        for (int i = 0; i < want.length; i++) {
                            if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(values[i])) {
                                fail(name + "[" + i + "] (" + st.dtype() + "): expected " + want[i] + ", got " + values[i]);
                            }
                        }
                        exact++;
                    }
                }
            } finally {
                if (expected != null) {
                    expected.close();
                }
            }
            if (expected != null) {
                assertEquals(expected.names().size(), exact, "every tensor of expected.safetensors compared");
            }
        }
    }

    private static void checkMetadata(Map<String, Object> meta, Gguf g) {
        if (!(meta.get("kv") instanceof Map<?, ?> kv)) {
            return;
        }
        assertEquals(kv.keySet(), g.metadata().keySet(), "metadata keys");
        for (Map.Entry<?, ?> e : kv.entrySet()) {
            Map<?, ?> want = (Map<?, ?>) e.getValue();
            Gguf.Value v = g.metadata().get((String) e.getKey());
            assertNotNull(v, "metadata " + e.getKey());
            assertEquals(want.get("type"), v.typeName(), e.getKey() + " type");
            assertValue((String) e.getKey(), want.get("value"), v.value(), v.type() == Gguf.ValueType.ARRAY ? v.elementType() : v.type());
        }
    }

    private static void assertValue(String key, Object want, Object got, Gguf.ValueType type) {
        if (want instanceof List<?> wl) {
            List<?> gl = (List<?>) got;
            assertEquals(wl.size(), gl.size(), key + " length");
            for (int i = 0; i < wl.size(); i++) {
                assertValue(key + "[" + i + "]", wl.get(i), gl.get(i), type);
            }
            return;
        }
        switch (type) {
            case FLOAT32 -> assertEquals(((Number) want).floatValue(), (Float) got, key);
            case FLOAT64 -> assertEquals(((Number) want).doubleValue(), (Double) got, key);
            // meta.json's parser reads integers above 2^63 as doubles: compare at that precision then.
            case UINT64 -> assertEquals(want instanceof Long ? want.toString() : String.valueOf(want),
                    want instanceof Long ? Long.toUnsignedString((Long) got)
                            : String.valueOf(Double.parseDouble(Long.toUnsignedString((Long) got))), key);
            case BOOL, STRING -> assertEquals(want, got, key);
            default -> assertEquals(((Number) want).longValue(), (Long) got, key);
        }
    }

    static long[] longs(Object list) {
        List<?> l = (List<?>) list;
        long[] out = new long[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).longValue();
        }
        return out;
    }

    static String sha256(float[] values) throws Exception {
        ByteBuffer bb = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            bb.putFloat(v);
        }
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bb.array()));
    }
}
