package io.github.zimage4j.io;

import io.github.zimage4j.testing.Fuzz;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The safetensors header and the JSON reader under fuzzing: mutated real files either load or fail with a
 * typed error that says what is wrong ({@link Fuzz}). Fixed seed, bounded tries: the same inputs every run.
 */
class ParserFuzzTest {

    /** A small checkpoint with several dtypes, a 0-d tensor and metadata. */
    static byte[] safetensorsSeed(boolean metadata) {
        try {
            SafeTensorsWriter w = new SafeTensorsWriter();
            w.addF32("a.weight", new long[]{2, 3}, new float[]{1, 2, 3, 4, 5, 6});
            w.addBf16("b.bias", new long[]{4}, new short[]{0x3F80, 0x4000, (short) 0xBF80, 0});
            w.add("ids", DType.I64, new long[]{2}, MemorySegment.ofArray(new byte[16]));
            w.add("alpha", DType.F32, new long[]{}, MemorySegment.ofArray(new byte[]{0, 0, (byte) 0x80, 0x3F}));
            if (metadata) {
                w.metadata("format", "pt");
            }
            Path f = Files.createTempFile("seed", ".safetensors");
            w.write(f);
            byte[] bytes = Files.readAllBytes(f);
            Files.delete(f);
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void safetensorsHeader() {
        Fuzz.run("safetensors", List.of(safetensorsSeed(true), safetensorsSeed(false)), 3000, file -> {
            Path p = Fuzz.file(file, "fuzz.safetensors");
            try (SafeTensors st = SafeTensors.open(p)) {
                for (String name : st.names()) {
                    st.get(name).toFloats(); // every tensor the header admits must be readable
                }
            } finally {
                Fuzz.delete(p);
            }
        });
    }

    static List<byte[]> jsonSeeds() {
        List<byte[]> seeds = new ArrayList<>();
        seeds.add("{\"a\": [1, -2.5e-3, true, false, null, \"x\\u00e9\\n\\\"y\\\"\"], \"b\": {\"c\": \"\uD83E\uDD8A 狐狸\"}}"
                .getBytes(StandardCharsets.UTF_8));
        seeds.add("[0, 1e308, -0.0, 123456789012345678901234567890, \"\\uD83D\\uDE00\"]".getBytes(StandardCharsets.UTF_8));
        try {
            seeds.add(Files.readAllBytes(Golden.fixture("manifests/case-zimage-real/transformer/config.json")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return seeds;
    }

    @Test
    void jsonText() {
        Fuzz.run("json-text", jsonSeeds(), 5000, text -> Json.parse(new String(text, StandardCharsets.UTF_8)));
    }

    @Test
    void jsonFile() {
        Fuzz.run("json-file", jsonSeeds(), 1000, text -> {
            Path p = Fuzz.file(text, "config.json");
            try {
                JsonConfig.read(p);
            } finally {
                Fuzz.delete(p);
            }
        });
    }
}
