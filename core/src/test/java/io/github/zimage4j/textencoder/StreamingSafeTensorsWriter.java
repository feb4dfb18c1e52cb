package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Json;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file whose tensors are produced chunk by chunk, so a multi-gigabyte checkpoint
 * never has to exist in memory ({@link io.github.zimage4j.io.SafeTensorsWriter} takes whole tensors).
 * Same format: tensors in name order, header padded with spaces to a multiple of 8, written under a
 * temporary name and renamed when complete.
 */
final class StreamingSafeTensorsWriter {

    private StreamingSafeTensorsWriter() {
    }

    /** A tensor to write: name, dtype and shape; its bytes come from a {@link Content}. */
    record Spec(String name, DType dtype, long[] shape) {
        long bytes() {
            long n = dtype.bytes();
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    /** Produces one tensor's bytes in order. */
    @FunctionalInterface
    interface Filler {
        /** Fills {@code out} up to its limit (always a whole number of elements), little-endian. */
        void fill(ByteBuffer out);
    }

    /** Starts the bytes of each tensor; tensors are asked for in name order. */
    @FunctionalInterface
    interface Content {
        Filler start(Spec tensor);
    }

    private static final int CHUNK = 8 << 20;

    static void write(Path file, List<Spec> tensors, Content content) throws IOException {
        List<Spec> sorted = new ArrayList<>(tensors);
        sorted.sort(Comparator.comparing(Spec::name));
        Map<String, Object> header = new LinkedHashMap<>();
        long offset = 0;
        for (Spec t : sorted) {
            List<Object> shape = new ArrayList<>();
            for (long d : t.shape()) {
                shape.add(d);
            }
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t.dtype().safetensorsName());
            info.put("shape", shape);
            info.put("data_offsets", List.of(offset, offset + t.bytes()));
            if (header.put(t.name(), info) != null) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' listed twice");
            }
            offset += t.bytes();
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        Path tmp = file.resolveSibling(file.getFileName() + ".partial");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            writeFully(ch, head);
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            for (Spec t : sorted) {
                Filler filler = content.start(t);
                int chunk = CHUNK / t.dtype().bytes() * t.dtype().bytes();
                for (long left = t.bytes(); left > 0; ) {
                    buf.clear().limit((int) Math.min(chunk, left));
                    filler.fill(buf);
                    if (buf.hasRemaining()) {
                        throw new IllegalStateException("filler for '" + t.name() + "' left " + buf.remaining() + " bytes unwritten");
                    }
                    buf.flip();
                    left -= buf.remaining();
                    writeFully(ch, buf);
                }
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
