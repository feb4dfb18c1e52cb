package io.github.zimage4j.cli;

import io.github.zimage4j.pipeline.TinyModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The PNG files themselves (pixels and metadata) are the same bytes for the same settings, batch or alone. */
class ReproducibleOutputTest {

    @TempDir
    static Path model;

    @TempDir
    Path out;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 3);
    }

    private void generate(String output, String... extra) {
        String[] base = {"generate", "--model", model.toString(), "-W", "64", "-H", "64", "--steps", "2",
                "--backend", "java", "-o", out.resolve(output).toString(), "a red fox in the snow"};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        GenerateCommandTest.Result r = GenerateCommandTest.run(args);
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void sameSettingsSameFileBytes() throws IOException {
        generate("first.png", "-s", "42");
        generate("second.png", "-s", "42");
        generate("batch-{seed}.png", "-s", "41", "-b", "3");
        byte[] first = Files.readAllBytes(out.resolve("first.png"));
        assertArrayEquals(first, Files.readAllBytes(out.resolve("second.png")), "two runs with seed 42");
        assertArrayEquals(first, Files.readAllBytes(out.resolve("batch-42.png")), "image 1 of a batch from seed 41");
    }
}
