package io.github.zimage4j.quantize;

import io.github.zimage4j.io.DType;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF (version 3) file without holding its tensors: the header (metadata, tensor infos with
 * ggml's reversed dimension order and aligned offsets) is computed from the plan first, then each
 * tensor's bytes are streamed by its writer into a temporary file beside the output, which is renamed
 * into place only when complete.
 */
public final class GgufWriter {

    /** Streams exactly {@code bytes} bytes of one tensor. */
    @FunctionalInterface
    public interface TensorData {
        void write(OutputStream out) throws IOException;
    }

    /** Progress: called after each tensor with the bytes written so far. */
    @FunctionalInterface
    public interface Progress {
        void tensorWritten(int index, int count, String name, long bytesDone, long bytesTotal);
    }

    private record Entry(String name, DType type, long[] shape, long bytes, TensorData data) {
    }

    private static final int ALIGNMENT = 32;
    private static final int TYPE_UINT32 = 4;
    private static final int TYPE_STRING = 8;

    private final Map<String, Object> metadata = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();

    public GgufWriter putString(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public GgufWriter putUInt32(String key, int value) {
        metadata.put(key, value);
        return this;
    }

    /**
     * Adds a tensor of PyTorch (row-major) shape {@code shape}; GGUF stores the dimensions reversed.
     *
     * @throws IllegalArgumentException if the innermost dimension is not a whole number of blocks
     */
    public GgufWriter add(String name, DType type, long[] shape, TensorData data) {
        long cols = shape.length == 0 ? 1 : shape[shape.length - 1];
        if (cols % type.blockElements() != 0) {
            throw new IllegalArgumentException(name + ": rows of " + cols + " values are not whole " + type + " blocks of " + type.blockElements());
        }
        if (name.getBytes(StandardCharsets.UTF_8).length >= 64) {
            throw new IllegalArgumentException(name + ": longer than ggml's 63-byte tensor names");
        }
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        tensors.add(new Entry(name, type, shape.clone(), type.byteSize(n), data));
        return this;
    }

    /** The size the file will have. */
    public long fileSize() {
        long size = headerSize();
        for (Entry e : tensors) {
            size += pad(e.bytes());
        }
        return size;
    }

    /** Writes {@code out} atomically; an existing file there is replaced only once the new one is complete. */
    public void write(Path out, Progress progress) throws IOException {
        Path dir = out.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, "." + out.getFileName(), ".partial");
        try {
            long total = fileSize();
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                CountingStream cs = new CountingStream(os);
                writeHeader(cs);
                long headerSize = cs.count;
                if (headerSize != headerSize()) {
                    throw new IllegalStateException("GGUF header is " + headerSize + " bytes, planned " + headerSize());
                }
                for (int i = 0; i < tensors.size(); i++) {
                    Entry e = tensors.get(i);
                    long start = cs.count;
                    e.data().write(cs);
                    long written = cs.count - start;
                    if (written != e.bytes()) {
                        throw new IllegalStateException(e.name() + ": wrote " + written + " bytes, planned " + e.bytes());
                    }
                    zeros(cs, pad(e.bytes()) - e.bytes());
                    progress.tensorWritten(i, tensors.size(), e.name(), cs.count, total);
                }
            }
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private long headerSize() {
        long size = 4 + 4 + 8 + 8;
        for (Map.Entry<String, Object> kv : metadata.entrySet()) {
            size += 8 + utf8(kv.getKey()).length + 4;
            size += kv.getValue() instanceof String s ? 8 + utf8(s).length : 4;
        }
        for (Entry e : tensors) {
            size += 8 + utf8(e.name()).length + 4 + 8L * e.shape().length + 4 + 8;
        }
        return pad(size);
    }

    private void writeHeader(CountingStream out) throws IOException {
        out.write(new byte[]{'G', 'G', 'U', 'F'});
        u32(out, 3);
        u64(out, tensors.size());
        u64(out, metadata.size());
        for (Map.Entry<String, Object> kv : metadata.entrySet()) {
            string(out, kv.getKey());
            if (kv.getValue() instanceof String s) {
                u32(out, TYPE_STRING);
                string(out, s);
            } else {
                u32(out, TYPE_UINT32);
                u32(out, (Integer) kv.getValue());
            }
        }
        long offset = 0;
        for (Entry e : tensors) {
            string(out, e.name());
            u32(out, Math.max(1, e.shape().length));
            if (e.shape().length == 0) {
                u64(out, 1);
            }
            for (int d = e.shape().length - 1; d >= 0; d--) {
                u64(out, e.shape()[d]);
            }
            u32(out, e.type().ggmlType());
            u64(out, offset);
            offset += pad(e.bytes());
        }
        zeros(out, pad(out.count) - out.count);
    }

    private static long pad(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void string(OutputStream out, String s) throws IOException {
        byte[] b = utf8(s);
        u64(out, b.length);
        out.write(b);
    }

    private static void u32(OutputStream out, int v) throws IOException {
        out.write(new byte[]{(byte) v, (byte) (v >> 8), (byte) (v >> 16), (byte) (v >> 24)});
    }

    private static void u64(OutputStream out, long v) throws IOException {
        u32(out, (int) v);
        u32(out, (int) (v >>> 32));
    }

    private static void zeros(OutputStream out, long n) throws IOException {
        for (long i = 0; i < n; i++) {
            out.write(0);
        }
    }

    /** Counts what passes through, so sizes are checked against the plan. */
    private static final class CountingStream extends OutputStream {
        private final OutputStream out;
        long count;

        CountingStream(OutputStream out) {
            this.out = out;
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
}
