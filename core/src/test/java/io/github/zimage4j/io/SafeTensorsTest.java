package io.github.zimage4j.io;

import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsTest {

    @TempDir
    Path dir;

    /** A raw file: 8-byte length, the header text as given, then the data bytes. */
    private Path raw(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer bb = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(h.length).put(h).put(data);
        Path p = dir.resolve(name);
        Files.write(p, bb.array());
        return p;
    }

    private String failure(Path p) {
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafeTensors.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void readsEveryDtype() throws IOException {
        ByteBuffer bb = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        bb.putFloat(0, 1.5f).putFloat(4, -2.25f);                                    // F32 [2]      0..8
        bb.putShort(8, FloatFormats.floatToBf16(3.0f)).putShort(10, FloatFormats.floatToBf16(-0.5f)); // BF16 [2] 8..12
        bb.putShort(12, Float.floatToFloat16(0.333f)).putShort(14, Float.floatToFloat16(65504f));    // F16 [2] 12..16
        bb.put(16, (byte) 0x7E).put(17, (byte) 0x01);                                 // F8_E4M3 [2] 16..18
        bb.put(18, (byte) 0x3C).put(19, (byte) 0x7B);                                 // F8_E5M2 [2] 18..20
        bb.putLong(24, -7L).putLong(32, 151643L);                                      // I64 [2]     24..40
        bb.putInt(40, 42).putInt(44, -1);                                              // I32 [2]     40..48
        bb.put(48, (byte) 200).put(49, (byte) 7);                                      // U8 [2]      48..50
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                + "\"c\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16]},"
                + "\"d\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[16,18]},"
                + "\"e\":{\"dtype\":\"F8_E5M2\",\"shape\":[1,2],\"data_offsets\":[18,20]},"
                + "\"f\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"
                + "\"g\":{\"dtype\":\"I32\",\"shape\":[2,1],\"data_offsets\":[40,48]},"
                + "\"h\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[48,50]},"
                + "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[52,56]},"
                + "\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[56,56]}}";
        bb.putFloat(52, 4f);
        try (SafeTensors st = SafeTensors.open(raw("all.safetensors", header, bb.array()))) {
            assertEquals("pt", st.metadata().get("format"));
            assertArrayEquals(new float[]{1.5f, -2.25f}, st.get("a").toFloats());
            assertArrayEquals(new float[]{3.0f, -0.5f}, st.get("b").toFloats());
            assertArrayEquals(new float[]{Float.float16ToFloat(Float.floatToFloat16(0.333f)), 65504f}, st.get("c").toFloats());
            assertArrayEquals(new float[]{448f, (float) Math.pow(2, -9)}, st.get("d").toFloats());
            assertArrayEquals(new float[]{1.0f, 57344f}, st.get("e").toFloats());
            assertArrayEquals(new long[]{-7, 151643}, st.get("f").toLongs());
            assertArrayEquals(new long[]{42, -1}, st.get("g").toLongs());
            assertArrayEquals(new long[]{200, 7}, st.get("h").toLongs());
            assertEquals(0, st.get("s").rank());
            assertArrayEquals(new float[]{4f}, st.get("s").toFloats());
            assertEquals(0, st.get("z").numel());
            assertEquals(DType.F8_E5M2, st.get("e").dtype());
        }
    }

    @Test
    void writerRoundTripsAndPadsHeader() throws IOException {
        Path p = dir.resolve("w.safetensors");
        new SafeTensorsWriter()
                .addF32("zeta", new long[]{2, 2}, new float[]{1, 2, 3, 4})
                .addBf16("alpha", new long[]{3}, new short[]{FloatFormats.floatToBf16(1f), 0, FloatFormats.floatToBf16(-2f)})
                .metadata("k", "v")
                .write(p);
        byte[] bytes = Files.readAllBytes(p);
        long headerLen = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, headerLen % 8, "header padded to a multiple of 8");
        assertFalse(Files.exists(dir.resolve("w.safetensors.partial")));
        try (SafeTensors st = SafeTensors.open(p)) {
            assertArrayEquals(new float[]{1, 2, 3, 4}, st.get("zeta").toFloats());
            assertArrayEquals(new float[]{1, 0, -2}, st.get("alpha").toFloats());
            assertEquals("v", st.metadata().get("k"));
        }
    }

    @Test
    void headerLengthBeyondFile() throws IOException {
        Path p = dir.resolve("trunc.safetensors");
        ByteBuffer bb = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).put("{}      ".getBytes());
        Files.write(p, bb.array());
        assertTrue(failure(p).contains("runs past the end of the file"));
    }

    @Test
    void fileTooShort() throws IOException {
        Path p = dir.resolve("tiny.safetensors");
        Files.write(p, new byte[]{1, 2, 3});
        assertTrue(failure(p).contains("too short"));
    }

    @Test
    void badJson() throws IOException {
        String msg = failure(raw("bad.safetensors", "{\"a\": {\"dtype\": \"F32\", ", new byte[0]));
        assertTrue(msg.contains("not valid JSON"), msg);
    }

    @Test
    void unknownDtype() throws IOException {
        String msg = failure(raw("u.safetensors", "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]));
        assertTrue(msg.contains("tensor 'w'") && msg.contains("unknown dtype \"Q4_K\""), msg);
    }

    @Test
    void offsetsOutsideDataArea() throws IOException {
        String msg = failure(raw("o.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]));
        assertTrue(msg.contains("tensor 'w'") && msg.contains("outside the data area"), msg);
    }

    @Test
    void reversedOffsets() throws IOException {
        String msg = failure(raw("r.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", new byte[8]));
        assertTrue(msg.contains("tensor 'w'") && msg.contains("not an ordered range"), msg);
    }

    @Test
    void overlappingTensors() throws IOException {
        String msg = failure(raw("ov.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]));
        assertTrue(msg.contains("'a'") && msg.contains("'b'") && msg.contains("overlap"), msg);
    }

    @Test
    void byteLengthNotNumelTimesDtypeSize() throws IOException {
        String msg = failure(raw("len.safetensors", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]));
        assertTrue(msg.contains("tensor 'w'") && msg.contains("holds 8 bytes") && msg.contains("needs 6"), msg);
    }

    @Test
    void duplicateNames() throws IOException {
        String msg = failure(raw("dup.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]));
        assertTrue(msg.contains("tensor 'w' is named twice"), msg);
    }

    @Test
    void negativeAndMalformedShapes() throws IOException {
        assertTrue(failure(raw("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]))
                .contains("negative dimension"));
        assertTrue(failure(raw("str.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,4]}}", new byte[4]))
                .contains("shape is not a list"));
        assertTrue(failure(raw("nodt.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]))
                .contains("no dtype"));
    }

    private void shard(String name, String... tensors) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (String t : tensors) {
            w.addF32(t, new long[]{1}, new float[]{t.length()});
        }
        w.write(dir.resolve(name));
    }

    private Path index(String weightMap) throws IOException {
        Path p = dir.resolve("model.safetensors.index.json");
        Files.writeString(p, "{\"metadata\":{\"total_size\":12},\"weight_map\":{" + weightMap + "}}");
        return p;
    }

    @Test
    void shardedCheckpoint() throws IOException {
        shard("model-00001-of-00002.safetensors", "a", "bb");
        shard("model-00002-of-00002.safetensors", "ccc");
        Path idx = index("\"a\":\"model-00001-of-00002.safetensors\",\"bb\":\"model-00001-of-00002.safetensors\","
                + "\"ccc\":\"model-00002-of-00002.safetensors\"");
        try (SafeTensors st = SafeTensors.open(idx)) {
            assertEquals(3, st.names().size());
            assertArrayEquals(new float[]{3}, st.get("ccc").toFloats());
            assertTrue(st.get("ccc").file().endsWith("model-00002-of-00002.safetensors"));
        }
        // A folder with one index opens the sharded checkpoint.
        try (SafeTensors st = SafeTensors.open(dir)) {
            assertEquals(3, st.names().size());
        }
    }

    @Test
    void shardMissingFromIndex() throws IOException {
        shard("model-00001-of-00002.safetensors", "a");
        Path idx = index("\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"");
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafeTensors.open(idx));
        assertTrue(e.getMessage().contains("missing") && e.getMessage().contains("model-00002-of-00002.safetensors"), e.getMessage());
    }

    @Test
    void indexNamesTensorAbsentFromShard() throws IOException {
        shard("s1.safetensors", "a");
        Path idx = index("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\"");
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafeTensors.open(idx));
        assertTrue(e.getMessage().contains("'b'") && e.getMessage().contains("does not contain it"), e.getMessage());
    }

    @Test
    void tensorInTwoShards() throws IOException {
        shard("s1.safetensors", "a");
        shard("s2.safetensors", "a", "b");
        Path idx = index("\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"");
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafeTensors.open(idx));
        assertTrue(e.getMessage().contains("'a' is in two shards"), e.getMessage());
    }

    @Test
    void folderWithSeveralFilesAndNoIndex() throws IOException {
        shard("x.safetensors", "a");
        shard("y.safetensors", "b");
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafeTensors.open(dir));
        assertTrue(e.getMessage().contains("several .safetensors files"), e.getMessage());
    }

    @Test
    void missingTensorAndWrongShapeNameTheTensor() throws IOException {
        shard("one.safetensors", "a");
        try (SafeTensors st = SafeTensors.open(dir.resolve("one.safetensors"))) {
            ModelFileException missing = assertThrows(ModelFileException.class, () -> st.get("nope"));
            assertTrue(missing.getMessage().contains("missing tensor 'nope'"));
            ModelFileException shape = assertThrows(ModelFileException.class, () -> st.get("a", 2, 2));
            assertTrue(shape.getMessage().contains("'a' has shape [1], expected [2, 2]"), shape.getMessage());
        }
    }

    @Test
    void rowsAreZeroCopySlices() throws IOException {
        Path p = dir.resolve("m.safetensors");
        new SafeTensorsWriter().addF32("m", new long[]{3, 2}, new float[]{1, 2, 3, 4, 5, 6}).write(p);
        try (SafeTensors st = SafeTensors.open(p)) {
            StoredTensor mid = st.get("m").rows(1, 2);
            assertArrayEquals(new long[]{2, 2}, mid.shape());
            assertArrayEquals(new float[]{3, 4, 5, 6}, mid.toFloats());
            assertTrue(mid.data().isMapped() || mid.data().isNative(), "a view of the mapping, not a heap copy");
            assertThrows(IndexOutOfBoundsException.class, () -> st.get("m").rows(2, 2));
        }
    }

    @Test
    void closeUnmaps() throws IOException {
        Path p = dir.resolve("c.safetensors");
        new SafeTensorsWriter().addF32("m", new long[]{1}, new float[]{1}).write(p);
        SafeTensors st = SafeTensors.open(p);
        MemorySegment seg = st.get("m").data();
        st.close();
        assertFalse(seg.scope().isAlive());
    }
}
