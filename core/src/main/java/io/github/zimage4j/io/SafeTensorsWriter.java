package io.github.zimage4j.io;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
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

    /** Produces a tensor's raw little-endian bytes, streamed, so huge checkpoints never sit in memory. */
    @FunctionalInterface
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /** One tensor to write: {@code byteSize} raw little-endian bytes in the given dtype. */
    public record Entry(String name, DType dtype, long[] shape, long byteSize, Content content) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter add(String name, DType dtype, long[] shape, MemorySegment bytes) {
        return add(name, dtype, shape, bytes.byteSize(), out -> {
            byte[] buf = new byte[(int) Math.min(1 << 20, Math.max(1, bytes.byteSize()))];
            for (long pos = 0; pos < bytes.byteSize(); pos += buf.length) {
                int n = (int) Math.min(buf.length, bytes.byteSize() - pos);
                MemorySegment.copy(bytes, ValueLayout.JAVA_BYTE, pos, buf, 0, n);
                out.write(buf, 0, n);
            }
        });
    }

    /** Adds a tensor whose bytes {@code content} streams when the file is written; it must write exactly byteSize bytes. */
    public SafeTensorsWriter add(String name, DType dtype, long[] shape, long byteSize, Content content) {
        if (dtype.safetensorsName() == null) {
            throw new IllegalArgumentException("tensor '" + name + "': safetensors cannot hold " + dtype);
        }
        long need = dtype.byteSize(io.github.zimage4j.tensor.StoredTensor.numel(shape));
        if (byteSize != need) {
            throw new IllegalArgumentException("tensor '" + name + "': " + byteSize + " bytes for shape "
                    + java.util.Arrays.toString(shape) + " of " + dtype + " (needs " + need + ")");
        }
        entries.add(new Entry(name, dtype, shape.clone(), byteSize, content));
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

    private static final class CountingStream extends FilterOutputStream {
        long count;

        CountingStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
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
            long n = e.byteSize();
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
        try (CountingStream out = new CountingStream(new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20))) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(headerBytes);
            for (Entry e : sorted) {
                long before = out.count;
                e.content().writeTo(out);
                if (out.count - before != e.byteSize()) {
                    throw new IOException("tensor '" + e.name() + "': content wrote " + (out.count - before)
                            + " bytes, expected " + e.byteSize());
                }
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
