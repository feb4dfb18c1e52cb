package io.github.zimage4j.dit;

import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every transformer case under golden/single_file (ComfyUI / original layout): the view maps every
 * original tensor exactly as {@code meta.mapping} lists (fused qkv rows included, byte for byte, nothing
 * else exposed), and the model loaded from the file alone reproduces the reference output.
 */
class SingleFileTransformerGoldenTest {

    static List<Path> cases() {
        List<Path> c = Golden.cases("single_file").stream()
                .filter(d -> "transformer".equals(Golden.meta(d).get("kind"))).toList();
        assertTrue(!c.isEmpty(), "no single_file case of kind transformer");
        return c;
    }

    @TestFactory
    Stream<DynamicTest> mapping() {
        return cases().stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> checkMapping(dir)));
    }

    @TestFactory
    Stream<DynamicTest> output() {
        return cases().stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(),
                () -> CheckpointCases.check(dir, dir.resolve((String) Golden.meta(dir).get("file")))));
    }

    static void checkMapping(Path dir) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        try (TensorSource raw = Checkpoints.open(dir.resolve((String) meta.get("file")))) {
            TensorSource view = TransformerCheckpoint.inDiffusersNames(raw);
            Set<String> mapped = new HashSet<>();
            for (Object o : (List<?>) meta.get("mapping")) {
                Map<?, ?> m = (Map<?, ?>) o;
                String original = (String) m.get("original");
                StoredTensor src = raw.get(original);
                if (m.get("diffusers") == null) {
                    continue;
                }
                String name = (String) m.get("diffusers");
                StoredTensor t = view.find(name);
                assertNotNull(t, name + " (from " + original + ")");
                mapped.add(name);
                if (m.get("rows") instanceof List<?> rows) {
                    long r0 = ((Number) rows.get(0)).longValue();
                    long r1 = ((Number) rows.get(1)).longValue();
                    src = src.rows(r0, r1 - r0);
                    assertEquals(src.data().address(), t.data().address(), name + " is a view, not a copy");
                }
                assertArrayEquals(src.shape(), t.shape(), name + " shape");
                assertArrayEquals(src.toFloats(), t.toFloats(), name + " values");
            }
            assertEquals(mapped, view.names(), "the view exposes exactly the mapped diffusers names");
        }
    }
}
