package io.github.zimage4j.testing;

import io.github.zimage4j.io.Gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes small float32 GGUF v3 files for tests (metadata: strings and float32 values only). */
public final class GgufFiles {

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final Map<String, float[]> data = new LinkedHashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    public GgufFiles meta(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    /** A float32 tensor with a PyTorch-order shape (written with ggml's reversed dimensions). */
    public GgufFiles f32(String name, long[] shape, float[] values) {
        data.put(name, values);
        shapes.put(name, shape);
        return this;
    }

    public void write(Path file) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        u32(out, Gguf.MAGIC);
        u32(out, 3);
        put(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(data.size()));
        put(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(metadata.size()));
        for (Map.Entry<String, Object> e : metadata.entrySet()) {
            string(out, e.getKey());
            if (e.getValue() instanceof String s) {
                u32(out, 8);
                string(out, s);
            } else {
                u32(out, 6);
                put(out, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(((Number) e.getValue()).floatValue()));
            }
        }
        long offset = 0;
        for (String name : data.keySet()) {
            string(out, name);
            long[] s = shapes.get(name);
            u32(out, s.length);
            for (int d = s.length - 1; d >= 0; d--) {
                put(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(s[d]));
            }
            u32(out, 0);
            put(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(offset));
            offset += (data.get(name).length * 4L + 31) / 32 * 32;
        }
        pad(out);
        for (float[] v : data.values()) {
            ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                bb.putFloat(f);
            }
            out.writeBytes(bb.array());
            pad(out);
        }
        Files.write(file, out.toByteArray());
    }

    private static void put(ByteArrayOutputStream out, ByteBuffer bb) {
        out.writeBytes(bb.array());
    }

    private static void u32(ByteArrayOutputStream out, int v) {
        put(out, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v));
    }

    private static void string(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        put(out, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(b.length));
        out.writeBytes(b);
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 32 != 0) {
            out.write(0);
        }
    }
}
