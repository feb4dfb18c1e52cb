package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.testing.Fuzz;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The tokenizer file readers under fuzzing ({@link Fuzz}): mutated {@code tokenizer.json} files and
 * mutated files of the bundled compact format either load (and then tokenize) or fail with a typed error.
 */
class TokenizerFileFuzzTest {

    static byte[] tokenizerJsonSeed(List<String> extra, List<List<String>> merges) {
        return Json.write(Qwen3TokenizerTest.tokenizerJson(extra, merges)).getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void tokenizerJson() {
        List<byte[]> seeds = List.of(
                tokenizerJsonSeed(List.of("ab", "abc"), List.of(List.of("a", "b"), List.of("ab", "c"))),
                tokenizerJsonSeed(List.of(), List.of()));
        Fuzz.run("tokenizer-json", seeds, 1500, file -> {
            Path p = Fuzz.file(file, "tokenizer.json");
            try {
                Qwen3Tokenizer.load(p).chatIds("abc <|im_start|> 狐狸 \uD83E\uDD8A", 64);
            } finally {
                Fuzz.delete(p);
            }
        });
    }

    static byte[] compactSeed() {
        try {
            Path json = Fuzz.file(tokenizerJsonSeed(List.of("ab", "abc"), List.of(List.of("a", "b"), List.of("ab", "c"))),
                    "tokenizer.json");
            Path compact = json.resolveSibling("tokenizer.bin");
            CompactTokenizerFile.write(TokenizerJsonReader.read(json), compact);
            byte[] bytes = Files.readAllBytes(compact);
            Files.delete(compact);
            Fuzz.delete(json);
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void compactFormat() {
        Fuzz.run("tokenizer-compact", List.of(compactSeed()), 1500, file -> {
            TokenizerData data = CompactTokenizerFile.read(new ByteArrayInputStream(file), "fuzz.bin");
            Qwen3Tokenizer.of(data, "fuzz.bin").chatIds("abc <|im_end|> x", 64);
        });
    }

    /** The seeds themselves load: the mutants start from valid files. */
    @Test
    void seedsLoad() throws IOException {
        Qwen3Tokenizer.of(CompactTokenizerFile.read(new ByteArrayInputStream(compactSeed()), "seed"), "seed").chatIds("abc", 8);
        Path p = Fuzz.file(tokenizerJsonSeed(List.of(), List.of()), "tokenizer.json");
        try {
            Qwen3Tokenizer.load(p).chatIds("abc", 8);
        } finally {
            Fuzz.delete(p);
        }
    }
}
