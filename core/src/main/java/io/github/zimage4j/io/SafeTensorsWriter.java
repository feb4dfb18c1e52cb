package io.github.zimage4j.io;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files: tensors in name order, header padded with spaces to a multiple of 8.
 * The file appears atomically (written to a temporary name, then renamed), so a crash never leaves a
 * half-written checkpoint under the real name.
 */
public final class SafeTensorsWriter {

    /** One tensor to write: its raw little-endian bytes in the given dtype. */
    public record Entry(String name, DType dtype, long[] shape, MemorySegment bytes) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter add(String name, DType dtype, long[] shape, MemorySegment bytes) {
        entries.add(new Entry(name, dtype, shape.clone(), bytes));
        return this;
    }

    /** Adds float32 data. */
    public SafeTensorsWriter addF32(String name, long[] shape, float[] data) {
        return add(name, DType.F32, shape, MemorySegment.ofArray(toLittleEndian(data)));
    }

    /** Adds bfloat16 bits. */
    public SafeTensorsWriter addBf16(String name, long[] shape, short[] bits) {
        ByteBuffer bb = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        bb.asShortBuffer().put(bits);
        return add(name, DType.BF16, shape, MemorySegment.ofArray(bb.array()));
    }

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    private static byte[] toLittleEndian(float[] data) {
        ByteBuffer bb = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bb.asFloatBuffer().put(data);
        return bb.array();
    }

    public void write(Path file) throws IOException {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparing(Entry::name));
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            header.put("__metadata__", metadata);
        }
        long offset = 0;
        for (Entry e : sorted) {
            long n = e.bytes().byteSize();
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", e.dtype().safetensorsName());
            List<Object> shape = new ArrayList<>();
            for (long d : e.shape()) {
                shape.add(d);
            }
            info.put("shape", shape);
            info.put("data_offsets", List.of(offset, offset + n));
            if (header.put(e.name(), info) != null) {
                throw new IllegalArgumentException("tensor '" + e.name() + "' added twice");
            }
            offset += n;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            headerBytes[i] = ' ';
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".partial");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(headerBytes);
            byte[] buf = new byte[1 << 20];
            for (Entry e : sorted) {
                MemorySegment src = e.bytes();
                for (long pos = 0; pos < src.byteSize(); pos += buf.length) {
                    int n = (int) Math.min(buf.length, src.byteSize() - pos);
                    MemorySegment.copy(src, ValueLayout.JAVA_BYTE, pos, buf, 0, n);
                    out.write(buf, 0, n);
                }
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
