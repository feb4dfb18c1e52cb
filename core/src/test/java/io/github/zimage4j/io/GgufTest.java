package io.github.zimage4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The GGUF reader's structure rules and errors, on small files written here byte by byte. */
class GgufTest {

    @TempDir
    Path dir;

    /** A little-endian byte builder for hand-made GGUF files. */
    static final class Bytes {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes u32(long v) {
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        }

        Bytes u64(long v) {
            return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }

        Bytes str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return u64(b.length).raw(b);
        }

        Bytes raw(byte[] b) {
            out.writeBytes(b);
            return this;
        }

        Bytes padTo(int align) {
            while (out.size() % align != 0) {
                out.write(0);
            }
            return this;
        }

        Bytes f32s(float... v) {
            ByteBuffer bb = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                bb.putFloat(f);
            }
            return raw(bb.array());
        }

        /** A tensor info entry. */
        Bytes tensor(String name, int type, long offset, long... ne) {
            str(name).u32(ne.length);
            for (long d : ne) {
                u64(d);
            }
            return u32(type).u64(offset);
        }
    }

    private Path write(Bytes b) throws IOException {
        Path p = dir.resolve("t" + System.nanoTime() + ".gguf");
        Files.write(p, b.out.toByteArray());
        return p;
    }

    private String failure(Bytes b) throws IOException {
        Path p = write(b);
        ModelFileException e = assertThrows(ModelFileException.class, () -> Gguf.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        return e.getMessage();
    }

    private static Bytes header(long tensors, long kv) {
        return new Bytes().u32(Gguf.MAGIC).u32(3).u64(tensors).u64(kv);
    }

    @Test
    void readsReversedShapesMetadataAndCustomAlignment() throws IOException {
        Bytes b = header(2, 2)
                .str("general.alignment").u32(4).u32(16)
                .str("a.list").u32(9).u32(8).u64(2).str("x").str("yz")
                .tensor("w", 0, 0, 3, 2)       // ne [3, 2] → shape [2, 3]
                .tensor("v", 0, 32, 2)
                .padTo(16);
        b.f32s(1, 2, 3, 4, 5, 6).raw(new byte[8]).f32s(7, 8);
        try (Gguf g = Gguf.open(write(b))) {
            assertEquals(16, g.alignment());
            assertArrayEquals(new long[]{2, 3}, g.get("w").shape());
            assertArrayEquals(new float[]{1, 2, 3, 4, 5, 6}, g.get("w").toFloats());
            assertArrayEquals(new float[]{7, 8}, g.get("v").toFloats());
            assertEquals("ARRAY[STRING]", g.metadata().get("a.list").typeName());
            assertEquals(Arrays.asList("x", "yz"), g.metadata().get("a.list").value());
        }
    }

    @Test
    void refusesWhatIsNotGguf() throws IOException {
        assertTrue(failure(new Bytes().u32(0x12345678).u32(3).u64(0).u64(0)).contains("not a GGUF file"));
        assertTrue(failure(new Bytes().u32(Gguf.MAGIC).u32(1).u64(0).u64(0)).contains("version 1"));
        assertTrue(failure(new Bytes().u32(Gguf.MAGIC).u32(0x03000000).u64(0).u64(0)).contains("big-endian"));
        assertTrue(failure(new Bytes().u32(Gguf.MAGIC)).contains("too short"));
    }

    @Test
    void namesTheTensorOfEveryStructuralError() throws IOException {
        String unknown = failure(header(1, 0).tensor("blk.0.w", 19, 0, 256).padTo(32).raw(new byte[256]));
        assertTrue(unknown.contains("'blk.0.w'") && unknown.contains("IQ1_S"), unknown);
        String outside = failure(header(1, 0).tensor("big", 0, 0, 100).padTo(32).f32s(1, 2));
        assertTrue(outside.contains("'big'") && outside.contains("outside"), outside);
        String misaligned = failure(header(1, 0).tensor("m", 0, 4, 1).padTo(32).f32s(1, 2));
        assertTrue(misaligned.contains("'m'") && misaligned.contains("alignment"), misaligned);
        String overlap = failure(header(2, 0).tensor("a", 0, 0, 16).tensor("b", 0, 32, 16).padTo(32).raw(new byte[128]));
        assertTrue(overlap.contains("'a'") && overlap.contains("'b'") && overlap.contains("overlap"), overlap);
        String partialBlock = failure(header(1, 0).tensor("q", 8, 0, 16).padTo(32).raw(new byte[64]));
        assertTrue(partialBlock.contains("'q'") && partialBlock.contains("blocks of 32"), partialBlock);
        String dup = failure(header(2, 0).tensor("d", 0, 0, 1).tensor("d", 0, 32, 1).padTo(32).raw(new byte[64]));
        assertTrue(dup.contains("'d'") && dup.contains("twice"), dup);
        String truncated = failure(header(1, 0).str("na"));
        assertTrue(truncated.contains("past the end"), truncated);
        String hugeCount = failure(header(1L << 40, 0));
        assertTrue(hugeCount.contains("corrupt"), hugeCount);
        String hugeString = failure(header(0, 1).u64(1L << 50));
        assertTrue(hugeString.contains("past the end"), hugeString);
        String badAlign = failure(header(0, 1).str("general.alignment").u32(4).u32(24));
        assertTrue(badAlign.contains("power of two"), badAlign);
    }

    @Test
    void blockGeometrySizesQuantizedTensors() {
        assertEquals(34, DType.Q8_0.byteSize(32));
        assertEquals(144 * 3, DType.Q4_K.byteSize(768));
        assertEquals(210, DType.Q6_K.byteSize(256));
        assertEquals(2 * 5, DType.BF16.byteSize(5));
        assertThrows(IllegalArgumentException.class, () -> DType.Q4_0.byteSize(33));
        assertThrows(IllegalStateException.class, DType.Q5_1::bytes);
        assertEquals(DType.Q5_K, DType.fromGgml(13));
        assertEquals("Q2_K", DType.ggmlName(10));
    }
}
