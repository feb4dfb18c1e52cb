package io.github.zimage4j.dit;

import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every quantized-transformer case under golden/gguf (those with a config.json): the GGUF file loads with
 * its quantized weights kept quantized, its config is derived from the shapes, and the output matches the
 * reference run on gguf-py's dequantized weights within the case's tolerance.
 */
class GgufTransformerGoldenTest {

    @TestFactory
    Stream<DynamicTest> output() {
        List<Path> cases = Golden.cases("gguf").stream().filter(d -> Files.isRegularFile(d.resolve("config.json"))).toList();
        assertTrue(!cases.isEmpty(), "no gguf case with a transformer config");
        return cases.stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(),
                () -> CheckpointCases.check(dir, dir.resolve((String) Golden.meta(dir).get("file")))));
    }
}
