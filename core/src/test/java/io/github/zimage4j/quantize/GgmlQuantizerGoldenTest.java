package io.github.zimage4j.quantize;

import io.github.zimage4j.io.DType;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Our quantizers against the bytes gguf-py and ggml wrote: for every golden GGUF case that ships the float
 * source of its tensors ({@code source.safetensors}), each tensor quantized here must equal the file's bytes
 * exactly (the golden meta gives each tensor's type, numpy shape and file offset).
 */
class GgmlQuantizerGoldenTest {

    @TestFactory
    Stream<DynamicContainer> quantizedBytesEqualGgufPyAndGgml() {
        List<DynamicContainer> cases = new ArrayList<>();
        for (Path c : Golden.cases("gguf")) {
            if (!c.resolve("source.safetensors").toFile().isFile()) {
                continue; // model cases carry no float source: the reader's tests use them
            }
            Map<String, Object> meta = Golden.meta(c);
            List<DynamicTest> tests = new ArrayList<>();
            for (Object o : (List<?>) meta.get("tensors")) {
                Map<?, ?> t = (Map<?, ?>) o;
                String name = (String) t.get("name");
                tests.add(DynamicTest.dynamicTest(name + " (" + t.get("ggml_type") + ")", () -> check(c, meta, t)));
            }
            cases.add(DynamicContainer.dynamicContainer(c.getFileName().toString(), tests));
        }
        if (cases.isEmpty()) {
            fail("no golden gguf case with source.safetensors under " + Golden.root().resolve("gguf"));
        }
        return cases.stream();
    }

    private static void check(Path caseDir, Map<String, Object> meta, Map<?, ?> t) throws IOException {
        String name = (String) t.get("name");
        DType type = DType.valueOf((String) t.get("ggml_type"));
        int nBytes = ((Number) t.get("n_bytes")).intValue();
        long offset = ((Number) t.get("abs_file_offset")).longValue();
        byte[] expected = new byte[nBytes];
        try (RandomAccessFile f = new RandomAccessFile(caseDir.resolve((String) meta.get("file")).toFile(), "r")) {
            f.seek(offset);
            f.readFully(expected);
        }
        try (SafeTensors src = SafeTensors.open(caseDir.resolve("source.safetensors"))) {
            StoredTensor s = src.find(name);
            assertNotNull(s, "source.safetensors has " + name);
            float[] x = s.toFloats();
            byte[] got = new byte[nBytes];
            GgmlQuantizer.quantize(type, x, 0, x.length, got, 0);
            assertEquals(type.byteSize(x.length), nBytes, name + " size");
            for (int i = 0; i < nBytes; i++) {
                if (got[i] != expected[i]) {
                    int block = i / type.blockBytes();
                    fail(name + " (" + type + "): first differing byte " + i + " (block " + block + ", byte " + i % type.blockBytes()
                            + "): ours " + hex(got, block, type) + " vs " + hex(expected, block, type));
                }
            }
        }
    }

    private static String hex(byte[] b, int block, DType type) {
        return HexFormat.of().formatHex(b, block * type.blockBytes(), (block + 1) * type.blockBytes());
    }
}
